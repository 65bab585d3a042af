//! Following a CodeDeploy ECS deployment: its status, the lifecycle events of its target as they
//! change, the traffic on the replacement (green) task set and its task counts, through
//! GetDeployment, ListDeploymentTargets and BatchGetDeploymentTargets
//! (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ECSTarget.html; the task
//! set's id is `identifer`, misspelled, in AWS's own shape).
//!
//! When it is done:
//! - `Succeeded`: done.
//! - Traffic all on the replacement and `AfterAllowTraffic` succeeded, while CodeDeploy still
//!   keeps the original task set for the group's termination wait (up to days): done too, saying
//!   when CodeDeploy removes the original and that a rollback (stopping the deployment) stays
//!   possible until then. Waiting out the termination wait is not what a step is for.
//! - `Failed` / `Stopped`: failed, with CodeDeploy's errorInformation and the failed lifecycle
//!   event's diagnostics (never its log tail, which is the hook's output), and the rollback
//!   deployment CodeDeploy started, if any.
//! - `Ready` (the group waits for ContinueDeployment): said once, with who continues it; the
//!   wait goes on until WAIT_TIMEOUT.
//!
//! `ON_TIMEOUT=rollback` and a SIGTERM with it: StopDeployment with `autoRollbackEnabled`, and
//! the rollback deployment followed (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_StopDeployment.html).
//!
//! How often it looks and with which calls: `pace`.

use std::cell::RefCell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tracing::{info, warn};

use super::Started;
use super::look::Look;
use super::pace;
use crate::actions::ecs::verdict::Verdict;
use crate::actions::ecs::watch::Followed;
use crate::aws::wait::{Poll, Wait, WaitEnd};
use crate::aws::{AwsFailure, CodeDeploy};
use crate::domain::ecs::WhenUnfinished;
use crate::domain::task_definition::short_name;

/// After a SIGTERM, the rollback is followed this long at most (the step is being stopped).
const CANCEL_FOLLOW: Duration = Duration::from_secs(20);

/// What the follow of one deployment keeps between looks.
#[derive(Debug, Clone, Default)]
struct Seen {
    /// The deployment as GetDeployment last answered, and when.
    info: Value,
    info_at: Option<Instant>,
    /// Its target ids, listed once it started.
    target_ids: Option<Vec<String>>,
    look: Look,
    /// The last look said the end is near.
    near: bool,
}

/// One look after `seen`: the target (one call), and the deployment when the target cannot say
/// enough (see `pace`); what is seen now and the calls it took.
async fn look(codedeploy: &CodeDeploy, id: &str, seen: &Seen, scale: u32) -> Result<(Seen, u32), AwsFailure> {
    let mut now = seen.clone();
    let mut calls = 0;
    let targets = match &seen.target_ids {
        Some(ids) => {
            calls += 1;
            codedeploy.read_targets(id, ids).await?
        }
        None => Vec::new(),
    };
    let shown = Look::read(&seen.info, &targets);
    let at_least = if seen.near {
        pace::NEAR_DEPLOYMENT_AT_LEAST
    } else {
        pace::DEPLOYMENT_AT_LEAST
    };
    let stale = seen.info_at.is_none_or(|at| at.elapsed() >= at_least / scale.max(1));
    if seen.target_ids.is_none() || stale || shown.asks_for_the_deployment(&seen.look) {
        calls += 1;
        now.info = codedeploy.get_deployment(id).await?;
        now.info_at = Some(Instant::now());
    }
    // A deployment not started yet has no targets (DeploymentNotStartedException).
    let started = !matches!(now.info["status"].as_str(), Some("Created" | "Queued"));
    if now.target_ids.is_none() && started {
        let listed = match codedeploy.targets(id).await {
            Err(failure) if failure.code_is("DeploymentNotStartedException") => Vec::new(),
            other => other?,
        };
        calls += 2;
        let ids: Vec<String> = listed
            .iter()
            .filter_map(|t| t["ecsTarget"]["targetId"].as_str().map(str::to_owned))
            .collect();
        now.target_ids = (!ids.is_empty()).then_some(ids);
        now.look = Look::read(&now.info, &listed);
        return Ok((now, calls));
    }
    now.look = Look::read(&now.info, &targets);
    Ok((now, calls))
}

/// Seconds since the epoch, to compare with CodeDeploy's event times.
fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |now| now.as_secs_f64())
}

