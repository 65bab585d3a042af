//! `ACTION=ecs-deploy`: register a task definition once, optionally run it as a one-off task,
//! roll it out to every listed service, and follow each deployment until ECS says COMPLETED.
//!
//! Everything that reads AWS to check the input (services, controllers, containers) happens
//! before the first change, so a bad input never leaves a half-done deployment.

pub mod rollout;
pub mod run_task;
pub mod task_definition;

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use aws_sdk_ecs::types::{DeploymentControllerType, Service};
use serde::Serialize;
use serde_json::Value;
use tracing::info;

use self::rollout::{Verdict, Watched};
use self::task_definition::short_name;
use crate::actions::diff;
use crate::auth::Session;
use crate::aws::{self, AwsFailure};
use crate::config::Config;
use crate::config::ecs::{EcsConfig, TaskDefinitionSource};
use crate::error::Error;

/// UpdateService calls at once: enough to deploy ten services in about the time of one,
/// few enough that ECS does not throttle.
const CONCURRENT_UPDATES: usize = 5;

#[derive(Debug, Serialize)]
pub struct EcsOutcome {
    pub action: &'static str,
    pub region: String,
    pub cluster: String,
    /// None in a dry run with a new revision (nothing was registered).
    pub task_definition_arn: Option<String>,
    pub revision: Option<i32>,
    pub registered: bool,
    pub dry_run: bool,
    pub services: Vec<ServiceOutcome>,
}

#[derive(Debug, Serialize)]
pub struct ServiceOutcome {
    pub name: String,
    pub deployment_id: Option<String>,
    /// COMPLETED; IN_PROGRESS when not waited for; DRY_RUN.
    pub state: String,
    pub console_url: String,
}

impl fmt::Display for EcsOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let revision = self
            .task_definition_arn
            .as_deref()
            .map(short_name)
            .unwrap_or_else(|| "a new revision".into());
        let names: Vec<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
        match (
            self.dry_run,
            names.is_empty(),
            self.services.first().map(|s| s.state.as_str()),
        ) {
            (true, _, _) => write!(
                f,
                "Dry run: nothing was changed ({revision} would go to {})",
                names.join(", ")
            ),
            (false, true, _) => write!(
                f,
                "Registered {revision}; no service was updated (SERVICE_NAME is empty)"
            ),
            (false, false, Some("IN_PROGRESS")) => {
                write!(
                    f,
                    "Started deploying {revision} to {} (not waited for: WAIT is false)",
                    names.join(", ")
                )
            }
            (false, false, _) => write!(f, "Deployed {revision} to {}", names.join(", ")),
        }
    }
}

/// The revision to deploy, before anything is registered.
enum Revision {
    /// A new revision from this body; `current` is what it replaces, for the diff.
    New { body: Value, current: Option<Value> },
    /// An existing revision, deployed as it is.
    Existing { arn: String, body: Value },
}

impl Revision {
    fn body(&self) -> &Value {
        match self {
            Revision::New { body, .. } | Revision::Existing { body, .. } => body,
        }
    }
}

