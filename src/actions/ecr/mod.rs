//! `ACTION=ecr-push`: push an image to ECR with the role's short-lived credentials, from the
//! step's Docker daemon (`IMAGE_NAME`) or from an archive without any daemon (`IMAGE_ARCHIVE`),
//! or promote an image already in ECR (`SOURCE_TAG`).
//!
//! Order: the repository exists (or is created, when asked), then the ECR token (pushes only),
//! then the push, then the registry's digest is checked against the one computed or reported.
//! A push ends by the run's deadline (`WAIT_TIMEOUT`), whatever the network does.

mod archive;
mod body;
mod connect;
mod daemon;
mod documents;
mod idle;
mod login;
mod promote;
mod registry;
mod repository;
pub mod scan;
mod send;
mod store;
mod tags;
mod tar_index;
mod upload;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Semaphore;
use tracing::{info, warn};

use self::login::{login, login_with_password};
use self::registry::Registry;
use self::scan::ScanCounts;
use self::tags::{is_immutable_refusal, served_as, tag_refusal};
use self::upload::{BlobPush, empty_blob};
use crate::aws::{AwsFailure, Clients};
use crate::domain::context::RunContext;
use crate::domain::ecr::{CONCURRENT_UPLOADS, EcrSettings, ImageSource, MANIFEST_TYPES};
use crate::domain::scan::ScanResult;
use crate::domain::secret::Secret;
use crate::error::Error;

#[derive(Debug, Clone, Serialize)]
pub struct EcrOutcome {
    pub action: &'static str,
    pub region: String,
    pub registry: String,
    pub repository_uri: String,
    /// None only in a dry run of a daemon push (the digest is the registry's to make).
    pub digest: Option<String>,
    pub tags: Vec<String>,
    /// `<repository URI>@<digest>`, for `ecs-deploy`'s `IMAGE`.
    pub image: Option<String>,
    /// `daemon`, `archive` or `promote`.
    pub source: &'static str,
    pub created_repository: bool,
    pub dry_run: bool,
    /// A multi-platform image (an index): each platform's manifest, by digest, for the tools
    /// that take one platform's image only (Lambda refuses indexes). Attestations left out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<PlatformImage>,
    /// `SCAN_FAIL_ON`: the findings of ECR's scan per severity, every platform added up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanCounts>,
    /// The scan of each image (each platform of an index), findings worst first: for reports,
    /// not written to the outputs.
    #[serde(skip)]
    pub scans: Vec<ScanResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlatformImage {
    /// `linux/arm64/v8`
    pub platform: String,
    pub digest: String,
    /// `<repository URI>@<digest>`
    pub image: String,
}

impl fmt::Display for EcrOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tags = self.tags.join(", ");
        match (&self.image, self.dry_run) {
            (_, true) => write!(
                f,
                "Dry run: nothing was pushed to {} (tags {tags})",
                self.repository_uri
            ),
            (Some(image), false) if self.source == "promote" => write!(f, "Tagged {image} as {tags}"),
            (Some(image), false) => write!(f, "Pushed {image} as {tags}"),
            (None, false) => write!(f, "Pushed to {} as {tags}", self.repository_uri),
        }
    }
}

