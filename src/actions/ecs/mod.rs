//! `ACTION=ecs-deploy`: register a task definition once, optionally run it as a one-off task,
//! roll it out to every listed service, and follow each deployment until ECS says COMPLETED.
//!
//! Everything that reads AWS to check the input (services, controllers, containers) happens
//! before the first change, so a bad input never leaves a half-done deployment.

pub(crate) mod cleanup;
mod codedeploy;
mod dry_run;
mod explain;
mod outcome;
mod pace;
mod plan;
mod revert;
mod rollback;
pub mod rollout;
pub mod run_task;
mod service_deployment;
mod strategy;
pub mod task_definition;
mod tasks;
mod update;
mod verdict;
pub mod watch;

pub use self::outcome::{EcsOutcome, ServiceOutcome};
pub use self::revert::run as roll_back;

use aws_sdk_ecs::types::Service;
use serde_json::Value;
use tracing::info;

use self::plan::{Plan, Revision, describe_services, show_changes};
use self::rollout::Watched;
use self::update::update_services;
use self::verdict::Verdict;
use self::watch::Followed;
use crate::aws::{AwsFailure, Clients};
use crate::domain::arn::console_host;
use crate::domain::context::RunContext;
use crate::domain::ecs::{EcsSettings, TaskDefinitionSource};
use crate::domain::task_definition::{self as document, short_name};
use crate::error::Error;

/// A revision of the plan once it exists in ECS.
struct Deployable {
    arn: String,
    number: Option<i32>,
}

pub async fn run(run: &RunContext, settings: &EcsSettings, clients: &Clients) -> Result<EcsOutcome, Error> {
    let ecs = clients.ecs();

    // Read and check everything first.
    let services = describe_services(&ecs, settings, true).await?;
    let plan = plan::plan(&ecs, settings, &services).await?;
    let blue_green = clients.codedeploy();
    let on_codedeploy: Vec<&Service> = services.iter().filter(|s| codedeploy::is_codedeploy(s)).collect();
    let blue_green_targets = codedeploy::check(&blue_green, settings, &on_codedeploy).await?;
    let command_container = match &settings.run_task {
        Some(_) => Some(
            document::command_container(plan.first().body(), settings.container_name.as_deref())
                .map_err(|message| Error::bad_input(format!("The task definition {message}"), "CONTAINER_NAME"))?,
        ),
        None => None,
    };
    show_changes(&plan, &services);
    let blue_green = BlueGreen {
        client: Some(&blue_green),
        targets: &blue_green_targets,
    };
    roll_out(
        run,
        settings,
        &ecs,
        &services,
        &plan,
        command_container.as_deref(),
        blue_green,
    )
    .await
}

/// The services of the step on the CODE_DEPLOY controller, checked, and the client to deploy
/// them with (none for `rollback`, which refuses them).
#[derive(Clone, Copy, Default)]
struct BlueGreen<'a> {
    client: Option<&'a crate::aws::CodeDeploy>,
    targets: &'a [codedeploy::Target],
}

impl BlueGreen<'_> {
    fn target(&self, service: &Service) -> Option<&codedeploy::Target> {
        self.targets
            .iter()
            .find(|t| Some(t.service.as_str()) == service.service_name())
    }
}

