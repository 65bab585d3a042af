//! `ACTION=rollback` for Lambda: the alias goes back to the version before the one it points at
//! (the newest published version lower than it), or to `VERSION`. The move itself is
//! `lambda-deploy`'s alias-only path (`VERSION` with `ALIAS`): the version read first (one that
//! does not exist is bad input), waited for until Active, the alias moved (weights as for a
//! deploy), its provisioned concurrency waited for until READY. Nothing is published.

use std::fmt;

use serde::Serialize;
use serde_json::Value;
use tracing::info;

use super::LambdaOutcome;
use super::release::{self, Alias};
use crate::aws::{AwsFailure, Clients};
use crate::domain::context::RunContext;
use crate::domain::rollback::LambdaRollback;
use crate::error::Error;

#[derive(Debug, Serialize)]
pub struct LambdaRollbackOutcome {
    #[serde(flatten)]
    pub moved: LambdaOutcome,
    /// The version the alias pointed at before (`version` is the one it points at now).
    pub rolled_back_from: String,
    /// Which rule chose the version.
    pub chosen_by: String,
    #[serde(skip)]
    alias: String,
    #[serde(skip)]
    target: String,
}

impl fmt::Display for LambdaRollbackOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self
            .moved
            .function_arn
            .rsplit(':')
            .next()
            .unwrap_or(&self.moved.function_arn);
        let (alias, from, to) = (&self.alias, &self.rolled_back_from, &self.target);
        if self.moved.dry_run {
            return write!(
                f,
                "Dry run: nothing was changed (would roll back alias {alias} of {name} from version {from} to version \
                 {to})"
            );
        }
        write!(
            f,
            "Rolled back alias {alias} of {name} from version {from} to version {to}"
        )?;
        match &self.moved.provisioned_concurrency {
            Some(allocation) => write!(f, " (provisioned concurrency {allocation})"),
            None => Ok(()),
        }
    }
}

pub async fn run(
    run: &RunContext,
    rollback: &LambdaRollback,
    clients: &Clients,
    account: &str,
) -> Result<LambdaRollbackOutcome, Error> {
    let lambda = clients.lambda();
    let function = rollback.function.as_str();
    let alias_name = rollback.alias.as_str();
    let Some(alias) = release::get_alias(&lambda, function, alias_name, run.deadline).await? else {
        return Err(Error::bad_input(
            format!("Alias {alias_name} of {function} does not exist: there is nothing to roll back"),
            "ALIAS",
        ));
    };
    let from = alias.version.clone();
    let (target, rule) = match &rollback.version {
        Some(version) if *version == from => {
            return Err(Error::BadInput {
                summary: format!(
                    "Nothing to roll back: alias {alias_name} of {function} already points at version {version}"
                ),
                details: vec![
                    "Nothing was changed. Set VERSION to the version to go back to, or unset it for the version \
                     before the one the alias points at."
                        .to_owned(),
                ],
            });
        }
        Some(version) => (version.clone(), "named by VERSION".to_owned()),
        None => previous_version(&lambda, function, &alias).await?,
    };
    info!("{function}: rolling back alias {alias_name} from version {from} to version {target} ({rule})");

    // lambda-deploy's alias-only path: VERSION with ALIAS, no code, no configuration.
    let settings = rollback.alias_move(Some(target.clone()));
    match super::run(run, &settings, clients, account).await {
        Ok(mut moved) => {
            moved.action = "rollback";
            Ok(LambdaRollbackOutcome {
                moved,
                rolled_back_from: from,
                chosen_by: rule,
                alias: rollback.alias.clone(),
                target,
            })
        }
        Err(Error::WithOutputs { error, mut outputs }) => {
            if let Some(fields) = outputs.as_object_mut() {
                fields.insert("action".into(), "rollback".into());
                fields.insert("rolled_back_from".into(), Value::String(from));
                fields.insert("chosen_by".into(), Value::String(rule));
            }
            Err(Error::WithOutputs { error, outputs })
        }
        Err(other) => Err(other),
    }
}

/// The newest published version lower than the one the alias points at, or what was looked at.
async fn previous_version(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    alias: &Alias,
) -> Result<(String, String), Error> {
    let Ok(current) = alias.version.parse::<u64>() else {
        return Err(Error::BadInput {
            summary: format!(
                "The alias points at {}, not a published version: there is no version before it",
                alias.version
            ),
            details: vec!["Nothing was changed. Set VERSION to the version to go back to.".to_owned()],
        });
    };
    let published = super::cleanup::published_versions(lambda, function)
        .await
        .map_err(AwsFailure::into_error)?;
    let before = published.iter().copied().filter(|n| *n < current).max();
    match before {
        Some(version) => Ok((
            version.to_string(),
            format!("the newest published version lower than {current}"),
        )),
        None => {
            let listed: Vec<String> = published.iter().map(u64::to_string).collect();
            Err(Error::BadInput {
                summary: "Nothing to roll back to".to_owned(),
                details: vec![
                    format!(
                        "Alias {} of {function} points at version {current}; published versions of {function}: {} \
                         (none lower).",
                        alias.arn.rsplit(':').next().unwrap_or_default(),
                        if listed.is_empty() {
                            "none".to_owned()
                        } else {
                            listed.join(", ")
                        }
                    ),
                    "Nothing was changed. Set VERSION to name the version to go back to.".to_owned(),
                ],
            })
        }
    }
}
