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

use std::cell::RefCell;
use std::time::{Duration, Instant};

use serde_json::Value;
use tracing::{info, warn};

use super::Started;
use crate::actions::ecs::verdict::Verdict;
use crate::actions::ecs::watch::Followed;
use crate::aws::wait::{Poll, Wait, WaitEnd};
use crate::aws::{AwsFailure, CodeDeploy};
use crate::domain::ecs::WhenUnfinished;
use crate::domain::task_definition::short_name;

const POLL_MIN: Duration = Duration::from_secs(1);
const POLL_MAX: Duration = Duration::from_secs(15);
/// After a SIGTERM, the rollback is followed this long at most (the step is being stopped).
const CANCEL_FOLLOW: Duration = Duration::from_secs(20);

/// What one look found: the deployment and its ECS target.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Look {
    pub status: String,
    /// `(event, status)` in CodeDeploy's order.
    pub events: Vec<(String, String)>,
    /// "replacement 2/2 running, 100% traffic; original 2/2 running, 0% traffic".
    pub task_sets: String,
    /// The replacement's traffic weight, when the target reports task sets.
    pub green_weight: Option<f64>,
    pub error: Option<String>,
    /// The failed lifecycle event and its diagnostics.
    pub failed_event: Option<String>,
    pub rollback_deployment: Option<String>,
    pub rollback_message: Option<String>,
}

impl Look {
    pub(super) fn read(info: &Value, targets: &[Value]) -> Look {
        let target = targets
            .iter()
            .map(|t| &t["ecsTarget"])
            .find(|t| t.is_object())
            .cloned()
            .unwrap_or_default();
        let events: Vec<(String, String)> = target["lifecycleEvents"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| (text(&e["lifecycleEventName"]), text(&e["status"])))
            .collect();
        let failed_event = target["lifecycleEvents"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["status"].as_str() == Some("Failed"))
            .map(|e| {
                let diagnostics = &e["diagnostics"];
                let mut said = format!("lifecycle event {} failed", text(&e["lifecycleEventName"]));
                if let Some(code) = diagnostics["errorCode"].as_str() {
                    said.push_str(&format!(": {code}"));
                }
                if let Some(message) = diagnostics["message"].as_str().filter(|m| !m.is_empty()) {
                    said.push_str(&format!(": {message}"));
                }
                said
            });
        let mut task_sets: Vec<(String, String)> = target["taskSetsInfo"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|set| {
                let label = match set["taskSetLabel"].as_str() {
                    Some("Green") => "replacement",
                    Some("Blue") => "original",
                    _ => "task set",
                };
                (
                    label.to_owned(),
                    format!(
                        "{label} {}/{} running, {}% traffic",
                        set["runningCount"].as_i64().unwrap_or(0),
                        set["desiredCount"].as_i64().unwrap_or(0),
                        set["trafficWeight"].as_f64().unwrap_or(0.0)
                    ),
                )
            })
            .collect();
        task_sets.sort_by_key(|(label, _)| label != "replacement");
        let green_weight = target["taskSetsInfo"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|set| set["taskSetLabel"].as_str() == Some("Green"))
            .and_then(|set| set["trafficWeight"].as_f64());
        let error = info["errorInformation"]["code"].as_str().map(|code| {
            let message = info["errorInformation"]["message"].as_str().unwrap_or("no message");
            format!("{code}: {message}")
        });
        Look {
            status: text(&info["status"]),
            events,
            task_sets: task_sets
                .into_iter()
                .map(|(_, said)| said)
                .collect::<Vec<_>>()
                .join("; "),
            green_weight,
            error,
            failed_event,
            rollback_deployment: info["rollbackInfo"]["rollbackDeploymentId"].as_str().map(str::to_owned),
            rollback_message: info["rollbackInfo"]["rollbackMessage"].as_str().map(str::to_owned),
        }
    }

