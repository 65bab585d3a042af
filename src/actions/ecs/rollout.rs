//! Following ECS deployments until they are done, and never calling a deployment done unless
//! it reached COMPLETED with our revision. Rolled back, superseded and stuck deployments fail
//! the pipe, with the reasons ECS gives.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{DesiredStatus, Service};
use tracing::{info, warn};

use crate::aws::wait::{Poll, Wait, WaitEnd};
use crate::aws::{self, AwsFailure};
use crate::domain::task_definition::short_name;

/// DescribeServices takes at most this many services per call.
pub const DESCRIBE_BATCH: usize = 10;
/// Deployments take minutes: polls start at a second and slow down to fifteen.
const POLL_MIN: Duration = Duration::from_secs(1);
const POLL_MAX: Duration = Duration::from_secs(15);
const LAST_EVENTS: usize = 5;
const STOPPED_TASKS_SHOWN: usize = 5;

/// A service we updated, and how to recognise our deployment in it.
#[derive(Debug, Clone)]
pub struct Watched {
    pub service: String,
    pub deployment_id: String,
    pub task_definition: String,
    /// The revision the service ran before: seeing it PRIMARY again means a rollback.
    pub previous: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    InProgress,
    Completed,
    /// Our deployment FAILED without ECS going back (no circuit-breaker rollback).
    Failed(String),
    /// The circuit breaker (or someone) put the previous revision back.
    RolledBack(String),
    /// Another deployment with a newer revision took over: not our failure, but not our success.
    Superseded(String),
    TimedOut,
}

impl Verdict {
    pub fn state(&self) -> &'static str {
        match self {
            Verdict::InProgress => "IN_PROGRESS",
            Verdict::Completed => "COMPLETED",
            Verdict::Failed(_) => "FAILED",
            Verdict::RolledBack(_) => "ROLLED_BACK",
            Verdict::Superseded(_) => "SUPERSEDED",
            Verdict::TimedOut => "TIMED_OUT",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::InProgress => f.write_str("still in progress"),
            Verdict::Completed => f.write_str("completed"),
            Verdict::Failed(reason) => write!(f, "failed: {reason}"),
            Verdict::RolledBack(reason) => write!(f, "rolled back: {reason}"),
            Verdict::Superseded(reason) => write!(f, "superseded: {reason}"),
            Verdict::TimedOut => f.write_str("did not complete within WAIT_TIMEOUT"),
        }
    }
}

/// What the judge needs of one deployment in DescribeServices.
#[derive(Debug, Clone, Default)]
pub struct DeploymentView {
    pub id: String,
    pub status: String,
    pub task_definition: String,
    pub desired: i32,
    pub pending: i32,
    pub running: i32,
    pub rollout_state: Option<String>,
    pub reason: Option<String>,
}

impl DeploymentView {
    fn of(deployment: &aws_sdk_ecs::types::Deployment) -> DeploymentView {
        DeploymentView {
            id: deployment.id().unwrap_or_default().to_owned(),
            status: deployment.status().unwrap_or_default().to_owned(),
            task_definition: deployment.task_definition().unwrap_or_default().to_owned(),
            desired: deployment.desired_count(),
            pending: deployment.pending_count(),
            running: deployment.running_count(),
            rollout_state: deployment.rollout_state().map(|state| state.as_str().to_owned()),
            reason: deployment.rollout_state_reason().map(str::to_owned),
        }
    }
}