pub async fn run(run: &RunContext, settings: &EcrSettings, clients: &Clients) -> Result<EcrOutcome, Error> {
    let repository = settings.repository.as_str();
    let registry_id = settings.registry_id.as_deref();
    let (repository_uri, created_repository, scan_on_push) = repository::ensure(run, settings, clients).await?;
    let mut outcome = EcrOutcome {
        action: "ecr-push",
        region: run.region.clone(),
        registry: repository_uri.split('/').next().unwrap_or_default().to_owned(),
        repository_uri,
        digest: None,
        tags: settings.tags.clone(),
        image: None,
        source: match settings.source {
            ImageSource::Daemon(_) => "daemon",
            ImageSource::Archive(_) => "archive",
            ImageSource::Promote(_) => "promote",
        },
        created_repository,
        dry_run: run.dry_run,
        platforms: Vec::new(),
        scan: None,
        scans: Vec::new(),
    };

    // Tags already pointing at the image when a later one fails: later script lines can use them.
    let mut done: Vec<(String, String)> = Vec::new();
    let digest = match &settings.source {
        ImageSource::Promote(source) => {
            if run.dry_run {
                return Ok(outcome);
            }
            let promoted = promote::promote(clients, repository, registry_id, source, &settings.tags, &mut done);
            within_wait_timeout(run, promoted)
                .await
                .map_err(|err| partial(err, &outcome, &done))?
        }
        ImageSource::Archive(path) => {
            let path = path.clone();
            // Reading hashes every blob: WAIT_TIMEOUT bounds it like the push (a thread still
            // reading at the deadline is abandoned; main does not wait for it).
            let reading = async move {
                tokio::task::spawn_blocking(move || archive::open(&path))
                    .await
                    .map_err(|err| Error::failed(format!("Reading the archive failed: {err}"), vec![]))?
            };
            let image = within_wait_timeout(run, reading).await?;
            info!(
                "IMAGE_ARCHIVE holds {}: {} blobs, {} bytes",
                image.description,
                image.blobs.len(),
                image.blobs.iter().map(|blob| blob.size).sum::<u64>()
            );
            warn_of_attestations(&image);
            if run.dry_run {
                outcome.digest = Some(image.top.digest.clone());
                outcome.platforms = platform_images(&outcome.repository_uri, &image);
                return Ok(outcome);
            }
            let registry = login(run, settings, clients).await?;
            outcome.registry = registry.host().to_owned();
            outcome.repository_uri = format!("{}/{repository}", registry.host());
            let pushed = within_wait_timeout(
                run,
                push_archive(&registry, repository, &image, &settings.tags, &mut done),
            )
            .await;
            let digest = pushed.map_err(|err| partial(err, &outcome, &done))?;
            outcome.platforms = platform_images(&outcome.repository_uri, &image);
            digest
        }
        ImageSource::Daemon(image) => {
            let daemon = daemon::Daemon::new(settings.docker_host.as_deref(), settings.idle_timeout);
            let id = within_wait_timeout(run, daemon.inspect(image)).await?;
            info!("Found {image} ({id}) in the Docker daemon");
            if run.dry_run {
                return Ok(outcome);
            }
            let (registry, password) = login_with_password(run, settings, clients).await?;
            outcome.registry = registry.host().to_owned();
            outcome.repository_uri = format!("{}/{repository}", registry.host());
            let pushed = push_from_daemon(
                &daemon,
                &registry,
                &password,
                (image, &id),
                repository,
                &settings.tags,
                &mut done,
            );
            within_wait_timeout(run, pushed)
                .await
                .map_err(|err| partial(err, &outcome, &done))?
        }
    };
    outcome.image = Some(format!("{}@{digest}", outcome.repository_uri));
    outcome.digest = Some(digest);
    info!("registry: {}", outcome.registry);
    info!("repository_uri: {}", outcome.repository_uri);
    info!("digest: {}", outcome.digest.as_deref().unwrap_or_default());
    info!("tags: {}", outcome.tags.join(" "));
    for platform in &outcome.platforms {
        info!("platform {}: {}", platform.platform, platform.image);
    }
    info!(
        "image: {} (use it as IMAGE in ecs-deploy)",
        outcome.image.as_deref().unwrap_or_default()
    );
    if let Some(threshold) = settings.scan_fail_on {
        scan::scan_gate(run, settings, clients, threshold, scan_on_push, &mut outcome).await?;
    }
    Ok(outcome)
}

/// Read an image archive as `ecr-push` does before pushing it (structure, bounds, every blob
/// hashed), without sending anything: what it holds, or why it is refused. The fuzz targets'
/// entry point (fuzz/entry.rs).
pub fn read_archive(path: &std::path::Path) -> Result<String, Error> {
    archive::open(path).map(|image| {
        format!(
            "{}: {} blobs, platforms {:?}, {} attestations",
            image.description,
            image.blobs.len(),
            image.platforms,
            image.attestations
        )
    })
}

/// Each platform of a multi-platform archive, as `<repository URI>@<digest>`.
fn platform_images(repository_uri: &str, image: &archive::ArchiveImage) -> Vec<PlatformImage> {
    image
        .platforms
        .iter()
        .map(|platform| PlatformImage {
            platform: platform.platform.clone(),
            digest: platform.digest.clone(),
            image: format!("{repository_uri}@{}", platform.digest),
        })
        .collect()
}

