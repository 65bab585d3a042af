//! `ecs-deploy` to services on the CODE_DEPLOY deployment controller: blue/green through
//! CodeDeploy. ECS refuses UpdateService with a new task definition for them ("Use AWS
//! CodeDeploy to trigger a new deployment"); instead the pipe creates a CodeDeploy deployment
//! whose AppSpec names the revision it registered, and follows it (`follow`).
//!
//! Checked before any change, with the other services: the deployment group exists
//! (`CODEDEPLOY_APPLICATION` / `CODEDEPLOY_DEPLOYMENT_GROUP`, defaults the ECS console's names)
//! and deploys this service, and the AppSpec can name the container and port of the service's
//! load balancer. A `CODEDEPLOY_DEPLOYMENT_GROUP` given with several CODE_DEPLOY services is
//! refused: a deployment group deploys exactly one ECS service.
//!
//! CreateDeployment: https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_CreateDeployment.html

mod follow;
mod look;
mod pace;

pub(super) use self::follow::{follow, on_cancel};

use aws_sdk_ecs::types::Service;
use serde_json::Value;
use tracing::info;

use super::ServiceOutcome;
use crate::aws::{AwsFailure, CodeDeploy};
use crate::domain::arn::console_host;
use crate::domain::codedeploy::{self as appspec, default_names};
use crate::domain::context::RunContext;
use crate::domain::ecs::EcsSettings;
use crate::domain::task_definition::short_name;
use crate::error::Error;

/// A CODE_DEPLOY service, checked: where its deployment goes and what its group does after.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub service: String,
    pub application: String,
    pub group: String,
    /// The container and port of the service's load balancer.
    pub container: Option<(String, i32)>,
    /// How long CodeDeploy keeps the original task set after traffic moved (minutes).
    pub termination_wait: Option<i64>,
    /// `deploymentReadyOption`: STOP_DEPLOYMENT waits for ContinueDeployment, this many minutes.
    pub ready_wait: Option<i64>,
    /// The group's automatic rollback events (DEPLOYMENT_FAILURE, DEPLOYMENT_STOP_ON_ALARM…).
    pub auto_rollback: Vec<String>,
}

/// A deployment the pipe created.
#[derive(Debug, Clone)]
pub(super) struct Started {
    pub target: Target,
    pub task_definition: String,
    pub deployment_id: String,
}