pub async fn run(config: &Config, ecs_config: &EcsConfig, session: &Session) -> Result<EcsOutcome, Error> {
    let deadline = Instant::now() + config.wait_timeout;
    let ecs = aws::ecs_client(&session.sdk, config.network.ecs_endpoint_url.as_deref());
    let cluster = ecs_config.cluster.as_str();

    // Read and check everything first.
    let services = describe_services(&ecs, ecs_config).await?;
    let revision = plan_revision(&ecs, ecs_config, &services).await?;
    let command_container = match &ecs_config.run_task {
        Some(_) => Some(
            task_definition::command_container(revision.body(), ecs_config.container_name.as_deref())
                .map_err(|message| Error::bad_input(format!("The task definition {message}"), "CONTAINER_NAME"))?,
        ),
        None => None,
    };
    show_changes(&revision);

    if config.dry_run {
        return Ok(dry_run(
            config,
            ecs_config,
            &services,
            &revision,
            command_container.as_deref(),
        ));
    }

    let (task_definition_arn, revision_number, registered) = match &revision {
        Revision::New { body, .. } => {
            let (arn, number) = task_definition::register(&ecs, body)
                .await
                .map_err(|failure| registration_refused(failure, &ecs_config.task_definition))?;
            info!("Registered {}", short_name(&arn));
            (arn, Some(number), true)
        }
        Revision::Existing { arn, body } => {
            let number = body.get("revision").and_then(Value::as_i64).map(|n| n as i32);
            (arn.clone(), number, false)
        }
    };

    if let (Some(run), Some(container)) = (&ecs_config.run_task, &command_container) {
        run_task::run(
            &ecs,
            cluster,
            &task_definition_arn,
            &services[0],
            container,
            run.command.as_deref(),
            deadline,
        )
        .await?;
    }

    let watched = update_services(&ecs, ecs_config, &services, &task_definition_arn).await?;
    let verdicts = if config.wait && !watched.is_empty() {
        info!(
            "Waiting for {} deployment(s) to complete (WAIT_TIMEOUT {} s)",
            watched.len(),
            config.wait_timeout.as_secs()
        );
        rollout::watch(&ecs, cluster, watched.clone(), deadline).await
    } else {
        vec![Verdict::InProgress; watched.len()]
    };

    let outcome = EcsOutcome {
        action: "ecs-deploy",
        region: config.region.clone(),
        cluster: cluster.to_owned(),
        task_definition_arn: Some(task_definition_arn),
        revision: revision_number,
        registered,
        dry_run: false,
        services: watched
            .iter()
            .zip(&verdicts)
            .map(|(w, verdict)| ServiceOutcome {
                name: w.service.clone(),
                deployment_id: Some(w.deployment_id.clone()),
                state: verdict.state().to_owned(),
                console_url: console_url(config, cluster, &w.service),
            })
            .collect(),
    };
    let failed: Vec<String> = watched
        .iter()
        .zip(&verdicts)
        .filter(|(_, verdict)| config.wait && **verdict != Verdict::Completed)
        .map(|(w, verdict)| format!("{}: {verdict}", w.service))
        .collect();
    if !failed.is_empty() {
        let summary = if failed.len() == 1 {
            format!("The deployment to {}", failed[0])
        } else {
            format!("{} of {} deployments did not complete", failed.len(), watched.len())
        };
        // One failure is the headline itself; several are listed above it.
        let mut details = if failed.len() == 1 { Vec::new() } else { failed.clone() };
        for (service, verdict) in outcome.services.iter().zip(&verdicts) {
            if *verdict != Verdict::Completed {
                details.push(format!("{}: {}", service.name, service.console_url));
            }
        }
        return Err(Error::failed(summary, details));
    }
    Ok(outcome)
}

