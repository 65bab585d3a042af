//! Steps 4 and 5 of a Lambda deploy: publish a version pinned to exactly the code and revision
//! the pipe produced, wait until that version is Active (with SnapStart it is Pending for
//! seconds to minutes, and can fail), then move the alias to it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Instant;

use aws_sdk_lambda::types::{AliasRoutingConfiguration, State};
use tracing::{info, warn};

use super::function::FunctionState;
use super::{busy, pace};
use crate::aws::wait::{Poll, Wait, WaitEnd};
use crate::aws::{self, AwsFailure};
use crate::error::Error;

/// An alias as it is now.
#[derive(Debug, Clone)]
pub(super) struct Alias {
    pub(super) arn: String,
    pub(super) version: String,
    pub(super) revision_id: String,
    /// `RoutingConfig.AdditionalVersionWeights`: other versions and their share, sorted.
    pub(super) weights: Vec<(String, f64)>,
}

impl Alias {
    /// "10% to version 3, 5% to version 4".
    fn shares(&self) -> String {
        self.weights
            .iter()
            .map(|(version, weight)| format!("{}% to version {version}", (weight * 10_000.0).round() / 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Where a shift under way started from: what a rollback puts back.
#[derive(Debug, Clone)]
pub(super) struct Shifting {
    pub(super) alias: String,
    pub(super) old_version: String,
    pub(super) new_version: String,
    /// The alias's RevisionId after the pipe's last UpdateAlias.
    pub(super) revision_id: String,
}

/// An alias that splits traffic between versions would only be half-moved by changing its
/// version: refused, unless `ALIAS_CLEAR_WEIGHTS` says to clear the weights as it moves.
pub(super) fn check_weights(name: &str, alias: &Alias, clear: bool) -> Result<(), Error> {
    if alias.weights.is_empty() {
        return Ok(());
    }
    let what = format!(
        "Alias {name} sends {}, and the rest to version {} (RoutingConfig weights: a canary started by hand, or by \
         CodeDeploy)",
        alias.shares(),
        alias.version
    );
    if clear {
        warn!(
            "{what}. ALIAS_CLEAR_WEIGHTS: the weights are cleared as the alias moves, and all its traffic goes to the new version"
        );
        return Ok(());
    }
    Err(Error::BadInput {
        summary: format!(
            "{what}. Moving only its version would keep sending that share to the other versions, so nothing was \
             changed"
        ),
        details: vec![
            "Finish or stop the canary (CodeDeploy: let its deployment end), or set ALIAS_CLEAR_WEIGHTS: true to clear \
             the weights and send all traffic to the new version."
                .to_owned(),
        ],
    })
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

/// Poll the version (GetFunctionConfiguration with its number as qualifier) until it is
/// Active: with SnapStart Lambda initialises it and takes its snapshot first, which takes
/// seconds to minutes and can fail. Inactive (a SnapStart version long unused, published again
/// because nothing changed) serves once invoked, so it is ready too. Looks at `pace::minutes`
/// (sped up `scale` times for the tests).
pub(super) async fn wait_version_active(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    version: &str,
    deadline: Instant,
    scale: u32,
) -> Result<(), Error> {
    let last_seen = &RefCell::new(String::new());
    let wait = Wait::new(format!("{function} version {version}"), deadline).paced(pace::minutes(scale));
    let ready = wait
        .until(move || async move {
            let request = lambda
                .get_function_configuration()
                .function_name(function)
                .qualifier(version);
            let config = aws::call("lambda:GetFunctionConfiguration", request.send()).await?;
            let state = config.state().cloned().unwrap_or(State::Active);
            let seen = format!("State {}", state.as_str());
            let news = seen != *last_seen.borrow();
            if news {
                info!("{function} version {version}: {seen}");
                *last_seen.borrow_mut() = seen;
            }
            Ok(match state {
                State::Pending => Poll::Pending { news },
                State::Failed => Poll::Ready(Err(Error::failed(
                    format!(
                        "Version {version} of {function} is Failed: {} ({})",
                        config.state_reason().unwrap_or("no reason given"),
                        config
                            .state_reason_code()
                            .map(|code| code.as_str())
                            .unwrap_or("no code")
                    ),
                    vec![
                        "Lambda could not initialise the version (with SnapStart: while taking its snapshot); its \
                         logs say why."
                            .to_owned(),
                        "Lambda publishes a new version only when the code or configuration changes: with the same \
                         package and FUNCTION_CONFIGURATION, running the step again gives this version again."
                            .to_owned(),
                    ],
                ))),
                _ => Poll::Ready(Ok(())),
            })
        })
        .await;
    match ready {
        Ok(verdict) => verdict,
        Err(WaitEnd::TimedOut { unanswered }) => {
            let mut details = Vec::new();
            details.extend(unanswered.map(|failure| format!("The last checks failed: {failure}")));
            Err(Error::failed(
                format!(
                    "Version {version} of {function} was still not Active ({}) when WAIT_TIMEOUT ran out",
                    last_seen.borrow()
                ),
                details,
            ))
        }
        Err(WaitEnd::Stopped(failure)) => Err(failure.into_error()),
    }
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
        Ok(output) => {
            let mut weights: Vec<(String, f64)> = output
                .routing_config()
                .and_then(|routing| routing.additional_version_weights())
                .map(|weights| weights.iter().map(|(v, w)| (v.clone(), *w)).collect())
                .unwrap_or_default();
            weights.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(Some(Alias {
                arn: output.alias_arn().unwrap_or_default().to_owned(),
                version: output.function_version().unwrap_or_default().to_owned(),
                revision_id: output.revision_id().unwrap_or_default().to_owned(),
                weights,
            }))
        }
        Err(failure) if failure.code_is("ResourceNotFoundException") => Ok(None),
        Err(failure) => Err(failure.into_error()),
    }
}

/// Point `alias` at `version`, from where it is now (`current`); an alias moved or created by
/// someone else meanwhile is read again and moved from there. Weights are checked again on
/// every read, and cleared in the same UpdateAlias when `clear_weights`.
pub(super) async fn move_alias(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    alias: &str,
    version: &str,
    current: Option<Alias>,
    clear_weights: bool,
    deadline: Instant,
) -> Result<String, Error> {
    if let Some(current) = &current {
        check_weights(alias, current, clear_weights)?;
    }
    let arn = match current {
        Some(current) if current.version == version && current.weights.is_empty() => {
            info!("Alias {alias} already points at version {version}");
            current.arn
        }
        Some(current) => {
            let mut request = lambda
                .update_alias()
                .function_name(function)
                .name(alias)
                .function_version(version)
                .revision_id(current.revision_id.clone());
            if !current.weights.is_empty() {
                request = request.routing_config(
                    AliasRoutingConfiguration::builder()
                        .set_additional_version_weights(Some(HashMap::new()))
                        .build(),
                );
            }
            let moved = busy(function, deadline)
                .retry(|| aws::call("lambda:UpdateAlias", request.clone().send()))
                .await;
            match moved {
                Ok(output) => {
                    if current.weights.is_empty() {
                        info!("Alias {alias}: version {} → {version}", current.version);
                    } else {
                        info!(
                            "Alias {alias}: version {} → {version}, weights cleared ({} before)",
                            current.version,
                            current.shares()
                        );
                    }
                    output.alias_arn().unwrap_or_default().to_owned()
                }
                // The alias moved since it was read: read it again and move it from there.
                Err(failure) if failure.code_is("PreconditionFailedException") && Instant::now() < deadline => {
                    let current = get_alias(lambda, function, alias, deadline).await?;
                    return Box::pin(move_alias(
                        lambda,
                        function,
                        alias,
                        version,
                        current,
                        clear_weights,
                        deadline,
                    ))
                    .await;
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
                    return Box::pin(move_alias(
                        lambda,
                        function,
                        alias,
                        version,
                        current,
                        clear_weights,
                        deadline,
                    ))
                    .await;
                }
                Err(failure) => return Err(AwsFailure::into_error(failure)),
            }
        }
    };
    Ok(arn)
}
