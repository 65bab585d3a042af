//! The one way the pipe waits on AWS: ECS rollouts, one-off tasks, Lambda updates, and calls
//! retried while a resource is busy, all under one deadline.
//!
//! - It polls quickly at first and after anything new, so short waits end soon, and slows down
//!   while nothing changes, so long ones do not hammer the API.
//! - Trouble that passes (throttling, no response, server errors) is tolerated until the
//!   deadline and said once per streak, not once per poll: the thing waited for goes on
//!   regardless of whether the pipe can see it.
//! - Anything else ends the wait at once: a refusal will not pass, and credentials that could
//!   not be renewed will not come back.
//! - It never sleeps past the deadline.
//! - A wait that may last minutes (ECS rollouts) can be paced instead (`Pace`): a budget of AWS
//!   calls a minute, spent where the end is likely. While the looks say it cannot end yet, the
//!   pauses are `later` (news does not shorten them: what is printed is printed at the next
//!   look); once a look says the end is near, they are `soon`; and never more calls than the
//!   budget allows over the wait so far, counting the next look at its most. A poller notices an
//!   end half a pause late on average, so the budget goes where ends happen.

use std::future::Future;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::{AwsFailure, FailureKind};

/// The clock every wait runs on: tokio's, which is the system's monotonic clock, except in a
/// unit test that pauses it (`#[tokio::test(start_paused = true)]`): there the pauses pass in
/// virtual time, so a test can assert exactly when each look came, at once and whatever the
/// load on the machine. Deadlines handed to `Wait::new` are measured against it.
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// How far past the deadline one look may run before it is abandoned.
const LOOK_MARGIN: Duration = Duration::from_secs(5);

/// What one look at the thing waited for found.
pub enum Poll<T> {
    Ready(T),
    /// Not there yet; `news` when something changed since the last look (poll again soon).
    Pending {
        news: bool,
    },
    /// Not there yet, in a paced wait: the AWS calls this look made, and whether the end is near.
    Paced {
        calls: u32,
        soon: bool,
    },
}

/// The budget of a paced wait (`Wait::paced`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// AWS calls a minute, on average over the wait.
    pub per_minute: f64,
    /// The pause while the end is near.
    pub soon: Duration,
    /// The pause while it cannot end yet.
    pub later: Duration,
    /// The most calls one look makes: the budget always keeps room for the next look.
    pub most: u32,
    /// Calls the wait may make before the budget counts: a short wait (a Lambda update that
    /// ends in two seconds) is looked at every `soon` from its start instead of waiting for the
    /// budget to build up; a long one settles at the budget's pace with these few calls over it.
    pub burst: u32,
}

impl Pace {
    /// The pause before the next look: `wanted`, or longer if `spent` calls `elapsed` into the
    /// wait leave no room in the budget for the next look's `most` calls.
    pub fn pause(&self, elapsed: Duration, spent: u32, wanted: Duration) -> Duration {
        let counted = (spent + self.most).saturating_sub(self.burst);
        let room = f64::from(counted) * 60.0 / self.per_minute;
        wanted.max(Duration::from_secs_f64(room).saturating_sub(elapsed))
    }

    /// Every pause divided by `scale` and the budget multiplied by it: the tests' emulator,
    /// whose scripted rollouts move one step per look (`AWS_ROLE_DEPLOY_TEST_TIME_SCALE`).
    pub fn scaled(self, scale: u32) -> Pace {
        let scale = scale.max(1);
        Pace {
            per_minute: self.per_minute * f64::from(scale),
            soon: self.soon / scale,
            later: self.later / scale,
            most: self.most,
            burst: self.burst,
        }
    }
}

/// Why a wait ended without its result.
#[derive(Debug)]
pub enum WaitEnd {
    /// The deadline passed. `unanswered`: the failure that kept the pipe from seeing, when the
    /// last looks failed.
    TimedOut { unanswered: Option<AwsFailure> },
    /// A failure that waiting does not cure.
    Stopped(AwsFailure),
}

pub struct Wait {
    /// Whose wait this is, for the lines it prints ("web", "one-off task 1a2b").
    what: String,
    deadline: Instant,
    min: Duration,
    max: Duration,
    through_conflicts: bool,
    /// What passes here instead of the kinds that pass by themselves (an STS-side outage).
    passing: Option<fn(&AwsFailure) -> bool>,
    /// At most this many looks, for trouble that is worth a few tries but not a long wait.
    attempts: Option<u32>,
    /// Spread the pauses, so that many pipelines retrying the same service do not line up.
    jitter: bool,
    pace: Option<Pace>,
}

