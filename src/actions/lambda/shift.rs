//! Step 5 with a gradual `TRAFFIC_SHIFT`: the alias keeps the old version and sends a share to
//! the new one (`RoutingConfig.AdditionalVersionWeights`), step by step, then points at the new
//! version alone. Every UpdateAlias carries the RevisionId of the one before, so an alias
//! changed by someone else meanwhile stops the shift instead of being overwritten.
//! Both versions are checked first: Lambda splits an alias only between versions that pair
//! (`pairing`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_lambda::types::AliasRoutingConfiguration;
use tracing::{info, warn};

use super::alarms::Watch;
use super::busy;
use super::pairing;
use super::progress::Progress;
use super::release::{self, Alias, Shifting};
use crate::aws::{self, AwsFailure};
use crate::domain::lambda::LambdaSettings;
use crate::domain::traffic_shift::human_step;
use crate::error::Error;

/// Shift `alias` from `current` to `version` as `settings.traffic_shift` says, recording each
/// step in `done` (a SIGTERM or an alarm puts it back from there). Returns the alias ARN.
pub(super) async fn shift(
    lambda: &aws_sdk_lambda::Client,
    settings: &LambdaSettings,
    version: &str,
    current: Alias,
    watch: Option<&Watch<'_>>,
    deadline: Instant,
    done: &RefCell<Progress<'_>>,
) -> Result<String, Error> {
    let function = settings.function.as_str();
    let shift = &settings.traffic_shift;
    let alias = settings.alias.as_deref().unwrap_or_default();
    release::check_weights(alias, &current, settings.clear_alias_weights)?;
    if current.version == version && current.weights.is_empty() {
        info!("Alias {alias} already points at version {version}: no traffic to shift");
        return Ok(current.arn);
    }
    if current.version == "$LATEST" {
        // Lambda refuses weights on an alias of $LATEST: there is no old version to keep.
        warn!(
            "Alias {alias} points at $LATEST, which cannot share traffic with a version (Lambda allows weights \
             only between published versions): moved all at once instead of {shift}"
        );
        return release::move_alias(
            lambda,
            function,
            alias,
            version,
            Some(current),
            settings.clear_alias_weights,
            deadline,
        )
        .await;
    }
    if settings.version.is_none() {
        // With VERSION, checked before any change (`promote`).
        pairing::check_versions(lambda, settings, &current.version, version).await?;
    }
    let scale = settings.shift_time_scale.max(1);
    let takes = shift.duration() / scale;
    let left = deadline.saturating_duration_since(Instant::now());
    if takes >= left {
        return Err(Error::failed(
            format!(
                "WAIT_TIMEOUT leaves {} for the traffic shift, and {shift} holds traffic split for {}: the alias \
                 {alias} was not touched (it still points at version {})",
                human_step(left),
                human_step(takes),
                current.version
            ),
            vec![format!(
                "Version {version} is published. Raise WAIT_TIMEOUT by at least {} (the deployment before the \
                 shift took the rest), or choose a shorter TRAFFIC_SHIFT, and run the step again.",
                human_step(takes.saturating_sub(left) + Duration::from_secs(60))
            )],
        ));
    }
    info!(
        "Shifting alias {alias} from version {} to version {version}: {shift}, {} in all",
        current.version,
        human_step(takes)
    );

    let mut state = Shifting {
        alias: alias.to_owned(),
        old_version: current.version.clone(),
        new_version: version.to_owned(),
        revision_id: current.revision_id.clone(),
    };
    match steps(lambda, settings, &mut state, watch, deadline, done).await {
        Ok(arn) => Ok(arn),
        // Someone else's alias now, or not moved yet: nothing to put back.
        Err(Stopped::Untouched(error)) => Err(error),
        Err(Stopped::Split(error)) => {
            let said = roll_back(lambda, function, &state, deadline + ROLLBACK_GRACE).await;
            done.borrow_mut().rolled_back(said.is_ok());
            Err(error.with_details(vec![said.unwrap_or_else(|problem| problem)]))
        }
    }
}

/// How long past WAIT_TIMEOUT a rollback may take: putting the old version back matters more.
pub(super) const ROLLBACK_GRACE: Duration = Duration::from_secs(30);

/// How long a rollback after SIGTERM may take: the run's last line must come before its
/// watchdog (`CANCEL_GRACE`, 8 s) cuts it short.
pub(super) const CANCEL_ROLLBACK: Duration = Duration::from_secs(6);

/// Why a shift stopped: with the alias as the pipe left it (split, to be put back), or not.
enum Stopped {
    Untouched(Error),
    Split(Error),
}

