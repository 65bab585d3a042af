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
    /// The image URI the pipe sent, and the function as it was before the update: an image
    /// named by a tag the function already had is recognised only by a changed CodeSha256 (the
    /// image digest Lambda resolved), since the same URI says nothing about which image it is.
    Image { uri: &'a str, before: &'a FunctionState },
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
        IntendedCode::Image { uri, before } => (
            image_update_in_place(uri, before, &current),
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

/// Whether the function holds the image an update to `uri` left: it names `uri`, and either did
/// not before, or its image changed since (the tag now resolves to another digest). The same URI
/// and the same image as before cannot tell an applied update from one never made.
fn image_update_in_place(uri: &str, before: &FunctionState, current: &FunctionState) -> bool {
    current.image_uri.as_deref() == Some(uri)
        && (before.image_uri.as_deref() != Some(uri) || current.code_sha256 != before.code_sha256)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn function(image: &str, sha: &str) -> FunctionState {
        FunctionState {
            arn: "arn:aws:lambda:eu-west-1:111111111111:function:api".into(),
            code_sha256: sha.into(),
            revision_id: "r".into(),
            package_type: "Image".into(),
            image_uri: Some(image.into()),
            architecture: "x86_64".into(),
        }
    }

    #[test]
    fn an_image_update_is_recognised_only_by_what_changed() {
        const TAG: &str = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/api:latest";
        const OTHER: &str = "111111111111.dkr.ecr.eu-west-1.amazonaws.com/api:v1";
        // (before, now, applied?)
        let cases = [
            // A new URI in place: the update was applied.
            (function(OTHER, "a"), function(TAG, "b"), true),
            // The same tag, another image behind it now: applied.
            (function(TAG, "a"), function(TAG, "b"), true),
            // The same tag and the same image as before: nothing shows the update happened
            // (someone else changed the function meanwhile): a conflict, not "going on".
            (function(TAG, "a"), function(TAG, "a"), false),
            // Another image than the one sent: a conflict.
            (function(OTHER, "a"), function(OTHER, "c"), false),
        ];
        for (before, now, applied) in cases {
            assert_eq!(
                image_update_in_place(TAG, &before, &now),
                applied,
                "{:?} → {:?}",
                before.image_uri,
                now.image_uri
            );
        }
    }
}
