//! One blob's upload: skipped when the registry has it; else an upload session (`POST`), parts
//! of at least the registry's minimum (ECR: 5 MiB, except the last) streamed from the archive,
//! and the closing `PUT` with the digest, which the registry checks against the bytes.
//!
//! ECR cannot resume a session whose part lost its connection (the `Range` it answers stays at
//! the first part, aws/containers-roadmap#2831), so such a blob starts again from a new session,
//! at most `SESSIONS` times in all. A blob of no bytes is refused before anything is sent: ECR
//! completes no upload without parts (EmptyUploadException), a monolithic `PUT` included.

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use http::{Method, StatusCode};
use tracing::info;

use super::body;
use super::registry::{Answer, BlobSource, OnLost, Registry, check_digest};
use crate::aws::{AwsFailure, FailureKind};
use crate::domain::ecr::{part_size, parts};
use crate::error::Error;

/// Upload sessions one blob may use: the first and two more after lost connections.
pub const SESSIONS: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobPush {
    AlreadyThere,
    Uploaded,
}

/// Why one session of an upload ended without the blob.
enum Ended {
    /// The connection of a part or of the closing `PUT` was lost: a new session may do better.
    Lost(Error),
    Failed(Error),
}

impl Registry {
    /// Upload a blob unless the registry has it.
    pub async fn push_blob(&self, repository: &str, blob: &BlobSource) -> Result<BlobPush, Error> {
        if self.blob_exists(repository, &blob.digest).await? {
            return Ok(BlobPush::AlreadyThere);
        }
        if blob.size == 0 {
            return Err(empty_blob(&blob.digest));
        }
        let mut session = 1;
        loop {
            match self.upload_session(repository, blob).await {
                Ok(()) => return Ok(BlobPush::Uploaded),
                Err(Ended::Failed(error)) => return Err(error),
                Err(Ended::Lost(error)) if session < SESSIONS => {
                    info!(
                        "  {}: the upload lost its connection ({error}); starting it again from a new upload session \
                         ({} of {SESSIONS})",
                        blob.digest,
                        session + 1
                    );
                    session += 1;
                }
                Err(Ended::Lost(error)) => {
                    return Err(Error::failed(
                        format!(
                            "The upload of {} to {} lost its connection in {SESSIONS} upload sessions: {error}",
                            blob.digest,
                            self.host()
                        ),
                        vec![
                            "ECR cannot resume an upload, so each session started the blob again. Check the runner's \
                             network and HTTPS_PROXY; AWS_ATTEMPT_TIMEOUT is how long a connection may go without \
                             a byte moved."
                                .to_owned(),
                        ],
                    ));
                }
            }
        }
    }

    async fn upload_session(&self, repository: &str, blob: &BlobSource) -> Result<(), Ended> {
        let start = self.url(&format!("/v2/{repository}/blobs/uploads/"));
        let (status, headers, answer) = self
            .send(
                Method::POST,
                &start,
                &[(CONTENT_LENGTH.as_str(), "0".into())],
                body::empty,
                OnLost::Retry,
            )
            .await
            .map_err(Ended::Failed)?;
        if status != StatusCode::ACCEPTED {
            return Err(Ended::Failed(
                self.refusal("start of a blob upload", status, answer).await,
            ));
        }
        let min_length = headers
            .get("oci-chunk-min-length")
            .and_then(|value| value.to_str().ok()?.parse().ok());
        let mut location = self.location(&headers).map_err(Ended::Failed)?;
        for (offset, len) in parts(blob.size, part_size(min_length)) {
            let part = || body::file_region(blob.path.clone(), blob.offset + offset, len);
            let range = format!("{offset}-{}", offset + len - 1);
            let (status, headers, answer) = self
                .once(
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
                return Err(Ended::Failed(
                    self.refusal("upload of a blob part", status, answer).await,
                ));
            }
            if headers.contains_key(LOCATION) {
                location = self.location(&headers).map_err(Ended::Failed)?;
            }
        }
        let separator = if location.contains('?') { '&' } else { '?' };
        let finish = format!("{location}{separator}digest={}", blob.digest);
        let (status, headers, answer) = self
            .once(
                Method::PUT,
                &finish,
                &[(CONTENT_LENGTH.as_str(), "0".into())],
                body::empty,
            )
            .await?;
        if status != StatusCode::CREATED {
            return Err(Ended::Failed(
                self.refusal(&format!("end of the upload of {}", blob.digest), status, answer)
                    .await,
            ));
        }
        check_digest(&headers, &blob.digest, "blob").map_err(Ended::Failed)
    }

    /// A request of the session: tried again when throttled, but a lost connection ends the
    /// session.
    async fn once(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: impl Fn() -> body::Body,
    ) -> Result<Answer, Ended> {
        self.try_send(method.clone(), url, headers, body, OnLost::GiveUp)
            .await
            .map_err(|failure: AwsFailure| {
                let lost = failure.kind == FailureKind::NoResponse && failure.status.is_none();
                let error = self.failure(&method, url, failure);
                if lost { Ended::Lost(error) } else { Ended::Failed(error) }
            })
    }
}

/// ECR cannot store a blob of no bytes: it completes no upload without parts.
pub fn empty_blob(digest: &str) -> Error {
    Error::BadInput {
        summary: format!(
            "IMAGE_ARCHIVE names a blob of no bytes ({digest}), which ECR cannot store: it completes no upload \
             without parts (EmptyUploadException), however the bytes are sent"
        ),
        details: vec![
            "Rebuild the artifact with the OCI empty descriptor (`{}`, application/vnd.oci.empty.v1+json, 2 bytes) \
             instead of an empty blob, as ORAS and the devcontainer CLI now do; or push it once some other way that \
             already has that blob in the repository."
                .to_owned(),
        ],
    }
}