/// BuildKit adds provenance (and SBOM) attestations by default, so a one-platform build becomes
/// an index of that platform plus `unknown/unknown` attestation manifests: pushed whole, but
/// Lambda refuses an index, and some tools show it as two images.
fn warn_of_attestations(image: &archive::ArchiveImage) {
    if let ([only], 1..) = (image.platforms.as_slice(), image.attestations) {
        warn!(
            "IMAGE_ARCHIVE is an index of one platform ({}) and {} attestation manifest(s) (BuildKit provenance or \
             SBOM, platform unknown/unknown): it is pushed whole, but Lambda refuses image indexes; use the platform's \
             own digest {} (output PLATFORMS_0_IMAGE), or build with --provenance=false --sbom=false for a plain image",
            only.platform, image.attestations, only.digest
        );
    }
}

/// A push that failed after some tags were pushed: the outputs name those, so a later step can
/// still use the image; the error says what failed.
fn partial(error: Error, outcome: &EcrOutcome, done: &[(String, String)]) -> Error {
    let Some((_, digest)) = done.first() else {
        return error;
    };
    let mut partial = outcome.clone();
    partial.tags = done.iter().map(|(tag, _)| tag.clone()).collect();
    partial.image = Some(format!("{}@{digest}", partial.repository_uri));
    partial.digest = Some(digest.clone());
    let pushed = partial.tags.join(", ");
    Error::WithOutputs {
        error: Box::new(error.with_details([format!("Already pushed: {pushed} → {digest}.")])),
        outputs: serde_json::to_value(&partial).unwrap_or_default(),
    }
}

/// A failed ECR call about the repository, with the variable to change.
pub(crate) fn repository_failure(failure: AwsFailure, repository: &str) -> Error {
    if failure.code_is("RepositoryNotFoundException") {
        return Error::BadInput {
            summary: format!(
                "The ECR repository {repository} does not exist (RepositoryNotFoundException: {})",
                failure.message
            ),
            details: vec![
                "Check ECR_REPOSITORY (and REGISTRY_ID for another account's registry), or set CREATE_REPOSITORY: true \
                 to create it (needs ecr:CreateRepository)."
                    .to_owned(),
            ],
        };
    }
    failure.into_error()
}

/// `push` (or a promotion), ended when the run's deadline passes: the push as a whole is bounded
/// by `WAIT_TIMEOUT`, not only its single requests.
async fn within_wait_timeout<T>(run: &RunContext, push: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
    match tokio::time::timeout_at(run.deadline.into(), push).await {
        Ok(result) => result,
        Err(_) => Err(Error::failed(
            format!(
                "The push did not finish within WAIT_TIMEOUT ({} s)",
                run.wait_timeout.as_secs()
            ),
            vec![
                "WAIT_TIMEOUT bounds the whole run, the push included: raise it for large images or slow links. \
                 Tags listed as already pushed point at the image; the others were not moved."
                    .to_owned(),
            ],
        )),
    }
}

async fn push_archive(
    registry: &Registry,
    repository: &str,
    image: &archive::ArchiveImage,
    tags: &[String],
    done: &mut Vec<(String, String)>,
) -> Result<String, Error> {
    registry.check_authorization().await?;
    let undeclared: Vec<&str> = image
        .children
        .iter()
        .chain([&image.top])
        .filter(|manifest| !manifest.declares_media_type)
        .map(|manifest| manifest.digest.as_str())
        .collect();
    if !undeclared.is_empty() {
        // Pushed as they are (their digest is their bytes), but ECR is known to refuse them with
        // UNSUPPORTED "Invalid JSON syntax".
        warn!(
            "Manifest {} has no top-level mediaType (optional in OCI): ECR refuses such manifests; if the push \
             fails, rebuild the archive with a tool that writes it",
            undeclared.join(", ")
        );
    }
    // ECR completes no upload without parts: a blob of no bytes the repository lacks stops the
    // push before anything is uploaded.
    for blob in image.blobs.iter().filter(|blob| blob.size == 0) {
        if !registry.blob_exists(repository, &blob.digest).await? {
            return Err(empty_blob(&blob.digest));
        }
    }
    let permits = Arc::new(Semaphore::new(CONCURRENT_UPLOADS));
    let mut uploads = tokio::task::JoinSet::new();
    for blob in image.blobs.clone() {
        let (registry, permits, repository) = (registry.clone(), permits.clone(), repository.to_owned());
        uploads.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let pushed = registry.push_blob(&repository, &blob).await;
            (blob, pushed)
        });
    }
    let (mut uploaded, mut skipped) = (0, 0);
    while let Some(done) = uploads.join_next().await {
        let (blob, pushed) = done.map_err(|err| Error::failed(format!("An upload task failed: {err}"), vec![]))?;
        match pushed? {
            BlobPush::Uploaded => {
                uploaded += 1;
                info!("  {}: uploaded ({} bytes)", short(&blob.digest), blob.size);
            }
            BlobPush::AlreadyThere => {
                skipped += 1;
                info!("  {}: already in the registry", short(&blob.digest));
            }
        }
    }
    info!("Blobs: {uploaded} uploaded, {skipped} already in the registry");
    for child in &image.children {
        registry
            .put_manifest(
                repository,
                &child.digest,
                &child.media_type,
                &child.bytes,
                &child.digest,
            )
            .await?;
    }
    let top = &image.top;
    for tag in tags {
        match registry
            .put_manifest(repository, tag, &top.media_type, &top.bytes, &top.digest)
            .await
        {
            Ok(_) => info!("  tag {tag} → {}", top.digest),
            // ECR refuses a tag of an immutable repository even when it already points at this
            // very image, as it does when the same push runs again (a re-run step): the tag is
            // read back, and if it serves this digest there is nothing to do.
            Err(err) if is_immutable_refusal(&err) => {
                let served = registry
                    .manifest_digest(repository, tag, &MANIFEST_TYPES.join(", "))
                    .await
                    .ok();
                if served.as_deref() != Some(top.digest.as_str()) {
                    return Err(tag_refusal(err, tag, repository));
                }
                info!(
                    "  tag {tag} already points at {} (the repository's tags are immutable: left as it is)",
                    top.digest
                );
            }
            Err(err) => return Err(err),
        }
        done.push((tag.clone(), top.digest.clone()));
    }
    Ok(top.digest.clone())
}