/// Judge one poll of a service. Pure, so every sequence ECS produces is a table test.
pub fn judge(ours: &Watched, service_task_definition: &str, deployments: &[DeploymentView]) -> Verdict {
    let mine = deployments.iter().find(|d| d.id == ours.deployment_id);
    let primary = deployments.iter().find(|d| d.status == "PRIMARY");

    // Our deployment failed: ECS going back to what ran before is a rollback, whatever the
    // revision numbers say (the user may have deployed an older revision on purpose).
    if let Some(mine) = mine.filter(|d| d.rollout_state.as_deref() == Some("FAILED")) {
        let reason = mine
            .reason
            .clone()
            .unwrap_or_else(|| "ECS marked the deployment FAILED".to_owned());
        return match primary.filter(|p| p.id != mine.id) {
            Some(back) if back.task_definition == ours.previous || back.task_definition == ours.task_definition => {
                Verdict::RolledBack(format!(
                    "{reason} ECS went back to {} ({})",
                    short_name(&back.task_definition),
                    back.id
                ))
            }
            Some(other) => Verdict::Failed(format!(
                "{reason} Meanwhile {} is being deployed",
                short_name(&other.task_definition)
            )),
            None => Verdict::Failed(reason),
        };
    }
    // Another deployment with a revision that is neither ours nor the previous one took over.
    if let Some(other) = primary.filter(|p| {
        p.id != ours.deployment_id && p.task_definition != ours.task_definition && p.task_definition != ours.previous
    }) {
        return Verdict::Superseded(format!(
            "{} is being deployed by someone else now ({}); this is not a rollback",
            short_name(&other.task_definition),
            other.id
        ));
    }
    match mine {
        Some(mine) => {
            let completed = match mine.rollout_state.as_deref() {
                Some(state) => state == "COMPLETED",
                // Without rollout states (old services): steady when ours is all there is.
                None => deployments.len() == 1 && mine.pending == 0 && mine.running == mine.desired,
            };
            if completed && mine.status == "PRIMARY" && service_task_definition == ours.task_definition {
                Verdict::Completed
            } else if reverted(ours, service_task_definition) {
                Verdict::RolledBack(format!(
                    "the service runs {} again",
                    short_name(service_task_definition)
                ))
            } else {
                Verdict::InProgress
            }
        }
        None if reverted(ours, service_task_definition) => Verdict::RolledBack(format!(
            "our deployment {} is gone and the service runs {} again",
            ours.deployment_id,
            short_name(service_task_definition)
        )),
        None if service_task_definition != ours.task_definition => Verdict::Superseded(format!(
            "the service runs {} now, deployed by someone else; this is not a rollback",
            short_name(service_task_definition)
        )),
        None => Verdict::Failed(format!(
            "our deployment {} is gone and the service runs {}",
            ours.deployment_id,
            short_name(service_task_definition)
        )),
    }
}

fn reverted(ours: &Watched, service_task_definition: &str) -> bool {
    ours.previous != ours.task_definition && service_task_definition == ours.previous
}

/// The state of one service between polls: what was printed already.
struct Follow {
    watched: Watched,
    verdict: Verdict,
    seen_events: HashSet<String>,
    last_progress: String,
    last_events: Vec<String>,
    reason: Option<String>,
    /// DescribeServices is eventually consistent: right after UpdateService it may not show
    /// our deployment yet, which must not read as "gone".
    seen_ours: bool,
    polls: u32,
    /// A verdict read from our deployment's absence, waiting for the next poll to agree: one
    /// stale answer must not end the watch.
    absent_reading: Option<Verdict>,
}

/// Polls during which a missing deployment is taken for a view that is not up to date yet.
const GRACE_POLLS: u32 = 5;

/// Poll every watched service (in batches of ten) until each is done or `deadline` passes.
/// Returns each service's verdict, in order; or the failure that ended the watch before that
/// (credentials that could not be renewed, a refusal), when the pipe can no longer follow.
pub async fn watch(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    watched: Vec<Watched>,
    deadline: Instant,
) -> Result<Vec<Verdict>, AwsFailure> {
    let follows: Vec<Follow> = watched
        .into_iter()
        .map(|watched| Follow {
            watched,
            verdict: Verdict::InProgress,
            seen_events: HashSet::new(),
            last_progress: String::new(),
            last_events: Vec::new(),
            reason: None,
            seen_ours: false,
            polls: 0,
            absent_reading: None,
        })
        .collect();
    let shared = RefCell::new(follows);
    let state = &shared;
    let wait = Wait::new("ECS deployments", deadline).polling(POLL_MIN, POLL_MAX);
    let ended = wait
        .until(move || async move {
            let pending: Vec<String> = state
                .borrow()
                .iter()
                .filter(|follow| follow.verdict == Verdict::InProgress)
                .map(|follow| follow.watched.service.clone())
                .collect();
            let (services, _) = describe(ecs, cluster, &pending).await?;
            let mut follows = state.borrow_mut();
            let mut news = false;
            for service in services {
                let name = service.service_name().unwrap_or_default();
                if let Some(follow) = follows.iter_mut().find(|f| f.watched.service == name) {
                    news |= observe(follow, &service);
                }
            }
            if follows.iter().all(|follow| follow.verdict != Verdict::InProgress) {
                Ok(Poll::Ready(()))
            } else {
                Ok(Poll::Pending { news })
            }
        })
        .await;
    let mut follows = shared.into_inner();
    match ended {
        Ok(()) => {}
        Err(WaitEnd::TimedOut { unanswered }) => {
            if let Some(failure) = unanswered {
                warn!("The last checks of the deployments failed: {failure}");
            }
            for follow in follows.iter_mut().filter(|f| f.verdict == Verdict::InProgress) {
                follow.verdict = Verdict::TimedOut;
            }
        }
        Err(WaitEnd::Stopped(failure)) => return Err(failure),
    }
    let mut verdicts = Vec::with_capacity(follows.len());
    for follow in &follows {
        if follow.verdict != Verdict::Completed {
            explain_failure(ecs, cluster, follow).await;
        }
        verdicts.push(follow.verdict.clone());
    }
    Ok(verdicts)
}

