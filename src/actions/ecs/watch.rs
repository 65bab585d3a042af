//! Following ECS deployments until they are done: one loop over every watched service, each
//! poll one DescribeServices per ten services (events, counts, `deployments[]`) and, where ECS
//! reports service deployments and they can say more, one DescribeServiceDeployments per twenty,
//! whose status is the verdict; paced by `pace` (how often, which calls). Lifecycle stages are
//! printed as they are entered; nothing is printed twice.

use std::cell::RefCell;
use std::collections::HashSet;
use std::time::Instant;

use aws_sdk_ecs::types::{Service, ServiceDeployment};
use tracing::{info, warn};

use super::explain::{self, DIAGNOSTICS_MARGIN, Unfinished};
use super::pace::{self, Outlook};
use super::rollout::{DeploymentView, Watched, judge};
use super::service_deployment;
use super::verdict::Verdict;
use crate::aws::wait::{Poll, Wait, WaitEnd};
use crate::aws::{self, AwsFailure};
use crate::domain::task_definition::short_name;
use crate::domain::time::human;

pub use super::pace::DESCRIBE_BATCH;
const LAST_EVENTS: usize = 5;

/// How one watched deployment ended, for the outcome and the outputs files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Followed {
    pub verdict: Verdict,
    /// The service deployment's last status (SUCCESSFUL, ROLLBACK_SUCCESSFUL…), when followed.
    pub status: Option<String>,
    /// What ECS found when it rolled back or stopped it.
    pub findings: Option<String>,
    /// A rollback the pipe asked for (`ON_TIMEOUT`/`ON_FAILURE`), and how it ended.
    pub rollback: Option<String>,
    /// The service deployment followed (also one found after the update answered without it).
    pub service_deployment: Option<String>,
}

impl Followed {
    /// Not waited for (`WAIT: "false"`).
    pub fn in_progress() -> Followed {
        Followed {
            verdict: Verdict::InProgress,
            status: None,
            findings: None,
            rollback: None,
            service_deployment: None,
        }
    }
}

/// The state of one service between polls: what was printed already.
struct Follow {
    watched: Watched,
    verdict: Verdict,
    /// What `deployments[]` says (the verdict when no service deployment is followed).
    rolling: Verdict,
    /// The service's `currentServiceDeployment` and task definition in the last answer.
    current: Option<String>,
    /// Our deployment is the PRIMARY one in the last answer.
    ours_primary: bool,
    /// Polls in a row DescribeServiceDeployments could not describe ours.
    undescribed: u32,
    running: String,
    /// The last service deployment progress printed ("IN_PROGRESS, stage SCALE_UP").
    last_stage: String,
    status: Option<String>,
    findings: Option<String>,
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
    /// ECS could not describe our service deployment, and the watch gave it up for `deployments[]`.
    gave_up: bool,
    /// Without a service deployment to read: when `deployments[]` first said COMPLETED for a
    /// blue/green, linear or canary deployment, from which its bake time is waited out.
    completed_at: Option<Instant>,
    /// What the watch waits for now, once printed ("ECS's service deployment", "bake time").
    waiting_for: &'static str,
    /// What the last DescribeServices said about when it can end, for the pace.
    outlook: Outlook,
    /// Our deployment's `rolloutState` in the last answer.
    rollout_state: Option<String>,
}

impl Follow {
    fn new(watched: Watched) -> Follow {
        Follow {
            watched,
            verdict: Verdict::InProgress,
            rolling: Verdict::InProgress,
            current: None,
            ours_primary: false,
            undescribed: 0,
            running: String::new(),
            last_stage: String::new(),
            status: None,
            findings: None,
            seen_events: HashSet::new(),
            last_progress: String::new(),
            last_events: Vec::new(),
            reason: None,
            seen_ours: false,
            polls: 0,
            absent_reading: None,
            gave_up: false,
            completed_at: None,
            waiting_for: "",
            outlook: Outlook::default(),
            rollout_state: None,
        }
    }
}

/// Polls during which a missing deployment is taken for a view that is not up to date yet.
const GRACE_POLLS: u32 = 5;

