//! The step's Docker daemon, spoken to directly over its Engine API (no docker CLI in the
//! image): `DOCKER_HOST` as Bitbucket sets it (`tcp://host.docker.internal:2375`) or a unix
//! socket. Only three calls: inspect the image, tag it, push it.
//!
//! The registry credentials travel only in the push's `X-Registry-Auth` header: never on disk,
//! never on a command line, and the header's value is masked in anything printed.
//!
//! A connection opens within a connect timeout and ends when no byte moves for the idle limit
//! (`AWS_ATTEMPT_TIMEOUT`; the push's progress stream moves bytes while the daemon works).

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tracing::{debug, info};

use super::body::{self, read_limited};
use super::idle::{self, Idle};
use super::send::causes;
use crate::domain::answers::{ProgressLine, PushProgress};
use crate::domain::secret::{self, Secret};
use crate::error::Error;

const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

#[derive(Debug, Clone)]
enum Endpoint {
    Tcp(String),
    Unix(PathBuf),
}

pub struct Daemon {
    endpoint: Endpoint,
    shown: String,
    idle: Duration,
}

impl Daemon {
    pub fn new(docker_host: Option<&str>, idle: Duration) -> Daemon {
        let shown = docker_host.unwrap_or("unix:///var/run/docker.sock").to_owned();
        let endpoint = match docker_host {
            Some(host) if host.starts_with("tcp://") => {
                Endpoint::Tcp(host["tcp://".len()..].trim_end_matches('/').to_owned())
            }
            Some(host) => Endpoint::Unix(PathBuf::from(host.trim_start_matches("unix://"))),
            None => Endpoint::Unix(PathBuf::from(DEFAULT_SOCKET)),
        };
        Daemon { endpoint, shown, idle }
    }

