//! Every AWS call goes through `call`: it is timed, its outcome is logged on one DEBUG line with
//! the request id, and a failure is classified once (`AwsFailure`).

use std::future::Future;
use std::time::Instant;

use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::RequestId;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use tracing::debug;

use super::AwsFailure;

/// Send one request (`builder.send()`, not yet awaited) and account for it.
pub async fn call<T, E>(
    operation: &'static str,
    request: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
) -> Result<T, AwsFailure>
where
    T: RequestId,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let started = Instant::now();
    let result = request.await;
    let millis = started.elapsed().as_millis();
    match result {
        Ok(output) => {
            debug!(
                "{operation} took {millis} ms (request id {})",
                output.request_id().unwrap_or("none")
            );
            Ok(output)
        }
        Err(error) => {
            let failure = AwsFailure::from_sdk(operation, &error);
            debug!("{operation} failed after {millis} ms ({:?}): {failure}", failure.kind);
            Err(failure)
        }
    }
}
