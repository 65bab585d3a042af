//! Why deployments did not complete, said after the watch: ECS's reason, the last events, and
//! how the tasks of the new revision stopped.

use std::time::Duration;

use tracing::warn;

use super::tasks;
use super::verdict::Verdict;
use crate::domain::task_definition::short_name;

/// How long the look at stopped tasks may take after the wait, for all services together.
pub const DIAGNOSTICS_MARGIN: Duration = Duration::from_secs(15);

/// A watched deployment that did not complete, as the watch last saw it.
pub struct Unfinished<'a> {
    pub service: &'a str,
    pub task_definition: &'a str,
    pub verdict: &'a Verdict,
    /// Our deployment's `rolloutStateReason`.
    pub reason: Option<&'a str>,
    /// The service's last events, newest first.
    pub last_events: &'a [String],
}

/// The stopped tasks of every deployment that did not complete are looked up at once, within a
/// short margin after the wait: WAIT_TIMEOUT stays a bound of the step, however many services.
pub async fn failures(ecs: &aws_sdk_ecs::Client, cluster: &str, unfinished: &[Unfinished<'_>]) {
    let mut lookups = tokio::task::JoinSet::new();
    for (index, one) in unfinished.iter().enumerate() {
        let (ecs, cluster) = (ecs.clone(), cluster.to_owned());
        let (name, task_definition) = (one.service.to_owned(), one.task_definition.to_owned());
        lookups.spawn(async move { (index, tasks::stopped(&ecs, &cluster, &name, &task_definition).await) });
    }
    let mut found = Vec::new();
    let _ = tokio::time::timeout(DIAGNOSTICS_MARGIN, async {
        while let Some(Ok(done)) = lookups.join_next().await {
            found.push(done);
        }
    })
    .await;
    for (index, one) in unfinished.iter().enumerate() {
        let name = one.service;
        warn!(
            "{name}: the deployment of {} {}",
            short_name(one.task_definition),
            one.verdict
        );
        if let Some(reason) = one.reason {
            warn!("{name}: rolloutStateReason: {reason}");
        }
        for event in one.last_events.iter().rev() {
            warn!("{name}: recent event: {event}");
        }
        match found.iter().find(|(at, _)| *at == index).map(|(_, result)| result) {
            Some(Ok(lines)) if lines.is_empty() => warn!("{name}: no stopped task of the new revision was found"),
            Some(Ok(lines)) => lines.iter().for_each(|line| warn!("{name}: {line}")),
            Some(Err(failure)) => warn!("{name}: could not list stopped tasks: {failure}"),
            None => warn!(
                "{name}: the stopped tasks could not be listed within {} s",
                DIAGNOSTICS_MARGIN.as_secs()
            ),
        }
    }
}
