//! Immutable tags: ECR refuses a manifest under a tag an immutable repository already has
//! (`TAG_INVALID`; the daemon passes it on as "tag invalid: … cannot be overwritten …"), even when
//! the tag already names this very image, as in a re-run of the same push. These read the tag
//! back to tell the two apart. `PutImage` (promotion) meets the same rule as
//! `ImageTagAlreadyExistsException`.

use aws_sdk_ecr::types::ImageIdentifier;

use super::registry::Registry;
use crate::aws::{self, AwsFailure, Clients};
use crate::domain::ecr::MANIFEST_TYPES;
use crate::error::Error;

/// ECR answers a manifest `PUT` that would move an immutable tag with `TAG_INVALID` (the daemon
/// passes it on as "tag invalid: … cannot be overwritten …").
pub(super) fn is_immutable_refusal(error: &Error) -> bool {
    let text = error.to_string();
    text.contains("TAG_INVALID") || text.contains("cannot be overwritten") || text.contains("immutable")
}

pub(super) fn tag_refusal(error: Error, tag: &str, repository: &str) -> Error {
    if is_immutable_refusal(&error) {
        immutable_tag(tag, repository, &error.to_string())
    } else {
        error
    }
}

/// The digest `tag` serves, if it is the daemon's image `image_id`: the image id is the digest of
/// its configuration (the classic image store), which the served manifest names, or the digest
/// of the manifest itself (the containerd image store).
pub(super) async fn served_as(registry: &Registry, repository: &str, tag: &str, image_id: &str) -> Option<String> {
    let (served, bytes) = registry
        .manifest(repository, tag, &MANIFEST_TYPES.join(", "))
        .await
        .ok()?;
    let config = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|doc| Some(doc.get("config")?.get("digest")?.as_str()?.to_owned()));
    (!image_id.is_empty() && (served == image_id || config.as_deref() == Some(image_id))).then_some(served)
}

/// The digest ECR's API holds for `tag` (`BatchGetImage`), None when the tag is not there.
pub(super) async fn digest_of_tag(
    clients: &Clients,
    repository: &str,
    registry_id: Option<&str>,
    tag: &str,
) -> Result<Option<String>, AwsFailure> {
    let found = aws::call(
        "ecr:BatchGetImage",
        clients
            .ecr()
            .batch_get_image()
            .repository_name(repository)
            .set_registry_id(registry_id.map(str::to_owned))
            .image_ids(ImageIdentifier::builder().image_tag(tag).build())
            .set_accepted_media_types(Some(MANIFEST_TYPES.iter().map(|t| t.to_string()).collect()))
            .send(),
    )
    .await?;
    Ok(found
        .images()
        .first()
        .and_then(|image| image.image_id())
        .and_then(|id| id.image_digest())
        .map(str::to_owned))
}

/// ECR refused to move a tag of an immutable repository.
pub fn immutable_tag(tag: &str, repository: &str, message: &str) -> Error {
    Error::failed(
        format!(
            "Tag {tag} already exists in {repository}, whose tags are immutable: ECR refused to move it ({message})"
        ),
        vec![
            "Change TAGS: an immutable repository takes each tag once (use a new tag, e.g. the commit), or make the \
             repository's tags MUTABLE."
                .to_owned(),
        ],
    )
}
