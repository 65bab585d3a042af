//! The registry's HTTP API (the OCI distribution spec), as the archive push needs it: Basic
//! authorization with the ECR token, `HEAD` to skip blobs the registry has, chunked uploads
//! streamed from the archive, manifests put with their own media type and their digest checked.
//!
//! The authorization travels only in the `Authorization` header of these requests; it is a
//! `Secret`, so it is never printed, not even with DEBUG.

use std::sync::Arc;

use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use http::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

use tracing::{debug, info};

use super::body::{self, Body};
use super::connect::ProxyAware;
use crate::domain::ecr::{RegistryEndpoint, part_size, parts};
use crate::domain::secret::Secret;
use crate::error::Error;

type Https = hyper_rustls::HttpsConnector<ProxyAware>;

/// Where one blob's bytes are: a region of a file (a blob file, or an entry of a tar).
#[derive(Debug, Clone)]
pub struct BlobSource {
    pub digest: String,
    pub size: u64,
    pub path: std::path::PathBuf,
    pub offset: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobPush {
    AlreadyThere,
    Uploaded,
}

#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client<Https, Body>,
    endpoint: RegistryEndpoint,
    /// `Basic <authorizationToken>`.
    authorization: Secret,
}

impl Registry {
    pub fn new(endpoint: RegistryEndpoint, token: &Secret) -> Result<Registry, Error> {
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            let _ = roots.add(cert);
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| Error::failed(format!("TLS set-up failed: {err}"), vec![]))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(ProxyAware::from_env());
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Registry {
            inner: Arc::new(Inner {
                client,
                endpoint,
                authorization: Secret::new(format!("Basic {}", token.expose())),
            }),
        })
    }

    pub fn host(&self) -> &str {
        &self.inner.endpoint.host
    }

    /// One request, sent again when the registry throttles it or fails for a moment (ECR answers
    /// `429 TOOMANYREQUESTS` "Rate exceeded" past an API's quota, e.g. PutImage's 10 TPS, and now
    /// and then a 5xx): a few tries with growing pauses (or the registry's `Retry-After`), then
    /// its last answer. `body` makes the request's body afresh for each try.
    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: impl Fn() -> Body,
    ) -> Result<(StatusCode, HeaderMap, hyper::body::Incoming), Error> {
        let mut tries = 0;
        loop {
            let (status, headers, answer) = self.send_once(method.clone(), url, headers, body()).await?;
            if !is_transient(status) || tries >= RETRY_PAUSES_MS.len() {
                return Ok((status, headers, answer));
            }
            let pause = retry_after(&headers).unwrap_or(Duration::from_millis(RETRY_PAUSES_MS[tries]));
            tries += 1;
            info!(
                "The registry {} throttled or failed {method} {} (HTTP {}); trying again in {} ms",
                self.host(),
                path_of(url),
                status.as_u16(),
                pause.as_millis()
            );
            drop(answer);
            tokio::time::sleep(pause).await;
        }
    }

    async fn send_once(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Body,
    ) -> Result<(StatusCode, HeaderMap, hyper::body::Incoming), Error> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(url)
            .header(AUTHORIZATION, self.inner.authorization.expose());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request
            .body(body)
            .map_err(|err| Error::failed(format!("Could not build a request to {url}: {err}"), vec![]))?;
        let response = self.inner.client.request(request).await.map_err(|err| {
            Error::failed(
                format!(
                    "The registry {} {UNANSWERED} {method} {}: {err}",
                    self.host(),
                    path_of(url)
                ),
                vec!["Check that the runner can reach the registry (HTTPS_PROXY / NO_PROXY).".to_owned()],
            )
        })?;
        let status = response.status();
        debug!("registry: {method} {} → {}", path_of(url), status.as_u16());
        let (parts, body) = response.into_parts();
        Ok((status, parts.headers, body))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.endpoint.base_url())
    }

    /// `GET /v2/`: whether the registry takes the token, before anything is uploaded.
    pub async fn check_authorization(&self) -> Result<(), Error> {
        let (status, _, body) = self.send(Method::GET, &self.url("/v2/"), &[], body::empty).await?;
        if status.is_success() {
            return Ok(());
        }
        Err(self.refusal("GET /v2/", status, body).await)
    }

    pub async fn blob_exists(&self, repository: &str, digest: &str) -> Result<bool, Error> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let (status, _, body) = self.send(Method::HEAD, &url, &[], body::empty).await?;
        match status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.refusal("HEAD blob", status, body).await),
        }
    }

    /// Upload a blob unless the registry has it: one upload session, parts of at least the
    /// registry's minimum (ECR: 5 MiB, except the last), then the closing `PUT` with the digest,
    /// which the registry checks against the bytes it received.
    pub async fn push_blob(&self, repository: &str, blob: &BlobSource) -> Result<BlobPush, Error> {
        if self.blob_exists(repository, &blob.digest).await? {
            return Ok(BlobPush::AlreadyThere);
        }
        let start = self.url(&format!("/v2/{repository}/blobs/uploads/"));
        let (status, headers, body) = self
            .send(
                Method::POST,
                &start,
                &[(CONTENT_LENGTH.as_str(), "0".into())],
                body::empty,
            )
            .await?;
        if status != StatusCode::ACCEPTED {
            return Err(self.refusal("start of a blob upload", status, body).await);
        }
        let min_length = headers
            .get("oci-chunk-min-length")
            .and_then(|value| value.to_str().ok()?.parse().ok());
        let mut location = self.location(&headers)?;
        for (offset, len) in parts(blob.size, part_size(min_length)) {
            if len == 0 {
                break;
            }
            let part = || body::file_region(blob.path.clone(), blob.offset + offset, len);
            let range = format!("{offset}-{}", offset + len - 1);
            let (status, headers, body) = self
                .send(
                    Method::PATCH,
                    &location,
                    &[
                        (CONTENT_TYPE.as_str(), "application/octet-stream".into()),
                        (CONTENT_LENGTH.as_str(), len.to_string()),
                        ("content-range", range),
                    ],
                    part,
                )
                .await?;
            // The spec says 202; ECR answers 201 (and a `Range` that stops advancing after the
            // first part, though it stores every part), so neither is taken as a failure and the
            // offset is tracked here, not read from `Range`.
            if status != StatusCode::ACCEPTED && status != StatusCode::CREATED {
                return Err(self.refusal("upload of a blob part", status, body).await);
            }
            if headers.contains_key(LOCATION) {
                location = self.location(&headers)?;
            }
        }
        let separator = if location.contains('?') { '&' } else { '?' };
        let finish = format!("{location}{separator}digest={}", blob.digest);
        let (status, headers, body) = self
            .send(
                Method::PUT,
                &finish,
                &[(CONTENT_LENGTH.as_str(), "0".into())],
                body::empty,
            )
            .await?;
        if status != StatusCode::CREATED {
            return Err(self
                .refusal(&format!("end of the upload of {}", blob.digest), status, body)
                .await);
        }
        check_digest(&headers, &blob.digest, "blob")?;
        Ok(BlobPush::Uploaded)
    }

    /// `PUT` a manifest under `reference` (a tag or its digest); returns the registry's digest,
    /// checked against `digest`, computed here from the same bytes.
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
        digest: &str,
    ) -> Result<String, Error> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let (status, headers, body) = self
            .send(
                Method::PUT,
                &url,
                &[
                    (CONTENT_TYPE.as_str(), media_type.to_owned()),
                    (CONTENT_LENGTH.as_str(), bytes.len().to_string()),
                ],
                || body::full(bytes.to_vec()),
            )
            .await?;
        if status != StatusCode::CREATED {
            return Err(self.refusal(&format!("manifest {reference}"), status, body).await);
        }
        check_digest(&headers, digest, "manifest")?;
        Ok(digest.to_owned())
    }

    /// The digest the registry serves for `reference`: what a later pull gets.
    pub async fn manifest_digest(&self, repository: &str, reference: &str, accept: &str) -> Result<String, Error> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let (status, headers, body) = self
            .send(Method::HEAD, &url, &[("accept", accept.to_owned())], body::empty)
            .await?;
        if status != StatusCode::OK {
            return Err(self.refusal(&format!("manifest {reference}"), status, body).await);
        }
        headers
            .get("docker-content-digest")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| Error::failed(format!("The registry sent no digest for {reference}"), vec![]))
    }

    /// The manifest the registry serves for `reference`: its digest and its bytes.
    pub async fn manifest(&self, repository: &str, reference: &str, accept: &str) -> Result<(String, Vec<u8>), Error> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let (status, headers, body) = self
            .send(Method::GET, &url, &[("accept", accept.to_owned())], body::empty)
            .await?;
        if status != StatusCode::OK {
            return Err(self.refusal(&format!("manifest {reference}"), status, body).await);
        }
        let digest = headers
            .get("docker-content-digest")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| Error::failed(format!("The registry sent no digest for {reference}"), vec![]))?;
        let bytes = body::read_limited(body, 4 * 1024 * 1024)
            .await
            .map_err(|err| Error::failed(format!("Reading manifest {reference} failed: {err}"), vec![]))?;
        Ok((digest, bytes))
    }

    fn location(&self, headers: &HeaderMap) -> Result<String, Error> {
        let location = headers
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| Error::failed("The registry started an upload without a Location", vec![]))?;
        Ok(if location.starts_with('/') {
            self.url(location)
        } else {
            location.to_owned()
        })
    }

    /// What the registry said when it refused: its error code and message (OCI error document),
    /// never more than the first error, and never the request's headers.
    async fn refusal(&self, what: &str, status: StatusCode, body: hyper::body::Incoming) -> Error {
        let text = body::read_limited(body, 64 * 1024).await.unwrap_or_default();
        let said = serde_json::from_slice::<serde_json::Value>(&text)
            .ok()
            .and_then(|doc| {
                let first = doc.get("errors")?.get(0)?.clone();
                Some(format!(
                    "{}: {}",
                    first.get("code")?.as_str()?,
                    first.get("message").and_then(|m| m.as_str()).unwrap_or_default()
                ))
            })
            .unwrap_or_else(|| plain_answer(status, &text));
        let summary = format!("The registry {} refused {what}: {said}", self.host());
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Error::auth(
                format!(
                    "The registry {} refused the authorization ({what}): {said}",
                    self.host()
                ),
                vec![
                    "The ECR token comes from ecr:GetAuthorizationToken with the role's credentials; the role also \
                     needs ecr:BatchCheckLayerAvailability, ecr:InitiateLayerUpload, ecr:UploadLayerPart, \
                     ecr:CompleteLayerUpload and ecr:PutImage on the repository (and the repository policy must allow \
                     the role when REGISTRY_ID is another account)."
                        .to_owned(),
                ],
            ),
            StatusCode::TOO_MANY_REQUESTS => Error::failed(
                summary,
                vec![
                    "ECR throttled the registry API past its quota (per account and region; PutImage and \
                     InitiateLayerUpload have the lowest), even after several tries: other pushes to the same \
                     registry are running at the same time. Run the step again, or spread the pushes out."
                        .to_owned(),
                ],
            ),
            _ => Error::failed(summary, vec![]),
        }
    }
}

