//! Judging ECS's `deployments[]`: never calling a deployment done unless it reached COMPLETED
//! with our revision. Rolled back, superseded and stuck deployments fail the pipe, with the
//! reasons ECS gives. This is the whole verdict for rolling deployments where ECS has no service
//! deployments API (older regions, emulators); `watch` prefers ECS's service deployments when it has.

use aws_sdk_ecs::types::Service;

use super::strategy::Strategy;
use super::verdict::Verdict;
use crate::domain::task_definition::short_name;

/// A service we updated, and how to recognise our deployment in it.
#[derive(Debug, Clone)]
pub struct Watched {
    pub service: String,
    pub deployment_id: String,
    pub task_definition: String,
    /// The revision the service ran before: seeing it PRIMARY again means a rollback.
    pub previous: String,
    /// ECS's service deployment of this rollout (`currentServiceDeployment` after the update),
    /// when the API reports one. Never the one from before the update.
    pub service_deployment: Option<String>,
    /// The service's `currentServiceDeployment` before the update: ECS may still answer it
    /// after the update (containers-roadmap#2709), and it must never be taken for ours.
    pub previous_service_deployment: Option<String>,
    /// How the service deploys (its deployment configuration when the update started).
    pub strategy: Strategy,
}

impl Watched {
    /// `updated`: UpdateService's answer; `before`: the service as described before the update.
    pub fn of_update(
        updated: &Service,
        before: &Service,
        deployment_id: String,
        task_definition: String,
        previous: String,
    ) -> Watched {
        let previous_service_deployment = before.current_service_deployment().map(str::to_owned);
        Watched {
            service: updated.service_name().unwrap_or_default().to_owned(),
            deployment_id,
            task_definition,
            previous,
            service_deployment: updated
                .current_service_deployment()
                .filter(|arn| Some(*arn) != previous_service_deployment.as_deref())
                .map(str::to_owned),
            previous_service_deployment,
            strategy: Strategy::of(updated),
        }
    }

    /// An update that changed nothing started no deployment: the service deployment ECS names
    /// is the one in effect, and so this update's outcome (never "stale").
    pub fn adopt_current(&mut self, updated: &Service) {
        self.previous_service_deployment = None;
        self.service_deployment = updated.current_service_deployment().map(str::to_owned);
    }

    /// UpdateService answered with the service deployment from before the update.
    pub fn answered_stale<'a>(&self, updated: &'a Service) -> Option<&'a str> {
        updated
            .current_service_deployment()
            .filter(|arn| Some(*arn) == self.previous_service_deployment.as_deref())
    }
}

/// What the judge needs of one deployment in DescribeServices.
#[derive(Debug, Clone, Default)]
pub struct DeploymentView {
    pub id: String,
    pub status: String,
    pub task_definition: String,
    pub desired: i32,
    pub pending: i32,
    pub running: i32,
    pub rollout_state: Option<String>,
    pub reason: Option<String>,
}

impl DeploymentView {
    pub fn of(deployment: &aws_sdk_ecs::types::Deployment) -> DeploymentView {
        DeploymentView {
            id: deployment.id().unwrap_or_default().to_owned(),
            status: deployment.status().unwrap_or_default().to_owned(),
            task_definition: deployment.task_definition().unwrap_or_default().to_owned(),
            desired: deployment.desired_count(),
            pending: deployment.pending_count(),
            running: deployment.running_count(),
            rollout_state: deployment.rollout_state().map(|state| state.as_str().to_owned()),
            reason: deployment.rollout_state_reason().map(str::to_owned),
        }
    }
}

