//! The first step of an ECS deploy: read and check everything before any change. The services
//! exist, are active and use the ECS controller; the revision each service gets is decided (a
//! file, an existing revision, its current one with new images, or a restart on the one it
//! runs) and the changes shown.

use aws_sdk_ecs::types::{DeploymentControllerType, Service};
use serde_json::Value;
use tracing::info;

use super::{task_definition, watch};
use crate::actions::diff;
use crate::aws::{self, AwsFailure};
use crate::domain::ecs::{EcsSettings, TaskDefinitionSource};
use crate::domain::task_definition::{self as document, Dropped, short_name};
use crate::error::Error;

/// A revision to deploy, before anything is registered.
pub(super) enum Revision {
    /// A new revision from this body; `current` is what it replaces (for the diff), `from` the
    /// revision it was built from when it is a service's current one with new images.
    New {
        body: Value,
        current: Option<Value>,
        from: Option<String>,
    },
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

/// What every service gets.
pub(super) struct Plan {
    pub(super) revisions: Vec<Revision>,
    /// For each service, in the user's order, the index of its revision.
    pub(super) targets: Vec<usize>,
    /// `FORCE_NEW_DEPLOYMENT` alone: each service restarts on the revision it runs, and the
    /// update names no task definition, so nothing is rolled forward or back.
    pub(super) restart: bool,
}

impl Plan {
    /// The revision of the first listed service (the only revision when no service is listed):
    /// what a one-off task runs.
    pub(super) fn first(&self) -> &Revision {
        &self.revisions[self.targets.first().copied().unwrap_or_default()]
    }

    /// The services that get revision `index`, by name.
    pub(super) fn services_of<'s>(&self, index: usize, services: &'s [Service]) -> Vec<&'s str> {
        services
            .iter()
            .zip(&self.targets)
            .filter(|(_, target)| **target == index)
            .map(|(service, _)| service.service_name().unwrap_or_default())
            .collect()
    }
}