/// DescribeServices for `names`, in batches of ten; also the services ECS could not find.
pub async fn describe(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    names: &[String],
) -> Result<(Vec<Service>, Vec<aws_sdk_ecs::types::Failure>), AwsFailure> {
    let mut services = Vec::with_capacity(names.len());
    let mut missing = Vec::new();
    for batch in names.chunks(DESCRIBE_BATCH) {
        let request = ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(batch.to_vec()));
        let output = aws::call("ecs:DescribeServices", request.send()).await?;
        missing.extend(output.failures.unwrap_or_default());
        services.extend(output.services.unwrap_or_default());
    }
    Ok((services, missing))
}

/// Print what is new about a service and judge it. Returns whether anything changed.
fn observe(follow: &mut Follow, service: &Service) -> bool {
    let name = &follow.watched.service;
    let mut changed = false;
    // ECS lists events newest first; print the new ones oldest first, each once.
    for event in service.events().iter().rev() {
        let id = event.id().unwrap_or_default().to_owned();
        if follow.seen_events.insert(id) {
            let message = event.message().unwrap_or_default();
            info!("{name}: event: {message}");
            changed = true;
        }
    }
    follow.last_events = service
        .events()
        .iter()
        .take(LAST_EVENTS)
        .filter_map(|e| e.message().map(str::to_owned))
        .collect();
    let deployments: Vec<DeploymentView> = service.deployments().iter().map(DeploymentView::of).collect();
    follow.polls += 1;
    let mine = deployments.iter().find(|d| d.id == follow.watched.deployment_id);
    follow.seen_ours |= mine.is_some();
    if mine.is_none() && !follow.seen_ours && follow.polls <= GRACE_POLLS {
        return changed;
    }
    if let Some(mine) = mine {
        let progress = format!(
            "{} {}: {} of {} running, {} pending",
            mine.id,
            mine.rollout_state.as_deref().unwrap_or(&mine.status),
            mine.running,
            mine.desired,
            mine.pending
        );
        if progress != follow.last_progress {
            info!("{name}: {progress}");
            follow.last_progress = progress;
            changed = true;
        }
        follow.reason = mine.reason.clone();
    }
    let verdict = judge(
        &follow.watched,
        service.task_definition().unwrap_or_default(),
        &deployments,
    );
    follow.verdict = if mine.is_none() && verdict != Verdict::InProgress {
        // Superseded or reverted, inferred from our deployment being gone: believed when two
        // polls in a row say the same (a FAILED rollout state is ECS's own word, taken at once).
        if follow.absent_reading.as_ref() == Some(&verdict) {
            verdict
        } else {
            follow.absent_reading = Some(verdict);
            changed = true;
            Verdict::InProgress
        }
    } else {
        follow.absent_reading = None;
        verdict
    };
    changed
}

/// Why a deployment did not complete: ECS's reason, its last events, and how the tasks of the
/// new revision stopped.
async fn explain_failure(ecs: &aws_sdk_ecs::Client, cluster: &str, follow: &Follow) {
    let name = &follow.watched.service;
    warn!(
        "{name}: the deployment of {} {}",
        short_name(&follow.watched.task_definition),
        follow.verdict
    );
    if let Some(reason) = &follow.reason {
        warn!("{name}: rolloutStateReason: {reason}");
    }
    for event in follow.last_events.iter().rev() {
        warn!("{name}: recent event: {event}");
    }
    match stopped_tasks(ecs, cluster, name, &follow.watched.task_definition).await {
        Ok(lines) if lines.is_empty() => warn!("{name}: no stopped task of the new revision was found"),
        Ok(lines) => lines.iter().for_each(|line| warn!("{name}: {line}")),
        Err(failure) => warn!("{name}: could not list stopped tasks: {failure}"),
    }
}

