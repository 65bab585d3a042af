//! The optional one-off task (migrations) that runs the new revision before any service is
//! updated. Only the container that runs the command is judged: ECS stops sidecars with 137
//! or 143 when the essential container exits.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{
    ContainerOverride, PropagateTags, Service, ServiceField, ServiceVolumeConfiguration,
    TaskManagedEbsVolumeConfiguration, TaskOverride, TaskVolumeConfiguration,
};
use tracing::info;

use super::tasks::describe_stopped_task;
use crate::aws::wait::{Poll, Wait, WaitEnd};
use crate::aws::{self, AwsFailure};
use crate::domain::task_definition::{is_reserved_tag, short_name};
use crate::error::Error;

const POLL_MIN: Duration = Duration::from_secs(1);
const POLL_MAX: Duration = Duration::from_secs(10);
const STARTED_BY: &str = "aws-role-deploy";

/// Run `task_definition` once like `service` runs (capacity providers or launch type, network
/// configuration, platform version, placement, tags, execute command, EBS volumes configured at
/// launch) and wait until it stops; fail unless `container` exited 0.
pub async fn run(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    task_definition: &str,
    service: &Service,
    container: &str,
    command: Option<&[String]>,
    deadline: Instant,
) -> Result<(), Error> {
    // ECS keeps the EBS volumes configured at launch on the service's deployments.
    let volumes = service
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .map(|d| d.volume_configurations())
        .unwrap_or_default();
    let mut request = ecs
        .run_task()
        .cluster(cluster)
        .task_definition(task_definition)
        .count(1)
        .started_by(STARTED_BY)
        .set_network_configuration(service.network_configuration().cloned())
        .set_platform_version(service.platform_version().map(str::to_owned))
        .set_placement_constraints(non_empty(service.placement_constraints()))
        .set_placement_strategy(non_empty(service.placement_strategy()))
        .set_volume_configurations(task_volumes(volumes)?);
    // The service's capacity provider strategy, else its launch type; with neither, the
    // cluster's default strategy applies, as it does for the service.
    if !service.capacity_provider_strategy().is_empty() {
        request = request.set_capacity_provider_strategy(Some(service.capacity_provider_strategy().to_vec()));
    } else if let Some(launch_type) = service.launch_type() {
        request = request.launch_type(launch_type.clone());
    }
    if service.enable_ecs_managed_tags() {
        request = request.enable_ecs_managed_tags(true);
    }
    if service.enable_execute_command() {
        request = request.enable_execute_command(true);
    }
    match service.propagate_tags() {
        Some(PropagateTags::TaskDefinition) => request = request.propagate_tags(PropagateTags::TaskDefinition),
        // RunTask cannot propagate a service's tags: they are copied onto the task instead.
        Some(PropagateTags::Service) => {
            request = request.set_tags(non_empty(&service_tags(ecs, cluster, service).await?))
        }
        _ => {}
    }
    if let Some(command) = command {
        let container_override = ContainerOverride::builder()
            .name(container)
            .set_command(Some(command.to_vec()))
            .build();
        request = request.overrides(TaskOverride::builder().container_overrides(container_override).build());
    }
    let output = aws::call("ecs:RunTask", request.send())
        .await
        .map_err(AwsFailure::into_error)?;
    let Some(task_arn) = output
        .tasks()
        .first()
        .and_then(|task| task.task_arn())
        .map(str::to_owned)
    else {
        let reasons: Vec<String> = output
            .failures()
            .iter()
            .map(|f| format!("{} ({})", f.reason().unwrap_or("unknown"), f.arn().unwrap_or("-")))
            .collect();
        if reasons.is_empty() {
            return Err(AwsFailure::local(
                "ecs:RunTask",
                "ECS answered without a task and without a failure: the one-off task may have started, and the pipe \
                 cannot follow it",
            )
            .into_error()
            .with_details(["No service was updated.".to_owned()]));
        }
        return Err(Error::failed(
            format!("ECS could not start the one-off task: {}", reasons.join(", ")),
            vec!["No service was updated.".to_owned()],
        ));
    };
    let task_id = task_arn.rsplit('/').next().unwrap_or_default().to_owned();
    info!(
        "One-off task {task_id} of {} started (container {container})",
        short_name(task_definition)
    );

    let last_status = &RefCell::new(String::new());
    let (task_arn, task_id) = (&task_arn, &task_id);
    let wait = Wait::new(format!("One-off task {task_id}"), deadline).polling(POLL_MIN, POLL_MAX);
    let stopped = wait
        .until(move || async move {
            let request = ecs.describe_tasks().cluster(cluster).tasks(task_arn);
            let described = aws::call("ecs:DescribeTasks", request.send()).await?;
            let Some(task) = described.tasks().first() else {
                return Ok(Poll::Pending { news: false });
            };
            let status = task.last_status().unwrap_or_default();
            let news = status != *last_status.borrow();
            if news {
                info!("One-off task {task_id}: {status}");
                *last_status.borrow_mut() = status.to_owned();
            }
            Ok(if status == "STOPPED" {
                Poll::Ready(task.clone())
            } else {
                Poll::Pending { news }
            })
        })
        .await;
    match stopped {
        Ok(task) => judge(&task, container, task_id),
        Err(WaitEnd::TimedOut { .. }) => Err(Error::failed(
            format!("The one-off task {task_id} did not stop within WAIT_TIMEOUT"),
            vec![format!("It is still running: {task_arn}. No service was updated.")],
        )),
        // The task runs on regardless; the pipe can no longer see it.
        Err(WaitEnd::Stopped(failure)) => Err(failure.into_error().with_details([format!(
            "The one-off task {task_arn} may still be running. No service was updated."
        )])),
    }
}