async fn push_from_daemon(
    daemon: &daemon::Daemon,
    registry: &Registry,
    password: &Secret,
    (image, image_id): (&str, &str),
    repository: &str,
    tags: &[String],
    done: &mut Vec<(String, String)>,
) -> Result<String, Error> {
    let repository_uri = &format!("{}/{repository}", registry.host());
    let mut digest: Option<String> = None;
    for tag in tags {
        daemon.tag(image, repository_uri, tag).await?;
        info!("Pushing {repository_uri}:{tag}");
        let pushed = match daemon.push(repository_uri, tag, registry.host(), password).await {
            Ok(pushed) => {
                info!("  tag {tag} → {pushed}");
                pushed
            }
            // ECR refuses an immutable tag even when it names this very image (a re-run of the
            // same push): the tag is read back and compared with the daemon's image.
            Err(err) if is_immutable_refusal(&err) => match served_as(registry, repository, tag, image_id).await {
                Some(served) => {
                    info!(
                        "  tag {tag} already points at {served}, this image (the repository's tags are immutable: left as \
                         it is)"
                    );
                    served
                }
                None => return Err(tag_refusal(err, tag, repository)),
            },
            Err(err) => return Err(tag_refusal(err, tag, repository)),
        };
        done.push((tag.clone(), pushed.clone()));
        match &digest {
            Some(first) if *first != pushed => warn!("{tag} was pushed as {pushed}, not {first}"),
            Some(_) => {}
            None => digest = Some(pushed),
        }
    }
    let digest = digest.ok_or_else(|| Error::failed("No tag was pushed", vec![]))?;
    // What a later pull gets, asked of the registry itself rather than taken from the daemon.
    let accept = MANIFEST_TYPES.join(", ");
    for tag in tags {
        let served = match registry.manifest_digest(repository, tag, &accept).await {
            Ok(served) => served,
            // The daemon reached the registry (through its own proxy settings, say); this pipe's
            // direct requests do not use HTTPS_PROXY. The daemon's digest is the registry's answer.
            Err(err) if send::unanswered(&err) => {
                warn!("The digest could not be checked with the registry directly ({err}); the daemon's is reported");
                break;
            }
            // Reading a tag back is ecr:BatchGetImage, which a role made only for pushing may lack:
            // the push itself succeeded, so the daemon's digest stands.
            Err(err) if matches!(err, Error::Auth { .. }) => {
                warn!(
                    "The registry refused to read {tag} back ({err}), so the digest is the daemon's, unchecked; grant \
                     ecr:BatchGetImage on the repository to have it checked"
                );
                break;
            }
            Err(err) => return Err(err),
        };
        if served != digest {
            return Err(Error::failed(
                format!("The registry serves {repository_uri}:{tag} as {served}, but the daemon pushed {digest}"),
                vec!["Another push to the same tag may have run at the same time.".to_owned()],
            ));
        }
    }
    Ok(digest)
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min("sha256:".len() + 12)]
}