async fn steps(
    lambda: &aws_sdk_lambda::Client,
    settings: &LambdaSettings,
    state: &mut Shifting,
    watch: Option<&Watch<'_>>,
    deadline: Instant,
    done: &RefCell<Progress<'_>>,
) -> Result<String, Stopped> {
    let function = settings.function.as_str();
    let scale = settings.shift_time_scale.max(1);
    let (alias, version) = (state.alias.clone(), state.new_version.clone());
    let steps = settings.traffic_shift.steps();
    let total = steps.len() + 1;
    let mut split = false;
    let stopped = |split: bool, error: Error| {
        if split {
            Stopped::Split(error)
        } else {
            Stopped::Untouched(error)
        }
    };
    if let Some(watch) = watch {
        // Again now: the deployment before the shift may have taken a while.
        done.borrow_mut().now("reading ALARMS before the traffic shift");
        watch
            .check()
            .await
            .map_err(|stop| Stopped::Untouched(stop.into_error()))?;
    }
    for (n, step) in steps.iter().enumerate() {
        done.borrow_mut().now("shifting traffic to the new version");
        done.borrow_mut().shifting(state, step.percent);
        let weight = f64::from(step.percent) / 100.0;
        let (_, revision) = update(lambda, function, state, &state.old_version, Some(weight), deadline)
            .await
            .map_err(|failure| changed_meanwhile(state, failure, split))?;
        state.revision_id = revision;
        split = true;
        done.borrow_mut().shifting(state, step.percent);
        info!(
            "Alias {alias}: {}% to version {version}, {}% to version {} (step {} of {total}); next step in {}",
            step.percent,
            100 - step.percent,
            state.old_version,
            n + 1,
            human_step(step.hold)
        );
        done.borrow_mut().now("holding the traffic split, watching ALARMS");
        match watch {
            Some(watch) => watch
                .hold(step.hold)
                .await
                .map_err(|stop| Stopped::Split(stop.into_error()))?,
            None => tokio::time::sleep(step.hold / scale).await,
        }
        if Instant::now() >= deadline {
            return Err(stopped(
                split,
                Error::failed(
                    format!("WAIT_TIMEOUT ran out during the traffic shift of alias {alias}"),
                    vec!["Raise WAIT_TIMEOUT, or choose a shorter TRAFFIC_SHIFT.".to_owned()],
                ),
            ));
        }
    }

    done.borrow_mut().now("moving the alias whole to the new version");
    done.borrow_mut().shifting(state, 100);
    let (moved_arn, _) = update(lambda, function, state, &version, None, deadline)
        .await
        .map_err(|failure| changed_meanwhile(state, failure, split))?;
    done.borrow_mut().shifted();
    info!("Alias {alias}: 100% to version {version} (step {total} of {total}), no weights");
    Ok(moved_arn)
}

/// Put the alias back on the old version with no weights (an alarm, a SIGTERM, a failure
/// mid-shift). Returns what to say about it; the caller says it once, as a detail of the error
/// that stopped the shift (logging it here too printed the same line twice).
pub(super) async fn roll_back(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    state: &Shifting,
    deadline: Instant,
) -> Result<String, String> {
    let mut moved = update(lambda, function, state, &state.old_version, None, deadline).await;
    // A call cut short (SIGTERM) may have changed the alias after the pipe last saw it: read it
    // again, and put it back only while it still shows nothing but this shift's two versions.
    if let Err(failure) = &moved
        && failure.code_is("PreconditionFailedException")
        && let Ok(Some(now)) = release::get_alias(lambda, function, &state.alias, deadline).await
    {
        let ours = |version: &str| version == state.old_version || version == state.new_version;
        if ours(&now.version) && now.weights.iter().all(|(version, _)| ours(version)) {
            let fresh = Shifting {
                revision_id: now.revision_id,
                ..state.clone()
            };
            moved = update(lambda, function, &fresh, &state.old_version, None, deadline).await;
        }
    }
    match moved {
        Ok(_) => {
            let said = format!(
                "The alias {} is back on version {} with no weights (version {} gets no traffic)",
                state.alias, state.old_version, state.new_version
            );
            Ok(said)
        }
        Err(failure) => {
            let said = format!(
                "The alias {} could NOT be put back on version {}: {failure}. It may still send traffic to version \
                 {}: check it (aws lambda get-alias --function-name {function} --name {}) and move it by hand",
                state.alias, state.old_version, state.new_version, state.alias
            );
            Err(said)
        }
    }
}

/// UpdateAlias to `primary`, with the new version at `weight` (None: no weights), on the
/// revision the pipe left. Returns the ARN and the new RevisionId.
async fn update(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    state: &Shifting,
    primary: &str,
    weight: Option<f64>,
    deadline: Instant,
) -> Result<(String, String), AwsFailure> {
    let weights: HashMap<String, f64> = weight
        .map(|weight| HashMap::from([(state.new_version.clone(), weight)]))
        .unwrap_or_default();
    let request = lambda
        .update_alias()
        .function_name(function)
        .name(&state.alias)
        .function_version(primary)
        .revision_id(&state.revision_id)
        .routing_config(
            AliasRoutingConfiguration::builder()
                .set_additional_version_weights(Some(weights))
                .build(),
        );
    let output = busy(function, deadline)
        .retry(|| aws::call("lambda:UpdateAlias", request.clone().send()))
        .await?;
    Ok((
        output.alias_arn().unwrap_or_default().to_owned(),
        output.revision_id().unwrap_or_default().to_owned(),
    ))
}

/// A shift's UpdateAlias refused: when the alias changed under the pipe (RevisionId), it is
/// someone else's now and is left as they set it.
fn changed_meanwhile(state: &Shifting, failure: AwsFailure, split: bool) -> Stopped {
    if failure.code_is("PreconditionFailedException") {
        return Stopped::Untouched(Error::failed(
            format!(
                "The alias {} was changed by someone else during the traffic shift, so the shift stopped and the \
                 alias was left as they set it",
                state.alias
            ),
            vec![
                failure.to_string(),
                format!(
                    "Version {} is published; check the alias and run the step again to shift to it.",
                    state.new_version
                ),
            ],
        ));
    }
    if split {
        Stopped::Split(failure.into_error())
    } else {
        Stopped::Untouched(failure.into_error())
    }
}
