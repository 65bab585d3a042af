//! `IMAGE_URI` naming an image index. Lambda runs one image manifest and refuses an index
//! ("The image manifest, config or layer media type … is not supported"), yet `docker buildx`
//! pushes one by default (provenance attestations) and containerd-store saves are indexes even
//! for one platform. Before any change, the pipe reads the image (`ecr:BatchGetImage`): an index
//! is replaced by its image for the function's architecture, by digest, and said so; an index
//! without one is refused with the fix.

use tracing::{info, warn};

use crate::aws::{self, AwsFailure, Clients};
use crate::domain::ecr::MANIFEST_TYPES;
use crate::domain::lambda_image::{EcrImageUri, IndexChoice, choose};
use crate::error::Error;

/// The URI to deploy instead of `uri`, when `uri` names an index; None: deploy `uri` as it is.
/// A manifest that cannot be read (no `ecr:BatchGetImage`, another account's repository) is left
/// to Lambda, with a warning.
pub(super) async fn resolve(clients: &Clients, uri: &str, architecture: &str) -> Result<Option<String>, Error> {
    let Some(image) = EcrImageUri::parse(uri) else {
        return Ok(None);
    };
    let answer = read(clients, &image, image.tag.as_deref(), image.digest.as_deref()).await;
    let found = match answer {
        Ok(found) => found,
        Err(failure) if failure.code_is("AccessDeniedException") => {
            warn!(
                "IMAGE_URI's manifest could not be read ({failure}), so an image index there would only be found by \
                 Lambda's refusal; grant ecr:BatchGetImage on the repository {} to have it checked first",
                image.repository
            );
            return Ok(None);
        }
        Err(failure) => {
            warn!("IMAGE_URI could not be read from ECR ({failure}); Lambda will judge it");
            return Ok(None);
        }
    };
    let Some(found) = found.images().first() else {
        let reason = found
            .failures()
            .first()
            .and_then(|failure| failure.failure_reason())
            .unwrap_or("not found");
        warn!("IMAGE_URI {uri} was not found in ECR ({reason}); Lambda will judge it");
        return Ok(None);
    };
    let manifest = found.image_manifest().unwrap_or_default();
    match choose(found.image_manifest_media_type(), manifest, architecture) {
        None => Ok(None),
        Some(IndexChoice::Image {
            digest,
            platform,
            holds,
        }) => {
            let chosen = image.with_digest(&digest);
            // An index may name images that were never pushed (containerd-store saves hold only
            // some platforms' blobs): Lambda could not pull it.
            if let Ok(child) = read(clients, &image, None, Some(&digest)).await
                && child.images().is_empty()
            {
                return Err(Error::BadInput {
                    summary: format!(
                        "IMAGE_URI {uri} names an image index whose {platform} image {digest} is not in the repository \
                         {}: the index was pushed without that image",
                        image.repository
                    ),
                    details: vec![
                        "Nothing was changed.".to_owned(),
                        format!(
                            "Push the image for {platform} too (a containerd-store `docker save` may hold only some \
                             platforms' images: save with --platform {platform}), or build it without attestations \
                             (docker buildx build --platform {platform} --provenance=false --sbom=false)."
                        ),
                    ],
                });
            }
            info!(
                "IMAGE_URI names an image index ({}), which Lambda does not run: deploying its {platform} image \
                 {chosen}, for the function's architecture {architecture}",
                holds.join(", ")
            );
            Ok(Some(chosen))
        }
        Some(IndexChoice::Missing { platform, holds }) => Err(Error::BadInput {
            summary: format!(
                "IMAGE_URI {uri} names an image index with no {platform} image, which the function's architecture \
                 {architecture} needs (it holds {})",
                if holds.is_empty() {
                    "nothing".to_owned()
                } else {
                    holds.join(", ")
                }
            ),
            details: vec![
                "Lambda runs one image manifest, never an index. Nothing was changed.".to_owned(),
                format!(
                    "Build the image for {platform} without attestations (docker buildx build --platform {platform} \
                     --provenance=false --sbom=false), or set IMAGE_URI to the digest of the {platform} image \
                     (docker buildx imagetools inspect {uri})."
                ),
            ],
        }),
    }
}

/// Lambda's refusal of an image it cannot run, with the variable to change.
pub(super) fn refused(failure: AwsFailure) -> Error {
    if failure.code_is("InvalidParameterValueException") && failure.message.contains("media type") {
        return Error::BadInput {
            summary: format!("Lambda refuses IMAGE_URI: {failure}"),
            details: vec![
                "IMAGE_URI probably names an image index (docker buildx's provenance attestations, or a multi-platform \
                 image): rebuild with --provenance=false --sbom=false for the function's platform, or give the \
                 platform image's digest; with ecr:BatchGetImage on the repository the pipe picks it itself."
                    .to_owned(),
            ],
        };
    }
    failure.into_error()
}

/// `BatchGetImage` of one image of the URI's repository, by tag or digest, as ECR stores it.
async fn read(
    clients: &Clients,
    image: &EcrImageUri,
    tag: Option<&str>,
    digest: Option<&str>,
) -> Result<aws_sdk_ecr::operation::batch_get_image::BatchGetImageOutput, AwsFailure> {
    let id = aws_sdk_ecr::types::ImageIdentifier::builder()
        .set_image_tag(tag.map(str::to_owned))
        .set_image_digest(digest.map(str::to_owned))
        .build();
    aws::call(
        "ecr:BatchGetImage",
        clients
            .ecr()
            .batch_get_image()
            .repository_name(&image.repository)
            .registry_id(&image.registry_id)
            .image_ids(id)
            .set_accepted_media_types(Some(MANIFEST_TYPES.iter().map(|t| t.to_string()).collect()))
            .send(),
    )
    .await
}