/// Everything after the checks, for `ecs-deploy` and `rollback` alike: register what is new,
/// run the one-off task, update every service, follow each rollout (WAIT, WAIT_TIMEOUT,
/// strategies), roll back on request (ON_TIMEOUT, ON_FAILURE), and report.
async fn roll_out(
    run: &RunContext,
    settings: &EcsSettings,
    ecs: &aws_sdk_ecs::Client,
    services: &[Service],
    plan: &Plan,
    command_container: Option<&str>,
    blue_green: BlueGreen<'_>,
) -> Result<EcsOutcome, Error> {
    let deadline = run.deadline;
    let ecs = ecs.clone();
    let cluster = settings.cluster.as_str();
    let services = services.to_vec();
    let command_container = command_container.map(str::to_owned);

    if run.dry_run {
        return Ok(dry_run::dry_run(
            run,
            settings,
            &services,
            plan,
            command_container.as_deref(),
            blue_green,
        ));
    }

    let mut deployable = Vec::with_capacity(plan.revisions.len());
    for revision in &plan.revisions {
        deployable.push(match revision {
            Revision::New { body, from, .. } => {
                let (arn, number) = task_definition::register(&ecs, body)
                    .await
                    .map_err(|failure| registration_refused(failure, &settings.task_definition, from.as_deref()))?;
                info!("Registered {}", short_name(&arn));
                Deployable {
                    arn,
                    number: Some(number),
                }
            }
            Revision::Existing { arn, body } => Deployable {
                arn: arn.clone(),
                number: body.get("revision").and_then(Value::as_i64).map(|n| n as i32),
            },
        });
    }
    let first = &deployable[plan.targets.first().copied().unwrap_or_default()];

    // From here on something exists that did not before (a new revision): a failure records it.
    let registered = plan.revisions.iter().any(|r| matches!(r, Revision::New { .. }));
    let partial = |error: Error, updated: &[Watched]| {
        not_all_updated(run, settings, services.as_slice(), first, registered, updated, error)
    };

    if let (Some(one_off), Some(container)) = (&settings.run_task, &command_container) {
        // RUN_TASK needs SERVICE_NAME, and every listed service was described.
        let Some(like) = services.first() else {
            return Err(partial(
                AwsFailure::local(
                    "ecs:DescribeServices",
                    "no service was described to run the one-off task like",
                )
                .into_error(),
                &[],
            ));
        };
        run_task::run(
            &ecs,
            cluster,
            &first.arn,
            like,
            container,
            one_off.command.as_deref(),
            deadline,
        )
        .await
        .map_err(|error| partial(error, &[]))?;
    }

    // CODE_DEPLOY services first: a refusal there (another deployment active) is then the only
    // change besides the registration. Each gets its own revision (a restart: the one it runs).
    let blue_green_jobs: Vec<(codedeploy::Target, String)> = services
        .iter()
        .zip(&plan.targets)
        .filter_map(|(service, index)| {
            let target = blue_green.target(service)?.clone();
            let revision = if plan.restart {
                service.task_definition().unwrap_or_default().to_owned()
            } else {
                deployable[*index].arn.clone()
            };
            Some((target, revision))
        })
        .collect();
    let started = match blue_green.client {
        Some(client) if !blue_green_jobs.is_empty() => codedeploy::start(client, settings, &blue_green_jobs)
            .await
            .map_err(|error| partial(error, &[]))?,
        _ => Vec::new(),
    };
    let started_said = |error: Error| {
        if started.is_empty() {
            return error;
        }
        let ids: Vec<String> = started
            .iter()
            .map(|s| format!("{} ({})", s.target.service, s.deployment_id))
            .collect();
        error.with_details([format!(
            "CodeDeploy deployments started and not followed (CodeDeploy goes on with them): {}",
            ids.join(", ")
        )])
    };

    // A restart names no revision: each service goes on with the one it runs.
    let (rolling, targets): (Vec<Service>, Vec<Option<&str>>) = services
        .iter()
        .zip(&plan.targets)
        .filter(|(service, _)| blue_green.target(service).is_none())
        .map(|(service, index)| {
            (
                service.clone(),
                (!plan.restart).then(|| deployable[*index].arn.as_str()),
            )
        })
        .unzip();
    let mut watched = update_services(&ecs, settings, &rolling, &targets)
        .await
        .map_err(|(error, updated)| partial(started_said(error), &updated))?;
    let on_timeout = settings.on_timeout;
    let (mut followed, blue_green_followed) = if run.wait && !(watched.is_empty() && started.is_empty()) {
        info!(
            "Waiting for {} deployment(s) to complete (WAIT_TIMEOUT {} s)",
            watched.len() + started.len(),
            run.wait_timeout.as_secs()
        );
        run.cancel.answered_by_action();
        let rolling_watch = async {
            if watched.is_empty() {
                Ok(Vec::new())
            } else {
                watch::watch(&ecs, cluster, watched.clone(), deadline, run.pace_scale).await
            }
        };
        let blue_green_follow = async {
            match blue_green.client {
                Some(client) if !started.is_empty() => {
                    codedeploy::follow(client, &started, deadline, on_timeout, run.wait_timeout, run.pace_scale).await
                }
                _ => Ok(Vec::new()),
            }
        };
        tokio::select! {
            (rolling, blue_green_result) = async { tokio::join!(rolling_watch, blue_green_follow) } => {
                let rolling = rolling.map_err(|failure| started_said(unfollowed(failure, &watched)))?;
                let blue_green_result = blue_green_result.map_err(|failure| {
                    failure.into_error().with_details([format!(
                        "CodeDeploy deployments not followed to the end (CodeDeploy goes on with them): {}.",
                        started.iter().map(|s| s.deployment_id.as_str()).collect::<Vec<_>>().join(", ")
                    )])
                })?;
                (rolling, blue_green_result)
            }
            () = run.cancel.cancelled() => {
                let mut details = if watched.is_empty() {
                    Vec::new()
                } else {
                    rollback::on_cancel(&ecs, settings, &watched).await
                };
                if let Some(client) = blue_green.client.filter(|_| !started.is_empty()) {
                    details.push("CodeDeploy deployments started and not finished:".to_owned());
                    details.extend(codedeploy::on_cancel(client, &started, on_timeout, run.pace_scale).await);
                }
                return Err(Error::Cancelled {
                    summary: format!(
                        "Cancelled (SIGTERM) while waiting for {} deployment(s)",
                        watched.len() + started.len()
                    ),
                    details,
                });
            }
        }
    } else {
        (
            vec![Followed::in_progress(); watched.len()],
            vec![Followed::in_progress(); started.len()],
        )
    };
    for (w, done) in watched.iter_mut().zip(&followed) {
        if done.service_deployment.is_some() {
            w.service_deployment.clone_from(&done.service_deployment);
        }
    }
    // Rolling back on request can take minutes: a SIGTERM meanwhile still ends the step.
    run.cancel.answered_by_action();
    tokio::select! {
        () = rollback::on_request(&ecs, cluster, settings, &watched, &mut followed, run) => {}
        () = run.cancel.cancelled() => {
            return Err(Error::Cancelled {
                summary: "Cancelled (SIGTERM) while rolling back on request".to_owned(),
                details: rollback::on_cancel(&ecs, settings, &watched).await,
            });
        }
    }
    let verdicts: Vec<Verdict> = followed
        .iter()
        .chain(&blue_green_followed)
        .map(|f| f.verdict.clone())
        .collect();

    let mut outcome = EcsOutcome {
        deregistered_revisions: None,
        rolled_back_from: None,
        action: "ecs-deploy",
        region: run.region.clone(),
        cluster: cluster.to_owned(),
        task_definition_arn: Some(first.arn.clone()),
        revision: first.number,
        registered,
        dry_run: false,
        services: watched
            .iter()
            .zip(&followed)
            .map(|(w, done)| ServiceOutcome {
                rolled_back_from: None,
                chosen_by: None,
                name: w.service.clone(),
                task_definition_arn: Some(w.task_definition.clone()),
                deployment_id: Some(w.deployment_id.clone()),
                state: done.verdict.state().to_owned(),
                service_deployment_arn: w.service_deployment.clone(),
                strategy: Some(w.strategy.name.clone()),
                final_status: done.status.clone(),
                findings: done.findings.clone(),
                rollback: done.rollback.clone(),
                console_url: console_url(run, cluster, &w.service),
            })
            .chain(
                started
                    .iter()
                    .zip(&blue_green_followed)
                    .map(|(s, done)| codedeploy::outcome(run, s, done)),
            )
            .collect(),
    };
    let failed: Vec<String> = outcome
        .services
        .iter()
        .zip(&verdicts)
        .filter(|(_, verdict)| run.wait && **verdict != Verdict::Completed)
        .map(|(service, verdict)| format!("{}: {verdict}", service.name))
        .collect();
    if !failed.is_empty() {
        let summary = if failed.len() == 1 {
            format!("The deployment to {}", failed[0])
        } else {
            format!("{} of {} deployments did not complete", failed.len(), verdicts.len())
        };
        // One failure is the headline itself; several are listed above it.
        let mut details = if failed.len() == 1 { Vec::new() } else { failed.clone() };
        for (service, verdict) in outcome.services.iter().zip(&verdicts) {
            if let Some(rollback) = service.rollback.as_ref().filter(|_| *verdict != Verdict::Completed) {
                details.push(format!("{}: {rollback}", service.name));
            }
            if *verdict != Verdict::Completed {
                details.push(format!("{}: {}", service.name, service.console_url));
            }
        }
        if settings.on_timeout == crate::domain::ecs::WhenUnfinished::Fail && verdicts.contains(&Verdict::TimedOut) {
            details.push(
                "Deployments that timed out are left running: ECS goes on with them (ON_TIMEOUT=rollback rolls \
                 them back)."
                    .to_owned(),
            );
        }
        return Err(Error::WithOutputs {
            error: Box::new(Error::failed(summary, details)),
            outputs: serde_json::to_value(&outcome).unwrap_or_default(),
        });
    }
    if let Some(keep) = settings.keep_revisions {
        let families = cleanup::families(deployable.iter().map(|d| d.arn.as_str()));
        let deregistered = cleanup::deregister_old_revisions(&ecs, cluster, &families, keep, deadline).await;
        outcome.deregistered_revisions = Some(deregistered.join(" "));
    }
    Ok(outcome)
}

