//! Rolling the registered revision out: every service updated, a few at a time.

use std::sync::Arc;

use aws_sdk_ecs::types::Service;
use tracing::info;

use super::rollout::Watched;
use crate::aws::{self, AwsFailure};
use crate::domain::ecs::EcsSettings;
use crate::domain::task_definition::short_name;
use crate::error::Error;

/// UpdateService calls at once: enough to deploy ten services in about the time of one,
/// few enough that ECS does not throttle.
const CONCURRENT_UPDATES: usize = 5;

/// Update every service to its target revision (None: a restart on the revision it runs), a
/// few at a time. A failure does not cancel the others (they are
/// already on their way), and the error says exactly which services were updated; those come
/// with it, for the outputs files.
pub(super) async fn update_services(
    ecs: &aws_sdk_ecs::Client,
    settings: &EcsSettings,
    services: &[Service],
    targets: &[Option<&str>],
) -> Result<Vec<Watched>, (Error, Vec<Watched>)> {
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_UPDATES));
    let mut updates = tokio::task::JoinSet::new();
    for (index, (service, target)) in services.iter().zip(targets).enumerate() {
        let (ecs, permits) = (ecs.clone(), permits.clone());
        let name = service.service_name().unwrap_or_default().to_owned();
        let previous = service.task_definition().unwrap_or_default().to_owned();
        let request = ecs
            .update_service()
            .cluster(&settings.cluster)
            .service(&name)
            .set_task_definition(target.map(str::to_owned))
            .force_new_deployment(settings.force_new_deployment)
            .set_desired_count(settings.desired_count);
        let ours = target.map_or_else(|| previous.clone(), str::to_owned);
        let force = settings.force_new_deployment;
        let described = service.clone();
        let name_for_answer = name.clone();
        updates.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let result = aws::call("ecs:UpdateService", request.send()).await;
            let watched = result.map_err(|failure| (Box::new(failure), false)).and_then(|output| {
                // An answer without the service: ECS applied the update or not, the pipe cannot
                // tell which deployment is its own. Never taken for "not updated".
                let Some(updated) = output.service() else {
                    return Err((
                        Box::new(AwsFailure::local(
                            "ecs:UpdateService",
                            format!("ECS answered without the service {name_for_answer} (and without an error)"),
                        )),
                        true,
                    ));
                };
                let deployments = updated.deployments();
                let primary = deployments
                    .iter()
                    .find(|d| d.status() == Some("PRIMARY") && d.task_definition() == Some(ours.as_str()))
                    .or_else(|| deployments.iter().find(|d| d.status() == Some("PRIMARY")));
                let deployment_id = primary.and_then(|d| d.id()).unwrap_or_default().to_owned();
                let unchanged = !force && short_name(&ours) == short_name(&previous);
                let mut watched = Watched::of_update(updated, &described, deployment_id, ours, previous);
                if unchanged {
                    // ECS starts no deployment for an update that changes nothing ("use
                    // forceNewDeployment to start a new deployment with no service definition
                    // changes", UpdateService API reference): the service deployment it names is
                    // the one that brought this revision, and is this update's outcome.
                    watched.adopt_current(updated);
                    info!(
                        "{}: already runs {} and nothing forces a new deployment, so ECS starts none \
                         (FORCE_NEW_DEPLOYMENT=true replaces the tasks): following the current deployment",
                        watched.service,
                        short_name(&watched.task_definition)
                    );
                } else if let Some(stale) = watched.answered_stale(updated) {
                    info!(
                        "{}: UpdateService answered with the previous service deployment {stale} (ECS has not \
                         attached this update's own yet): it is not followed; waiting for the new one",
                        watched.service
                    );
                }
                Ok(watched)
            });
            (index, name, watched)
        });
    }
    let mut results = updates.join_all().await;
    results.sort_by_key(|(index, _, _)| *index);
    let mut watched = Vec::new();
    let mut refused = Vec::new();
    let mut unknown = Vec::new();
    for (_, name, result) in results {
        match result {
            Ok(update) => {
                info!("Updated {name}: deployment {}", update.deployment_id);
                watched.push(update);
            }
            Err((failure, true)) => unknown.push((name, *failure)),
            Err((failure, false)) => refused.push((name, *failure)),
        }
    }
    if let Some((_, first)) = refused.first().or(unknown.first()) {
        let updated: Vec<&str> = watched.iter().map(|w| w.service.as_str()).collect();
        let mut details: Vec<String> = refused
            .iter()
            .map(|(name, failure)| format!("{name}: {failure}"))
            .collect();
        let mut revisions: Vec<String> = targets.iter().flatten().map(|arn| short_name(arn)).collect();
        revisions.dedup();
        if !revisions.is_empty() {
            details.push(format!("Registered or chosen: {}.", revisions.join(", ")));
        }
        details.push(format!(
            "Updated anyway (their deployments go on): {}",
            if updated.is_empty() {
                "none".to_owned()
            } else {
                updated.join(", ")
            }
        ));
        if !refused.is_empty() {
            let not_updated: Vec<&str> = refused.iter().map(|(name, _)| name.as_str()).collect();
            details.push(format!("Not updated: {}.", not_updated.join(", ")));
        }
        if !unknown.is_empty() {
            let maybe: Vec<&str> = unknown.iter().map(|(name, _)| name.as_str()).collect();
            details.extend(unknown.iter().map(|(name, failure)| format!("{name}: {failure}")));
            details.push(format!(
                "These may have been updated (ECS answered UpdateService without them; check the console), and are \
                 not followed: {}.",
                maybe.join(", ")
            ));
        }
        return Err((first.clone().into_error().with_details(details), watched));
    }
    Ok(watched)
}
