//! The first step of an ECS deploy: read and check everything before any change. The services
//! exist, are active and use the ECS controller; the revision to deploy is decided (a file, an
//! existing revision, or the current one with new images) and its changes shown.

use aws_sdk_ecs::types::{DeploymentControllerType, Service};
use serde_json::Value;
use tracing::info;

use super::{rollout, task_definition};
use crate::actions::diff;
use crate::aws::{self, AwsFailure};
use crate::domain::ecs::{EcsSettings, TaskDefinitionSource};
use crate::domain::task_definition::{self as document, short_name};
use crate::error::Error;

/// The revision to deploy, before anything is registered.
pub(super) enum Revision {
    /// A new revision from this body; `current` is what it replaces, for the diff.
    New { body: Value, current: Option<Value> },
    /// An existing revision, deployed as it is.
    Existing { arn: String, body: Value },
}

impl Revision {
    pub(super) fn body(&self) -> &Value {
        match self {
            Revision::New { body, .. } | Revision::Existing { body, .. } => body,
        }
    }
}

/// The listed services, checked: they exist, are active, and use the ECS deployment controller.
pub(super) async fn describe_services(
    ecs: &aws_sdk_ecs::Client,
    settings: &EcsSettings,
) -> Result<Vec<Service>, Error> {
    let cluster = &settings.cluster;
    let (mut services, failures) = rollout::describe(ecs, cluster, &settings.services)
        .await
        .map_err(|failure| {
            if failure.code_is("ClusterNotFoundException") {
                Error::bad_input(format!("Cluster {cluster} not found ({failure})"), "CLUSTER_NAME")
            } else {
                failure.into_error()
            }
        })?;
    let mut missing: Vec<String> = failures
        .iter()
        .map(|failure| {
            let name = failure.arn().unwrap_or_default().rsplit('/').next().unwrap_or_default();
            format!("{name} ({})", failure.reason().unwrap_or("MISSING"))
        })
        .collect();
    for service in &services {
        let name = service.service_name().unwrap_or_default();
        if service.status() != Some("ACTIVE") {
            missing.push(format!("{name} (status {})", service.status().unwrap_or("unknown")));
        }
        let controller = service.deployment_controller().map(|c| c.r#type().clone());
        if let Some(other @ (DeploymentControllerType::CodeDeploy | DeploymentControllerType::External)) = controller {
            return Err(Error::BadInput {
                summary: format!(
                    "Service {name} uses the {} deployment controller, which this pipe does not deploy to (yet)",
                    other.as_str()
                ),
                details: vec![
                    "Blue/green (CODE_DEPLOY) and EXTERNAL deployments are planned; nothing was changed.".to_owned(),
                    "Remove the service from SERVICE_NAME, or deploy it with CodeDeploy.".to_owned(),
                ],
            });
        }
    }
    if !missing.is_empty() {
        let known = list_services(ecs, cluster).await;
        return Err(Error::BadInput {
            summary: format!("Not found or not active in cluster {cluster}: {}", missing.join(", ")),
            details: vec![
                format!("Services in {cluster}: {known}"),
                "Check SERVICE_NAME, and CLUSTER_NAME if the service lives in another cluster.".to_owned(),
            ],
        });
    }
    // DescribeServices answers in its own order; keep the user's.
    services.sort_by_key(|s| {
        settings
            .services
            .iter()
            .position(|n| Some(n.as_str()) == s.service_name())
    });
    Ok(services)
}

async fn list_services(ecs: &aws_sdk_ecs::Client, cluster: &str) -> String {
    let request = ecs.list_services().cluster(cluster).max_results(100);
    match aws::call("ecs:ListServices", request.send()).await {
        Ok(output) => {
            let names: Vec<&str> = output
                .service_arns()
                .iter()
                .filter_map(|arn| arn.rsplit('/').next())
                .collect();
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        }
        Err(failure) => format!("(could not list them: {failure})"),
    }
}

pub(super) async fn plan_revision(
    ecs: &aws_sdk_ecs::Client,
    settings: &EcsSettings,
    services: &[Service],
) -> Result<Revision, Error> {
    let current_arn = services.first().and_then(|s| s.task_definition()).map(str::to_owned);
    let revision = match &settings.task_definition {
        TaskDefinitionSource::File {
            path,
            body,
            dropped_fields,
        } => {
            if !dropped_fields.is_empty() {
                info!(
                    "{}: dropped the read-only fields ECS adds itself: {}",
                    path.display(),
                    dropped_fields.join(", ")
                );
            }
            // What the new revision replaces: the service's, else the family's latest.
            let reference = current_arn.unwrap_or_else(|| document::family(body).to_owned());
            let current = match task_definition::describe(ecs, &reference).await {
                Ok(described) => document::request_body(described).ok().map(|(body, _)| body),
                Err(failure) if services.is_empty() && failure.code_is("ClientException") => None,
                Err(failure) => return Err(failure.into_error()),
            };
            Revision::New {
                body: body.clone(),
                current,
            }
        }
        TaskDefinitionSource::Existing(reference) => {
            let described = task_definition::describe(ecs, reference).await.map_err(|failure| {
                if failure.code_is("ClientException") {
                    Error::bad_input(
                        format!("Task definition {reference} not found ({failure})"),
                        "TASK_DEFINITION",
                    )
                } else {
                    failure.into_error()
                }
            })?;
            let inner = described.get("taskDefinition").cloned().unwrap_or_default();
            let arn = inner
                .get("taskDefinitionArn")
                .and_then(Value::as_str)
                .unwrap_or(reference)
                .to_owned();
            Revision::Existing { arn, body: inner }
        }
        TaskDefinitionSource::Current => {
            let families: Vec<(String, String)> = services
                .iter()
                .map(|s| {
                    let td = s.task_definition().unwrap_or_default();
                    (s.service_name().unwrap_or_default().to_owned(), td.to_owned())
                })
                .collect();
            let family_of = |td: &str| document::family_revision(td).map(|(f, _)| f.to_owned());
            let first_family = families.first().and_then(|(_, td)| family_of(td));
            if families.iter().any(|(_, td)| family_of(td) != first_family) {
                let listed: Vec<String> = families
                    .iter()
                    .map(|(s, td)| format!("{s} runs {}", short_name(td)))
                    .collect();
                return Err(Error::BadInput {
                    summary:
                        "The services run different task definition families, so there is no one definition to update"
                            .to_owned(),
                    details: vec![
                        listed.join("; "),
                        "Deploy them in separate pipe calls, or give a TASK_DEFINITION file.".to_owned(),
                    ],
                });
            }
            let reference = families.first().map(|(_, td)| td.clone()).unwrap_or_default();
            let described = task_definition::describe(ecs, &reference)
                .await
                .map_err(AwsFailure::into_error)?;
            if settings.images.is_empty() {
                // FORCE_NEW_DEPLOYMENT alone: restart the tasks on the revision they run, rather
                // than registering an identical one.
                let body = described.get("taskDefinition").cloned().unwrap_or_default();
                return Ok(Revision::Existing { arn: reference, body });
            }
            let (current, _) = document::request_body(described)
                .map_err(|message| Error::failed(format!("ECS returned a task definition that {message}"), vec![]))?;
            Revision::New {
                body: current.clone(),
                current: Some(current),
            }
        }
    };
    let Revision::New { mut body, current } = revision else {
        return Ok(revision);
    };
    let variable = if settings.images.len() > 1 || settings.images.iter().all(|i| i.container.is_some()) {
        "IMAGES or CONTAINER_NAME"
    } else {
        "CONTAINER_NAME"
    };
    for (container, old, new) in
        document::set_images(&mut body, &settings.images).map_err(|message| Error::bad_input(message, variable))?
    {
        info!("Container {container}: image {old} → {new}");
    }
    Ok(Revision::New { body, current })
}

pub(super) fn show_changes(revision: &Revision) {
    match revision {
        Revision::New {
            body,
            current: Some(current),
        } => {
            let lines = diff::diff(current, body);
            if lines.is_empty() {
                info!("The new revision is identical to the current one (environment values are masked in diffs)");
            } else {
                info!("Task definition changes (environment values masked):");
                for line in lines {
                    info!("  {line}");
                }
            }
        }
        Revision::New { body, current: None } => {
            info!("New task definition family {}", document::family(body));
        }
        Revision::Existing { arn, .. } => info!("Deploying the existing revision {}", short_name(arn)),
    }
}