/// Print what changed since `before`.
fn show_news(who: &str, before: &Look, now: &Look, ready_wait: Option<i64>) {
    if now.status != before.status {
        info!("{who}: {}", now.status);
        if now.status == "Ready" {
            let within = ready_wait.map_or(String::new(), |minutes| format!(" within {minutes} minute(s)"));
            info!(
                "{who}: the replacement task set is ready and the deployment group waits for someone to continue \
                 it (ContinueDeployment, or \"Reroute traffic\" in the CodeDeploy console){within}; CodeDeploy \
                 stops it otherwise. The pipe waits until WAIT_TIMEOUT."
            );
        }
    }
    for (event, status) in &now.events {
        let known = before.events.iter().find(|(e, _)| e == event).map(|(_, s)| s.as_str());
        if known != Some(status.as_str()) && !(known.is_none() && status == "Pending") {
            info!("{who}: {event} {status}");
        }
    }
    if now.task_sets != before.task_sets && !now.task_sets.is_empty() {
        info!("{who}: {}", now.task_sets);
    }
}

/// Follow one deployment until it ends or the deadline passes; the last look either way.
async fn until_ended(
    codedeploy: &CodeDeploy,
    who: &str,
    id: &str,
    deadline: Instant,
    ready_wait: Option<i64>,
    scale: u32,
) -> (Look, Option<WaitEnd>) {
    let seen = RefCell::new(Seen::default());
    let budget = pace::budget(scale);
    let wait = Wait::new(who, deadline).paced(budget);
    let result = wait
        .until(|| async {
            // The borrow is not held across the look's calls.
            let before = seen.borrow().clone();
            let (mut now, calls) = look(codedeploy, id, &before, scale).await?;
            show_news(who, &before.look, &now.look, ready_wait);
            now.near = now.look.outlook(epoch_now()).soon(budget.later);
            let (found, soon) = (now.look.clone(), now.near);
            *seen.borrow_mut() = now;
            Ok(if found.ended() {
                Poll::Ready(found)
            } else {
                Poll::Paced { calls, soon }
            })
        })
        .await;
    match result {
        Ok(look) => (look, None),
        Err(end) => (seen.into_inner().look, Some(end)),
    }
}

/// Follow every started deployment (one after the other: they run side by side in CodeDeploy
/// regardless) until WAIT_TIMEOUT, rolling back those still running on `ON_TIMEOUT=rollback`.
/// A failure that waiting does not cure (a refusal, credentials) ends the follow.
pub(in crate::actions::ecs) async fn follow(
    codedeploy: &CodeDeploy,
    started: &[Started],
    deadline: Instant,
    on_timeout: WhenUnfinished,
    rollback_budget: Duration,
    scale: u32,
) -> Result<Vec<Followed>, AwsFailure> {
    let mut followed = Vec::with_capacity(started.len());
    for deployment in started {
        let who = format!("{} ({})", deployment.target.service, deployment.deployment_id);
        let (look, end) = until_ended(
            codedeploy,
            &who,
            &deployment.deployment_id,
            deadline,
            deployment.target.ready_wait,
            scale,
        )
        .await;
        let done = match end {
            Some(WaitEnd::Stopped(failure)) => return Err(failure),
            Some(WaitEnd::TimedOut { .. }) => {
                timed_out(codedeploy, deployment, &look, on_timeout, rollback_budget, scale).await
            }
            None => ended(deployment, &look),
        };
        followed.push(done);
    }
    Ok(followed)
}

fn ended(deployment: &Started, look: &Look) -> Followed {
    let mut followed = Followed::in_progress();
    followed.status = Some(look.status.clone());
    match look.status.as_str() {
        "Succeeded" => followed.verdict = Verdict::Completed,
        "Failed" | "Stopped" => {
            let reasons = look.reasons();
            followed.findings = Some(reasons.clone());
            followed.verdict = match &look.rollback_deployment {
                Some(rollback) => {
                    warn!(
                        "{}: CodeDeploy rolls back with deployment {rollback}{}",
                        deployment.target.service,
                        look.rollback_message
                            .as_deref()
                            .map(|m| format!(" ({m})"))
                            .unwrap_or_default()
                    );
                    Verdict::RolledBack(format!("{reasons}; CodeDeploy rollback deployment {rollback}"))
                }
                None if deployment.target.auto_rollback.is_empty() => Verdict::Failed(format!(
                    "{reasons}; the deployment group rolls back automatically on nothing (autoRollbackConfiguration)"
                )),
                None => Verdict::Failed(reasons),
            };
        }
        _ => {
            // Traffic moved; the original task set waits for its termination.
            let when = deployment
                .target
                .termination_wait
                .map_or("after the group's termination wait".to_owned(), |minutes| {
                    format!("in {minutes} minute(s)")
                });
            info!(
                "{}: all traffic is on {} and AfterAllowTraffic succeeded. CodeDeploy removes the original task set \
                 {when}; until then stopping deployment {} with rollback puts the original back",
                deployment.target.service,
                short_name(&deployment.task_definition),
                deployment.deployment_id
            );
            followed.verdict = Verdict::Completed;
        }
    }
    followed
}

