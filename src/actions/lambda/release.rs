//! Steps 4 and 5 of a Lambda deploy: publish a version pinned to exactly the code and revision
//! the pipe produced, then move the alias to it.

use std::time::Instant;

use tracing::info;

use super::busy;
use super::function::FunctionState;
use crate::aws::{self, AwsFailure};
use crate::error::Error;

/// An alias as it is now.
#[derive(Debug, Clone)]
pub(super) struct Alias {
    pub(super) arn: String,
    pub(super) version: String,
    pub(super) revision_id: String,
}

/// PublishVersion with the CodeSha256 and RevisionId observed: a concurrent change makes this
/// fail instead of slipping into the version.
pub(super) async fn publish(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    state: &FunctionState,
    description: &str,
    deadline: Instant,
) -> Result<String, Error> {
    let request = lambda
        .publish_version()
        .function_name(function)
        .code_sha256(&state.code_sha256)
        .revision_id(&state.revision_id)
        .description(description);
    let output = busy(function, deadline)
        .retry(|| aws::call("lambda:PublishVersion", request.clone().send()))
        .await
        .map_err(|failure| {
            let concurrent = failure.code_is("PreconditionFailedException")
                || (failure.code_is("InvalidParameterValueException") && failure.message.contains("CodeSha256"));
            if concurrent {
                Error::failed(
                    format!("Someone changed {function} while the pipe was deploying it, so no version was published"),
                    vec![failure.to_string(), "Run the step again.".to_owned()],
                )
            } else {
                failure.into_error()
            }
        })?;
    let version = output.version().unwrap_or_default().to_owned();
    info!("Published version {version} ({description})");
    Ok(version)
}

/// The alias as it is now, or None when it does not exist yet.
pub(super) async fn get_alias(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    alias: &str,
    deadline: Instant,
) -> Result<Option<Alias>, Error> {
    let read = busy(function, deadline)
        .retry(|| {
            aws::call(
                "lambda:GetAlias",
                lambda.get_alias().function_name(function).name(alias).send(),
            )
        })
        .await;
    match read {
        Ok(output) => Ok(Some(Alias {
            arn: output.alias_arn().unwrap_or_default().to_owned(),
            version: output.function_version().unwrap_or_default().to_owned(),
            revision_id: output.revision_id().unwrap_or_default().to_owned(),
        })),
        Err(failure) if failure.code_is("ResourceNotFoundException") => Ok(None),
        Err(failure) => Err(failure.into_error()),
    }
}

/// Point `alias` at `version`, from where it is now (`current`); an alias moved or created by
/// someone else meanwhile is read again and moved from there.
pub(super) async fn move_alias(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    alias: &str,
    version: &str,
    current: Option<Alias>,
    deadline: Instant,
) -> Result<String, Error> {
    let arn = match current {
        Some(current) if current.version == version => {
            info!("Alias {alias} already points at version {version}");
            current.arn
        }
        Some(current) => {
            let request = lambda
                .update_alias()
                .function_name(function)
                .name(alias)
                .function_version(version)
                .revision_id(current.revision_id);
            let moved = busy(function, deadline)
                .retry(|| aws::call("lambda:UpdateAlias", request.clone().send()))
                .await;
            match moved {
                Ok(output) => {
                    info!("Alias {alias}: version {} → {version}", current.version);
                    output.alias_arn().unwrap_or_default().to_owned()
                }
                // The alias moved since it was read: read it again and move it from there.
                Err(failure) if failure.code_is("PreconditionFailedException") && Instant::now() < deadline => {
                    let current = get_alias(lambda, function, alias, deadline).await?;
                    return Box::pin(move_alias(lambda, function, alias, version, current, deadline)).await;
                }
                Err(failure) => return Err(failure.into_error()),
            }
        }
        None => {
            let request = lambda
                .create_alias()
                .function_name(function)
                .name(alias)
                .function_version(version);
            match aws::call("lambda:CreateAlias", request.send()).await {
                Ok(output) => {
                    info!("Alias {alias} created at version {version}");
                    output.alias_arn().unwrap_or_default().to_owned()
                }
                // Someone created it since GetAlias: move it like an existing alias.
                Err(failure) if failure.code_is("ResourceConflictException") => {
                    let current = get_alias(lambda, function, alias, deadline).await?;
                    return Box::pin(move_alias(lambda, function, alias, version, current, deadline)).await;
                }
                Err(failure) => return Err(AwsFailure::into_error(failure)),
            }
        }
    };
    Ok(arn)
}
