//! The registry's HTTP API (the OCI distribution spec), as the archive push needs it: Basic
//! authorization with the ECR token, `HEAD` to skip blobs the registry has, chunked uploads
//! streamed from the archive, manifests put with their own media type and their digest checked.
//!
//! The authorization travels only in the `Authorization` header of these requests, and only to
//! the registry `GetAuthorizationToken` named (an upload `Location` elsewhere is refused); it is a
//! `Secret`, so it is never printed, not even with DEBUG.
//!
//! Each request is sent by `send`, which tries it again when that helps; a blob's upload is
//! `upload`'s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::LOCATION;
use http::{HeaderMap, Method, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::body::{self, Body};
use super::connect::ProxyAware;
use super::store::sha256_hex;
use crate::domain::answers;
use crate::domain::ecr::RegistryEndpoint;
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

/// An answer of the registry: its status, headers and body (still to be read).
pub(super) type Answer = (StatusCode, HeaderMap, hyper::body::Incoming);

/// Whether a request is sent again when its connection is lost before the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OnLost {
    /// Reads and whole writes (HEAD, GET, POST, a manifest PUT): sending them again is harmless.
    Retry,
    /// A blob's part or its closing PUT: ECR cannot resume a session, the blob starts again.
    GiveUp,
}

#[derive(Clone)]
pub struct Registry {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) client: Client<Https, Body>,
    endpoint: RegistryEndpoint,
    /// `Basic <authorizationToken>`.
    pub(super) authorization: Secret,
    /// How long a connection may go without a byte moved (`AWS_ATTEMPT_TIMEOUT`).
    pub(super) idle: Duration,
    /// The run's deadline (`WAIT_TIMEOUT`): no try starts after it.
    pub(super) deadline: Instant,
}

impl Registry {
    pub fn new(
        endpoint: RegistryEndpoint,
        token: &Secret,
        idle: Duration,
        deadline: Instant,
    ) -> Result<Registry, Error> {
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
            .wrap_connector(ProxyAware::from_env(idle));
        // A pooled connection is let go before its idle limit ends it under a new request.
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(idle / 2)
            .build(connector);
        Ok(Registry {
            inner: Arc::new(Inner {
                client,
                endpoint,
                authorization: Secret::new(format!("Basic {}", token.expose())),
                idle,
                deadline,
            }),
        })
    }

    pub fn host(&self) -> &str {
        &self.inner.endpoint.host
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.endpoint.base_url())
    }

    /// `GET /v2/`: whether the registry takes the token, before anything is uploaded.
    pub async fn check_authorization(&self) -> Result<(), Error> {
        let (status, _, body) = self
            .send(Method::GET, &self.url("/v2/"), &[], body::empty, OnLost::Retry)
            .await?;
        if status.is_success() {
            return Ok(());
        }
        Err(self.refusal("GET /v2/", status, body).await)
    }

    pub async fn blob_exists(&self, repository: &str, digest: &str) -> Result<bool, Error> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let (status, _, body) = self.send(Method::HEAD, &url, &[], body::empty, OnLost::Retry).await?;
        match status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.refusal("HEAD blob", status, body).await),
        }
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
                    ("content-type", media_type.to_owned()),
                    ("content-length", bytes.len().to_string()),
                ],
                || body::full(bytes.to_vec()),
                OnLost::Retry,
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
            .send(
                Method::HEAD,
                &url,
                &[("accept", accept.to_owned())],
                body::empty,
                OnLost::Retry,
            )
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

    /// The manifest the registry serves for `reference`: its digest and its bytes. The digest is
    /// the bytes' own: private ECR sends `Docker-Content-Digest` on `HEAD` but not on `GET`
    /// (aws/containers-roadmap#1931), so the header is only checked, when it is there.
    pub async fn manifest(&self, repository: &str, reference: &str, accept: &str) -> Result<(String, Vec<u8>), Error> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let (status, headers, body) = self
            .send(
                Method::GET,
                &url,
                &[("accept", accept.to_owned())],
                body::empty,
                OnLost::Retry,
            )
            .await?;
        if status != StatusCode::OK {
            return Err(self.refusal(&format!("manifest {reference}"), status, body).await);
        }
        let bytes = body::read_limited(body, MANIFEST_LIMIT + 1)
            .await
            .map_err(|err| Error::failed(format!("Reading manifest {reference} failed: {err}"), vec![]))?;
        if bytes.len() > MANIFEST_LIMIT {
            return Err(Error::failed(
                format!("The registry served a manifest {reference} larger than 4 MiB"),
                vec![],
            ));
        }
        let digest = sha256_hex(&bytes);
        check_digest(&headers, &digest, "manifest")?;
        Ok((digest, bytes))
    }

    /// Where an upload goes on: the answer's `Location`, which must be this registry (same
    /// scheme, host and port), or the token would follow it elsewhere.
    pub(super) fn location(&self, headers: &HeaderMap) -> Result<String, Error> {
        let location = headers
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| Error::failed("The registry started an upload without a Location", vec![]))?;
        self.inner.endpoint.location(location).map_err(|why| {
            Error::failed(
                format!(
                    "The registry {} sent an upload Location that is not itself, so the push stopped before sending \
                     the registry token there: {why}",
                    self.host()
                ),
                vec![format!(
                    "The registry token goes only to {}, the endpoint ecr:GetAuthorizationToken named. A proxy or \
                     gateway that rewrites Location headers (check HTTPS_PROXY) can cause this.",
                    self.inner.endpoint.base_url()
                )],
            )
        })
    }

    /// What the registry said when it refused: its error code and message (OCI error document),
    /// never more than the first error, and never the request's headers.
    pub(super) async fn refusal(&self, what: &str, status: StatusCode, body: hyper::body::Incoming) -> Error {
        let said = match said(status, body).await {
            (Some(code), message) => format!("{code}: {message}"),
            (None, message) => message,
        };
        self.refused(what, status, said)
    }

    pub(super) fn refused(&self, what: &str, status: StatusCode, said: String) -> Error {
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

/// What the registry said in a refusal: the first error's code and message of an OCI error
/// document, else its plain text (or just the status).
pub(super) async fn said(status: StatusCode, body: hyper::body::Incoming) -> (Option<String>, String) {
    let text = body::read_limited(body, 64 * 1024).await.unwrap_or_default();
    answers::registry_refusal(status.as_u16(), &text)
}

/// The largest manifest ECR stores (4 MiB).
const MANIFEST_LIMIT: usize = 4 * 1024 * 1024;

pub(super) fn check_digest(headers: &HeaderMap, expected: &str, what: &str) -> Result<(), Error> {
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

pub(super) fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = rest.find('/').map_or("/", |at| &rest[at..]);
    // Upload locations carry state tokens in their query; the path says enough.
    path.split('?').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_shown_without_queries() {
        assert_eq!(
            path_of("http://127.0.0.1:5000/v2/app/blobs/uploads/abc?_state=xyz"),
            "/v2/app/blobs/uploads/abc"
        );
        assert_eq!(path_of("https://host"), "/");
    }
}