/// A failure streak: the latest failure and how many looks in a row failed.
struct Streak {
    last: AwsFailure,
    count: u32,
}

impl Wait {
    pub fn new(what: impl Into<String>, deadline: Instant) -> Wait {
        Wait {
            what: what.into(),
            deadline,
            min: Duration::from_secs(1),
            max: Duration::from_secs(15),
            through_conflicts: false,
            passing: None,
            attempts: None,
            jitter: false,
            pace: None,
        }
    }

    /// Paced looks (see the module's documentation) instead of `polling`'s.
    pub fn paced(mut self, pace: Pace) -> Wait {
        self.pace = Some(pace);
        self
    }

    /// The shortest and longest pause between looks.
    pub fn polling(mut self, min: Duration, max: Duration) -> Wait {
        self.min = min;
        self.max = max.max(min);
        self
    }

    /// A resource busy with another change (Lambda's conflicts) becomes free by itself: wait
    /// through it too.
    pub fn through_conflicts(mut self) -> Wait {
        self.through_conflicts = true;
        self
    }

    /// Wait through the failures `passes` picks, instead of throttling, no response and
    /// server errors (which the SDK has retried already).
    pub fn through_only(mut self, passes: fn(&AwsFailure) -> bool) -> Wait {
        self.passing = Some(passes);
        self
    }

    /// Give up after `attempts` looks (the last failure ends the wait as `TimedOut`).
    pub fn at_most(mut self, attempts: u32) -> Wait {
        self.attempts = Some(attempts.max(1));
        self
    }

    /// Pauses vary by up to a quarter either way.
    pub fn jittered(mut self) -> Wait {
        self.jitter = true;
        self
    }

    /// Look with `poll` until it is ready, the deadline passes, or a failure will not pass.
    /// State that the looks share lives outside the closure (a `RefCell` the looks borrow),
    /// which keeps the returned futures `Send` where they need to be (credentials renewal).
    pub async fn until<T, F, Fut>(&self, mut poll: F) -> Result<T, WaitEnd>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Poll<T>, AwsFailure>>,
    {
        let mut interval = self.min;
        let mut streak: Option<Streak> = None;
        let mut looks = 0;
        let started = now();
        // Paced: the calls made so far, and whether the last look said the end is near.
        let (mut spent, mut soon) = (0u32, false);
        loop {
            looks += 1;
            // One look cannot outlast the deadline by more than a short margin, whatever the
            // SDK's own attempts and timeouts would allow: WAIT_TIMEOUT is a bound.
            let bounded = tokio::time::timeout_at((self.deadline + LOOK_MARGIN).into(), poll());
            let look = bounded.await.unwrap_or_else(|_| {
                Err(AwsFailure {
                    kind: FailureKind::NoResponse,
                    ..AwsFailure::local("wait", "no answer before WAIT_TIMEOUT ran out")
                })
            });
            match look {
                Ok(Poll::Ready(value)) => {
                    self.streak_over(streak.take());
                    return Ok(value);
                }
                Ok(Poll::Pending { news }) => {
                    self.streak_over(streak.take());
                    if news && self.pace.is_none() {
                        interval = self.min;
                    }
                    spent += self.pace.map_or(0, |pace| pace.most);
                    soon = false;
                }
                Ok(Poll::Paced { calls, soon: near }) => {
                    self.streak_over(streak.take());
                    spent += calls;
                    soon = near;
                }
                Err(failure) if self.tolerates(&failure) => match &mut streak {
                    Some(streak) => {
                        streak.last = failure;
                        streak.count += 1;
                    }
                    None => {
                        self.streak_begins(&failure);
                        streak = Some(Streak {
                            last: failure,
                            count: 1,
                        });
                    }
                },
                Err(failure) => return Err(WaitEnd::Stopped(failure)),
            }
            if streak.is_some() {
                spent += 1; // at least the call that failed
            }
            let left = self.deadline.saturating_duration_since(now());
            if left.is_zero() || self.attempts.is_some_and(|attempts| looks >= attempts) {
                return Err(WaitEnd::TimedOut {
                    unanswered: streak.map(|streak| streak.last),
                });
            }
            // The answer's own `Retry-After`, when it gave one, instead of this wait's pause.
            let asked = streak
                .as_ref()
                .and_then(|streak| streak.last.retry_after_secs)
                .map(|secs| Duration::from_secs(secs.into()));
            let pause = match (asked, self.pace) {
                (Some(asked), _) => asked,
                (None, Some(pace)) => {
                    let wanted = if soon { pace.soon } else { pace.later };
                    pace.pause(now().saturating_duration_since(started), spent, wanted)
                }
                (None, None) if self.jitter => jitter(interval),
                (None, None) => interval,
            };
            tokio::time::sleep(pause.min(left)).await;
            interval = interval.mul_f32(1.5).min(self.max);
        }
    }