/// The listed services, checked: they exist, are active, and use the ECS deployment controller
/// (or CODE_DEPLOY, when `codedeploy` says the action deploys those too).
pub(super) async fn describe_services(
    ecs: &aws_sdk_ecs::Client,
    settings: &EcsSettings,
    codedeploy: bool,
) -> Result<Vec<Service>, Error> {
    let cluster = &settings.cluster;
    let (mut services, failures) = watch::describe(ecs, cluster, &settings.services)
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
    // A name neither answered nor reported missing: ECS's answer is incomplete, not a verdict.
    let unanswered: Vec<&str> = settings
        .services
        .iter()
        .filter(|wanted| {
            let last = wanted.rsplit('/').next().unwrap_or_default();
            !services
                .iter()
                .any(|s| s.service_name() == Some(last) || s.service_arn() == Some(wanted.as_str()))
                && !failures.iter().any(|f| {
                    f.arn()
                        .is_some_and(|arn| arn == wanted.as_str() || arn.ends_with(&format!("/{last}")))
                })
        })
        .map(String::as_str)
        .collect();
    if !unanswered.is_empty() {
        return Err(AwsFailure::local(
            "ecs:DescribeServices",
            format!(
                "ECS answered without {} and without a failure for it: nothing was changed",
                unanswered.join(", ")
            ),
        )
        .into_error());
    }
    for service in &services {
        let name = service.service_name().unwrap_or_default();
        if service.status() != Some("ACTIVE") {
            missing.push(format!("{name} (status {})", service.status().unwrap_or("unknown")));
        }
        let controller = service.deployment_controller().map(|c| c.r#type().clone());
        match controller {
            Some(DeploymentControllerType::CodeDeploy) if !codedeploy => {
                return Err(Error::BadInput {
                    summary: format!(
                        "Service {name} uses the CODE_DEPLOY deployment controller: rollback does not roll it back"
                    ),
                    details: vec![
                        "Nothing was changed. Deploy the revision to go back to with ACTION: ecs-deploy and                          TASK_DEFINITION: <family:revision> (a new CodeDeploy deployment), or stop the deployment in                          progress with rollback in CodeDeploy."
                            .to_owned(),
                    ],
                });
            }
            Some(DeploymentControllerType::External) => {
                return Err(Error::BadInput {
                    summary: format!(
                        "Service {name} uses the EXTERNAL deployment controller, which this pipe does not deploy to"
                    ),
                    details: vec![
                        "Nothing was changed. Remove the service from SERVICE_NAME, or deploy it with the tool that \
                         manages its task sets."
                            .to_owned(),
                    ],
                });
            }
            _ => {}
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
    // DescribeServices answers in its own order; keep the user's (names or ARNs), since the
    // first listed service is the one a one-off task runs like.
    services.sort_by_key(|s| {
        settings
            .services
            .iter()
            .position(|n| Some(n.as_str()) == s.service_name() || Some(n.as_str()) == s.service_arn())
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

/// Decide what each service gets, reading what ECS has; nothing is changed here.
pub(super) async fn plan(
    ecs: &aws_sdk_ecs::Client,
    settings: &EcsSettings,
    services: &[Service],
) -> Result<Plan, Error> {
    let everyone = vec![0; services.len()];
    match &settings.task_definition {
        TaskDefinitionSource::File { path, body, dropped } => {
            note_dropped(&path.display().to_string(), dropped);
            // What the new revision replaces: the first service's, else the family's latest.
            let reference = services
                .first()
                .and_then(|s| s.task_definition())
                .map_or_else(|| document::family(body).to_owned(), str::to_owned);
            let current = match task_definition::describe(ecs, &reference).await {
                Ok(described) => document::request_body(described).ok().map(|(body, _)| body),
                Err(failure) if services.is_empty() && failure.code_is("ClientException") => None,
                Err(failure) => return Err(failure.into_error()),
            };
            let mut revision = Revision::New {
                body: body.clone(),
                current,
                from: None,
            };
            set_images(&mut revision, settings)?;
            Ok(Plan {
                revisions: vec![revision],
                targets: everyone,
                restart: false,
            })
        }
        TaskDefinitionSource::Existing(reference) => {
            let (arn, body) = existing(ecs, reference).await?;
            Ok(Plan {
                revisions: vec![Revision::Existing { arn, body }],
                targets: everyone,
                restart: false,
            })
        }
        TaskDefinitionSource::Current => current_revisions(ecs, settings, services).await,
    }
}

/// One note per kind of thing taken out of the file before registering it.
fn note_dropped(file: &str, dropped: &Dropped) {
    if !dropped.read_only.is_empty() {
        info!(
            "{file}: dropped the read-only fields ECS adds itself: {}",
            dropped.read_only.join(", ")
        );
    }
    if !dropped.reserved_tags.is_empty() {
        info!(
            "{file}: dropped the tags reserved by AWS (aws: prefix), which ECS refuses: {}",
            dropped.reserved_tags.join(", ")
        );
    }
    if !dropped.nulls.is_empty() {
        info!(
            "{file}: dropped {} null value(s), which mean \"not set\" (never sent to ECS): {}",
            dropped.nulls.len(),
            dropped.nulls.join(", ")
        );
    }
}

/// `TASK_DEFINITION` names a revision (`web:42`, an ARN) or a family (`web`: its latest ACTIVE
/// revision): deployed as it is, unless ECS no longer runs new tasks from it.
pub(super) async fn existing(ecs: &aws_sdk_ecs::Client, reference: &str) -> Result<(String, Value), Error> {
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
    let body = described.get("taskDefinition").cloned().unwrap_or_default();
    let arn = body
        .get("taskDefinitionArn")
        .and_then(Value::as_str)
        .unwrap_or(reference)
        .to_owned();
    if let Some(status) = unusable(&body) {
        return Err(Error::BadInput {
            summary: format!(
                "{} is {status}: ECS starts no new tasks from it and no service can be updated to it",
                short_name(&arn)
            ),
            details: vec![
                "Nothing was changed. Set TASK_DEFINITION to an ACTIVE revision, or to the family alone for \
                 its latest ACTIVE revision."
                    .to_owned(),
            ],
        });
    }
    Ok((arn, body))
}

/// INACTIVE (deregistered) and DELETE_IN_PROGRESS revisions keep running where they run, but
/// ECS refuses them for new tasks and service updates.
pub(super) fn unusable(body: &Value) -> Option<&str> {
    body.get("status")
        .and_then(Value::as_str)
        .filter(|status| matches!(*status, "INACTIVE" | "DELETE_IN_PROGRESS"))
}

/// No `TASK_DEFINITION`: each service's own revision, restarted as it is, or with the new
/// images as one new revision per distinct current revision, so a change that exists only in
/// one service's revision is kept, and services of different families each keep theirs.
async fn current_revisions(
    ecs: &aws_sdk_ecs::Client,
    settings: &EcsSettings,
    services: &[Service],
) -> Result<Plan, Error> {
    let restart = settings.images.is_empty();
    let mut revisions: Vec<Revision> = Vec::new();
    let mut sources: Vec<&str> = Vec::new();
    let mut targets = Vec::with_capacity(services.len());
    for service in services {
        let arn = service.task_definition().unwrap_or_default();
        if let Some(index) = sources.iter().position(|known| *known == arn) {
            targets.push(index);
            continue;
        }
        let described = task_definition::describe(ecs, arn)
            .await
            .map_err(AwsFailure::into_error)?;
        let revision = if restart {
            let body = described.get("taskDefinition").cloned().unwrap_or_default();
            // The service restarts on it as it is, but a one-off task would be a new task.
            if let (Some(status), Some(_), true) = (unusable(&body), &settings.run_task, targets.is_empty()) {
                return Err(Error::BadInput {
                    summary: format!(
                        "RUN_TASK: the first service runs {}, which is {status}: ECS starts no one-off task from it",
                        short_name(arn)
                    ),
                    details: vec![
                        "Nothing was changed. Deploy an ACTIVE revision (TASK_DEFINITION, IMAGE), or restart without \
                         RUN_TASK."
                            .to_owned(),
                    ],
                });
            }
            Revision::Existing {
                arn: arn.to_owned(),
                body,
            }
        } else {
            let (body, dropped) = document::request_body(described)
                .map_err(|message| Error::failed(format!("ECS returned a task definition that {message}"), vec![]))?;
            if !dropped.reserved_tags.is_empty() {
                info!(
                    "{}: tags reserved by AWS are not copied to the new revision: {}",
                    short_name(arn),
                    dropped.reserved_tags.join(", ")
                );
            }
            let mut revision = Revision::New {
                current: Some(body.clone()),
                body,
                from: Some(arn.to_owned()),
            };
            set_images(&mut revision, settings)?;
            revision
        };
        targets.push(revisions.len());
        revisions.push(revision);
        sources.push(arn);
    }
    Ok(Plan {
        revisions,
        targets,
        restart,
    })
}

/// Put the new images into a new revision (nothing to do for an existing one).
fn set_images(revision: &mut Revision, settings: &EcsSettings) -> Result<(), Error> {
    let Revision::New { body, from, .. } = revision else {
        return Ok(());
    };
    let variable = if settings.images.len() > 1 || settings.images.iter().all(|i| i.container.is_some()) {
        "IMAGES or CONTAINER_NAME"
    } else {
        "CONTAINER_NAME"
    };
    let changes = document::set_images(body, &settings.images).map_err(|message| {
        let source = from.as_deref().map(short_name).unwrap_or_else(|| "the file".to_owned());
        Error::bad_input(format!("{source}: {message}"), variable)
    })?;
    let source = from
        .as_deref()
        .map(|arn| format!(" (from {})", short_name(arn)))
        .unwrap_or_default();
    for (container, old, new) in changes {
        info!("Container {container}{source}: image {old} → {new}");
    }
    Ok(())
}

/// Print what each revision changes, compared as ECS compares task definitions.
pub(super) fn show_changes(plan: &Plan, services: &[Service]) {
    let several = plan.revisions.len() > 1;
    for (index, revision) in plan.revisions.iter().enumerate() {
        let whose = if several {
            format!(" (for {})", plan.services_of(index, services).join(", "))
        } else {
            String::new()
        };
        match revision {
            Revision::New {
                body,
                current: Some(current),
                ..
            } => {
                let lines = diff::diff(&document::normalized(current), &document::normalized(body));
                if lines.is_empty() {
                    info!(
                        "The new revision{whose} is identical to the current one (environment values are masked in \
                         diffs)"
                    );
                } else {
                    info!("Task definition changes{whose} (environment values masked):");
                    for line in lines {
                        info!("  {line}");
                    }
                }
            }
            Revision::New {
                body, current: None, ..
            } => {
                info!("New task definition family {}", document::family(body));
            }
            Revision::Existing { arn, .. } if plan.restart => {
                info!("Restarting on the revision they run: {}{whose}", short_name(arn));
            }
            Revision::Existing { arn, .. } => info!("Deploying the existing revision {}{whose}", short_name(arn)),
        }
    }
}