/// Judge one poll of a service. Pure, so every sequence ECS produces is a table test.
pub fn judge(ours: &Watched, service_task_definition: &str, deployments: &[DeploymentView]) -> Verdict {
    let mine = deployments.iter().find(|d| d.id == ours.deployment_id);
    let primary = deployments.iter().find(|d| d.status == "PRIMARY");

    // Our deployment failed: ECS going back to what ran before is a rollback, whatever the
    // revision numbers say (the user may have deployed an older revision on purpose).
    if let Some(mine) = mine.filter(|d| d.rollout_state.as_deref() == Some("FAILED")) {
        let reason = mine
            .reason
            .clone()
            .unwrap_or_else(|| "ECS marked the deployment FAILED".to_owned());
        return match primary.filter(|p| p.id != mine.id) {
            Some(back) if back.task_definition == ours.previous || back.task_definition == ours.task_definition => {
                Verdict::RolledBack(format!(
                    "{reason} ECS went back to {} ({})",
                    short_name(&back.task_definition),
                    back.id
                ))
            }
            Some(other) => Verdict::Failed(format!(
                "{reason} Meanwhile {} is being deployed",
                short_name(&other.task_definition)
            )),
            None => Verdict::Failed(reason),
        };
    }
    // Another deployment with a revision that is neither ours nor the previous one took over.
    if let Some(other) = primary.filter(|p| {
        p.id != ours.deployment_id && p.task_definition != ours.task_definition && p.task_definition != ours.previous
    }) {
        return Verdict::Superseded(format!(
            "{} is being deployed by someone else now ({}); this is not a rollback",
            short_name(&other.task_definition),
            other.id
        ));
    }
    match mine {
        Some(mine) => {
            let completed = match mine.rollout_state.as_deref() {
                Some(state) => state == "COMPLETED",
                // Without rollout states (old services): steady when ours is all there is.
                None => deployments.len() == 1 && mine.pending == 0 && mine.running == mine.desired,
            };
            if completed && mine.status == "PRIMARY" && service_task_definition == ours.task_definition {
                Verdict::Completed
            } else if reverted(ours, service_task_definition) {
                Verdict::RolledBack(format!(
                    "the service runs {} again",
                    short_name(service_task_definition)
                ))
            } else {
                Verdict::InProgress
            }
        }
        None if reverted(ours, service_task_definition) => Verdict::RolledBack(format!(
            "our deployment {} is gone and the service runs {} again",
            ours.deployment_id,
            short_name(service_task_definition)
        )),
        None if service_task_definition != ours.task_definition => Verdict::Superseded(format!(
            "the service runs {} now, deployed by someone else; this is not a rollback",
            short_name(service_task_definition)
        )),
        None => Verdict::Failed(format!(
            "our deployment {} is gone and the service runs {}",
            ours.deployment_id,
            short_name(service_task_definition)
        )),
    }
}

