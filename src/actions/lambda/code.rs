//! Step 3 of a Lambda deploy: the new code, from a package (uploaded in the request, or to S3
//! first), an S3 object, or an image; and, in a dry run, Lambda's own check of the source.

use std::time::Instant;

use tracing::{info, warn};

use super::busy;
use super::function::FunctionState;
use super::package::{self, Package};
use super::readback::{self, IntendedCode};
use crate::aws::{self, Clients};
use crate::domain::lambda::{CodeSource, S3Location};
use crate::error::Error;

/// UpdateFunctionCode from `source`, pinned to the RevisionId observed (a package uploaded to
/// S3 first goes only to a bucket of `S3_BUCKET_OWNER`, by default `account`, the role's). Returns the CodeSha256
/// the function must have afterwards, when the source decides it: for a package, the local
/// package's, also when it went through S3, so that another build writing the same S3_KEY in
/// between is caught (Lambda reports the hash of whatever object it read).
pub(super) async fn update(
    clients: &Clients,
    account: &str,
    function: &str,
    source: &CodeSource,
    package: Option<Package>,
    state: &FunctionState,
    deadline: Instant,
) -> Result<Option<String>, Error> {
    const OPERATION: &str = "lambda:UpdateFunctionCode";
    let lambda = clients.lambda();
    let request = lambda
        .update_function_code()
        .function_name(function)
        .revision_id(&state.revision_id);
    let request = match (source, package) {
        (
            CodeSource::Zip {
                upload_to: Some(location),
                ..
            },
            Some(package),
        ) => {
            let ours = package.sha256.clone();
            let owner = location.owner.as_deref().unwrap_or(account);
            let version = upload(clients, location, owner, package).await?;
            let request = request
                .s3_bucket(&location.bucket)
                .s3_key(&location.key)
                .set_s3_object_version(version.clone());
            let answered = busy(function, deadline)
                .retry(async || aws::call(OPERATION, request.clone().send()).await)
                .await;
            let read = match answered {
                Ok(output) => output.code_sha256().unwrap_or_default().to_owned(),
                Err(failure) => {
                    readback::code_update_refused(&lambda, function, failure, IntendedCode::Sha256(&ours)).await?
                }
            };
            // An answer without a hash is left to the check after the wait.
            if !read.is_empty() && read != ours {
                return Err(replaced_in_s3(location, version.is_some(), &read, &ours));
            }
            return Ok(Some(ours));
        }
        (CodeSource::Zip { .. }, Some(package)) => {
            // The body is written by hand: the SDK would hold the zip and its base64 at once.
            let sha256 = package.sha256.clone();
            let body = package::direct_upload_body(package, &state.revision_id);
            let answered = busy(function, deadline)
                .retry(|| {
                    let request = request.clone().customize().mutate_request(aws::with_body(body.clone()));
                    aws::call(OPERATION, request.send())
                })
                .await;
            if let Err(failure) = answered {
                readback::code_update_refused(&lambda, function, failure, IntendedCode::Sha256(&sha256)).await?;
            }
            return Ok(Some(sha256));
        }
        (CodeSource::S3(location), _) => request
            .s3_bucket(&location.bucket)
            .s3_key(&location.key)
            .set_s3_object_version(location.version.clone()),
        (CodeSource::Image(uri), _) => request.image_uri(uri),
        (CodeSource::Zip { .. }, None) => return Ok(None),
    };
    let answered = busy(function, deadline)
        .retry(|| aws::call(OPERATION, request.clone().send()))
        .await;
    let sha256 = match answered {
        Ok(output) => output.code_sha256().map(str::to_owned),
        Err(failure) if readback::is_precondition_refusal(&failure) => {
            let intended = match source {
                CodeSource::Image(uri) => IntendedCode::Image { uri, before: state },
                _ => IntendedCode::Unknown,
            };
            Some(readback::code_update_refused(&lambda, function, failure, intended).await?)
        }
        Err(failure) => return Err(super::image::refused(failure)),
    };
    // Images resolve asynchronously, so only package sources are checked against the result.
    let expected = match source {
        CodeSource::Image(_) => None,
        _ => sha256,
    };
    Ok(expected)
}

