//! What `DRY_RUN` says for an ECS deploy: the revisions that would be registered, the one-off
//! task, each service's update (or CodeDeploy deployment, with its AppSpec), and the outcome
//! with nothing changed.

use aws_sdk_ecs::types::Service;
use serde_json::Value;
use tracing::info;

use super::plan::{Plan, Revision};
use super::{BlueGreen, EcsOutcome, ServiceOutcome, codedeploy, console_url};
use crate::domain::context::RunContext;
use crate::domain::ecs::EcsSettings;
use crate::domain::task_definition::{self as document, short_name};

pub(super) fn dry_run(
    run: &RunContext,
    settings: &EcsSettings,
    services: &[Service],
    plan: &Plan,
    command_container: Option<&str>,
    blue_green: BlueGreen<'_>,
) -> EcsOutcome {
    let existing = |revision: &Revision| match revision {
        Revision::New { .. } => (None, None),
        Revision::Existing { arn, body } => (
            Some(arn.clone()),
            body.get("revision").and_then(Value::as_i64).map(|n| n as i32),
        ),
    };
    for revision in &plan.revisions {
        if let Revision::New { body, from, .. } = revision {
            let source = from
                .as_deref()
                .map(|arn| format!(" from {}", short_name(arn)))
                .unwrap_or_default();
            info!(
                "Dry run: would register a new revision of {}{source}",
                document::family(body)
            );
        }
    }
    if let (Some(one_off), Some(container)) = (&settings.run_task, command_container) {
        let command = one_off
            .command
            .as_ref()
            .map_or("its own command".to_owned(), |words| format!("{words:?}"));
        info!("Dry run: would run a one-off task, container {container} with {command}, and stop on failure");
    }
    for (service, target) in services.iter().zip(&plan.targets) {
        if let Some(blue_green) = blue_green.target(service) {
            let revision = if plan.restart {
                service.task_definition().map(str::to_owned)
            } else {
                existing(&plan.revisions[*target]).0
            };
            codedeploy::dry_run(settings, blue_green, revision.as_deref());
            continue;
        }
        let name = service.service_name().unwrap_or_default();
        let mut change = format!(
            "Dry run: would update {name} (now {})",
            short_name(service.task_definition().unwrap_or_default())
        );
        if settings.force_new_deployment {
            change.push_str(", forcing a new deployment");
        }
        if let Some(count) = settings.desired_count {
            change.push_str(&format!(", desired count {} → {count}", service.desired_count()));
        }
        info!("{change}");
    }
    let (arn, number) = existing(plan.first());
    if let Some(keep) = settings.keep_revisions {
        info!(
            "Dry run: KEEP_REVISIONS would then deregister the ACTIVE revisions of the deployed families beyond the \
             newest {keep} that no deployment in {} uses",
            settings.cluster
        );
    }
    EcsOutcome {
        deregistered_revisions: None,
        rolled_back_from: None,
        action: "ecs-deploy",
        region: run.region.clone(),
        cluster: settings.cluster.clone(),
        task_definition_arn: arn,
        revision: number,
        registered: false,
        dry_run: true,
        services: services
            .iter()
            .zip(&plan.targets)
            .map(|(service, target)| {
                let name = service.service_name().unwrap_or_default().to_owned();
                ServiceOutcome {
                    rolled_back_from: None,
                    chosen_by: None,
                    console_url: console_url(run, &settings.cluster, &name),
                    task_definition_arn: existing(&plan.revisions[*target]).0,
                    name,
                    deployment_id: None,
                    state: "DRY_RUN".to_owned(),
                    service_deployment_arn: None,
                    strategy: None,
                    final_status: None,
                    findings: None,
                    rollback: None,
                }
            })
            .collect(),
    }
}
