//! The variables of `ACTION=rollback`: exactly one target (ECS or Lambda), checked before the
//! first AWS call. Variables that would change what is deployed (new images, a one-off task, a
//! desired count) have no place in a rollback and are refused rather than ignored.

use super::ecs::{is_revision_reference, read_services, read_when_unfinished};
use super::lambda::{is_alias_name, is_function_name};
use super::reader::Reader;
use crate::domain::ecs::{EcsSettings, TaskDefinitionSource};
use crate::domain::rollback::{LambdaRollback, RollbackSettings};
use crate::vars;

pub(super) fn read(read: &mut Reader<'_>) -> Option<RollbackSettings> {
    let cluster = read.text(&vars::CLUSTER_NAME);
    let function = read.text(&vars::FUNCTION_NAME);
    match (cluster, function) {
        (Some(_), Some(_)) => {
            read.problem(
                vars::ACTION.name,
                "rollback: CLUSTER_NAME and FUNCTION_NAME are both set; set CLUSTER_NAME (with SERVICE_NAME) to roll \
                 back ECS services, or FUNCTION_NAME (with ALIAS) to roll back a Lambda alias, not both",
            );
            None
        }
        (None, None) => {
            read.problem(
                vars::ACTION.name,
                "rollback needs a target: CLUSTER_NAME with SERVICE_NAME (ECS), or FUNCTION_NAME with ALIAS (Lambda)",
            );
            None
        }
        (Some(cluster), None) => read_ecs(read, cluster).map(RollbackSettings::Ecs),
        (None, Some(function)) => read_lambda(read, function).map(RollbackSettings::Lambda),
    }
}

/// Variables of ecs-deploy that change what is deployed: not for a rollback.
const NOT_FOR_ECS_ROLLBACK: [&vars::Var; 6] = [
    &vars::IMAGE,
    &vars::IMAGES,
    &vars::RUN_TASK,
    &vars::RUN_TASK_COMMAND,
    &vars::DESIRED_COUNT,
    &vars::FORCE_NEW_DEPLOYMENT,
];

fn read_ecs(read: &mut Reader<'_>, cluster: String) -> Option<EcsSettings> {
    let problems_before = read.problems.len();
    let services = read_services(read);
    if services.is_empty() {
        read.problem(
            vars::SERVICE_NAME.name,
            "is required for rollback: the services to roll back",
        );
    }
    let task_definition = match read.raw(&vars::TASK_DEFINITION) {
        None => TaskDefinitionSource::Current,
        Some(value) if is_revision_reference(value) => TaskDefinitionSource::Existing(value.to_owned()),
        Some(value) => {
            read.problem(
                vars::TASK_DEFINITION.name,
                format!(
                    "{value:?} is not a revision (family:revision or a task definition ARN): a rollback deploys a \
                     revision that exists, and registers nothing"
                ),
            );
            TaskDefinitionSource::Current
        }
    };
    for var in NOT_FOR_ECS_ROLLBACK {
        if read.raw(var).is_some() {
            read.problem(
                var.name,
                "is not used by rollback, which deploys an existing revision as it is; remove it",
            );
        }
    }
    let on_timeout = read_when_unfinished(read, &vars::ON_TIMEOUT);
    let on_failure = read_when_unfinished(read, &vars::ON_FAILURE);
    if read.problems.len() > problems_before {
        return None;
    }
    Some(EcsSettings {
        cluster,
        services,
        task_definition,
        images: Vec::new(),
        container_name: None,
        force_new_deployment: false,
        desired_count: None,
        run_task: None,
        on_timeout,
        on_failure,
        keep_revisions: super::read_keep(read, &vars::KEEP_REVISIONS),
        codedeploy: Default::default(),
    })
}

/// Variables of lambda-deploy that change what is deployed: not for a rollback.
const NOT_FOR_LAMBDA_ROLLBACK: [&vars::Var; 7] = [
    &vars::ZIP_FILE,
    &vars::S3_BUCKET,
    &vars::S3_KEY,
    &vars::IMAGE_URI,
    &vars::FUNCTION_CONFIGURATION,
    &vars::VERSION_DESCRIPTION,
    &vars::TRAFFIC_SHIFT,
];

fn read_lambda(read: &mut Reader<'_>, function: String) -> Option<LambdaRollback> {
    let problems_before = read.problems.len();
    if !is_function_name(&function) {
        read.problem(
            vars::FUNCTION_NAME.name,
            format!("{function:?} is not a function name, ARN or partial ARN (no version or alias qualifier)"),
        );
    }
    let alias = read.text(&vars::ALIAS);
    match &alias {
        None => read.problem(
            vars::ALIAS.name,
            "is required for a Lambda rollback: the alias to move back",
        ),
        Some(alias) if !is_alias_name(alias) => read.problem(
            vars::ALIAS.name,
            format!("{alias:?} is not an alias name (1-128 letters, digits, - and _, not only digits)"),
        ),
        Some(_) => {}
    }
    let version = read.text(&vars::VERSION);
    if let Some(version) = &version
        && !(version.chars().all(|c| c.is_ascii_digit()) && version.parse::<u64>().is_ok_and(|n| n >= 1))
    {
        read.problem(
            vars::VERSION.name,
            format!("{version:?} is not a published version number (1, 2, ...)"),
        );
    }
    for var in NOT_FOR_LAMBDA_ROLLBACK {
        if read.raw(var).is_some() {
            read.problem(
                var.name,
                "is not used by rollback, which moves the alias to a version published before; remove it",
            );
        }
    }
    let clear_alias_weights = read.bool(&vars::ALIAS_CLEAR_WEIGHTS);
    let keep_versions = super::read_keep(read, &vars::KEEP_VERSIONS);
    if read.problems.len() > problems_before {
        return None;
    }
    Some(LambdaRollback {
        function,
        alias: alias?,
        version,
        clear_alias_weights,
        keep_versions,
    })
}