fn reverted(ours: &Watched, service_task_definition: &str) -> bool {
    ours.previous != ours.task_definition && service_task_definition == ours.previous
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::actions::ecs) const OLD: &str = "arn:aws:ecs:eu-west-1:1:task-definition/web:41";
    pub(in crate::actions::ecs) const OURS: &str = "arn:aws:ecs:eu-west-1:1:task-definition/web:42";
    const NEWER: &str = "arn:aws:ecs:eu-west-1:1:task-definition/web:43";

    pub(in crate::actions::ecs) fn watched() -> Watched {
        Watched {
            service: "web".into(),
            deployment_id: "ecs-svc/2".into(),
            task_definition: OURS.into(),
            previous: OLD.into(),
            service_deployment: None,
            previous_service_deployment: None,
            strategy: Strategy::of(&Service::builder().build()),
        }
    }

    fn d(id: &str, status: &str, td: &str, state: Option<&str>, running: i32) -> DeploymentView {
        DeploymentView {
            id: id.into(),
            status: status.into(),
            task_definition: td.into(),
            desired: 2,
            pending: 2 - running,
            running,
            rollout_state: state.map(str::to_owned),
            reason: state
                .filter(|s| *s == "FAILED")
                .map(|_| "ECS deployment circuit breaker: tasks failed to start.".into()),
        }
    }

    fn service(current: Option<&str>, td: &str) -> Service {
        Service::builder()
            .service_name("web")
            .task_definition(td)
            .set_current_service_deployment(current.map(str::to_owned))
            .build()
    }

    #[test]
    fn the_service_deployment_from_before_the_update_is_never_ours() {
        const BEFORE: &str = "arn:aws:ecs:eu-west-1:1:service-deployment/prod/web/before";
        const NEW: &str = "arn:aws:ecs:eu-west-1:1:service-deployment/prod/web/new";
        let before = service(Some(BEFORE), OLD);
        // UpdateService answered with the new one: followed.
        let updated = service(Some(NEW), OURS);
        let w = Watched::of_update(&updated, &before, "ecs-svc/2".into(), OURS.into(), OLD.into());
        assert_eq!(w.service_deployment.as_deref(), Some(NEW));
        assert_eq!(w.previous_service_deployment.as_deref(), Some(BEFORE));
        assert_eq!(w.answered_stale(&updated), None);
        // It answered with the previous one still: not followed, and said to be stale.
        let stale = service(Some(BEFORE), OURS);
        let mut w = Watched::of_update(&stale, &before, "ecs-svc/2".into(), OURS.into(), OLD.into());
        assert_eq!(w.service_deployment, None);
        assert_eq!(w.answered_stale(&stale), Some(BEFORE));
        // An update that changed nothing started none: the current one is its outcome.
        w.adopt_current(&stale);
        assert_eq!(w.service_deployment.as_deref(), Some(BEFORE));
        assert_eq!(w.previous_service_deployment, None);
        assert_eq!(w.answered_stale(&stale), None);
    }

    #[test]
    fn sequences_ecs_produces() {
        let ours = watched();
        let cases: Vec<(&str, &str, Vec<DeploymentView>, &str)> = vec![
            (
                "rolling",
                OURS,
                vec![
                    d("ecs-svc/2", "PRIMARY", OURS, Some("IN_PROGRESS"), 1),
                    d("ecs-svc/1", "ACTIVE", OLD, Some("COMPLETED"), 2),
                ],
                "IN_PROGRESS",
            ),
            (
                "completed",
                OURS,
                vec![d("ecs-svc/2", "PRIMARY", OURS, Some("COMPLETED"), 2)],
                "COMPLETED",
            ),
            (
                "circuit breaker rollback",
                OLD,
                vec![
                    d("ecs-svc/1", "PRIMARY", OLD, Some("IN_PROGRESS"), 1),
                    d("ecs-svc/2", "ACTIVE", OURS, Some("FAILED"), 0),
                ],
                "ROLLED_BACK",
            ),
            (
                "rollback finished, ours gone",
                OLD,
                vec![d("ecs-svc/1", "PRIMARY", OLD, Some("COMPLETED"), 2)],
                "ROLLED_BACK",
            ),
            (
                "failed without rollback",
                OURS,
                vec![d("ecs-svc/2", "PRIMARY", OURS, Some("FAILED"), 0)],
                "FAILED",
            ),
            (
                "superseded",
                NEWER,
                vec![
                    d("ecs-svc/3", "PRIMARY", NEWER, Some("IN_PROGRESS"), 0),
                    d("ecs-svc/2", "ACTIVE", OURS, Some("IN_PROGRESS"), 1),
                ],
                "SUPERSEDED",
            ),
            (
                "superseded, ours gone",
                NEWER,
                vec![d("ecs-svc/3", "PRIMARY", NEWER, Some("COMPLETED"), 2)],
                "SUPERSEDED",
            ),
            (
                "completed but the service reverted",
                OLD,
                vec![
                    d("ecs-svc/2", "ACTIVE", OURS, Some("COMPLETED"), 2),
                    d("ecs-svc/1", "PRIMARY", OLD, Some("IN_PROGRESS"), 0),
                ],
                "ROLLED_BACK",
            ),
            (
                "ours failed while someone else deploys",
                NEWER,
                vec![
                    d("ecs-svc/3", "PRIMARY", NEWER, Some("IN_PROGRESS"), 1),
                    d("ecs-svc/2", "ACTIVE", OURS, Some("FAILED"), 0),
                ],
                "FAILED",
            ),
            (
                "ours gone, nothing listed, the service runs another",
                NEWER,
                vec![],
                "SUPERSEDED",
            ),
            (
                "ours gone, nothing listed, the service runs ours",
                OURS,
                vec![],
                "FAILED",
            ),
            (
                "no rollout state, steady",
                OURS,
                vec![d("ecs-svc/2", "PRIMARY", OURS, None, 2)],
                "COMPLETED",
            ),
            (
                "no rollout state, two deployments",
                OURS,
                vec![
                    d("ecs-svc/2", "PRIMARY", OURS, None, 2),
                    d("ecs-svc/1", "ACTIVE", OLD, None, 1),
                ],
                "IN_PROGRESS",
            ),
        ];
        for (name, service_td, deployments, expected) in cases {
            assert_eq!(judge(&ours, service_td, &deployments).state(), expected, "{name}");
        }
    }

    #[test]
    fn takeovers_by_other_revisions_and_families_are_superseded() {
        let ours = watched();
        let other_family = "arn:aws:ecs:eu-west-1:1:task-definition/api:7";
        let older = "arn:aws:ecs:eu-west-1:1:task-definition/web:30";
        for td in [other_family, older, NEWER] {
            let deployments = vec![
                d("ecs-svc/9", "PRIMARY", td, Some("IN_PROGRESS"), 0),
                d("ecs-svc/2", "ACTIVE", OURS, Some("IN_PROGRESS"), 1),
            ];
            assert_eq!(judge(&ours, td, &deployments).state(), "SUPERSEDED", "{td}");
        }
    }

    #[test]
    fn an_older_revision_deployed_on_purpose_and_rolled_back_is_a_rollback() {
        // Deploying web:40 while web:42 runs; the circuit breaker goes back to web:42.
        let ours = Watched {
            task_definition: "arn:aws:ecs:eu-west-1:1:task-definition/web:40".into(),
            previous: NEWER.into(),
            ..watched()
        };
        let deployments = vec![
            d("ecs-svc/1", "PRIMARY", NEWER, Some("IN_PROGRESS"), 1),
            d("ecs-svc/2", "ACTIVE", &ours.task_definition, Some("FAILED"), 0),
        ];
        assert_eq!(judge(&ours, NEWER, &deployments).state(), "ROLLED_BACK");
    }

    #[test]
    fn forced_redeploy_of_the_same_revision_fails_only_on_failed_state() {
        let same = Watched {
            previous: OURS.into(),
            ..watched()
        };
        let rolling = vec![
            d("ecs-svc/2", "PRIMARY", OURS, Some("IN_PROGRESS"), 1),
            d("ecs-svc/1", "ACTIVE", OURS, Some("COMPLETED"), 2),
        ];
        assert_eq!(judge(&same, OURS, &rolling), Verdict::InProgress);
        let failed = vec![
            d("ecs-svc/1", "PRIMARY", OURS, Some("IN_PROGRESS"), 2),
            d("ecs-svc/2", "ACTIVE", OURS, Some("FAILED"), 0),
        ];
        assert_eq!(judge(&same, OURS, &failed).state(), "ROLLED_BACK");
    }

    #[test]
    fn rollback_reason_says_what_ecs_went_back_to() {
        let deployments = vec![
            d("ecs-svc/1", "PRIMARY", OLD, Some("IN_PROGRESS"), 1),
            d("ecs-svc/2", "ACTIVE", OURS, Some("FAILED"), 0),
        ];
        let text = judge(&watched(), OLD, &deployments).to_string();
        assert!(text.contains("circuit breaker") && text.contains("web:41"), "{text}");
    }
}
