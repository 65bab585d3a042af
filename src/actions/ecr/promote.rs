//! Promotion: an image already in the repository gets more tags without moving any bytes.
//! `BatchGetImage` returns its manifest as stored; `PutImage` stores the same bytes under each new
//! tag, so the digest cannot change.

use aws_sdk_ecr::types::ImageIdentifier;
use tracing::info;

use super::tags;
use crate::aws::{self, Clients};
use crate::domain::ecr::{ImageRef, MANIFEST_TYPES};
use crate::error::Error;

/// The digest of the promoted image.
pub async fn promote(
    clients: &Clients,
    repository: &str,
    registry_id: Option<&str>,
    source: &ImageRef,
    tags: &[String],
    done: &mut Vec<(String, String)>,
) -> Result<String, Error> {
    let ecr = clients.ecr();
    let id = match source {
        ImageRef::Tag(tag) => ImageIdentifier::builder().image_tag(tag).build(),
        ImageRef::Digest(digest) => ImageIdentifier::builder().image_digest(digest).build(),
    };
    let found = aws::call(
        "ecr:BatchGetImage",
        ecr.batch_get_image()
            .repository_name(repository)
            .set_registry_id(registry_id.map(str::to_owned))
            .image_ids(id)
            .set_accepted_media_types(Some(MANIFEST_TYPES.iter().map(|t| t.to_string()).collect()))
            .send(),
    )
    .await
    .map_err(|failure| super::repository_failure(failure, repository))?;
    let Some(image) = found.images().first() else {
        let reason = found
            .failures()
            .first()
            .map(|failure| {
                format!(
                    "{}: {}",
                    failure.failure_code().map(|code| code.as_str()).unwrap_or("failure"),
                    failure.failure_reason().unwrap_or_default()
                )
            })
            .unwrap_or_else(|| "no such image".to_owned());
        return Err(Error::BadInput {
            summary: format!("{source} is not in the repository {repository} ({reason})"),
            details: vec![format!(
                "Check SOURCE_TAG: a tag or sha256: digest of an image already pushed to {repository} (aws ecr \
                 list-images)."
            )],
        });
    };
    let manifest = image
        .image_manifest()
        .ok_or_else(|| Error::failed(format!("ECR returned {source} without its manifest"), vec![]))?;
    let media_type = image.image_manifest_media_type().map(str::to_owned);
    let digest = image
        .image_id()
        .and_then(|id| id.image_digest())
        .ok_or_else(|| Error::failed(format!("ECR returned {source} without its digest"), vec![]))?
        .to_owned();
    info!("Promoting {source} ({digest}) of {repository}");

    for tag in tags {
        let put = aws::call(
            "ecr:PutImage",
            ecr.put_image()
                .repository_name(repository)
                .set_registry_id(registry_id.map(str::to_owned))
                .image_manifest(manifest)
                .set_image_manifest_media_type(media_type.clone())
                .image_tag(tag)
                .image_digest(&digest)
                .send(),
        )
        .await;
        match put {
            Ok(output) => {
                let stored = output
                    .image()
                    .and_then(|image| image.image_id())
                    .and_then(|id| id.image_digest());
                if let Some(stored) = stored
                    && stored != digest
                {
                    return Err(Error::failed(
                        format!("ECR stored tag {tag} as {stored}, not as the promoted {digest}"),
                        vec![],
                    ));
                }
                info!("  tag {tag} → {digest}");
                done.push((tag.clone(), digest.clone()));
            }
            Err(failure) if failure.code_is("ImageAlreadyExistsException") => {
                info!("  tag {tag} already points at {digest}");
                done.push((tag.clone(), digest.clone()));
            }
            // ECR refuses an immutable tag put again even when it already names this image (a
            // re-run, or the SDK retrying a call whose first attempt was applied): read it back.
            Err(failure) if failure.code_is("ImageTagAlreadyExistsException") => {
                let refusal = format!("ImageTagAlreadyExistsException: {}", failure.message);
                match tags::digest_of_tag(clients, repository, registry_id, tag).await {
                    Ok(Some(served)) if served == digest => {
                        info!(
                            "  tag {tag} already points at {digest} (the repository's tags are immutable: left as it is)"
                        );
                        done.push((tag.clone(), digest.clone()));
                    }
                    Ok(served) => {
                        let mut error = tags::immutable_tag(tag, repository, &refusal);
                        if let Some(served) = served {
                            error = error.with_details([format!("{tag} names {served}.")]);
                        }
                        return Err(error);
                    }
                    Err(unread) => {
                        return Err(tags::immutable_tag(tag, repository, &refusal).with_details([format!(
                            "Reading {tag} back to compare it with {digest} failed too: {unread}"
                        )]));
                    }
                }
            }
            Err(failure) => return Err(super::repository_failure(failure, repository)),
        }
    }
    Ok(digest)
}