/// S3 answers AccessDenied alike when the bucket is not `owner`'s and when the role may not put
/// the object: both causes are named, with what to change for each.
fn upload_refused(location: &S3Location, owner: &str, failure: aws::AwsFailure) -> Error {
    let given = if location.owner.is_some() {
        "S3_BUCKET_OWNER"
    } else {
        "the role's account; S3_BUCKET_OWNER unset"
    };
    Error::auth(
        format!(
            "S3 refused the upload of the package to s3://{}/{} ({failure})",
            location.bucket, location.key
        ),
        vec![
            format!(
                "The upload says the bucket must belong to account {owner} ({given}): S3 refuses it with AccessDenied \
                 when the bucket belongs to another account, so the package never goes to a bucket of someone else."
            ),
            "If the bucket is in another account on purpose, set S3_BUCKET_OWNER to that account id.".to_owned(),
            format!(
                "Otherwise check S3_BUCKET: the role needs the IAM permission s3:PutObject on {}/{} (see \
                 docs/lambda-deploy.md, Permissions; aws-role-deploy trust-policy with S3_BUCKET generates it).",
                location.bucket, location.key
            ),
        ],
    )
}

/// Lambda read another object than the package this step uploaded.
fn replaced_in_s3(location: &S3Location, versioned: bool, read: &str, ours: &str) -> Error {
    let how = if versioned {
        "Lambda did not read the object version the pipe uploaded"
    } else {
        "another build wrote the same S3_KEY between the upload and the update"
    };
    Error::failed(
        format!(
            "s3://{}/{} is not the package this step built: Lambda read CodeSha256 {read}, the package is {ours} ({how})",
            location.bucket, location.key
        ),
        vec![
            "$LATEST now has the code Lambda read; no version was published and no alias moved.".to_owned(),
            "Use an S3_KEY unique to the build (e.g. with ${BITBUCKET_COMMIT}), or turn on versioning for S3_BUCKET \
             (the pipe then names the object version it uploaded), and run the step again."
                .to_owned(),
        ],
    )
}

/// DRY_RUN: UpdateFunctionCode with DryRun, for an existing S3 object or an image, so Lambda
/// checks the source (the object exists and can be read, the image URI is valid) and changes
/// nothing. A package is not sent: that would upload it for nothing. A role that may not
/// update the code (a read-only role for previews) only loses the check, with a warning.
/// Returns whether Lambda checked the source.
pub(super) async fn dry_run(
    clients: &Clients,
    function: &str,
    source: &CodeSource,
    deadline: Instant,
) -> Result<bool, Error> {
    let request = clients
        .lambda()
        .update_function_code()
        .function_name(function)
        .dry_run(true);
    let (request, variable) = match source {
        CodeSource::S3(location) => (
            request
                .s3_bucket(&location.bucket)
                .s3_key(&location.key)
                .set_s3_object_version(location.version.clone()),
            "S3_BUCKET, S3_KEY and S3_OBJECT_VERSION",
        ),
        CodeSource::Image(uri) => (request.image_uri(uri), "IMAGE_URI"),
        CodeSource::Zip { .. } => return Ok(false),
    };
    let checked = busy(function, deadline)
        .retry(async || aws::call("lambda:UpdateFunctionCode", request.clone().send()).await)
        .await;
    match checked {
        Ok(_) => Ok(true),
        Err(failure) if failure.code_is("InvalidParameterValueException") => Err(Error::bad_input(
            format!("Lambda refuses the code source (dry run): {failure}"),
            variable,
        )),
        Err(failure) if failure.code_is("AccessDeniedException") => {
            warn!(
                "Dry run: Lambda could not check the code source, since the role may not call \
                 lambda:UpdateFunctionCode ({failure}); a deployment with this role would fail there"
            );
            Ok(false)
        }
        Err(failure) => Err(failure.into_error()),
    }
}

/// Put the package in S3 (for packages over the direct-upload limit), only into a bucket that
/// `owner` owns (`ExpectedBucketOwner`: S3 refuses the upload otherwise); returns the object
/// version when the bucket is versioned.
async fn upload(
    clients: &Clients,
    location: &S3Location,
    owner: &str,
    package: Package,
) -> Result<Option<String>, Error> {
    let size = package.bytes.len();
    let request = clients
        .s3()
        .put_object()
        .bucket(&location.bucket)
        .key(&location.key)
        .expected_bucket_owner(owner)
        .body(aws_sdk_s3::primitives::ByteStream::from(package.bytes));
    let output = aws::call("s3:PutObject", request.send()).await.map_err(|failure| {
        if failure.code_is("NoSuchBucket") {
            Error::bad_input(format!("Bucket {} not found ({failure})", location.bucket), "S3_BUCKET")
        } else if failure.code_is("AccessDenied") {
            upload_refused(location, owner, failure)
        } else {
            failure.into_error()
        }
    })?;
    info!(
        "Uploaded the package ({size} bytes) to s3://{}/{}",
        location.bucket, location.key
    );
    Ok(output.version_id().map(str::to_owned))
}