/// Poll every watched service until each is done or `deadline` passes. Returns how each ended,
/// in order; or the failure that ended the watch before that (credentials that could not be
/// renewed, a refusal), when the pipe can no longer follow. `scale`: the tests' emulator speeds
/// the pace up (`AWS_ROLE_DEPLOY_TEST_TIME_SCALE`), 1 otherwise.
pub async fn watch(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    watched: Vec<Watched>,
    deadline: Instant,
    scale: u32,
) -> Result<Vec<Followed>, AwsFailure> {
    let left = deadline.saturating_duration_since(Instant::now());
    for w in &watched {
        info!("{}: deploying with {}", w.service, w.strategy.summary);
        if w.strategy.bake > left {
            warn!(
                "{}: the strategy's bake times add up to {}, more than what is left of WAIT_TIMEOUT ({}): the \
                 step will stop waiting before ECS finishes. Raise WAIT_TIMEOUT.",
                w.service,
                human(w.strategy.bake),
                human(left)
            );
        }
    }
    let follows: Vec<Follow> = watched.into_iter().map(Follow::new).collect();
    let shared = RefCell::new(follows);
    let state = &shared;
    // Whether ECS's service deployments can be read: denied, or absent in the partition, the
    // watch says so once and judges deployments[] instead.
    let api = &std::cell::Cell::new(true);
    // When ECS's service deployments were last read (the watch's start counts as one).
    let last_read = &std::cell::Cell::new(Instant::now());
    let wait = Wait::new("ECS deployments", deadline).paced(pace::budget(shared.borrow().len(), scale));
    let ended = wait
        .until(move || async move {
            let pending: Vec<String> = state
                .borrow()
                .iter()
                .filter(|follow| follow.verdict == Verdict::InProgress)
                .map(|follow| follow.watched.service.clone())
                .collect();
            let (services, _) = describe(ecs, cluster, &pending).await?;
            let mut calls = u32::try_from(pending.len().div_ceil(DESCRIBE_BATCH)).unwrap_or(u32::MAX);
            for service in &services {
                let name = service.service_name().unwrap_or_default();
                let mut follows = state.borrow_mut();
                if let Some(follow) = follows.iter_mut().find(|f| f.watched.service == name) {
                    observe(follow, service);
                }
            }
            let since = last_read.get().elapsed();
            let (arns, needed) = {
                let follows = state.borrow();
                let followed = || {
                    follows
                        .iter()
                        .filter(|f| f.verdict == Verdict::InProgress && f.watched.service_deployment.is_some())
                };
                let arns: Vec<String> = followed()
                    .filter_map(|f| f.watched.service_deployment.clone())
                    .collect();
                let needed = followed().any(|f| f.outlook.needs_service_deployment(since, scale, others(&follows, f)));
                (arns, needed)
            };
            let mut found = service_deployment::Described::default();
            let read = api.get() && !arns.is_empty() && needed;
            if read {
                last_read.set(Instant::now());
                calls += u32::try_from(arns.len().div_ceil(pace::SERVICE_DEPLOYMENT_BATCH)).unwrap_or(u32::MAX);
                match service_deployment::describe(ecs, &arns).await {
                    Ok(described) => found = described,
                    Err(failure) if service_deployment::is_unavailable(&failure) => {
                        api.set(false);
                        warn!(
                            "Service deployments cannot be read ({failure}): following deployments[] with \
                             rolling-update rules instead; lifecycle stages, hooks and alarms are not followed. \
                             Grant ecs:DescribeServiceDeployments to follow them."
                        );
                    }
                    Err(failure) => return Err(failure),
                }
            }
            let mut follows = state.borrow_mut();
            for follow in follows.iter_mut().filter(|f| f.verdict == Verdict::InProgress) {
                if api.get() {
                    adopt_or_drop(follow, read.then_some(&found.failed));
                }
                decide(follow, api.get(), &found.deployments);
            }
            if follows.iter().all(|follow| follow.verdict != Verdict::InProgress) {
                Ok(Poll::Ready(()))
            } else {
                // The deploy can end any moment only when each rollout of it can.
                let soon = follows
                    .iter()
                    .filter(|f| f.verdict == Verdict::InProgress)
                    .all(|f| f.outlook.soon() || f.awaits_service_deployment());
                Ok(Poll::Paced { calls, soon })
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
            confirm_completed(ecs, &mut follows).await;
            for follow in follows.iter_mut().filter(|f| f.verdict == Verdict::InProgress) {
                follow.verdict = Verdict::TimedOut;
            }
        }
        Err(WaitEnd::Stopped(failure)) => return Err(failure),
    }
    let unfinished: Vec<Unfinished<'_>> = follows
        .iter()
        .filter(|f| f.verdict != Verdict::Completed)
        .map(|f| Unfinished {
            service: &f.watched.service,
            task_definition: &f.watched.task_definition,
            verdict: &f.verdict,
            reason: f.reason.as_deref(),
            last_events: &f.last_events,
        })
        .collect();
    explain::failures(ecs, cluster, &unfinished).await;
    let mut followed = Vec::with_capacity(follows.len());
    for follow in follows {
        followed.push(Followed {
            verdict: follow.verdict,
            status: follow.status,
            findings: follow.findings,
            rollback: None,
            service_deployment: follow.watched.service_deployment,
        });
    }
    Ok(followed)
}

/// Whether rollouts other than `follow`'s still go on in `deployments[]`.
fn others(follows: &[Follow], follow: &Follow) -> bool {
    follows
        .iter()
        .any(|f| f.verdict == Verdict::InProgress && f.watched.service != follow.watched.service && f.outlook.rolling())
}

impl Follow {
    /// A blue/green, linear or canary deployment whose new tasks run, waiting for ECS to attach
    /// this update's own service deployment (which any look may bring).
    fn awaits_service_deployment(&self) -> bool {
        self.watched.service_deployment.is_none() && !self.gave_up && self.outlook.shifting
    }
}

/// UpdateService can answer before ECS has attached the service deployment: adopt the
/// service's current one once our deployment is PRIMARY in the same answer. And a service
/// deployment ECS keeps failing to describe (MISSING, or refused for this service) is given up
/// for `deployments[]`, said once.
/// `failed`: this poll's DescribeServiceDeployments failures, None when it made none.
fn adopt_or_drop(follow: &mut Follow, failed: Option<&Vec<(String, String)>>) {
    let name = &follow.watched.service;
    match &follow.watched.service_deployment {
        // Never the service deployment from before the update, which ECS may still name for a
        // while (containers-roadmap#2709): its SUCCESSFUL is not this update's.
        None if follow.ours_primary && !follow.gave_up => {
            let previous = follow.watched.previous_service_deployment.as_deref();
            if let Some(current) = follow.current.as_ref().filter(|c| Some(c.as_str()) != previous) {
                info!("{name}: following service deployment {current}");
                follow.watched.service_deployment = Some(current.clone());
            }
        }
        Some(arn) => {
            let Some(failed) = failed else {
                return;
            };
            if let Some((_, reason)) = failed.iter().find(|(failed, _)| failed == arn) {
                follow.undescribed += 1;
                if follow.undescribed >= UNDESCRIBED_POLLS {
                    warn!(
                        "{name}: ECS cannot describe service deployment {arn} ({reason}): following deployments[] \
                         for this service instead"
                    );
                    follow.watched.service_deployment = None;
                    follow.gave_up = true;
                }
            } else {
                follow.undescribed = 0;
            }
        }
        None => {}
    }
}

/// Polls in a row a service deployment may be missing from DescribeServiceDeployments.
const UNDESCRIBED_POLLS: u32 = 3;

/// The verdict of this poll: ECS's service deployment where it is followed, else what
/// `deployments[]` says. Returns whether anything new was printed.
fn decide(follow: &mut Follow, api: bool, found: &[ServiceDeployment]) -> bool {
    let Some(arn) = follow.watched.service_deployment.clone().filter(|_| api) else {
        return decide_from_deployments(follow, api && !follow.gave_up, Instant::now());
    };
    // Not in the answer yet (eventual consistency): it goes on.
    let Some(deployment) = found.iter().find(|d| d.service_deployment_arn() == Some(arn.as_str())) else {
        return false;
    };
    let name = &follow.watched.service;
    let mut news = false;
    let mut line = service_deployment::progress(deployment);
    if deployment
        .lifecycle_stage()
        .is_some_and(|stage| stage.as_str() == "BAKE_TIME")
    {
        line.push_str(&format!(
            " ({} of bake time configured)",
            human(follow.watched.strategy.bake)
        ));
    }
    if line != follow.last_stage {
        info!("{name}: service deployment {line}");
        follow.last_stage = line;
        news = true;
    }
    follow.status = deployment.status().map(|s| s.as_str().to_owned());
    let verdict = service_deployment::verdict(deployment, false);
    // Another service deployment is current: one started after ours, not the one from before the
    // update that a stale answer may still name.
    let previous = follow.watched.previous_service_deployment.as_deref();
    let taken_over = follow
        .current
        .as_deref()
        .is_some_and(|current| current != arn && Some(current) != previous);
    follow.verdict = match verdict {
        // Stopped because a newer deployment took over: not ours to call failed.
        Some(Verdict::Failed(_)) if taken_over && service_deployment::is_final(deployment) => {
            Verdict::Superseded(format!(
                "{} is being deployed by someone else now (service deployment {}); this is not a rollback",
                short_name(&follow.running),
                follow.current.as_deref().unwrap_or_default()
            ))
        }
        Some(verdict) => verdict,
        None => Verdict::InProgress,
    };
    if !matches!(follow.verdict, Verdict::InProgress | Verdict::Completed) {
        follow.findings = Some(service_deployment::findings(deployment));
    }
    news
}

/// The verdict of `deployments[]` alone. For blue/green, linear and canary it reads COMPLETED once
/// the new tasks run, while traffic still shifts and bakes, and a failed hook or an alarm still
/// rolls back: so its COMPLETED is not taken as it is. Where ECS reports service deployments
/// (`readable`), the watch waits for this update's own to be attached (bounded by WAIT_TIMEOUT);
/// where it cannot read them, it waits out the strategy's bake time after COMPLETED, a rollback
/// meanwhile still counting, and says that the verdict is provisional.
fn decide_from_deployments(follow: &mut Follow, readable: bool, now: Instant) -> bool {
    let strategy = &follow.watched.strategy;
    if follow.rolling != Verdict::Completed || strategy.name == "ROLLING" {
        follow.verdict = follow.rolling.clone();
        return false;
    }
    let name = &follow.watched.service;
    let mut news = false;
    let mut say = |follow_waiting: &mut &'static str, what: &'static str, line: String| {
        if *follow_waiting != what {
            info!("{name}: {line}");
            *follow_waiting = what;
            news = true;
        }
    };
    if readable {
        say(
            &mut follow.waiting_for,
            "service deployment",
            format!(
                "the new tasks run (deployments[] reads COMPLETED), but a {} deployment is over only when ECS's \
                 service deployment says so: waiting for ECS to attach this update's own",
                strategy.name
            ),
        );
        follow.verdict = Verdict::InProgress;
        return news;
    }
    let since = *follow.completed_at.get_or_insert(now);
    let baked = now.saturating_duration_since(since);
    if baked < strategy.bake {
        say(
            &mut follow.waiting_for,
            "bake time",
            format!(
                "the new tasks run (deployments[] reads COMPLETED); without ECS's service deployment the pipe waits \
                 out the bake time ({}) for a rollback before calling it done",
                human(strategy.bake)
            ),
        );
        follow.verdict = Verdict::InProgress;
        return news;
    }
    warn!(
        "{name}: judged without ECS's service deployment (provisional): no rollback seen in the {} after the new \
         tasks ran, but ECS may still roll back if traffic shifting took longer; grant \
         ecs:DescribeServiceDeployments for ECS's own verdict",
        human(strategy.bake)
    );
    follow.verdict = Verdict::Completed;
    true
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
    follow.current = service.current_service_deployment().map(str::to_owned);
    let was = (follow.rollout_state.take(), follow.ours_primary);
    follow.ours_primary = mine.is_some_and(|d| d.status == "PRIMARY");
    follow.rollout_state = mine.and_then(|d| d.rollout_state.clone());
    let moved = follow.polls > 1 && was != (follow.rollout_state.clone(), follow.ours_primary);
    let tasks_up = mine.is_some_and(|d| d.running >= d.desired && d.pending == 0);
    follow.running = service.task_definition().unwrap_or_default().to_owned();
    follow.rolling = if mine.is_none() && verdict != Verdict::InProgress {
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
    let staged = follow.watched.strategy.name != "ROLLING";
    let completed = follow.rolling == Verdict::Completed;
    follow.outlook = Outlook {
        tasks_up: tasks_up && !staged,
        changed: moved && !completed,
        over: !completed && (follow.rolling != Verdict::InProgress || follow.absent_reading.is_some()),
        completed,
        staged,
        shifting: staged && tasks_up,
    };
    changed
}

/// At the deadline: the rollouts `deployments[]` read COMPLETED whose confirmation waited for
/// the deploy's others (see `pace`) get it now, in one read within a short margin, so that a
/// completed deployment is never reported as timed out for another one's sake.
async fn confirm_completed(ecs: &aws_sdk_ecs::Client, follows: &mut [Follow]) {
    let arns: Vec<String> = follows
        .iter()
        .filter(|f| f.verdict == Verdict::InProgress && f.outlook.completed)
        .filter_map(|f| f.watched.service_deployment.clone())
        .collect();
    if arns.is_empty() {
        return;
    }
    if let Ok(Ok(found)) = tokio::time::timeout(DIAGNOSTICS_MARGIN, service_deployment::describe(ecs, &arns)).await {
        for follow in follows
            .iter_mut()
            .filter(|f| f.verdict == Verdict::InProgress && f.outlook.completed)
        {
            decide(follow, true, &found.deployments);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::actions::ecs::rollout::tests::{OLD, OURS, watched};

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
        Follow::new(watched())
    }

    #[test]
    fn a_verdict_from_absence_needs_two_polls_in_a_row() {
        let ours = service(OURS, &[("ecs-svc/2", "PRIMARY", OURS, Some("IN_PROGRESS"))]);
        let stale = service(OLD, &[("ecs-svc/1", "PRIMARY", OLD, Some("COMPLETED"))]);
        let mut follow = follow();
        observe(&mut follow, &ours);
        observe(&mut follow, &stale);
        assert_eq!(
            follow.rolling,
            Verdict::InProgress,
            "one stale answer is not a rollback"
        );
        observe(&mut follow, &ours);
        observe(&mut follow, &stale);
        assert_eq!(
            follow.rolling,
            Verdict::InProgress,
            "the reading starts again after ours was back"
        );
        observe(&mut follow, &stale);
        assert_eq!(follow.rolling.state(), "ROLLED_BACK");

        let failed = service(
            OLD,
            &[
                ("ecs-svc/1", "PRIMARY", OLD, Some("IN_PROGRESS")),
                ("ecs-svc/2", "ACTIVE", OURS, Some("FAILED")),
            ],
        );
        let mut follow = follow_after(&ours);
        observe(&mut follow, &failed);
        assert_eq!(follow.rolling.state(), "ROLLED_BACK", "ECS's FAILED is taken at once");
    }

    #[test]
    fn blue_green_is_not_done_when_only_deployments_say_completed() {
        let t0 = Instant::now();
        let blue_green = |bake: u64| {
            let mut follow = follow();
            follow.watched.strategy = crate::actions::ecs::strategy::Strategy {
                name: "BLUE_GREEN".into(),
                summary: "BLUE_GREEN".into(),
                bake: Duration::from_secs(bake),
            };
            follow.rolling = Verdict::Completed;
            follow
        };
        // The API is there: wait for this update's own service deployment.
        let mut waiting = blue_green(0);
        decide_from_deployments(&mut waiting, true, t0);
        assert_eq!(waiting.verdict, Verdict::InProgress);
        // No API: the bake time is waited out from the first COMPLETED, then a provisional success.
        let mut baking = blue_green(60);
        decide_from_deployments(&mut baking, false, t0);
        assert_eq!(baking.verdict, Verdict::InProgress);
        decide_from_deployments(&mut baking, false, t0 + Duration::from_secs(59));
        assert_eq!(baking.verdict, Verdict::InProgress);
        decide_from_deployments(&mut baking, false, t0 + Duration::from_secs(60));
        assert_eq!(baking.verdict, Verdict::Completed);
        // A rollback seen while baking is the verdict.
        let mut rolled = blue_green(60);
        decide_from_deployments(&mut rolled, false, t0);
        rolled.rolling = Verdict::RolledBack("the service runs web:41 again".into());
        decide_from_deployments(&mut rolled, false, t0 + Duration::from_secs(5));
        assert_eq!(rolled.verdict.state(), "ROLLED_BACK");
        // Rolling deployments: deployments[] is the verdict.
        let mut rolling = follow();
        rolling.rolling = Verdict::Completed;
        decide_from_deployments(&mut rolling, true, t0);
        assert_eq!(rolling.verdict, Verdict::Completed);
    }

    #[test]
    fn the_service_deployment_from_before_the_update_is_never_adopted() {
        let mut follow = follow();
        follow.watched.previous_service_deployment =
            Some("arn:aws:ecs:eu-west-1:1:service-deployment/prod/web/old".into());
        follow.ours_primary = true;
        follow.current = follow.watched.previous_service_deployment.clone();
        adopt_or_drop(&mut follow, None);
        assert_eq!(follow.watched.service_deployment, None);
        follow.current = Some("arn:aws:ecs:eu-west-1:1:service-deployment/prod/web/new".into());
        adopt_or_drop(&mut follow, Some(&Vec::new()));
        assert_eq!(follow.watched.service_deployment, follow.current);
    }

    fn follow_after(first: &Service) -> Follow {
        let mut follow = follow();
        observe(&mut follow, first);
        follow
    }
}
