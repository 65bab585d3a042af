//! Rolling back on request: a deployment the pipe gives up on (`ON_TIMEOUT=rollback`), or one
//! that failed without ECS rolling it back (`ON_FAILURE=rollback`). A service deployment still
//! going on is stopped with `StopServiceDeployment` (`ROLLBACK`); one ECS has already stopped
//! (with rollback not configured, ECS stops a failing deployment where it is), or one the pipe
//! could not follow, is undone by deploying the previous revision again. Either way the rollback
//! is followed to its end. And when the step is cancelled, what was started and not finished is
//! said, and rolled back only when asked.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::rollout::Watched;
use super::service_deployment;
use super::verdict::Verdict;
use super::watch::{self, Followed};
use crate::aws;
use crate::aws::wait::{Poll, Wait, WaitEnd};
use crate::domain::context::RunContext;
use crate::domain::ecs::{EcsSettings, WhenUnfinished};
use crate::domain::task_definition::short_name;

const POLL_MIN: Duration = Duration::from_secs(1);
const POLL_MAX: Duration = Duration::from_secs(10);

/// Which variable asked for a rollback of a deployment that ended with `verdict`, if any.
fn asked_by(verdict: &Verdict, settings: &EcsSettings) -> Option<&'static str> {
    match verdict {
        Verdict::TimedOut if settings.on_timeout == WhenUnfinished::Rollback => Some("ON_TIMEOUT=rollback"),
        Verdict::Failed(_) if settings.on_failure == WhenUnfinished::Rollback => Some("ON_FAILURE=rollback"),
        _ => None,
    }
}

/// A service deployment in one of these states is over: it can no longer be stopped.
const FINAL: [&str; 4] = ["SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"];

/// Roll back what the settings ask to, and follow each rollback for at most `WAIT_TIMEOUT`; the
/// result goes into `followed[i].rollback`.
pub async fn on_request(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    settings: &EcsSettings,
    watched: &[Watched],
    followed: &mut [Followed],
    run: &RunContext,
) {
    let budget = run.wait_timeout;
    let mut requested: Vec<(usize, String)> = Vec::new();
    let mut redeploying: Vec<(usize, Watched)> = Vec::new();
    for (index, (w, done)) in watched.iter().zip(followed.iter_mut()).enumerate() {
        let Some(variable) = asked_by(&done.verdict, settings) else {
            continue;
        };
        let ongoing = w
            .service_deployment
            .as_ref()
            .filter(|_| done.status.as_deref().is_none_or(|status| !FINAL.contains(&status)));
        if let Some(arn) = ongoing {
            match service_deployment::roll_back(ecs, arn).await {
                Ok(()) => {
                    info!("{}: rolling back {arn} ({variable})", w.service);
                    requested.push((index, arn.clone()));
                }
                Err(failure) => {
                    warn!("{}: could not request the rollback ({variable}): {failure}", w.service);
                    done.rollback = Some(format!("rollback refused: {failure}"));
                }
            }
        } else if w.previous != w.task_definition {
            match redeploy_previous(ecs, cluster, w).await {
                Ok(again) => {
                    info!(
                        "{}: rolling back by deploying {} again ({variable})",
                        w.service,
                        short_name(&w.previous)
                    );
                    redeploying.push((index, again));
                }
                Err(failure) => {
                    warn!(
                        "{}: could not deploy {} again ({variable}): {failure}",
                        w.service,
                        short_name(&w.previous)
                    );
                    done.rollback = Some(format!("rollback refused: {failure}"));
                }
            }
        } else {
            done.rollback = Some(format!(
                "not rolled back: {} ran {} before too",
                w.service,
                short_name(&w.previous)
            ));
        }
    }
    if !redeploying.is_empty() {
        let again: Vec<Watched> = redeploying.iter().map(|(_, w)| w.clone()).collect();
        let deadline = Instant::now() + budget;
        let outcome = watch::watch(ecs, cluster, again, deadline, run.pace_scale).await;
        for (position, (index, w)) in redeploying.iter().enumerate() {
            let variable = asked_by(&followed[*index].verdict, settings).unwrap_or_default();
            followed[*index].rollback = Some(match &outcome {
                Ok(ended) => format!(
                    "rolled back on request ({variable}): {} deployed again, {}",
                    short_name(&w.task_definition),
                    ended[position].verdict
                ),
                Err(failure) => format!("rollback started ({variable}), could not be followed: {failure}"),
            });
        }
    }
    if requested.is_empty() {
        return;
    }
    let statuses = RefCell::new(vec![String::new(); requested.len()]);
    let (shown, arns) = (&statuses, &requested);
    let wait = Wait::new("Rollbacks", Instant::now() + budget).polling(POLL_MIN, POLL_MAX);
    let ended = wait
        .until(move || async move {
            let wanted: Vec<String> = arns.iter().map(|(_, arn)| arn.clone()).collect();
            let found = service_deployment::describe(ecs, &wanted).await?;
            let mut shown = shown.borrow_mut();
            let mut news = false;
            let mut all_final = true;
            for ((index, arn), last) in arns.iter().zip(shown.iter_mut()) {
                let Some(deployment) = found
                    .deployments
                    .iter()
                    .find(|d| d.service_deployment_arn() == Some(arn.as_str()))
                else {
                    all_final = false;
                    continue;
                };
                let now = service_deployment::progress(deployment);
                if now != *last {
                    info!("{}: rollback: service deployment {now}", watched[*index].service);
                    *last = now;
                    news = true;
                }
                all_final &= service_deployment::is_final(deployment);
            }
            Ok(if all_final {
                Poll::Ready(())
            } else {
                Poll::Pending { news }
            })
        })
        .await;
    let statuses = statuses.into_inner();
    let unfinished = match &ended {
        Ok(()) => None,
        Err(WaitEnd::TimedOut { .. }) => Some(format!("not finished within {} s", budget.as_secs())),
        Err(WaitEnd::Stopped(failure)) => Some(format!("could not be followed: {failure}")),
    };
    for ((index, _), status) in requested.iter().zip(statuses) {
        let variable = asked_by(&followed[*index].verdict, settings).unwrap_or_default();
        let outcome = match &unfinished {
            Some(why) if !status.starts_with("ROLLBACK_SUCCESSFUL") && !status.starts_with("ROLLBACK_FAILED") => {
                format!("rollback requested ({variable}), {why}; last seen {status}")
            }
            _ => format!("rolled back on request ({variable}): {status}"),
        };
        followed[*index].status = status.split(',').next().map(str::to_owned);
        followed[*index].rollback = Some(outcome);
    }
}

