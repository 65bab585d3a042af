//! How often the CodeDeploy follow looks, and with which calls: issue 23's frontier, the step's
//! end noticed about 2 s after CodeDeploy records it, at no more than 15 calls a minute.
//!
//! The step ends when `AfterAllowTraffic` succeeded with all traffic on the replacement task set
//! (or on a final status), which the deployment's *target* shows
//! (https://docs.aws.amazon.com/codedeploy/latest/APIReference/API_ECSTarget.html). So:
//!
//! - A look reads the target alone: BatchGetDeploymentTargets, one call, its id listed once
//!   (ListDeploymentTargets) when the deployment has started. GetDeployment (status, errors,
//!   rollback) is read until then, when the target's status changes or one of its events failed
//!   or was skipped, and at least once a minute (a stop whose target would not show it), once
//!   in five minutes while the end is near.
//! - The end cannot come while the replacement task set starts (`Install`: its tasks must run
//!   and pass the load balancer's health checks, minutes), while the deployment waits `Ready`
//!   for someone to continue it, nor during a canary's or linear shift's bake before its last
//!   step (https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-configurations.html):
//!   a look every 10 s (`LATER`). After `Install` the remaining events take seconds without
//!   hooks (https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-steps-ecs.html):
//!   every 2 s (`SOON`), paid with the calls saved before, within the budget. A rollback
//!   deployment (no `Install`) is near its end from the start.
//! - Failures during `Install` are noticed up to `LATER` late; the follow's end is what is paced
//!   for.

use std::time::Duration;

use crate::aws::wait::Pace;
use crate::domain::traffic_shift::Kind;

/// The pause while the end is near.
pub const SOON: Duration = Duration::from_secs(2);
/// The pause while it cannot come yet.
pub const LATER: Duration = Duration::from_secs(10);
/// GetDeployment is read at least this often (its status, whatever the target shows) while the
/// end cannot come...
pub const DEPLOYMENT_AT_LEAST: Duration = Duration::from_secs(60);
/// ...and this often while it can: there a second call in a look costs the next look 4 s of the
/// budget, where every look counts (a stop shows in the target's events as well).
pub const NEAR_DEPLOYMENT_AT_LEAST: Duration = Duration::from_secs(300);
/// The most calls one look makes: GetDeployment, ListDeploymentTargets and
/// BatchGetDeploymentTargets, once, when the deployment is first seen started.
const MOST: u32 = 3;

/// 15 calls a minute, `scale` times faster for the tests' emulator.
pub fn budget(scale: u32) -> Pace {
    Pace {
        per_minute: 15.0,
        soon: SOON,
        later: LATER,
        most: MOST,
        // None: the first looks come while the deployment starts and its replacement task set
        // is created (minutes), when no end can come, so a burst would only lift the calls a
        // minute over the budget (a burst of 3 measured 16 a minute on a 40 s wait).
        burst: 0,
    }
    .scaled(scale)
}

/// The traffic shift of a predefined ECS deployment configuration: the replacement's share of
/// each step (percent) and the time between steps; None for all at once or a configuration of
/// the account's own (whose bake the pipe does not read: its looks stay `SOON`). Read from the
/// name: the ECS ones differ from the Lambda ones `traffic_shift` knows
/// (`ECSLinear10PercentEvery1Minutes`, plural).
pub fn shift_of(config: &str) -> Option<(f64, Duration, Kind)> {
    let name = config.strip_prefix("CodeDeployDefault.ECS")?;
    let (shift, rest) = if let Some(rest) = name.strip_prefix("Canary") {
        (Kind::Canary, rest)
    } else {
        (Kind::Linear, name.strip_prefix("Linear")?)
    };
    let (percent, rest) = rest.split_once("Percent")?;
    let minutes = rest.strip_prefix("Every").unwrap_or(rest).strip_suffix("Minutes")?;
    let percent: f64 = percent.parse().ok().filter(|p| *p > 0.0 && *p < 100.0)?;
    let minutes: u64 = minutes.parse().ok()?;
    Some((percent, Duration::from_secs(minutes * 60), shift))
}

/// How long after `AllowTraffic` began its last traffic step comes.
pub fn last_step_after(config: &str) -> Option<Duration> {
    let (percent, every, shift) = shift_of(config)?;
    Some(match shift {
        Kind::Canary => every,
        // ceil(100 / percent) steps, the first at AllowTraffic's start.
        Kind::Linear => every * ((100.0 / percent).ceil() as u32).saturating_sub(1),
    })
}

/// What one look shows, for the pace.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Outlook {
    /// The deployment has started (its target exists).
    pub started: bool,
    /// Waiting `Ready` for ContinueDeployment.
    pub ready_wait: bool,
    /// `Install` has not succeeded yet (the replacement task set starts).
    pub installing: bool,
    /// `AllowTraffic` is in progress and its last step is this far off.
    pub last_step_in: Option<Duration>,
}

impl Outlook {
    /// Whether the end may come before the next `later` look.
    pub fn soon(&self, later: Duration) -> bool {
        self.started && !self.ready_wait && !self.installing && self.last_step_in.is_none_or(|left| left <= later)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_predefined_shifts_are_read_from_their_names() {
        let minute = Duration::from_secs(60);
        assert_eq!(
            shift_of("CodeDeployDefault.ECSCanary10Percent5Minutes"),
            Some((10.0, 5 * minute, Kind::Canary))
        );
        assert_eq!(
            last_step_after("CodeDeployDefault.ECSCanary10Percent15Minutes"),
            Some(15 * minute)
        );
        // Ten steps of 10 %: the last one nine intervals after the first.
        assert_eq!(
            last_step_after("CodeDeployDefault.ECSLinear10PercentEvery3Minutes"),
            Some(27 * minute)
        );
        assert_eq!(
            last_step_after("CodeDeployDefault.ECSLinear10PercentEvery1Minutes"),
            Some(9 * minute)
        );
        for none in [
            "CodeDeployDefault.ECSAllAtOnce",
            "MyCanary",
            "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        ] {
            assert_eq!(last_step_after(none), None, "{none}");
        }
    }

    #[test]
    fn the_end_is_near_after_install_and_outside_a_bake() {
        let later = LATER;
        let going = Outlook {
            started: true,
            ..Outlook::default()
        };
        assert!(going.soon(later));
        assert!(!Outlook::default().soon(later), "not started");
        assert!(
            !Outlook {
                installing: true,
                ..going
            }
            .soon(later)
        );
        assert!(
            !Outlook {
                ready_wait: true,
                ..going
            }
            .soon(later)
        );
        let baking = Outlook {
            last_step_in: Some(Duration::from_secs(200)),
            ..going
        };
        assert!(!baking.soon(later), "a canary's bake");
        let ending = Outlook {
            last_step_in: Some(Duration::from_secs(8)),
            ..going
        };
        assert!(ending.soon(later), "the last step comes before the next later look");
        assert_eq!(budget(10).soon, SOON / 10);
        assert_eq!((budget(1).per_minute, budget(1).most), (15.0, 3));
    }
}