    /// Traffic is all on the replacement and the last hook passed: only the original's
    /// termination wait is left.
    pub(super) fn traffic_moved(&self) -> bool {
        let after_allow = self
            .events
            .iter()
            .any(|(event, status)| event == "AfterAllowTraffic" && status == "Succeeded");
        after_allow && self.green_weight.is_none_or(|weight| weight >= 100.0)
    }

    fn ended(&self) -> bool {
        matches!(self.status.as_str(), "Succeeded" | "Failed" | "Stopped") || self.traffic_moved()
    }

    /// Why it did not succeed, in CodeDeploy's words.
    fn reasons(&self) -> String {
        let mut reasons: Vec<String> = Vec::new();
        reasons.extend(self.error.clone());
        reasons.extend(self.failed_event.clone());
        if reasons.is_empty() {
            reasons.push(format!("CodeDeploy says {}", self.status));
        }
        reasons.join("; ")
    }
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

async fn look(codedeploy: &CodeDeploy, id: &str) -> Result<Look, AwsFailure> {
    let info = codedeploy.get_deployment(id).await?;
    // A deployment not started yet has no targets (DeploymentNotStartedException).
    let targets = match info["status"].as_str() {
        Some("Created" | "Queued") => Vec::new(),
        _ => match codedeploy.targets(id).await {
            Err(failure) if failure.code_is("DeploymentNotStartedException") => Vec::new(),
            other => other?,
        },
    };
    Ok(Look::read(&info, &targets))
}

/// Print what changed since `before`; whether anything did.
fn show_news(who: &str, before: &Look, now: &Look, ready_wait: Option<i64>) -> bool {
    let mut news = false;
    if now.status != before.status {
        news = true;
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
            news = true;
            info!("{who}: {event} {status}");
        }
    }
    if now.task_sets != before.task_sets && !now.task_sets.is_empty() {
        news = true;
        info!("{who}: {}", now.task_sets);
    }
    news
}

