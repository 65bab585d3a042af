//! Lambda splits an alias's traffic only between two published versions with the same
//! execution role and dead-letter queue
//! (https://docs.aws.amazon.com/lambda/latest/dg/configuring-alias-routing.html); otherwise
//! UpdateAlias answers "Specified versions must be associated with the same execution role"
//! (serverless-heaven/serverless-aws-alias#64). A gradual `TRAFFIC_SHIFT` checks the pair: before
//! any change when `FUNCTION_CONFIGURATION` sets the role or the dead-letter queue, and before
//! the first step for the two versions themselves. A pair that cannot share traffic leaves the
//! alias untouched, saying why and what to change.

use serde_json::Value;

use crate::aws::{self, AwsFailure};
use crate::domain::lambda::LambdaSettings;
use crate::error::Error;

/// What of a version decides whether an alias can split traffic between it and another.
#[derive(Debug, PartialEq, Eq)]
struct Pairing {
    role: String,
    dead_letter_queue: Option<String>,
}

async fn read(lambda: &aws_sdk_lambda::Client, function: &str, version: &str) -> Result<Pairing, Error> {
    let request = lambda
        .get_function_configuration()
        .function_name(function)
        .qualifier(version);
    let config = aws::call("lambda:GetFunctionConfiguration", request.send())
        .await
        .map_err(AwsFailure::into_error)?;
    Ok(Pairing {
        role: config.role().unwrap_or_default().to_owned(),
        dead_letter_queue: config
            .dead_letter_config()
            .and_then(|dlq| dlq.target_arn())
            .filter(|arn| !arn.is_empty())
            .map(str::to_owned),
    })
}

/// How `old` and `new` (labels: "version 3", "FUNCTION_CONFIGURATION") differ, if they do.
fn difference(old: &str, before: &Pairing, new: &str, after: &Pairing) -> Option<String> {
    if before.role != after.role {
        return Some(format!(
            "{old} runs with execution role {} and {new} with {}",
            before.role, after.role
        ));
    }
    if before.dead_letter_queue != after.dead_letter_queue {
        let queue = |dlq: &Option<String>| dlq.clone().unwrap_or_else(|| "none".to_owned());
        return Some(format!(
            "{old} has dead-letter queue {} and {new} {}",
            queue(&before.dead_letter_queue),
            queue(&after.dead_letter_queue)
        ));
    }
    None
}

fn summary(settings: &LambdaSettings, differs: &str, old: &str) -> String {
    format!(
        "TRAFFIC_SHIFT {} cannot split alias {}'s traffic: {differs}, and Lambda splits an alias's traffic only \
         between versions with the same execution role and dead-letter queue. The alias was not touched (it still \
         points at version {old})",
        settings.traffic_shift,
        settings.alias.as_deref().unwrap_or_default()
    )
}

const FIX: &str = "Set TRAFFIC_SHIFT: AllAtOnce for the release that changes the role or the dead-letter queue (the \
                   next releases can shift again), or keep them as they are.";

/// Before the first step: versions `old` and `new` must pair. Refused as bad input with
/// `VERSION` (nothing was changed), else as a failed step (`new` is published).
pub(super) async fn check_versions(
    lambda: &aws_sdk_lambda::Client,
    settings: &LambdaSettings,
    old: &str,
    new: &str,
) -> Result<(), Error> {
    let function = settings.function.as_str();
    let (before, after) = (read(lambda, function, old).await?, read(lambda, function, new).await?);
    let Some(differs) = difference(&format!("version {old}"), &before, &format!("version {new}"), &after) else {
        return Ok(());
    };
    if settings.version.is_some() {
        return Err(Error::BadInput {
            summary: summary(settings, &differs, old),
            details: vec![FIX.to_owned(), "Check TRAFFIC_SHIFT.".to_owned()],
        });
    }
    Err(Error::failed(
        summary(settings, &differs, old),
        vec![format!("Version {new} is published. {FIX}")],
    ))
}

/// Before any change: a `FUNCTION_CONFIGURATION` (`wanted`) that sets `Role` or
/// `DeadLetterConfig` must keep them as version `old` (the alias's) has them, or the version
/// this step publishes could not share the alias with it. Bad input otherwise.
pub(super) async fn check_configuration(
    lambda: &aws_sdk_lambda::Client,
    settings: &LambdaSettings,
    old: &str,
    wanted: &Value,
) -> Result<(), Error> {
    let (role, dlq) = (wanted.get("Role"), wanted.get("DeadLetterConfig"));
    if role.is_none() && dlq.is_none() {
        return Ok(());
    }
    let before = read(lambda, &settings.function, old).await?;
    let after = Pairing {
        role: role
            .and_then(Value::as_str)
            .map_or_else(|| before.role.clone(), str::to_owned),
        dead_letter_queue: match dlq {
            None => before.dead_letter_queue.clone(),
            Some(dlq) => dlq
                .get("TargetArn")
                .and_then(Value::as_str)
                .filter(|arn| !arn.is_empty())
                .map(str::to_owned),
        },
    };
    let Some(differs) = difference(&format!("version {old}"), &before, "FUNCTION_CONFIGURATION", &after) else {
        return Ok(());
    };
    Err(Error::BadInput {
        summary: format!("{}; nothing was changed", summary(settings, &differs, old)),
        details: vec![
            FIX.to_owned(),
            "Check TRAFFIC_SHIFT and FUNCTION_CONFIGURATION.".to_owned(),
        ],
    })
}