    fn unreachable(&self, err: impl std::fmt::Display) -> Error {
        Error::failed(
            format!("The Docker daemon at {} cannot be reached: {err}", self.shown),
            vec![
                "IMAGE_NAME pushes from the step's Docker daemon: add `services: [docker]` to the step (Bitbucket then \
                 sets DOCKER_HOST), or push a `docker save` / OCI archive with IMAGE_ARCHIVE instead, which needs no \
                 daemon."
                    .to_owned(),
            ],
        )
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<(StatusCode, Incoming), Error> {
        let mut request = Request::builder().method(method).uri(path).header("host", "docker");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(body::empty())
            .map_err(|err| Error::failed(format!("Could not build a request to the daemon: {err}"), vec![]))?;
        let opening = idle::connect_timeout(self.idle);
        let timed_out = |_| self.unreachable(format!("no connection within {} s", opening.as_secs()));
        let response = match &self.endpoint {
            Endpoint::Tcp(address) => {
                let stream = tokio::time::timeout(opening, tokio::net::TcpStream::connect(address))
                    .await
                    .map_err(timed_out)?
                    .map_err(|err| self.unreachable(err))?;
                self.exchange(Idle::new(TokioIo::new(stream), self.idle), request)
                    .await?
            }
            Endpoint::Unix(path) => {
                let stream = tokio::time::timeout(opening, tokio::net::UnixStream::connect(path))
                    .await
                    .map_err(timed_out)?
                    .map_err(|err| self.unreachable(err))?;
                self.exchange(Idle::new(TokioIo::new(stream), self.idle), request)
                    .await?
            }
        };
        let status = response.status();
        Ok((status, response.into_body()))
    }

    async fn exchange<S>(&self, io: S, request: Request<body::Body>) -> Result<http::Response<Incoming>, Error>
    where
        S: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|err| self.unreachable(causes(&err)))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        sender
            .send_request(request)
            .await
            .map_err(|err| self.unreachable(causes(&err)))
    }

    async fn daemon_error(&self, what: &str, status: StatusCode, body: Incoming) -> Error {
        let text = read_limited(body, 64 * 1024).await.unwrap_or_default();
        let message = serde_json::from_slice::<Value>(&text)
            .ok()
            .and_then(|doc| doc.get("message")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        Error::failed(format!("The Docker daemon refused to {what}: {message}"), vec![])
    }

    /// The image exists in the daemon; its id.
    pub async fn inspect(&self, image: &str) -> Result<String, Error> {
        let (status, body) = self
            .send(Method::GET, &format!("/images/{}/json", encode(image)), &[])
            .await?;
        match status {
            StatusCode::OK => {
                let bytes = read_limited(body, 4 * 1024 * 1024).await.unwrap_or_default();
                let id = serde_json::from_slice::<Value>(&bytes)
                    .ok()
                    .and_then(|doc| doc.get("Id")?.as_str().map(str::to_owned))
                    .unwrap_or_default();
                Ok(id)
            }
            StatusCode::NOT_FOUND => Err(Error::BadInput {
                summary: format!("The image {image:?} is not in the Docker daemon at {}", self.shown),
                details: vec![format!(
                    "Check IMAGE_NAME: build or pull it earlier in the same step (`docker build -t {image} .`); \
                     `docker images` lists what the daemon has."
                )],
            }),
            _ => Err(self.daemon_error(&format!("inspect {image}"), status, body).await),
        }
    }

    pub async fn tag(&self, image: &str, repository: &str, tag: &str) -> Result<(), Error> {
        let path = format!(
            "/images/{}/tag?repo={}&tag={}",
            encode(image),
            encode(repository),
            encode(tag)
        );
        let (status, body) = self.send(Method::POST, &path, &[]).await?;
        if status.is_success() {
            return Ok(());
        }
        Err(self
            .daemon_error(&format!("tag {image} as {repository}:{tag}"), status, body)
            .await)
    }

    /// Push `repository:tag`, logging one line per layer state change; the digest the
    /// registry gave the daemon (`aux.Digest`).
    pub async fn push(&self, repository: &str, tag: &str, registry: &str, password: &Secret) -> Result<String, Error> {
        let auth = serde_json::json!({
            "username": "AWS",
            "password": password.expose(),
            "serveraddress": registry,
        });
        let header = base64::engine::general_purpose::URL_SAFE.encode(auth.to_string());
        secret::redact_from_now_on(&header);
        let path = format!("/images/{}/push?tag={}", encode(repository), encode(tag));
        let (status, mut body) = self
            .send(Method::POST, &path, &[("x-registry-auth", header.as_str())])
            .await?;
        if !status.is_success() {
            return Err(self
                .daemon_error(&format!("push {repository}:{tag}"), status, body)
                .await);
        }
        let mut progress = PushProgress::default();
        let mut pending = Vec::new();
        let say = |said: Option<ProgressLine>| match said {
            Some(ProgressLine::Layer(line)) => info!("  {line}"),
            Some(ProgressLine::Status(status)) => debug!("daemon: {status}"),
            None => {}
        };
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|err| {
                Error::failed(format!("The daemon's push answer broke off: {}", causes(&err)), vec![])
            })?;
            let Some(data) = frame.data_ref() else { continue };
            pending.extend_from_slice(data);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                say(progress.line(&line));
            }
            // A line is a small JSON object: a stream that never ends one is not a push stream,
            // and is not kept in memory.
            if pending.len() > MAX_PROGRESS_LINE {
                pending.clear();
            }
        }
        say(progress.line(&pending));
        if let Some(message) = progress.error {
            let refused = ["unauthorized", "authentication required", "denied", "no basic auth"]
                .iter()
                .any(|word| message.to_ascii_lowercase().contains(word));
            return Err(if refused {
                Error::auth(
                    format!("The registry {registry} refused the authorization for the push of {repository}:{tag}: {message}"),
                    vec![
                        "The role needs ecr:GetAuthorizationToken, and on the repository ecr:BatchCheckLayerAvailability, \
                         ecr:InitiateLayerUpload, ecr:UploadLayerPart, ecr:CompleteLayerUpload and ecr:PutImage."
                            .to_owned(),
                    ],
                )
            } else if message.contains("tag invalid") || message.contains("already exists") {
                Error::failed(
                    format!("The registry refused tag {tag} of {repository}: {message}"),
                    vec!["The repository's tags are immutable: push a new tag instead of moving this one.".to_owned()],
                )
            } else {
                Error::failed(format!("The push of {repository}:{tag} failed: {message}"), vec![])
            });
        }
        progress.digest.ok_or_else(|| {
            Error::failed(
                format!("The daemon finished the push of {repository}:{tag} without reporting a digest"),
                vec![],
            )
        })
    }
}

/// The longest push-stream line kept (the daemon's are a few hundred bytes).
const MAX_PROGRESS_LINE: usize = 1024 * 1024;

/// Percent-encoding for path segments and query values of the Engine API.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' | b':' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_daemon_that_never_answers_is_abandoned() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let silent = tokio::spawn(async move {
            let (_peer, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let daemon = Daemon::new(Some(&format!("tcp://{address}")), Duration::from_millis(300));
        // Abandoned by the idle timeout (its message), not by the peer going away after 30 s.
        let error = daemon.inspect("app:1").await.unwrap_err().to_string();
        assert!(error.contains("no byte moved"), "{error}");
        silent.abort();
    }

    #[test]
    fn names_are_encoded_for_the_api() {
        assert_eq!(encode("127.0.0.1:5000/team/app"), "127.0.0.1:5000/team/app");
        assert_eq!(encode("a b&c"), "a%20b%26c");
    }

    #[test]
    fn docker_host_forms() {
        assert!(
            matches!(Daemon::new(Some("tcp://host.docker.internal:2375"), Duration::from_secs(30)).endpoint, Endpoint::Tcp(ref a) if a == "host.docker.internal:2375")
        );
        assert!(
            matches!(Daemon::new(Some("unix:///run/docker.sock"), Duration::from_secs(30)).endpoint, Endpoint::Unix(ref p) if p == &PathBuf::from("/run/docker.sock"))
        );
        assert!(matches!(
            Daemon::new(None, Duration::from_secs(30)).endpoint,
            Endpoint::Unix(_)
        ));
    }
}