/// A failure before every service was updated, after a revision was registered (a one-off
/// task that failed, an update refused): said plainly ("registered web:7; web not updated"),
/// and recorded in the outputs files (each service IN_PROGRESS or NOT_UPDATED). A failure with
/// nothing registered and nothing updated changed nothing, and is returned as it is.
fn not_all_updated(
    run: &RunContext,
    settings: &EcsSettings,
    services: &[Service],
    first: &Deployable,
    registered: bool,
    updated: &[Watched],
    error: Error,
) -> Error {
    if !registered && updated.is_empty() {
        return error;
    }
    let outcomes: Vec<ServiceOutcome> = services
        .iter()
        .map(|service| {
            let name = service.service_name().unwrap_or_default().to_owned();
            let ours = updated.iter().find(|w| w.service == name);
            ServiceOutcome {
                rolled_back_from: None,
                chosen_by: None,
                console_url: console_url(run, &settings.cluster, &name),
                task_definition_arn: ours.map(|w| w.task_definition.clone()),
                deployment_id: ours.map(|w| w.deployment_id.clone()),
                state: if ours.is_some() { "IN_PROGRESS" } else { "NOT_UPDATED" }.to_owned(),
                service_deployment_arn: ours.and_then(|w| w.service_deployment.clone()),
                strategy: ours.map(|w| w.strategy.name.clone()),
                name,
                final_status: None,
                findings: None,
                rollback: None,
            }
        })
        .collect();
    let not_updated: Vec<&str> = outcomes
        .iter()
        .filter(|s| s.state == "NOT_UPDATED")
        .map(|s| s.name.as_str())
        .collect();
    let mut said = Vec::new();
    if registered {
        said.push(format!("registered {}", short_name(&first.arn)));
    }
    if !updated.is_empty() {
        let names: Vec<&str> = updated.iter().map(|w| w.service.as_str()).collect();
        said.push(format!("{} updated (not followed)", names.join(", ")));
    }
    if !not_updated.is_empty() {
        said.push(format!("{} not updated", not_updated.join(", ")));
    }
    let outcome = EcsOutcome {
        deregistered_revisions: None,
        rolled_back_from: None,
        action: "ecs-deploy",
        region: run.region.clone(),
        cluster: settings.cluster.clone(),
        task_definition_arn: Some(first.arn.clone()),
        revision: first.number,
        registered,
        dry_run: false,
        services: outcomes,
    };
    let mut said = said.join("; ");
    if let Some(first) = said.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    Error::WithOutputs {
        error: Box::new(error.with_details([format!("{said}.")])),
        outputs: serde_json::to_value(&outcome).unwrap_or_default(),
    }
}

