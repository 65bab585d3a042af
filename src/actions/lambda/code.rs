//! Step 2 of a Lambda deploy: the new code, from a package (uploaded in the request, or to S3
//! first), an S3 object, or an image.

use std::time::Instant;

use tracing::info;

use super::busy;
use super::function::FunctionState;
use super::package::{self, Package};
use crate::aws::{self, AwsFailure, Clients};
use crate::domain::lambda::{CodeSource, S3Location};
use crate::error::Error;

/// UpdateFunctionCode from `source`, pinned to the RevisionId observed. Returns the CodeSha256
/// the function must have afterwards, when the source decides it.
pub(super) async fn update(
    clients: &Clients,
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
            let version = upload(clients, location, package).await?;
            request
                .s3_bucket(&location.bucket)
                .s3_key(&location.key)
                .set_s3_object_version(version)
        }
        (CodeSource::Zip { .. }, Some(package)) => {
            // The body is written by hand: the SDK would hold the zip and its base64 at once.
            let sha256 = package.sha256.clone();
            let body = package::direct_upload_body(package, &state.revision_id);
            busy(function, deadline)
                .retry(|| {
                    let request = request.clone().customize().mutate_request(aws::with_body(body.clone()));
                    aws::call(OPERATION, request.send())
                })
                .await
                .map_err(AwsFailure::into_error)?;
            return Ok(Some(sha256));
        }
        (CodeSource::S3(location), _) => request
            .s3_bucket(&location.bucket)
            .s3_key(&location.key)
            .set_s3_object_version(location.version.clone()),
        (CodeSource::Image(uri), _) => request.image_uri(uri),
        (CodeSource::Zip { .. }, None) => return Ok(None),
    };
    let output = busy(function, deadline)
        .retry(|| aws::call(OPERATION, request.clone().send()))
        .await
        .map_err(AwsFailure::into_error)?;
    // Images resolve asynchronously, so only package sources are checked against the result.
    let expected = match source {
        CodeSource::Image(_) => None,
        _ => output.code_sha256().map(str::to_owned),
    };
    Ok(expected)
}

/// Put the package in S3 (for packages over the direct-upload limit); returns the object
/// version when the bucket is versioned.
async fn upload(clients: &Clients, location: &S3Location, package: Package) -> Result<Option<String>, Error> {
    let size = package.bytes.len();
    let request = clients
        .s3()
        .put_object()
        .bucket(&location.bucket)
        .key(&location.key)
        .body(aws_sdk_s3::primitives::ByteStream::from(package.bytes));
    let output = aws::call("s3:PutObject", request.send()).await.map_err(|failure| {
        if failure.code_is("NoSuchBucket") {
            Error::bad_input(format!("Bucket {} not found ({failure})", location.bucket), "S3_BUCKET")
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