/// WAIT_TIMEOUT passed: left to CodeDeploy, or stopped with rollback and the rollback followed.
async fn timed_out(
    codedeploy: &CodeDeploy,
    deployment: &Started,
    look: &Look,
    on_timeout: WhenUnfinished,
    budget: Duration,
    scale: u32,
) -> Followed {
    let mut followed = Followed::in_progress();
    followed.verdict = Verdict::TimedOut;
    followed.status = Some(look.status.clone()).filter(|s| !s.is_empty());
    if on_timeout == WhenUnfinished::Rollback {
        followed.rollback = Some(stop_and_follow(codedeploy, deployment, Instant::now() + budget, scale).await);
    }
    followed
}

/// StopDeployment with rollback, then the rollback deployment followed until `deadline`: how it
/// went, in one line.
async fn stop_and_follow(codedeploy: &CodeDeploy, deployment: &Started, deadline: Instant, scale: u32) -> String {
    let service = &deployment.target.service;
    let id = &deployment.deployment_id;
    info!("{service}: stopping CodeDeploy deployment {id} with rollback");
    if let Err(failure) = codedeploy.stop_deployment(id, true).await {
        return format!("StopDeployment of {id} refused ({failure}); CodeDeploy goes on with it");
    }
    // The rollback deployment appears in the stopped deployment's rollbackInfo, once the stop is
    // done: seconds, so every look is near the end (one GetDeployment each).
    let wait = Wait::new(format!("{service} rollback"), deadline).paced(pace::budget(scale));
    let rollback = wait
        .until(|| async {
            let info = codedeploy.get_deployment(id).await?;
            let rollback = info["rollbackInfo"]["rollbackDeploymentId"].as_str().map(str::to_owned);
            let ended = matches!(info["status"].as_str(), Some("Stopped" | "Failed" | "Succeeded"));
            Ok(match (rollback, ended) {
                (Some(rollback), _) => Poll::Ready(Some(rollback)),
                (None, true) => Poll::Ready(None),
                (None, false) => Poll::Paced { calls: 1, soon: true },
            })
        })
        .await;
    let rollback = match rollback {
        Ok(Some(rollback)) => rollback,
        Ok(None) => return format!("deployment {id} stopped; CodeDeploy started no rollback deployment"),
        Err(_) => return format!("deployment {id} asked to stop with rollback; no rollback seen before the deadline"),
    };
    info!("{service}: CodeDeploy rolls back with deployment {rollback}");
    let who = format!("{service} rollback ({rollback})");
    match until_ended(codedeploy, &who, &rollback, deadline, None, scale).await {
        (look, None) if look.status == "Succeeded" || look.traffic_moved() => {
            format!("rolled back by CodeDeploy deployment {rollback}: traffic is on the original task set")
        }
        (look, None) => format!(
            "CodeDeploy rollback deployment {rollback} ended {}: {}",
            look.status,
            look.reasons()
        ),
        (_, Some(_)) => format!("CodeDeploy rollback deployment {rollback} still in progress"),
    }
}

/// The step is being stopped (SIGTERM): with `ON_TIMEOUT=rollback` each deployment is stopped
/// with rollback (followed briefly); otherwise CodeDeploy goes on with them. The lines to report.
pub(in crate::actions::ecs) async fn on_cancel(
    codedeploy: &CodeDeploy,
    started: &[Started],
    on_timeout: WhenUnfinished,
    scale: u32,
) -> Vec<String> {
    let mut lines = Vec::new();
    for deployment in started {
        let mut line = format!(
            "  {}: {}, CodeDeploy deployment {}",
            deployment.target.service,
            short_name(&deployment.task_definition),
            deployment.deployment_id
        );
        if on_timeout == WhenUnfinished::Rollback {
            let said = stop_and_follow(codedeploy, deployment, Instant::now() + CANCEL_FOLLOW, scale).await;
            line.push_str(&format!(": {said} (ON_TIMEOUT=rollback)"));
        } else {
            line.push_str(": CodeDeploy goes on with it (ON_TIMEOUT=rollback would stop it with rollback)");
        }
        lines.push(line);
    }
    lines
}