    /// One call, made again while its failure passes (and through conflicts, when asked) until
    /// the deadline; then the last failure.
    pub async fn retry<T, F, Fut>(&self, mut call: F) -> Result<T, AwsFailure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, AwsFailure>>,
    {
        let result = self
            .until(|| {
                let attempt = call();
                async move { attempt.await.map(Poll::Ready) }
            })
            .await;
        result.map_err(|end| match end {
            WaitEnd::Stopped(failure)
            | WaitEnd::TimedOut {
                unanswered: Some(failure),
            } => failure,
            // Every look of a retry that is not ready failed, so the last one is always known.
            WaitEnd::TimedOut { unanswered: None } => AwsFailure::local("retry", "no attempt was made"),
        })
    }

    fn tolerates(&self, failure: &AwsFailure) -> bool {
        let passes = match self.passing {
            Some(passes) => passes(failure),
            None => failure.kind.passes(),
        };
        passes || (self.through_conflicts && failure.kind == FailureKind::Conflict)
    }

    fn streak_begins(&self, failure: &AwsFailure) {
        let what = &self.what;
        match failure.kind {
            FailureKind::Conflict => info!(
                "{what}: {} is busy with another change ({}); trying again until it is free",
                failure.operation,
                failure.code.as_deref().unwrap_or("conflict")
            ),
            _ => match self.attempts {
                Some(attempts) => warn!("{what}: {failure}; trying again ({attempts} attempts at most)"),
                None => warn!("{what}: {failure}; trying again until WAIT_TIMEOUT (said once until AWS answers again)"),
            },
        }
    }

    fn streak_over(&self, streak: Option<Streak>) {
        if let Some(streak) = streak.filter(|streak| streak.last.kind.passes()) {
            info!(
                "{}: AWS answers again, after {} failed attempt(s)",
                self.what, streak.count
            );
        }
    }
}

