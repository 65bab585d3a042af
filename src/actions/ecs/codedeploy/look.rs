//! What one look at a CodeDeploy ECS deployment found: the deployment (GetDeployment) and its
//! target (BatchGetDeploymentTargets: lifecycle events, task sets and their traffic), and what
//! that says about its end (`pace`).

use std::time::Duration;

use serde_json::Value;

use super::pace::{self, Outlook};

/// What one look found: the deployment and its ECS target.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Look {
    pub status: String,
    /// The deployment configuration (its traffic shift).
    pub config: String,
    /// The target's own status (InProgress, Ready, Succeeded, Failed…).
    pub target_status: String,
    /// When `AllowTraffic` began (seconds since the epoch, CodeDeploy's clock).
    pub allow_traffic_started: Option<f64>,
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

/// The items of a JSON array; none when it is missing or not an array.
fn each(list: &Value) -> impl Iterator<Item = &Value> {
    list.as_array().into_iter().flatten()
}

impl Look {
    pub(super) fn read(info: &Value, targets: &[Value]) -> Look {
        let target = targets
            .iter()
            .map(|t| &t["ecsTarget"])
            .find(|t| t.is_object())
            .cloned()
            .unwrap_or_default();
        let events: Vec<(String, String)> = each(&target["lifecycleEvents"])
            .map(|e| (text(&e["lifecycleEventName"]), text(&e["status"])))
            .collect();
        let failed_event = each(&target["lifecycleEvents"])
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
        let mut task_sets: Vec<(String, String)> = each(&target["taskSetsInfo"])
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
        let green_weight = each(&target["taskSetsInfo"])
            .find(|set| set["taskSetLabel"].as_str() == Some("Green"))
            .and_then(|set| set["trafficWeight"].as_f64());
        let error = info["errorInformation"]["code"].as_str().map(|code| {
            let message = info["errorInformation"]["message"].as_str().unwrap_or("no message");
            format!("{code}: {message}")
        });
        let allow_traffic_started = each(&target["lifecycleEvents"])
            .find(|e| e["lifecycleEventName"].as_str() == Some("AllowTraffic"))
            .and_then(|e| e["startTime"].as_f64());
        Look {
            status: text(&info["status"]),
            config: text(&info["deploymentConfigName"]),
            target_status: text(&target["status"]),
            allow_traffic_started,
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

    pub(super) fn ended(&self) -> bool {
        matches!(self.status.as_str(), "Succeeded" | "Failed" | "Stopped") || self.traffic_moved()
    }

    fn status_of(&self, event: &str) -> Option<&str> {
        self.events.iter().find(|(e, _)| e == event).map(|(_, s)| s.as_str())
    }

    /// What this look says about when the end can come; `now`: seconds since the epoch.
    pub(super) fn outlook(&self, now: f64) -> Outlook {
        let shifting = self.status_of("AllowTraffic") == Some("InProgress")
            && self.green_weight.is_some_and(|weight| weight < 100.0);
        let last_step_in = match (shifting, self.allow_traffic_started) {
            (true, Some(started)) => pace::last_step_after(&self.config)
                .map(|after| Duration::from_secs_f64((started + after.as_secs_f64() - now).max(0.0))),
            _ => None,
        };
        Outlook {
            started: !matches!(self.status.as_str(), "" | "Created" | "Queued"),
            ready_wait: self.status == "Ready",
            installing: self.status_of("Install").is_some_and(|status| status != "Succeeded"),
            last_step_in,
        }
    }

    /// The target shows something GetDeployment should explain: its status changed, or an event
    /// failed or was skipped (a failure, a stop).
    pub(super) fn asks_for_the_deployment(&self, before: &Look) -> bool {
        self.target_status != before.target_status
            || self.events.iter().any(|(event, status)| {
                matches!(status.as_str(), "Failed" | "Skipped") && before.status_of(event) != Some(status.as_str())
            })
    }

    /// Why it did not succeed, in CodeDeploy's words.
    pub(super) fn reasons(&self) -> String {
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

    #[test]
    fn a_canary_bake_is_not_near_the_end_until_its_last_step() {
        let info =
            json!({"status": "InProgress", "deploymentConfigName": "CodeDeployDefault.ECSCanary10Percent5Minutes"});
        let mut shifting = target(&[("Install", "Succeeded"), ("AllowTraffic", "InProgress")], 10.0);
        shifting["ecsTarget"]["lifecycleEvents"][1]["startTime"] = json!(1000.0);
        let look = Look::read(&info, &[shifting]);
        assert_eq!(look.allow_traffic_started, Some(1000.0));
        // Five minutes at 10 %: a minute in, the last step is four minutes off.
        assert!(!look.outlook(1060.0).soon(pace::LATER));
        assert!(
            look.outlook(1295.0).soon(pace::LATER),
            "the last step comes within a later pause"
        );
        // Installing, or waiting Ready: not near either; after Install, with no bake: near.
        let installing = Look::read(&info, &[target(&[("Install", "InProgress")], 0.0)]);
        assert!(!installing.outlook(0.0).soon(pace::LATER));
        let ready = Look::read(&json!({"status": "Ready"}), &[target(&[("Install", "Succeeded")], 0.0)]);
        assert!(!ready.outlook(0.0).soon(pace::LATER));
        let testing = Look::read(
            &info,
            &[target(
                &[("Install", "Succeeded"), ("AfterAllowTestTraffic", "InProgress")],
                0.0,
            )],
        );
        assert!(testing.outlook(0.0).soon(pace::LATER));
    }

    #[test]
    fn the_deployment_is_read_when_the_target_shows_what_it_explains() {
        let info = json!({"status": "InProgress"});
        let mut going = target(&[("Install", "Succeeded"), ("AllowTraffic", "InProgress")], 0.0);
        going["ecsTarget"]["status"] = json!("InProgress");
        let before = Look::read(&info, &[going.clone()]);
        let mut moved = target(&[("Install", "Succeeded"), ("AllowTraffic", "Succeeded")], 100.0);
        moved["ecsTarget"]["status"] = json!("InProgress");
        assert!(
            !Look::read(&info, &[moved]).asks_for_the_deployment(&before),
            "progress alone"
        );
        let mut failed = target(&[("Install", "Succeeded"), ("AllowTraffic", "Failed")], 0.0);
        failed["ecsTarget"]["status"] = json!("InProgress");
        assert!(
            Look::read(&info, &[failed]).asks_for_the_deployment(&before),
            "an event failed"
        );
        going["ecsTarget"]["status"] = json!("Succeeded");
        assert!(
            Look::read(&info, &[going]).asks_for_the_deployment(&before),
            "the target's status changed"
        );
    }
}