/// The service's tags (DescribeServices leaves them out unless asked).
async fn service_tags(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &Service,
) -> Result<Vec<aws_sdk_ecs::types::Tag>, Error> {
    let request = ecs
        .describe_services()
        .cluster(cluster)
        .services(service.service_arn().unwrap_or_default())
        .include(ServiceField::Tags);
    let output = aws::call("ecs:DescribeServices", request.send())
        .await
        .map_err(AwsFailure::into_error)?;
    let Some(described) = output.services().first() else {
        return Err(AwsFailure::local(
            "ecs:DescribeServices",
            format!(
                "ECS answered without the service {} (and without a failure for it): its tags for the one-off task \
                 cannot be read",
                service.service_name().unwrap_or_default()
            ),
        )
        .into_error()
        .with_details(["No service was updated.".to_owned()]));
    };
    // A service CloudFormation created carries aws:cloudformation:* tags; RunTask refuses them.
    let (reserved, tags): (Vec<_>, Vec<_>) = described
        .tags()
        .iter()
        .cloned()
        .partition(|tag| is_reserved_tag(tag.key().unwrap_or_default(), tag.value().unwrap_or_default()));
    if !reserved.is_empty() {
        let keys: Vec<&str> = reserved.iter().filter_map(|tag| tag.key()).collect();
        info!(
            "One-off task: the service's tags reserved by AWS are not copied to it (RunTask refuses them): {}",
            keys.join(", ")
        );
    }
    Ok(tags)
}

/// The service's EBS volumes configured at launch, as RunTask takes them.
fn task_volumes(volumes: &[ServiceVolumeConfiguration]) -> Result<Option<Vec<TaskVolumeConfiguration>>, Error> {
    let invalid = |err: aws_sdk_ecs::error::BuildError| {
        Error::failed(
            format!("ECS described a service volume the pipe cannot pass on: {err}"),
            vec![],
        )
    };
    let mut converted = Vec::with_capacity(volumes.len());
    for volume in volumes {
        let managed = match volume.managed_ebs_volume() {
            Some(ebs) => Some(
                TaskManagedEbsVolumeConfiguration::builder()
                    .set_encrypted(ebs.encrypted())
                    .set_kms_key_id(ebs.kms_key_id().map(str::to_owned))
                    .set_volume_type(ebs.volume_type().map(str::to_owned))
                    .set_size_in_gib(ebs.size_in_gib())
                    .set_snapshot_id(ebs.snapshot_id().map(str::to_owned))
                    .set_volume_initialization_rate(ebs.volume_initialization_rate())
                    .set_iops(ebs.iops())
                    .set_throughput(ebs.throughput())
                    .set_tag_specifications(task_tag_specifications(ebs.tag_specifications()))
                    .role_arn(ebs.role_arn())
                    .set_filesystem_type(ebs.filesystem_type().cloned())
                    .build()
                    .map_err(invalid)?,
            ),
            None => None,
        };
        converted.push(
            TaskVolumeConfiguration::builder()
                .name(volume.name())
                .set_managed_ebs_volume(managed)
                .build()
                .map_err(invalid)?,
        );
    }
    Ok((!converted.is_empty()).then_some(converted))
}

/// A task's EBS volume may not propagate tags from a service (only a service's volume may):
/// such a specification keeps its own tags and drops the propagation.
fn task_tag_specifications(
    specifications: &[aws_sdk_ecs::types::EbsTagSpecification],
) -> Option<Vec<aws_sdk_ecs::types::EbsTagSpecification>> {
    let converted: Vec<_> = specifications
        .iter()
        .map(|spec| {
            let mut spec = spec.clone();
            if spec.propagate_tags == Some(PropagateTags::Service) {
                spec.propagate_tags = None;
            }
            spec
        })
        .collect();
    non_empty(&converted)
}

fn non_empty<T: Clone>(items: &[T]) -> Option<Vec<T>> {
    (!items.is_empty()).then(|| items.to_vec())
}

fn judge(task: &aws_sdk_ecs::types::Task, container: &str, task_id: &str) -> Result<(), Error> {
    let exit_code = task
        .containers()
        .iter()
        .find(|c| c.name() == Some(container))
        .and_then(|c| c.exit_code());
    if exit_code == Some(0) {
        info!("One-off task {task_id}: container {container} exited with 0");
        return Ok(());
    }
    let exit = exit_code.map_or("no exit code (it never ran to the end)".to_owned(), |code| {
        format!("exit code {code}")
    });
    Err(Error::failed(
        format!("The one-off task {task_id} failed: container {container} ended with {exit}"),
        vec![describe_stopped_task(task), "No service was updated.".to_owned()],
    ))
}