/// Follow one deployment until it ends or the deadline passes; the last look either way.
async fn until_ended(
    codedeploy: &CodeDeploy,
    who: &str,
    id: &str,
    deadline: Instant,
    ready_wait: Option<i64>,
) -> (Look, Option<WaitEnd>) {
    let last = RefCell::new(Look::default());
    let wait = Wait::new(who, deadline).polling(POLL_MIN, POLL_MAX);
    let result = wait
        .until(|| async {
            let now = look(codedeploy, id).await?;
            let news = show_news(who, &last.borrow(), &now, ready_wait);
            let ended = now.ended();
            *last.borrow_mut() = now.clone();
            Ok(if ended {
                Poll::Ready(now)
            } else {
                Poll::Pending { news }
            })
        })
        .await;
    match result {
        Ok(look) => (look, None),
        Err(end) => (last.into_inner(), Some(end)),
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
        )
        .await;
        let done = match end {
            Some(WaitEnd::Stopped(failure)) => return Err(failure),
            Some(WaitEnd::TimedOut { .. }) => {
                timed_out(codedeploy, deployment, &look, on_timeout, rollback_budget).await
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
) -> Followed {
    let mut followed = Followed::in_progress();
    followed.verdict = Verdict::TimedOut;
    followed.status = Some(look.status.clone()).filter(|s| !s.is_empty());
    if on_timeout == WhenUnfinished::Rollback {
        followed.rollback = Some(stop_and_follow(codedeploy, deployment, Instant::now() + budget).await);
    }
    followed
}

/// StopDeployment with rollback, then the rollback deployment followed until `deadline`: how it
/// went, in one line.
async fn stop_and_follow(codedeploy: &CodeDeploy, deployment: &Started, deadline: Instant) -> String {
    let service = &deployment.target.service;
    let id = &deployment.deployment_id;
    info!("{service}: stopping CodeDeploy deployment {id} with rollback");
    if let Err(failure) = codedeploy.stop_deployment(id, true).await {
        return format!("StopDeployment of {id} refused ({failure}); CodeDeploy goes on with it");
    }
    // The rollback deployment appears in the stopped deployment's rollbackInfo.
    let wait = Wait::new(format!("{service} rollback"), deadline).polling(POLL_MIN, POLL_MAX);
    let rollback = wait
        .until(|| async {
            let info = codedeploy.get_deployment(id).await?;
            let rollback = info["rollbackInfo"]["rollbackDeploymentId"].as_str().map(str::to_owned);
            let ended = matches!(info["status"].as_str(), Some("Stopped" | "Failed" | "Succeeded"));
            Ok(match (rollback, ended) {
                (Some(rollback), _) => Poll::Ready(Some(rollback)),
                (None, true) => Poll::Ready(None),
                (None, false) => Poll::Pending { news: false },
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
    match until_ended(codedeploy, &who, &rollback, deadline, None).await {
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
            let said = stop_and_follow(codedeploy, deployment, Instant::now() + CANCEL_FOLLOW).await;
            line.push_str(&format!(": {said} (ON_TIMEOUT=rollback)"));
        } else {
            line.push_str(": CodeDeploy goes on with it (ON_TIMEOUT=rollback would stop it with rollback)");
        }
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn target(events: &[(&str, &str)], green: f64) -> Value {
        json!({"deploymentTargetType": "ECSTarget", "ecsTarget": {
            "lifecycleEvents": events.iter().map(|(name, status)| json!({
                "lifecycleEventName": name, "status": status,
                "diagnostics": if *status == "Failed" {
                    json!({"errorCode": "ScriptFailed", "message": "hook said no", "logTail": "SECRET"})
                } else { Value::Null },
            })).collect::<Vec<_>>(),
            "taskSetsInfo": [
                {"identifer": "ecs-svc/1", "taskSetLabel": "Blue", "desiredCount": 2, "runningCount": 2, "trafficWeight": 100.0 - green},
                {"identifer": "ecs-svc/2", "taskSetLabel": "Green", "desiredCount": 2, "runningCount": 1, "trafficWeight": green},
            ],
        }})
    }

    #[test]
    fn looks_read_events_task_sets_and_failures() {
        let info = json!({"status": "InProgress"});
        let look = Look::read(
            &info,
            &[target(
                &[("BeforeInstall", "Succeeded"), ("AllowTraffic", "InProgress")],
                0.0,
            )],
        );
        assert_eq!(
            look.task_sets,
            "replacement 1/2 running, 0% traffic; original 2/2 running, 100% traffic"
        );
        assert!(!look.ended());

        let moved = Look::read(&info, &[target(&[("AfterAllowTraffic", "Succeeded")], 100.0)]);
        assert!(
            moved.traffic_moved() && moved.ended(),
            "only the termination wait is left"
        );
        let half = Look::read(&info, &[target(&[("AfterAllowTraffic", "Succeeded")], 50.0)]);
        assert!(!half.ended(), "traffic not all moved");

        let failed = Look::read(
            &json!({"status": "Failed", "errorInformation": {"code": "HEALTH_CONSTRAINTS", "message": "unhealthy"},
                    "rollbackInfo": {"rollbackDeploymentId": "d-ROLLBACK1"}}),
            &[target(&[("BeforeAllowTraffic", "Failed")], 0.0)],
        );
        assert!(failed.ended());
        let reasons = failed.reasons();
        assert!(reasons.contains("HEALTH_CONSTRAINTS: unhealthy"), "{reasons}");
        assert!(
            reasons.contains("BeforeAllowTraffic failed: ScriptFailed: hook said no"),
            "{reasons}"
        );
        assert!(!reasons.contains("SECRET"), "the hook's log tail is never shown");
        assert_eq!(failed.rollback_deployment.as_deref(), Some("d-ROLLBACK1"));
    }
}
