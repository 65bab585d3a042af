//! The stopped tasks of a service's new revision, and how each one ended: what a failed
//! deployment or one-off task is explained with.

use aws_sdk_ecs::types::DesiredStatus;

use crate::aws::{self, AwsFailure};

const STOPPED_TASKS_SHOWN: usize = 5;

/// The last few stopped tasks of `service` that ran `task_definition`, newest first, one line each.
pub async fn stopped(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    task_definition: &str,
) -> Result<Vec<String>, AwsFailure> {
    let request = ecs
        .list_tasks()
        .cluster(cluster)
        .service_name(service)
        .desired_status(DesiredStatus::Stopped);
    let listed = aws::call("ecs:ListTasks", request.send()).await?;
    let arns = listed.task_arns.unwrap_or_default();
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    let request = ecs
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(arns.into_iter().take(100).collect()));
    let described = aws::call("ecs:DescribeTasks", request.send()).await?;
    let mut tasks: Vec<_> = described
        .tasks()
        .iter()
        .filter(|task| task.task_definition_arn() == Some(task_definition))
        .collect();
    tasks.sort_by_key(|task| std::cmp::Reverse(task.stopped_at().map(|t| t.secs())));
    Ok(tasks
        .into_iter()
        .take(STOPPED_TASKS_SHOWN)
        .map(describe_stopped_task)
        .collect())
}

pub fn describe_stopped_task(task: &aws_sdk_ecs::types::Task) -> String {
    let id = task
        .task_arn()
        .unwrap_or_default()
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let stop_code = task
        .stop_code()
        .map(|code| format!("{}: ", code.as_str()))
        .unwrap_or_default();
    let mut line = format!(
        "task {id} stopped ({stop_code}{})",
        task.stopped_reason().unwrap_or("no reason given")
    );
    for container in task.containers() {
        let exit = container
            .exit_code()
            .map_or("no exit code".to_owned(), |code| format!("exit code {code}"));
        line.push_str(&format!("; container {}: {exit}", container.name().unwrap_or("?")));
        if let Some(reason) = container.reason() {
            line.push_str(&format!(" ({reason})"));
        }
    }
    line
}