/// The listed services, checked: they exist, are active, and use the ECS deployment controller.
async fn describe_services(ecs: &aws_sdk_ecs::Client, ecs_config: &EcsConfig) -> Result<Vec<Service>, Error> {
    let cluster = &ecs_config.cluster;
    let (mut services, failures) = rollout::describe(ecs, cluster, &ecs_config.services)
        .await
        .map_err(|failure| {
            if failure.code_is("ClusterNotFoundException") {
                Error::bad_input(format!("Cluster {cluster} not found ({failure})"), "CLUSTER_NAME")
            } else {
                failure_of(failure)
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
        ecs_config
            .services
            .iter()
            .position(|n| Some(n.as_str()) == s.service_name())
    });
    Ok(services)
}

async fn list_services(ecs: &aws_sdk_ecs::Client, cluster: &str) -> String {
    match ecs.list_services().cluster(cluster).max_results(100).send().await {
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
        Err(err) => format!(
            "(could not list them: {})",
            AwsFailure::from_sdk("ecs:ListServices", &err)
        ),
    }
}

async fn plan_revision(
    ecs: &aws_sdk_ecs::Client,
    ecs_config: &EcsConfig,
    services: &[Service],
) -> Result<Revision, Error> {
    let current_arn = services.first().and_then(|s| s.task_definition()).map(str::to_owned);
    let revision = match &ecs_config.task_definition {
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
            let reference = current_arn.unwrap_or_else(|| task_definition::family(body).to_owned());
            let current = match task_definition::describe(ecs, &reference).await {
                Ok(described) => task_definition::request_body(described).ok().map(|(body, _)| body),
                Err(failure) if services.is_empty() && failure.code_is("ClientException") => None,
                Err(failure) => return Err(failure_of(failure)),
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
                    failure_of(failure)
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
            let family_of = |td: &str| task_definition::family_revision(td).map(|(f, _)| f.to_owned());
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
            let described = task_definition::describe(ecs, &reference).await.map_err(failure_of)?;
            if ecs_config.images.is_empty() {
                // FORCE_NEW_DEPLOYMENT alone: restart the tasks on the revision they run, rather
                // than registering an identical one.
                let body = described.get("taskDefinition").cloned().unwrap_or_default();
                return Ok(Revision::Existing { arn: reference, body });
            }
            let (current, _) = task_definition::request_body(described)
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
    let variable = if ecs_config.images.len() > 1 || ecs_config.images.iter().all(|i| i.container.is_some()) {
        "IMAGES or CONTAINER_NAME"
    } else {
        "CONTAINER_NAME"
    };
    for (container, old, new) in task_definition::set_images(&mut body, &ecs_config.images)
        .map_err(|message| Error::bad_input(message, variable))?
    {
        info!("Container {container}: image {old} → {new}");
    }
    Ok(Revision::New { body, current })
}

fn show_changes(revision: &Revision) {
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
            info!("New task definition family {}", task_definition::family(body));
        }
        Revision::Existing { arn, .. } => info!("Deploying the existing revision {}", short_name(arn)),
    }
}

fn dry_run(
    config: &Config,
    ecs_config: &EcsConfig,
    services: &[Service],
    revision: &Revision,
    command_container: Option<&str>,
) -> EcsOutcome {
    let (arn, number) = match revision {
        Revision::New { .. } => {
            info!(
                "Dry run: would register a new revision of {}",
                task_definition::family(revision.body())
            );
            (None, None)
        }
        Revision::Existing { arn, body } => (
            Some(arn.clone()),
            body.get("revision").and_then(Value::as_i64).map(|n| n as i32),
        ),
    };
    if let (Some(run), Some(container)) = (&ecs_config.run_task, command_container) {
        let command = run
            .command
            .as_ref()
            .map_or("its own command".to_owned(), |words| format!("{words:?}"));
        info!("Dry run: would run a one-off task, container {container} with {command}, and stop on failure");
    }
    for service in services {
        let name = service.service_name().unwrap_or_default();
        let mut change = format!(
            "Dry run: would update {name} (now {})",
            short_name(service.task_definition().unwrap_or_default())
        );
        if ecs_config.force_new_deployment {
            change.push_str(", forcing a new deployment");
        }
        if let Some(count) = ecs_config.desired_count {
            change.push_str(&format!(", desired count {} → {count}", service.desired_count()));
        }
        info!("{change}");
    }
    EcsOutcome {
        action: "ecs-deploy",
        region: config.region.clone(),
        cluster: ecs_config.cluster.clone(),
        task_definition_arn: arn,
        revision: number,
        registered: false,
        dry_run: true,
        services: services
            .iter()
            .map(|service| {
                let name = service.service_name().unwrap_or_default().to_owned();
                ServiceOutcome {
                    console_url: console_url(config, &ecs_config.cluster, &name),
                    name,
                    deployment_id: None,
                    state: "DRY_RUN".to_owned(),
                }
            })
            .collect(),
    }
}

/// Update every service, a few at a time. A failure does not cancel the others (they are
/// already on their way), and the error says exactly which services were updated.
async fn update_services(
    ecs: &aws_sdk_ecs::Client,
    ecs_config: &EcsConfig,
    services: &[Service],
    task_definition_arn: &str,
) -> Result<Vec<Watched>, Error> {
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_UPDATES));
    let mut updates = tokio::task::JoinSet::new();
    for (index, service) in services.iter().enumerate() {
        let (ecs, permits) = (ecs.clone(), permits.clone());
        let name = service.service_name().unwrap_or_default().to_owned();
        let previous = service.task_definition().unwrap_or_default().to_owned();
        let request = ecs
            .update_service()
            .cluster(&ecs_config.cluster)
            .service(&name)
            .task_definition(task_definition_arn)
            .force_new_deployment(ecs_config.force_new_deployment)
            .set_desired_count(ecs_config.desired_count);
        let ours = task_definition_arn.to_owned();
        updates.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let started = Instant::now();
            let result = request
                .send()
                .await
                .map_err(|err| AwsFailure::from_sdk("ecs:UpdateService", &err));
            let watched = result.map(|output| {
                aws::log_output("ecs:UpdateService", started, &output);
                let deployments = output.service().map(|s| s.deployments()).unwrap_or_default();
                let primary = deployments
                    .iter()
                    .find(|d| d.status() == Some("PRIMARY") && d.task_definition() == Some(ours.as_str()))
                    .or_else(|| deployments.iter().find(|d| d.status() == Some("PRIMARY")));
                Watched {
                    service: name.clone(),
                    deployment_id: primary.and_then(|d| d.id()).unwrap_or_default().to_owned(),
                    task_definition: ours,
                    previous,
                }
            });
            (index, name, watched)
        });
    }
    let mut results = updates.join_all().await;
    results.sort_by_key(|(index, _, _)| *index);
    let mut watched = Vec::new();
    let mut refused = Vec::new();
    for (_, name, result) in results {
        match result {
            Ok(update) => {
                info!("Updated {name}: deployment {}", update.deployment_id);
                watched.push(update);
            }
            Err(failure) => refused.push((name, failure)),
        }
    }
    if let Some((_, first)) = refused.first() {
        let updated: Vec<&str> = watched.iter().map(|w| w.service.as_str()).collect();
        let mut details: Vec<String> = refused
            .iter()
            .map(|(name, failure)| format!("{name}: {failure}"))
            .collect();
        details.push(format!("{} is registered.", short_name(task_definition_arn)));
        details.push(format!(
            "Updated anyway (their deployments go on): {}",
            if updated.is_empty() {
                "none".to_owned()
            } else {
                updated.join(", ")
            }
        ));
        return Err(failure_of(first.clone()).with_details(details));
    }
    Ok(watched)
}