pub(super) fn console_url(run: &RunContext, cluster: &str, service: &str) -> String {
    let cluster = cluster.rsplit('/').next().unwrap_or(cluster);
    format!(
        "https://{}/ecs/v2/clusters/{cluster}/services/{service}/deployments?region={}",
        console_host(run.partition),
        run.region
    )
}

/// The watch could not go on (credentials that could not be renewed, a refusal): the
/// deployments go on without the pipe, which says which ones it leaves unfollowed.
fn unfollowed(failure: AwsFailure, watched: &[Watched]) -> Error {
    let started: Vec<String> = watched
        .iter()
        .map(|w| {
            format!(
                "{} ({}, {})",
                w.service,
                short_name(&w.task_definition),
                w.deployment_id
            )
        })
        .collect();
    failure.into_error().with_details([format!(
        "Started and not followed to the end (ECS goes on with them): {}.",
        started.join(", ")
    )])
}

/// RegisterTaskDefinition refused the document: ECS's message, and where the document came from.
fn registration_refused(failure: AwsFailure, source: &TaskDefinitionSource, from: Option<&str>) -> Error {
    let origin = match (source, from) {
        (TaskDefinitionSource::File { path, .. }, _) => format!("the file {} (TASK_DEFINITION)", path.display()),
        (_, Some(from)) => format!("{} with the new images", short_name(from)),
        _ => "the services' current task definition with the new images".to_owned(),
    };
    match failure.code.as_deref() {
        Some("ClientException" | "InvalidParameterException") => Error::BadInput {
            summary: format!("ECS refused the task definition from {origin}: {}", failure.message),
            details: vec![failure.to_string()],
        },
        _ => failure.into_error(),
    }
}
