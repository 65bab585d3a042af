//! How often the ECS watch looks, and with which calls: issue 23's frontier, completion noticed
//! about 2 s after ECS records it at no more than 15 calls a minute for one service, 20 for ten.
//!
//! A poller notices an end half a pause late on average, so the looks go where ends happen:
//!
//! - A rolling deployment cannot end while its new tasks are still starting: ECS starts them
//!   first (up to `maximumPercent`), and stops the old ones only once the new are healthy, after
//!   the load balancer's deregistration delay
//!   (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-ecs.html).
//!   While they start, a look every 10 s (`LATER`); once they all run and the old ones drain
//!   (for every service of the deploy), every 2 s (`SOON`), the calls saved before paying for
//!   it, within the budget.
//! - DescribeServices (ten services a call) carries the counts, events and `rolloutState` of
//!   every service; ECS's service deployment (DescribeServiceDeployments, twenty a call) is read
//!   only when it can say something `deployments[]` does not: when a rollout's state changed or
//!   it reads failed (the service deployment is the verdict), for blue/green, linear and canary
//!   (whose stages `deployments[]` does not show), and at least once a minute while a rolling
//!   deployment's new tasks start. Not while its old ones drain: `rolloutState` carries a rolling
//!   deployment's failures and rollbacks, the look that sees it end reads the service deployment
//!   anyway, and a read there costs the look after it most (with the budget spent, a look of two
//!   calls is followed by a pause twice as long, right where the end falls: bench/waiting.py
//!   measured 8 s gaps and 5-7 s delays from it). A rollout that reads COMPLETED is confirmed by
//!   the read that the last of the deploy's rollouts brings (one read for all, not one per
//!   service), or at once when it is the last.
//! - Failures are not paced away: a circuit breaker's FAILED is in `rolloutState`, which every
//!   look reads, and the stopped tasks are listed after the wait, as before.

use std::time::Duration;

use crate::aws::wait::Pace;

/// DescribeServices takes at most this many services per call.
pub const DESCRIBE_BATCH: usize = 10;
/// The pause while a deployment's end is near.
pub const SOON: Duration = Duration::from_secs(2);
/// The pause while none can end yet.
pub const LATER: Duration = Duration::from_secs(10);
/// ECS's service deployments are read at least this often while new tasks start (their stage,
/// alarms, hooks).
pub const SERVICE_DEPLOYMENT_AT_LEAST: Duration = Duration::from_secs(60);
/// DescribeServiceDeployments takes at most this many ARNs.
pub const SERVICE_DEPLOYMENT_BATCH: usize = 20;

/// The budget for watching `services` services: 15 calls a minute for one, 20 for up to ten,
/// ten more for every further ten (one more DescribeServices each look).
pub fn budget(services: usize, scale: u32) -> Pace {
    let describes = services.div_ceil(DESCRIBE_BATCH).max(1);
    let reads = services.div_ceil(SERVICE_DEPLOYMENT_BATCH).max(1);
    let per_minute = if services <= 1 {
        15.0
    } else {
        10.0 + 10.0 * describes as f64
    };
    Pace {
        per_minute,
        soon: SOON,
        later: LATER,
        most: u32::try_from(describes + reads).unwrap_or(u32::MAX),
        // The watch's first looks come while new tasks start, when no end can come.
        burst: 0,
    }
    .scaled(scale)
}

/// What the last DescribeServices said about one deployment, for the pace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outlook {
    /// Its new tasks all run and it goes on: the old ones are draining or stopping.
    pub tasks_up: bool,
    /// Something ECS's service deployment should confirm changed: the rollout's state (other
    /// than to COMPLETED), our deployment's place among `deployments[]`.
    pub changed: bool,
    /// `deployments[]` reads it failed, rolled back or superseded, or a reading of that waits
    /// for the next look to agree.
    pub over: bool,
    /// `deployments[]` reads it COMPLETED: ECS's service deployment confirms it.
    pub completed: bool,
    /// A blue/green, linear or canary deployment: its stages are in the service deployment alone.
    pub staged: bool,
    /// Its new tasks run but a staged deployment still shifts traffic or bakes.
    pub shifting: bool,
}

impl Outlook {
    /// Whether this look should read ECS's service deployment, `since` the last read; `others`:
    /// other rollouts of the deploy still go on in `deployments[]`. The minute's read is not made
    /// near the end (see the module's documentation).
    pub fn needs_service_deployment(&self, since: Duration, scale: u32, others: bool) -> bool {
        self.changed
            || self.over
            || self.staged
            || (self.completed && !others)
            || (!self.soon() && since >= SERVICE_DEPLOYMENT_AT_LEAST / scale.max(1))
    }

    /// Whether this rollout is past the point where it cannot end yet: its new tasks run (the
    /// old ones drain), or `deployments[]` reads it over. The deploy's end may come any moment
    /// when every rollout of it is (the watch looks `SOON` only then: one still starting its
    /// tasks holds the deploy's end back).
    pub fn soon(&self) -> bool {
        self.tasks_up || self.over || self.shifting || self.completed
    }

    /// Still going on in `deployments[]`.
    pub fn rolling(&self) -> bool {
        !self.completed && !self.over
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_of_issue_23() {
        assert_eq!(budget(1, 1).per_minute, 15.0);
        assert_eq!(budget(10, 1).per_minute, 20.0);
        assert_eq!((budget(10, 1).most, budget(50, 1).most), (2, 8));
        assert_eq!(budget(50, 1).per_minute, 60.0);
        assert_eq!(budget(1, 10).soon, SOON / 10);
    }

    #[test]
    fn the_service_deployment_is_read_when_it_can_say_more() {
        let starting = Outlook::default();
        let minute = SERVICE_DEPLOYMENT_AT_LEAST;
        assert!(!starting.needs_service_deployment(Duration::from_secs(5), 1, false));
        assert!(!starting.soon());
        assert!(
            starting.needs_service_deployment(minute, 1, false),
            "at least once a minute"
        );
        let draining = Outlook {
            tasks_up: true,
            ..starting
        };
        assert!(draining.soon() && !draining.needs_service_deployment(Duration::ZERO, 1, false));
        assert!(
            !draining.needs_service_deployment(minute * 5, 1, false),
            "not the minute's read while the old tasks drain: the end's look reads it"
        );
        // A staged deployment is read on every look, draining or not.
        let staged = Outlook {
            staged: true,
            shifting: true,
            ..starting
        };
        assert!(staged.soon() && staged.needs_service_deployment(Duration::ZERO, 1, true));
        for telling in [
            Outlook {
                changed: true,
                ..starting
            },
            Outlook { over: true, ..starting },
            Outlook {
                staged: true,
                ..starting
            },
        ] {
            assert!(telling.needs_service_deployment(Duration::ZERO, 1, true), "{telling:?}");
        }
        assert!(Outlook { over: true, ..starting }.soon());
        // Completed while other rollouts go on: confirmed with the last one, in one read.
        let completed = Outlook {
            completed: true,
            ..starting
        };
        assert!(!completed.needs_service_deployment(Duration::ZERO, 1, true) && completed.soon());
        assert!(completed.needs_service_deployment(Duration::ZERO, 1, false));
        assert!(!completed.rolling() && starting.rolling());
        assert!(
            Outlook {
                staged: true,
                shifting: true,
                ..starting
            }
            .soon()
        );
    }
}