/// Whether a service is deployed through CodeDeploy.
pub(super) fn is_codedeploy(service: &Service) -> bool {
    service
        .deployment_controller()
        .is_some_and(|c| *c.r#type() == aws_sdk_ecs::types::DeploymentControllerType::CodeDeploy)
}

/// Read and check the deployment group of every CODE_DEPLOY service; nothing is changed.
pub(super) async fn check(
    codedeploy: &CodeDeploy,
    settings: &EcsSettings,
    services: &[&Service],
) -> Result<Vec<Target>, Error> {
    if services.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = services.iter().map(|s| s.service_name().unwrap_or_default()).collect();
    if settings.codedeploy.deployment_group.is_some() && services.len() > 1 {
        return Err(Error::bad_input(
            format!(
                "CODEDEPLOY_DEPLOYMENT_GROUP names one deployment group, but {} are on the CODE_DEPLOY controller \
                 ({}): a deployment group deploys exactly one ECS service. Nothing was changed; leave it unset \
                 (each service gets DgpECS-<cluster>-<service>) or deploy the services in separate steps",
                services.len(),
                names.join(", ")
            ),
            "CODEDEPLOY_DEPLOYMENT_GROUP",
        ));
    }
    if settings.desired_count.is_some() {
        return Err(Error::bad_input(
            format!(
                "DESIRED_COUNT is not applied to {} (CODE_DEPLOY controller): CodeDeploy sizes the replacement task \
                 set like the original. Nothing was changed; remove DESIRED_COUNT or deploy the services apart",
                names.join(", ")
            ),
            "DESIRED_COUNT",
        ));
    }
    let mut targets = Vec::with_capacity(services.len());
    for service in services {
        let name = service.service_name().unwrap_or_default().to_owned();
        let (default_application, default_group) = default_names(&settings.cluster, &name);
        let application = settings.codedeploy.application.clone().unwrap_or(default_application);
        let group = settings.codedeploy.deployment_group.clone().unwrap_or(default_group);
        let info = codedeploy
            .get_deployment_group(&application, &group)
            .await
            .map_err(|failure| group_not_found(failure, &name, &application, &group))?;
        let deploys = info["ecsServices"].as_array().into_iter().flatten().any(|ecs| {
            ecs["serviceName"].as_str() == Some(name.as_str())
                && ecs["clusterName"]
                    .as_str()
                    .is_some_and(|cluster| same_cluster(cluster, &settings.cluster))
        });
        if !deploys {
            let theirs: Vec<String> = info["ecsServices"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|ecs| {
                    format!(
                        "{}/{}",
                        ecs["clusterName"].as_str().unwrap_or("?"),
                        ecs["serviceName"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            return Err(Error::bad_input(
                format!(
                    "Deployment group {application}/{group} deploys {}, not {}/{name}. Nothing was changed",
                    if theirs.is_empty() {
                        "no ECS service".to_owned()
                    } else {
                        theirs.join(", ")
                    },
                    settings.cluster
                ),
                "CODEDEPLOY_DEPLOYMENT_GROUP",
            ));
        }
        let container = service
            .load_balancers()
            .first()
            .and_then(|lb| Some((lb.container_name()?.to_owned(), lb.container_port()?)));
        let sample = appspec::appspec(
            settings.codedeploy.appspec.as_ref(),
            "",
            container.as_ref().map(|(name, port)| (name.as_str(), *port)),
        );
        if let Some(field) = appspec::missing_container(&sample) {
            return Err(Error::bad_input(
                format!(
                    "{name} has no load balancer naming a container and port, so the AppSpec lacks \
                     LoadBalancerInfo.{field}: set it in the CODEDEPLOY_APPSPEC file. Nothing was changed"
                ),
                "CODEDEPLOY_APPSPEC",
            ));
        }
        let blue_green = &info["blueGreenDeploymentConfiguration"];
        let ready = &blue_green["deploymentReadyOption"];
        let auto_rollback = if info["autoRollbackConfiguration"]["enabled"].as_bool() == Some(true) {
            strings(&info["autoRollbackConfiguration"]["events"])
        } else {
            Vec::new()
        };
        let rollback_on = if auto_rollback.is_empty() {
            "none".to_owned()
        } else {
            auto_rollback.join(", ")
        };
        info!("{name}: blue/green through CodeDeploy {application}/{group} (automatic rollback on: {rollback_on})");
        targets.push(Target {
            service: name,
            application,
            group,
            container,
            termination_wait: blue_green["terminateBlueInstancesOnDeploymentSuccess"]["terminationWaitTimeInMinutes"]
                .as_i64(),
            ready_wait: (ready["actionOnTimeout"].as_str() == Some("STOP_DEPLOYMENT"))
                .then(|| ready["waitTimeInMinutes"].as_i64().unwrap_or(0)),
            auto_rollback,
        });
    }
    Ok(targets)
}

/// The AppSpec one deployment sends.
pub(super) fn appspec_for(settings: &EcsSettings, target: &Target, task_definition: &str) -> Value {
    appspec::appspec(
        settings.codedeploy.appspec.as_ref(),
        task_definition,
        target.container.as_ref().map(|(name, port)| (name.as_str(), *port)),
    )
}

/// CreateDeployment for each target with its revision. A refusal after some started names them.
pub(super) async fn start(
    codedeploy: &CodeDeploy,
    settings: &EcsSettings,
    targets: &[(Target, String)],
) -> Result<Vec<Started>, Error> {
    let mut started: Vec<Started> = Vec::with_capacity(targets.len());
    for (target, task_definition) in targets {
        let document = appspec_for(settings, target, task_definition);
        let (content, sha256) = appspec::content(&document);
        let description = format!("aws-role-deploy: {}", short_name(task_definition));
        let created = codedeploy
            .create_deployment(&target.application, &target.group, &content, &sha256, &description)
            .await;
        match created {
            Ok(deployment_id) => {
                info!(
                    "{}: CodeDeploy deployment {deployment_id} of {} started ({}/{})",
                    target.service,
                    short_name(task_definition),
                    target.application,
                    target.group
                );
                started.push(Started {
                    target: target.clone(),
                    task_definition: task_definition.clone(),
                    deployment_id,
                });
            }
            Err(failure) => {
                let error = create_refused(failure, target);
                if started.is_empty() {
                    return Err(error);
                }
                let ids: Vec<String> = started
                    .iter()
                    .map(|s| format!("{} ({})", s.target.service, s.deployment_id))
                    .collect();
                return Err(error.with_details([format!(
                    "Started and not followed (CodeDeploy goes on with them): {}",
                    ids.join(", ")
                )]));
            }
        }
    }
    Ok(started)
}

/// What a dry run says for a CODE_DEPLOY service: where it would go and the AppSpec.
pub(super) fn dry_run(settings: &EcsSettings, target: &Target, task_definition: Option<&str>) {
    let document = appspec_for(settings, target, task_definition.unwrap_or("<the new revision>"));
    info!(
        "Dry run: would create a CodeDeploy deployment of {} in {}/{} with the AppSpec {}",
        target.service, target.application, target.group, document
    );
}

/// The outputs of a CodeDeploy deployment.
pub(super) fn outcome(run: &RunContext, started: &Started, followed: &super::watch::Followed) -> ServiceOutcome {
    ServiceOutcome {
        name: started.target.service.clone(),
        task_definition_arn: Some(started.task_definition.clone()),
        deployment_id: Some(started.deployment_id.clone()),
        state: followed.verdict.state().to_owned(),
        service_deployment_arn: None,
        strategy: Some("CODE_DEPLOY".to_owned()),
        final_status: followed.status.clone(),
        findings: followed.findings.clone(),
        rollback: followed.rollback.clone(),
        console_url: console_url(run, &started.deployment_id),
        rolled_back_from: None,
        chosen_by: None,
    }
}

pub(super) fn console_url(run: &RunContext, deployment_id: &str) -> String {
    format!(
        "https://{}/codesuite/codedeploy/deployments/{deployment_id}?region={}",
        console_host(run.partition),
        run.region
    )
}

/// GetDeploymentGroup refused: a missing application or group is the variable's fault.
fn group_not_found(failure: AwsFailure, service: &str, application: &str, group: &str) -> Error {
    let (variable, what) = match failure.code.as_deref() {
        Some("ApplicationDoesNotExistException" | "InvalidApplicationNameException") => (
            "CODEDEPLOY_APPLICATION",
            format!("CodeDeploy application {application}"),
        ),
        Some("DeploymentGroupDoesNotExistException" | "InvalidDeploymentGroupNameException") => (
            "CODEDEPLOY_DEPLOYMENT_GROUP",
            format!("deployment group {group} of application {application}"),
        ),
        _ => return failure.into_error(),
    };
    Error::BadInput {
        summary: format!(
            "{service} uses the CODE_DEPLOY deployment controller, but the {what} was not found ({failure})"
        ),
        details: vec![format!(
            "Nothing was changed. Set {variable} to the one that deploys {service} (the ECS console names them \
             AppECS-<cluster>-<service> and DgpECS-<cluster>-<service>)."
        )],
    }
}

/// CreateDeployment refused: another deployment active in the group is said with its id.
fn create_refused(failure: AwsFailure, target: &Target) -> Error {
    if failure.code_is("DeploymentLimitExceededException") {
        let active = quoted_deployment_id(&failure.message);
        let which = active
            .as_deref()
            .map_or("another deployment".to_owned(), |id| format!("deployment {id}"));
        return Error::failed(
            format!(
                "{}: CodeDeploy refused a new deployment because {which} is still active in {}/{} ({failure})",
                target.service, target.application, target.group
            ),
            vec![
                "Nothing was deployed to this service. Wait for that deployment to end (or stop it in CodeDeploy), \
                 then run the step again."
                    .to_owned(),
            ],
        );
    }
    if failure.code_is("InvalidRevisionException") || failure.code_is("RevisionDoesNotExistException") {
        return Error::BadInput {
            summary: format!("{}: CodeDeploy refused the AppSpec ({failure})", target.service),
            details: vec!["Check the CODEDEPLOY_APPSPEC file and the service's load balancer.".to_owned()],
        };
    }
    failure.into_error()
}

/// `d-XXXXXXXXX` in CodeDeploy's "already has an active Deployment 'd-…'" message.
fn quoted_deployment_id(message: &str) -> Option<String> {
    message.match_indices("d-").find_map(|(at, _)| {
        let id: String = message[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        (id.len() > 2 && (at == 0 || !message.as_bytes()[at - 1].is_ascii_alphanumeric())).then_some(id)
    })
}

/// The same cluster by name or ARN.
fn same_cluster(theirs: &str, ours: &str) -> bool {
    let name = |value: &str| value.rsplit('/').next().unwrap_or(value).to_owned();
    name(theirs) == name(ours)
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_active_deployment_is_found_in_the_message() {
        assert_eq!(
            quoted_deployment_id(
                "The Deployment Group 'DgpECS-prod-web' already has an active Deployment 'd-ABC123XYZ'"
            ),
            Some("d-ABC123XYZ".to_owned())
        );
        assert_eq!(quoted_deployment_id("no id in here-d"), None);
        assert!(same_cluster("arn:aws:ecs:eu-west-1:1:cluster/prod", "prod"));
        assert!(!same_cluster("staging", "prod"));
    }
}