/// `interval` scaled by a factor from 0.75 to 1.25, from the clock's nanoseconds: enough to keep
/// concurrent retries apart, with no random-number crate in the image.
fn jitter(interval: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |now| now.subsec_nanos());
    interval.mul_f64(0.75 + f64::from(nanos % 1000) / 2000.0)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn failure(kind: FailureKind) -> AwsFailure {
        AwsFailure {
            kind,
            ..AwsFailure::local("ecs:DescribeServices", "trouble")
        }
    }

    /// In a test with the clock paused: `expected` passed since `started`, to the timer's
    /// resolution (tokio rounds a sleep up to the next millisecond).
    fn assert_took(started: Instant, expected: Duration) {
        let took = now() - started;
        assert!(
            took >= expected && took <= expected + MS,
            "took {took:?}, not {expected:?}"
        );
    }

    fn quick(deadline: Duration) -> Wait {
        Wait::new("test", now() + deadline).polling(MS, 5 * MS)
    }

    #[tokio::test]
    async fn passing_trouble_is_waited_through_until_ready() {
        for kind in [
            FailureKind::Throttled,
            FailureKind::NoResponse,
            FailureKind::ServerError,
        ] {
            let looks = &Cell::new(0);
            let result = quick(Duration::from_secs(10))
                .until(move || async move {
                    looks.set(looks.get() + 1);
                    match looks.get() {
                        1..=6 => Err(failure(kind)),
                        7 => Ok(Poll::Pending { news: true }),
                        _ => Ok(Poll::Ready(looks.get())),
                    }
                })
                .await;
            assert_eq!(result.unwrap(), 8, "{kind:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_answers_retry_after_replaces_the_waits_own_pause() {
        // The wait's own pause would be 8 s; the answer asks for 1 s.
        let wait = Wait::new("test", now() + Duration::from_secs(60)).polling(8000 * MS, 8000 * MS);
        let tries = &Cell::new(0);
        let started = now();
        let result = wait
            .retry(move || async move {
                tries.set(tries.get() + 1);
                if tries.get() == 1 {
                    Err(AwsFailure {
                        retry_after_secs: Some(1),
                        ..failure(FailureKind::Throttled)
                    })
                } else {
                    Ok(tries.get())
                }
            })
            .await;
        assert_eq!(result.unwrap(), 2);
        // The clock is paused: the one pause is exactly what was asked, in virtual time.
        assert_took(started, 1000 * MS);
    }

    #[tokio::test]
    async fn refusals_and_unrenewable_credentials_stop_at_once() {
        for kind in [
            FailureKind::Refused,
            FailureKind::CredentialsUnavailable,
            FailureKind::Conflict,
        ] {
            let looks = &Cell::new(0);
            let result: Result<(), WaitEnd> = quick(Duration::from_secs(10))
                .until(move || async move {
                    looks.set(looks.get() + 1);
                    Err(failure(kind))
                })
                .await;
            assert!(matches!(result, Err(WaitEnd::Stopped(f)) if f.kind == kind), "{kind:?}");
            assert_eq!(looks.get(), 1, "{kind:?}");
        }
    }

    #[tokio::test]
    async fn conflicts_pass_when_asked() {
        let calls = &Cell::new(0);
        let result = quick(Duration::from_secs(10))
            .through_conflicts()
            .retry(move || async move {
                calls.set(calls.get() + 1);
                if calls.get() < 3 {
                    Err(failure(FailureKind::Conflict))
                } else {
                    Ok(calls.get())
                }
            })
            .await;
        assert_eq!(result.unwrap(), 3);
    }

    #[tokio::test]
    async fn the_deadline_ends_the_wait_with_what_kept_it_blind() {
        let result: Result<(), WaitEnd> = quick(20 * MS)
            .until(|| async { Err(failure(FailureKind::ServerError)) })
            .await;
        assert!(matches!(result, Err(WaitEnd::TimedOut { unanswered: Some(f) }) if f.kind == FailureKind::ServerError));
        let result: Result<(), WaitEnd> = quick(20 * MS)
            .until(|| async { Ok(Poll::Pending { news: false }) })
            .await;
        assert!(matches!(result, Err(WaitEnd::TimedOut { unanswered: None })));
        let last = quick(20 * MS)
            .retry(|| async { Err::<(), _>(failure(FailureKind::Throttled)) })
            .await
            .unwrap_err();
        assert_eq!(last.kind, FailureKind::Throttled);
    }

    #[tokio::test]
    async fn a_few_attempts_through_what_the_caller_says_passes() {
        let calls = &Cell::new(0);
        let last = quick(Duration::from_secs(10))
            .through_only(|failure| failure.code_is("IDPCommunicationError"))
            .at_most(3)
            .jittered()
            .retry(move || async move {
                calls.set(calls.get() + 1);
                Err::<(), _>(AwsFailure {
                    code: Some("IDPCommunicationError".into()),
                    ..failure(FailureKind::Refused)
                })
            })
            .await
            .unwrap_err();
        assert_eq!(calls.get(), 3);
        assert!(last.code_is("IDPCommunicationError"));
        let calls = &Cell::new(0);
        let wait = quick(Duration::from_secs(10)).through_only(|failure| failure.code_is("IDPCommunicationError"));
        let other = wait
            .retry(move || async move {
                calls.set(calls.get() + 1);
                Err::<(), _>(failure(FailureKind::ServerError))
            })
            .await
            .unwrap_err();
        assert_eq!(
            (calls.get(), other.kind),
            (1, FailureKind::ServerError),
            "only what the caller picked passes"
        );
        let pause = jitter(Duration::from_secs(4));
        assert!(
            pause >= Duration::from_secs(3) && pause <= Duration::from_secs(5),
            "{pause:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_look_that_never_answers_ends_at_the_deadline_and_its_margin() {
        let started = now();
        let result: Result<(), WaitEnd> = quick(20 * MS).until(std::future::pending).await;
        assert!(matches!(result, Err(WaitEnd::TimedOut { unanswered: Some(f) }) if f.kind == FailureKind::NoResponse));
        // Virtual time: abandoned exactly at the deadline plus the margin, not a moment later.
        assert_took(started, 20 * MS + LOOK_MARGIN);
    }

    const PACE: Pace = Pace {
        per_minute: 15.0,
        soon: Duration::from_secs(2),
        later: Duration::from_secs(10),
        most: 2,
        burst: 0,
    };

    /// Looks at the pauses `Pace::pause` gives, each costing `calls`, the end near from `near_at`
    /// on: (looks made by `until`, calls spent).
    fn simulate(pace: Pace, until: Duration, near_at: Duration, calls: u32) -> (u32, u32) {
        let (mut at, mut spent, mut looks) = (Duration::ZERO, 0, 0);
        while at < until {
            looks += 1;
            spent += calls;
            let wanted = if at >= near_at { pace.soon } else { pace.later };
            at += pace.pause(at, spent, wanted);
        }
        (looks, spent)
    }

    #[test]
    fn a_paced_wait_never_spends_more_than_its_budget() {
        for (minutes, near, calls) in [(1, 0, 1), (1, 0, 2), (5, 120, 1), (3, 170, 2), (2, 200, 1)] {
            let until = Duration::from_secs(60 * minutes);
            let (_, spent) = simulate(PACE, until, Duration::from_secs(near), calls);
            // The budget counts the next look at its most: the looks up to `until` fit in it.
            assert!(
                f64::from(spent) <= PACE.per_minute * minutes as f64 + f64::from(PACE.most),
                "{minutes} min, near at {near} s, {calls} call(s) a look: {spent} calls"
            );
        }
    }

    #[test]
    fn a_paced_wait_looks_often_only_when_the_end_is_near() {
        let minute = Duration::from_secs(60);
        // Never near: a look every `later` (10 s; the first pause leaves room in the budget).
        let (far, _) = simulate(PACE, minute, Duration::MAX, 1);
        assert_eq!(far, 6, "looks in a minute while the end cannot come");
        // Near from 40 s on: what the far looks saved is spent on 2 s pauses (7 more looks in
        // that minute), then the budget holds (a look every 4 s).
        let (near, _) = simulate(PACE, minute, Duration::from_secs(40), 1);
        assert!(near >= far + 7, "{near} looks");
        let (looks, spent) = simulate(PACE, minute + minute, Duration::from_secs(40), 1);
        assert!(spent <= 32 && looks - near <= 15, "{looks} looks, {spent} calls");
        // The budget binds a long stretch of near looks: 150 calls in 10 minutes is all of it,
        // so the next look waits until there is room for its 2 calls at most (2 × 4 s).
        assert_eq!(
            PACE.pause(Duration::from_secs(600), 150, PACE.soon),
            Duration::from_secs(8)
        );
        assert_eq!(PACE.pause(Duration::from_secs(600), 100, PACE.soon), PACE.soon);
        // And scaled for the tests' emulator: ten times the looks, the same shape.
        let fast = PACE.scaled(10);
        assert_eq!(
            (fast.soon, fast.later, fast.per_minute),
            (PACE.soon / 10, PACE.later / 10, 150.0)
        );
    }

    #[test]
    fn a_burst_looks_soon_from_the_start_then_the_budget_holds() {
        let short = Pace {
            per_minute: 15.0,
            soon: Duration::from_secs(1),
            later: Duration::from_secs(1),
            most: 1,
            burst: 3,
        };
        // Without the burst the first pause already waits for the budget (one call, 4 s).
        let plain = Pace { burst: 0, ..short };
        assert_eq!(plain.pause(Duration::ZERO, 1, plain.soon), Duration::from_secs(8));
        // With it, the first three looks come a second apart...
        for (at, spent) in [(0, 1), (1, 2)] {
            assert_eq!(short.pause(Duration::from_secs(at), spent, short.soon), short.soon);
        }
        // ...then the budget counts the calls past the burst: the fourth look's room is 4 s.
        assert_eq!(
            short.pause(Duration::from_secs(2), 3, short.soon),
            Duration::from_secs(2)
        );
        // Over ten minutes the burst is all it spends beyond the budget.
        let (_, spent) = simulate(short, Duration::from_secs(600), Duration::ZERO, 1);
        assert!(spent <= 150 + 3 + 1, "{spent} calls in ten minutes");
    }

    #[tokio::test(start_paused = true)]
    async fn a_paced_wait_counts_the_calls_of_its_looks() {
        let fast = Pace {
            per_minute: 6000.0, // 10 ms a call
            soon: MS,
            later: MS,
            most: 5,
            burst: 0,
        };
        let looks = &Cell::new(0);
        let started = now();
        let result = quick(Duration::from_secs(10))
            .paced(fast)
            .until(move || async move {
                looks.set(looks.get() + 1);
                if looks.get() == 4 {
                    Ok(Poll::Ready(()))
                } else {
                    Ok(Poll::Paced { calls: 5, soon: true })
                }
            })
            .await;
        assert!(result.is_ok());
        // 3 looks of 5 calls, room kept for a 4th: 20 calls at 10 ms each before the 4th look
        // (pauses of 100, 50 and 50 ms, in virtual time).
        assert_took(started, 200 * MS);
    }

    #[tokio::test(start_paused = true)]
    async fn never_sleeps_past_the_deadline() {
        let wait = Wait::new("test", now() + 30 * MS).polling(Duration::from_secs(60), Duration::from_secs(60));
        let started = now();
        let result: Result<(), WaitEnd> = wait.until(|| async { Ok(Poll::Pending { news: false }) }).await;
        assert!(matches!(result, Err(WaitEnd::TimedOut { .. })));
        assert_took(started, 30 * MS);
    }
}