/// UpdateService back to the revision the service ran before, as a new deployment.
async fn redeploy_previous(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    w: &Watched,
) -> Result<Watched, crate::aws::AwsFailure> {
    let request = ecs
        .update_service()
        .cluster(cluster)
        .service(&w.service)
        .task_definition(&w.previous)
        .force_new_deployment(true);
    let output = aws::call("ecs:UpdateService", request.send()).await?;
    let Some(service) = output.service() else {
        return Err(crate::aws::AwsFailure::local(
            "ecs:UpdateService",
            format!(
                "ECS answered without the service {}: the redeploy of {} may have started, and the pipe cannot \
                 tell which deployment is its own",
                w.service,
                short_name(&w.previous)
            ),
        ));
    };
    let primary = service
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .and_then(|d| d.id())
        .unwrap_or_default()
        .to_owned();
    // Before this redeploy, the service's current service deployment was the one undone.
    let before = aws_sdk_ecs::types::Service::builder()
        .set_current_service_deployment(w.service_deployment.clone())
        .build();
    Ok(Watched::of_update(
        service,
        &before,
        primary,
        w.previous.clone(),
        w.task_definition.clone(),
    ))
}

/// The step is being stopped (SIGTERM): say what was started and not finished, and roll it back
/// only when `ON_TIMEOUT=rollback` asks to. Returns the lines to report.
pub async fn on_cancel(ecs: &aws_sdk_ecs::Client, settings: &EcsSettings, watched: &[Watched]) -> Vec<String> {
    let mut lines = vec!["Started and not finished (ECS goes on with them unless rolled back):".to_owned()];
    for w in watched {
        let mut line = format!(
            "  {}: {}, deployment {}",
            w.service,
            short_name(&w.task_definition),
            w.deployment_id
        );
        if let Some(arn) = &w.service_deployment {
            line.push_str(&format!(", service deployment {arn}"));
            if settings.on_timeout == WhenUnfinished::Rollback {
                match service_deployment::roll_back(ecs, arn).await {
                    Ok(()) => line.push_str(": rollback requested (ON_TIMEOUT=rollback)"),
                    Err(failure) => line.push_str(&format!(": rollback refused ({failure})")),
                }
            }
        }
        lines.push(line);
    }
    lines
}