/// A refusal that is not an OCI error document: ECR answers an expired token with a plain-text
/// 403 ("Your authorization token has expired. Reauthenticate and try again.").
fn plain_answer(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect();
    if line.is_empty() || line.starts_with('<') {
        format!("HTTP {}", status.as_u16())
    } else {
        format!("HTTP {}: {line}", status.as_u16())
    }
}

/// Pauses between tries of a throttled or briefly failing request (about 4 s in all).
const RETRY_PAUSES_MS: [u64; 4] = [250, 500, 1000, 2000];

/// Answers worth another try: throttling and a registry's passing failures.
fn is_transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` in seconds, capped so a run never waits long on one request.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers.get("retry-after")?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds.min(10)))
}

/// The registry gave no answer at all (connection refused, DNS, proxy needed), as opposed to
/// refusing the request.
pub fn unanswered(error: &Error) -> bool {
    error.to_string().contains(UNANSWERED)
}

const UNANSWERED: &str = "did not answer";

fn check_digest(headers: &HeaderMap, expected: &str, what: &str) -> Result<(), Error> {
    match headers
        .get("docker-content-digest")
        .and_then(|value| value.to_str().ok())
    {
        Some(answer) if answer != expected => Err(Error::failed(
            format!("The registry stored the {what} as {answer}, but its bytes hash to {expected}"),
            vec![],
        )),
        _ => Ok(()),
    }
}

fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = rest.find('/').map_or("/", |at| &rest[at..]);
    // Upload locations carry state tokens in their query; the path says enough.
    path.split('?').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_refusals_are_quoted_on_one_line() {
        let said = plain_answer(
            StatusCode::FORBIDDEN,
            b"Your authorization token has expired.\nReauthenticate and try again.",
        );
        assert_eq!(
            said,
            "HTTP 403: Your authorization token has expired. Reauthenticate and try again."
        );
        assert_eq!(plain_answer(StatusCode::BAD_GATEWAY, b"<html>...</html>"), "HTTP 502");
    }

    #[test]
    fn throttling_and_passing_failures_are_tried_again() {
        for status in [429, 500, 502, 503, 504] {
            assert!(is_transient(StatusCode::from_u16(status).unwrap()), "{status}");
        }
        for status in [400, 401, 403, 404, 405] {
            assert!(!is_transient(StatusCode::from_u16(status).unwrap()), "{status}");
        }
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert("retry-after", "3600".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(10)));
    }

    #[test]
    fn paths_are_shown_without_queries() {
        assert_eq!(
            path_of("http://127.0.0.1:5000/v2/app/blobs/uploads/abc?_state=xyz"),
            "/v2/app/blobs/uploads/abc"
        );
        assert_eq!(path_of("https://host"), "/");
    }
}
