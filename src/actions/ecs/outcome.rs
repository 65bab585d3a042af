//! What an ECS deploy or rollback reports: the final `✔` line and the outputs files.

use std::fmt;

use serde::Serialize;

use crate::domain::task_definition::short_name;

#[derive(Debug, Serialize)]
pub struct EcsOutcome {
    pub action: &'static str,
    pub region: String,
    pub cluster: String,
    /// The first service's revision (the only one unless services ran different revisions);
    /// None in a dry run with a new revision (nothing was registered).
    pub task_definition_arn: Option<String>,
    pub revision: Option<i32>,
    pub registered: bool,
    pub dry_run: bool,
    pub services: Vec<ServiceOutcome>,
    /// `rollback`: the first service's revision before the rollback (`task_definition_arn` is
    /// the one it went back to).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back_from: Option<String>,
    /// `KEEP_REVISIONS`: the revisions deregistered after success, `family:revision`
    /// space-separated (empty: none was); None without KEEP_REVISIONS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deregistered_revisions: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ServiceOutcome {
    pub name: String,
    /// The revision this service was given (None in a dry run with a new revision).
    pub task_definition_arn: Option<String>,
    pub deployment_id: Option<String>,
    /// COMPLETED; IN_PROGRESS when not waited for; DRY_RUN; ROLLED_BACK, FAILED, SUPERSEDED,
    /// TIMED_OUT in the outputs of a failed step.
    pub state: String,
    /// ECS's service deployment of the rollout, when it reports one.
    pub service_deployment_arn: Option<String>,
    /// ROLLING, BLUE_GREEN, LINEAR or CANARY.
    pub strategy: Option<String>,
    /// The service deployment's last status (SUCCESSFUL, ROLLBACK_SUCCESSFUL…).
    pub final_status: Option<String>,
    /// What ECS found when it rolled back or stopped the deployment.
    pub findings: Option<String>,
    /// A rollback the pipe asked for, and how it ended.
    pub rollback: Option<String>,
    pub console_url: String,
    /// `rollback`: the revision the service ran before, and the rule that chose its target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolled_back_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chosen_by: Option<String>,
}

impl EcsOutcome {
    /// "web:2 to web, api; worker:5 to worker": each revision with the services that got it.
    fn deployed(&self) -> String {
        let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
        for service in &self.services {
            let revision = service
                .task_definition_arn
                .as_deref()
                .map(short_name)
                .unwrap_or_else(|| "a new revision".into());
            match groups.iter_mut().find(|(known, _)| *known == revision) {
                Some((_, names)) => names.push(&service.name),
                None => groups.push((revision, vec![&service.name])),
            }
        }
        let groups: Vec<String> = groups
            .iter()
            .map(|(revision, names)| format!("{revision} to {}", names.join(", ")))
            .collect();
        groups.join("; ")
    }
}

impl EcsOutcome {
    /// "web from web:3 to web:2; worker from worker:9 to worker:8".
    fn rolled_back(&self) -> String {
        let moves: Vec<String> = self
            .services
            .iter()
            .map(|service| {
                let from = service.rolled_back_from.as_deref().map(short_name).unwrap_or_default();
                let to = service
                    .task_definition_arn
                    .as_deref()
                    .map(short_name)
                    .unwrap_or_default();
                format!("{} from {from} to {to}", service.name)
            })
            .collect();
        moves.join("; ")
    }
}

impl fmt::Display for EcsOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.action == "rollback" {
            return match (self.dry_run, self.services.first().map(|s| s.state.as_str())) {
                (true, _) => write!(
                    f,
                    "Dry run: nothing was changed (would roll back {})",
                    self.rolled_back()
                ),
                (false, Some("IN_PROGRESS")) => write!(
                    f,
                    "Started rolling back {} (not waited for: WAIT is false)",
                    self.rolled_back()
                ),
                (false, _) => write!(f, "Rolled back {}", self.rolled_back()),
            };
        }
        let revision = self
            .task_definition_arn
            .as_deref()
            .map(short_name)
            .unwrap_or_else(|| "a new revision".into());
        match (
            self.dry_run,
            self.services.is_empty(),
            self.services.first().map(|s| s.state.as_str()),
        ) {
            (true, _, _) => write!(f, "Dry run: nothing was changed (would deploy {})", self.deployed()),
            (false, true, _) => write!(
                f,
                "Registered {revision}; no service was updated (SERVICE_NAME is empty)"
            ),
            (false, false, Some("IN_PROGRESS")) => write!(
                f,
                "Started deploying {} (not waited for: WAIT is false)",
                self.deployed()
            ),
            (false, false, _) => write!(f, "Deployed {}", self.deployed()),
        }
    }
}