async fn stopped_tasks(
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

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "arn:aws:ecs:eu-west-1:1:task-definition/web:41";
    const OURS: &str = "arn:aws:ecs:eu-west-1:1:task-definition/web:42";
    const NEWER: &str = "arn:aws:ecs:eu-west-1:1:task-definition/web:43";

    fn watched() -> Watched {
        Watched {
            service: "web".into(),
            deployment_id: "ecs-svc/2".into(),
            task_definition: OURS.into(),
            previous: OLD.into(),
        }
    }

    fn d(id: &str, status: &str, td: &str, state: Option<&str>, running: i32) -> DeploymentView {
        DeploymentView {
            id: id.into(),
            status: status.into(),
            task_definition: td.into(),
            desired: 2,
            pending: 2 - running,
            running,
            rollout_state: state.map(str::to_owned),
            reason: state
                .filter(|s| *s == "FAILED")
                .map(|_| "ECS deployment circuit breaker: tasks failed to start.".into()),
        }
    }

    #[test]
    fn sequences_ecs_produces() {
        let ours = watched();
        let cases: Vec<(&str, &str, Vec<DeploymentView>, &str)> = vec![
            (
                "rolling",
                OURS,
                vec![
                    d("ecs-svc/2", "PRIMARY", OURS, Some("IN_PROGRESS"), 1),
                    d("ecs-svc/1", "ACTIVE", OLD, Some("COMPLETED"), 2),
                ],
                "IN_PROGRESS",
            ),
            (
                "completed",
                OURS,
                vec![d("ecs-svc/2", "PRIMARY", OURS, Some("COMPLETED"), 2)],
                "COMPLETED",
            ),
            (
                "circuit breaker rollback",
                OLD,
                vec![
                    d("ecs-svc/1", "PRIMARY", OLD, Some("IN_PROGRESS"), 1),
                    d("ecs-svc/2", "ACTIVE", OURS, Some("FAILED"), 0),
                ],
                "ROLLED_BACK",
            ),
            (
                "rollback finished, ours gone",
                OLD,
                vec![d("ecs-svc/1", "PRIMARY", OLD, Some("COMPLETED"), 2)],
                "ROLLED_BACK",
            ),
            (
                "failed without rollback",
                OURS,
                vec![d("ecs-svc/2", "PRIMARY", OURS, Some("FAILED"), 0)],
                "FAILED",
            ),
            (
                "superseded",
                NEWER,
                vec![
                    d("ecs-svc/3", "PRIMARY", NEWER, Some("IN_PROGRESS"), 0),
                    d("ecs-svc/2", "ACTIVE", OURS, Some("IN_PROGRESS"), 1),
                ],
                "SUPERSEDED",
            ),
            (
                "superseded, ours gone",
                NEWER,
                vec![d("ecs-svc/3", "PRIMARY", NEWER, Some("COMPLETED"), 2)],
                "SUPERSEDED",
            ),
            (
                "completed but the service reverted",
                OLD,
                vec![
                    d("ecs-svc/2", "ACTIVE", OURS, Some("COMPLETED"), 2),
                    d("ecs-svc/1", "PRIMARY", OLD, Some("IN_PROGRESS"), 0),
                ],
                "ROLLED_BACK",
            ),
            (
                "no rollout state, steady",
                OURS,
                vec![d("ecs-svc/2", "PRIMARY", OURS, None, 2)],
                "COMPLETED",
            ),
            (
                "no rollout state, two deployments",
                OURS,
                vec![
                    d("ecs-svc/2", "PRIMARY", OURS, None, 2),
                    d("ecs-svc/1", "ACTIVE", OLD, None, 1),
                ],
                "IN_PROGRESS",
            ),
        ];
        for (name, service_td, deployments, expected) in cases {
            assert_eq!(judge(&ours, service_td, &deployments).state(), expected, "{name}");
        }
    }

    #[test]
    fn takeovers_by_other_revisions_and_families_are_superseded() {
        let ours = watched();
        let other_family = "arn:aws:ecs:eu-west-1:1:task-definition/api:7";
        let older = "arn:aws:ecs:eu-west-1:1:task-definition/web:30";
        for td in [other_family, older, NEWER] {
            let deployments = vec![
                d("ecs-svc/9", "PRIMARY", td, Some("IN_PROGRESS"), 0),
                d("ecs-svc/2", "ACTIVE", OURS, Some("IN_PROGRESS"), 1),
            ];
            assert_eq!(judge(&ours, td, &deployments).state(), "SUPERSEDED", "{td}");
        }
    }

    #[test]
    fn an_older_revision_deployed_on_purpose_and_rolled_back_is_a_rollback() {
        // Deploying web:40 while web:42 runs; the circuit breaker goes back to web:42.
        let ours = Watched {
            task_definition: "arn:aws:ecs:eu-west-1:1:task-definition/web:40".into(),
            previous: NEWER.into(),
            ..watched()
        };
        let deployments = vec![
            d("ecs-svc/1", "PRIMARY", NEWER, Some("IN_PROGRESS"), 1),
            d("ecs-svc/2", "ACTIVE", &ours.task_definition, Some("FAILED"), 0),
        ];
        assert_eq!(judge(&ours, NEWER, &deployments).state(), "ROLLED_BACK");
    }

    #[test]
    fn forced_redeploy_of_the_same_revision_fails_only_on_failed_state() {
        let same = Watched {
            previous: OURS.into(),
            ..watched()
        };
        let rolling = vec![
            d("ecs-svc/2", "PRIMARY", OURS, Some("IN_PROGRESS"), 1),
            d("ecs-svc/1", "ACTIVE", OURS, Some("COMPLETED"), 2),
        ];
        assert_eq!(judge(&same, OURS, &rolling), Verdict::InProgress);
        let failed = vec![
            d("ecs-svc/1", "PRIMARY", OURS, Some("IN_PROGRESS"), 2),
            d("ecs-svc/2", "ACTIVE", OURS, Some("FAILED"), 0),
        ];
        assert_eq!(judge(&same, OURS, &failed).state(), "ROLLED_BACK");
    }

    #[test]
    fn rollback_reason_says_what_ecs_went_back_to() {
        let deployments = vec![
            d("ecs-svc/1", "PRIMARY", OLD, Some("IN_PROGRESS"), 1),
            d("ecs-svc/2", "ACTIVE", OURS, Some("FAILED"), 0),
        ];
        let text = judge(&watched(), OLD, &deployments).to_string();
        assert!(text.contains("circuit breaker") && text.contains("web:41"), "{text}");
    }

    fn service(task_definition: &str, deployments: &[(&str, &str, &str, Option<&str>)]) -> Service {
        let mut service = Service::builder().service_name("web").task_definition(task_definition);
        for (id, status, td, state) in deployments {
            let mut deployment = aws_sdk_ecs::types::Deployment::builder()
                .id(*id)
                .status(*status)
                .task_definition(*td)
                .desired_count(2)
                .running_count(2);
            if let Some(state) = state {
                deployment = deployment.rollout_state(aws_sdk_ecs::types::DeploymentRolloutState::from(*state));
            }
            service = service.deployments(deployment.build());
        }
        service.build()
    }

    fn follow() -> Follow {
        Follow {
            watched: watched(),
            verdict: Verdict::InProgress,
            seen_events: HashSet::new(),
            last_progress: String::new(),
            last_events: Vec::new(),
            reason: None,
            seen_ours: false,
            polls: 0,
            absent_reading: None,
        }
    }

    #[test]
    fn a_verdict_from_absence_needs_two_polls_in_a_row() {
        let ours = service(OURS, &[("ecs-svc/2", "PRIMARY", OURS, Some("IN_PROGRESS"))]);
        let stale = service(OLD, &[("ecs-svc/1", "PRIMARY", OLD, Some("COMPLETED"))]);
        let mut follow = follow();
        observe(&mut follow, &ours);
        observe(&mut follow, &stale);
        assert_eq!(
            follow.verdict,
            Verdict::InProgress,
            "one stale answer is not a rollback"
        );
        observe(&mut follow, &ours);
        observe(&mut follow, &stale);
        assert_eq!(
            follow.verdict,
            Verdict::InProgress,
            "the reading starts again after ours was back"
        );
        observe(&mut follow, &stale);
        assert_eq!(follow.verdict.state(), "ROLLED_BACK");

        let failed = service(
            OLD,
            &[
                ("ecs-svc/1", "PRIMARY", OLD, Some("IN_PROGRESS")),
                ("ecs-svc/2", "ACTIVE", OURS, Some("FAILED")),
            ],
        );
        let mut follow = follow_after(&ours);
        observe(&mut follow, &failed);
        assert_eq!(follow.verdict.state(), "ROLLED_BACK", "ECS's FAILED is taken at once");
    }

    fn follow_after(first: &Service) -> Follow {
        let mut follow = follow();
        observe(&mut follow, first);
        follow
    }
}