fn console_url(config: &Config, cluster: &str, service: &str) -> String {
    let partition = crate::config::partition_of_region(&config.region);
    let cluster = cluster.rsplit('/').next().unwrap_or(cluster);
    format!(
        "https://{}/ecs/v2/clusters/{cluster}/services/{service}/deployments?region={}",
        aws::console_host(partition),
        config.region
    )
}

/// RegisterTaskDefinition refused the document: ECS's message, and which file it came from.
fn registration_refused(failure: AwsFailure, source: &TaskDefinitionSource) -> Error {
    let origin = match source {
        TaskDefinitionSource::File { path, .. } => format!("the file {} (TASK_DEFINITION)", path.display()),
        _ => "the services' current task definition with the new images".to_owned(),
    };
    match failure.code.as_deref() {
        Some("ClientException" | "InvalidParameterException") => Error::BadInput {
            summary: format!("ECS refused the task definition from {origin}: {}", failure.message),
            details: vec![failure.to_string()],
        },
        _ => failure_of(failure),
    }
}

/// Any other ECS failure: access refusals name the IAM action to grant.
pub(crate) fn failure_of(failure: AwsFailure) -> Error {
    if let Some(denied) = aws::access_denied(&failure, "minimal ECS policy") {
        return denied;
    }
    match failure.code.as_deref() {
        Some("ClusterNotFoundException") => Error::bad_input(failure.to_string(), "CLUSTER_NAME"),
        Some("ServiceNotFoundException" | "ServiceNotActiveException") => {
            Error::bad_input(failure.to_string(), "SERVICE_NAME")
        }
        Some("ClientException" | "InvalidParameterException") => Error::BadInput {
            summary: failure.to_string(),
            details: vec![],
        },
        _ => Error::failed(failure, vec![]),
    }
}
