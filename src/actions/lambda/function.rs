//! The function's state between steps, and the wait for it to be ready: Lambda refuses a change
//! while another is in progress, and a version must not be published before an update is done.

use std::cell::RefCell;
use std::fmt;
use std::time::Instant;

use aws_sdk_lambda::types::{LastUpdateStatus, State};
use tracing::{info, warn};

use super::pace;
use crate::aws;
use crate::aws::wait::{Poll, Wait, WaitEnd};
use crate::domain::lambda::CodeSource;
use crate::error::Error;

/// What the function looks like between steps.
#[derive(Debug, Clone, Default)]
pub(super) struct FunctionState {
    pub(super) arn: String,
    pub(super) code_sha256: String,
    pub(super) revision_id: String,
    pub(super) package_type: String,
    pub(super) image_uri: Option<String>,
    /// `x86_64` or `arm64` (Lambda's default is x86_64).
    pub(super) architecture: String,
}

pub(super) async fn get_function(lambda: &aws_sdk_lambda::Client, function: &str) -> Result<FunctionState, Error> {
    let request = lambda.get_function().function_name(function);
    let output = aws::call("lambda:GetFunction", request.send())
        .await
        .map_err(|failure| {
            if failure.code_is("ResourceNotFoundException") {
                Error::bad_input(
                    format!("Function {function} not found ({failure})"),
                    "FUNCTION_NAME and AWS_DEFAULT_REGION",
                )
            } else {
                failure.into_error()
            }
        })?;
    let configuration = output.configuration();
    Ok(FunctionState {
        arn: configuration
            .and_then(|c| c.function_arn())
            .unwrap_or_default()
            .to_owned(),
        code_sha256: configuration
            .and_then(|c| c.code_sha256())
            .unwrap_or_default()
            .to_owned(),
        revision_id: configuration
            .and_then(|c| c.revision_id())
            .unwrap_or_default()
            .to_owned(),
        package_type: configuration
            .and_then(|c| c.package_type())
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        image_uri: output.code().and_then(|c| c.image_uri()).map(str::to_owned),
        architecture: architecture(configuration.map(|c| c.architectures())),
    })
}

pub(super) fn check_package_type(current: &FunctionState, code: Option<&CodeSource>) -> Result<(), Error> {
    let image_code = matches!(code, Some(CodeSource::Image(_)));
    let image_function = current.package_type == "Image";
    match (code, image_code == image_function) {
        (None, _) | (_, true) => Ok(()),
        (Some(_), false) => Err(Error::bad_input(
            format!(
                "The function's package type is {}, so its code comes from {}",
                current.package_type,
                if image_function {
                    "IMAGE_URI"
                } else {
                    "ZIP_FILE or S3_BUCKET/S3_KEY"
                }
            ),
            "the code source",
        )),
    }
}

/// Whose update a wait is for: one of ours fails the pipe when it fails; an earlier one does not.
#[derive(Clone, Copy)]
pub(super) enum Waiting {
    BeforeUpdating,
    After(&'static str),
}

impl fmt::Display for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Waiting::BeforeUpdating => f.write_str("before the update"),
            Waiting::After(what) => write!(f, "after {what}"),
        }
    }
}

/// Poll until the function is Active and no update is in progress, at the update's pace
/// (`pace::update`, sped up `scale` times for the tests). A failed update ends the pipe with
/// Lambda's reason; a failed update from before the pipe started only warns, since this
/// deployment may be the fix.
pub(super) async fn wait_ready(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    deadline: Instant,
    scale: u32,
    when: Waiting,
) -> Result<FunctionState, Error> {
    let last_seen = &RefCell::new(String::new());
    let wait = Wait::new(format!("{function} {when}"), deadline).paced(pace::update(scale));
    let ready = wait
        .until(move || async move {
            let request = lambda.get_function_configuration().function_name(function);
            let config = aws::call("lambda:GetFunctionConfiguration", request.send()).await?;
            let state = config.state().cloned().unwrap_or(State::Active);
            let update = config
                .last_update_status()
                .cloned()
                .unwrap_or(LastUpdateStatus::Successful);
            let seen = format!("State {}, LastUpdateStatus {}", state.as_str(), update.as_str());
            let news = seen != *last_seen.borrow();
            if news {
                info!("{function} {when}: {seen}");
                *last_seen.borrow_mut() = seen;
            }
            let reason = || {
                let code = config
                    .last_update_status_reason_code()
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_default();
                format!(
                    "{} ({code})",
                    config.last_update_status_reason().unwrap_or("no reason given")
                )
            };
            let verdict = match (&state, &update) {
                (State::Failed, _) => Err(Error::failed(
                    format!(
                        "The function {function} is in state Failed: {}",
                        config.state_reason().unwrap_or("no reason given")
                    ),
                    vec![],
                )),
                (_, LastUpdateStatus::Failed) if matches!(when, Waiting::After(_)) => Err(Error::failed(
                    format!("The update of {function} failed: {}", reason()),
                    vec![
                        "Lambda keeps what the failed update would have replaced; no version was published and no \
                         alias moved."
                            .to_owned(),
                    ],
                )),
                (State::Pending, _) | (_, LastUpdateStatus::InProgress) => return Ok(Poll::Pending { news }),
                (_, LastUpdateStatus::Failed) => {
                    warn!(
                        "The previous update of {function} had failed: {}; deploying anyway",
                        reason()
                    );
                    Ok(state_of(&config))
                }
                _ => Ok(state_of(&config)),
            };
            Ok(Poll::Ready(verdict))
        })
        .await;
    match ready {
        Ok(verdict) => verdict,
        Err(WaitEnd::TimedOut { unanswered }) => {
            let mut details = vec!["Nothing further was changed.".to_owned()];
            details.extend(unanswered.map(|failure| format!("The last checks failed: {failure}")));
            Err(Error::failed(
                format!(
                    "{function} was still busy ({}) {when} when WAIT_TIMEOUT ran out",
                    last_seen.borrow()
                ),
                details,
            ))
        }
        Err(WaitEnd::Stopped(failure)) => Err(failure.into_error()),
    }
}

fn state_of(
    config: &aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput,
) -> FunctionState {
    FunctionState {
        arn: config.function_arn().unwrap_or_default().to_owned(),
        code_sha256: config.code_sha256().unwrap_or_default().to_owned(),
        revision_id: config.revision_id().unwrap_or_default().to_owned(),
        package_type: config.package_type().map(|p| p.as_str().to_owned()).unwrap_or_default(),
        image_uri: None,
        architecture: architecture(Some(config.architectures())),
    }
}

fn architecture(architectures: Option<&[aws_sdk_lambda::types::Architecture]>) -> String {
    architectures
        .and_then(|list| list.first())
        .map_or("x86_64", |architecture| architecture.as_str())
        .to_owned()
}
