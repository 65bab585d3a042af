//! A conditional write (`RevisionId`) refused with `PreconditionFailedException`: either someone
//! changed the function since the pipe read it, or the refusal answers the SDK's retry of a write
//! whose first attempt Lambda applied and whose answer was lost (a reset connection, a timeout):
//! that write changed the RevisionId the retry still carries. Which one it was is read back from
//! the function itself: when it holds what the pipe sent, the deployment goes on, with a note.

use tracing::{info, warn};

use super::function::{self, FunctionState};
use crate::aws::AwsFailure;
use crate::error::Error;

const REFUSED: &str = "PreconditionFailedException";

/// Lambda refused a write carrying a RevisionId that is no longer the function's.
pub(super) fn is_precondition_refusal(failure: &AwsFailure) -> bool {
    failure.code_is(REFUSED)
}

/// What a code update was to leave in place, to recognise it when reading the function back.
pub(super) enum IntendedCode<'a> {
    /// The CodeSha256 of the package the pipe sent.
    Sha256(&'a str),
    /// The image URI the pipe sent.
    Image(&'a str),
    /// An S3 object the pipe did not build: its hash is not known here.
    Unknown,
}

/// After a failed UpdateFunctionCode: the CodeSha256 the function has when a refused retry
/// turns out to have been applied; otherwise the error (the conflict explained for a
/// precondition refusal, any other failure as it is).
pub(super) async fn code_update_refused(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    failure: AwsFailure,
    intended: IntendedCode<'_>,
) -> Result<String, Error> {
    if !failure.code_is(REFUSED) {
        return Err(failure.into_error());
    }
    let current = function::get_function(lambda, function).await?;
    let (in_place, what) = match intended {
        IntendedCode::Sha256(sha) => (
            current.code_sha256 == sha,
            format!("the code this step sent (CodeSha256 {sha})"),
        ),
        IntendedCode::Image(uri) => (
            current.image_uri.as_deref() == Some(uri),
            format!("the image this step sent ({uri})"),
        ),
        IntendedCode::Unknown => {
            return Err(conflict(
                function,
                &failure,
                Some(
                    "The code comes from an S3 object the pipe did not build, so it cannot tell from the function \
                     whether an earlier attempt of this update was applied.",
                ),
            ));
        }
    };
    if !in_place {
        return Err(conflict(function, &failure, None));
    }
    applied_note(function, &failure, &what, &current);
    Ok(current.code_sha256)
}

/// After a failed UpdateFunctionConfiguration: Ok when a refused retry turns out to have been
/// applied (`differences` of the function's configuration from the file, read now, are none).
pub(super) async fn configuration_update_refused(
    function: &str,
    failure: AwsFailure,
    differences: impl AsyncFnOnce() -> Result<Vec<String>, Error>,
) -> Result<(), Error> {
    if !failure.code_is(REFUSED) {
        return Err(failure.into_error());
    }
    if !differences().await?.is_empty() {
        return Err(conflict(function, &failure, None));
    }
    info!(
        "{function} already has the configuration in FUNCTION_CONFIGURATION: Lambda refused a retry of the update \
         ({REFUSED}, the RevisionId had changed), because its first attempt was applied and the answer lost; going on"
    );
    Ok(())
}

fn applied_note(function: &str, failure: &AwsFailure, what: &str, current: &FunctionState) {
    info!(
        "{function} already has {what}: Lambda refused a retry of the update ({REFUSED}, RevisionId now {}), because \
         its first attempt was applied and the answer lost; going on",
        current.revision_id
    );
    tracing::debug!("The refused retry: {failure}");
}

/// Someone else changed the function between the pipe's read and its write.
pub(super) fn conflict(function: &str, failure: &AwsFailure, why_unsure: Option<&str>) -> Error {
    if let Some(why) = why_unsure {
        warn!("{why}");
    }
    let mut details = vec![
        failure.to_string(),
        "The function was changed (code, configuration or state) after the pipe read it, and does not hold what this \
         step sent."
            .to_owned(),
    ];
    details.extend(why_unsure.map(str::to_owned));
    details.push(
        "Run the step again (it reads the function afresh); deploy steps of one function should not run at once."
            .to_owned(),
    );
    Error::failed(
        format!("Someone else changed {function} while the pipe was updating it ({REFUSED})"),
        details,
    )
}
