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

use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::{AwsFailure, FailureKind};

/// What one look at the thing waited for found.
pub enum Poll<T> {
    Ready(T),
    /// Not there yet; `news` when something changed since the last look (poll again soon).
    Pending {
        news: bool,
    },
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
        }
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

    /// Look with `poll` until it is ready, the deadline passes, or a failure will not pass.
    pub async fn until<T>(&self, mut poll: impl AsyncFnMut() -> Result<Poll<T>, AwsFailure>) -> Result<T, WaitEnd> {
        let mut interval = self.min;
        let mut streak: Option<Streak> = None;
        loop {
            match poll().await {
                Ok(Poll::Ready(value)) => {
                    self.streak_over(streak.take());
                    return Ok(value);
                }
                Ok(Poll::Pending { news }) => {
                    self.streak_over(streak.take());
                    if news {
                        interval = self.min;
                    }
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
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(WaitEnd::TimedOut {
                    unanswered: streak.map(|streak| streak.last),
                });
            }
            tokio::time::sleep(interval.min(left)).await;
            interval = interval.mul_f32(1.5).min(self.max);
        }
    }

    /// One call, made again while its failure passes (and through conflicts, when asked) until
    /// the deadline; then the last failure.
    pub async fn retry<T>(&self, mut call: impl AsyncFnMut() -> Result<T, AwsFailure>) -> Result<T, AwsFailure> {
        let mut last = None;
        let result = self
            .until(async || match call().await {
                Ok(value) => Ok(Poll::Ready(value)),
                Err(failure) => {
                    last = Some(failure.clone());
                    Err(failure)
                }
            })
            .await;
        result.map_err(|end| match end {
            WaitEnd::Stopped(failure)
            | WaitEnd::TimedOut {
                unanswered: Some(failure),
            } => failure,
            WaitEnd::TimedOut { unanswered: None } => {
                last.unwrap_or_else(|| AwsFailure::local("retry", "the deadline passed before the first attempt"))
            }
        })
    }

    fn tolerates(&self, failure: &AwsFailure) -> bool {
        failure.kind.passes() || (self.through_conflicts && failure.kind == FailureKind::Conflict)
    }

    fn streak_begins(&self, failure: &AwsFailure) {
        let what = &self.what;
        match failure.kind {
            FailureKind::Conflict => info!(
                "{what}: {} is busy with another change ({}); trying again until it is free",
                failure.operation,
                failure.code.as_deref().unwrap_or("conflict")
            ),
            _ => warn!("{what}: {failure}; trying again until WAIT_TIMEOUT (said once until AWS answers again)"),
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

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn failure(kind: FailureKind) -> AwsFailure {
        AwsFailure {
            kind,
            ..AwsFailure::local("ecs:DescribeServices", "trouble")
        }
    }

    fn quick(deadline: Duration) -> Wait {
        Wait::new("test", Instant::now() + deadline).polling(MS, 5 * MS)
    }

    #[tokio::test]
    async fn passing_trouble_is_waited_through_until_ready() {
        for kind in [
            FailureKind::Throttled,
            FailureKind::NoResponse,
            FailureKind::ServerError,
        ] {
            let mut looks = 0;
            let result = quick(Duration::from_secs(10))
                .until(async || {
                    looks += 1;
                    match looks {
                        1..=6 => Err(failure(kind)),
                        7 => Ok(Poll::Pending { news: true }),
                        _ => Ok(Poll::Ready(looks)),
                    }
                })
                .await;
            assert_eq!(result.unwrap(), 8, "{kind:?}");
        }
    }

    #[tokio::test]
    async fn refusals_and_unrenewable_credentials_stop_at_once() {
        for kind in [
            FailureKind::Refused,
            FailureKind::CredentialsUnavailable,
            FailureKind::Conflict,
        ] {
            let mut looks = 0;
            let result: Result<(), WaitEnd> = quick(Duration::from_secs(10))
                .until(async || {
                    looks += 1;
                    Err(failure(kind))
                })
                .await;
            assert!(matches!(result, Err(WaitEnd::Stopped(f)) if f.kind == kind), "{kind:?}");
            assert_eq!(looks, 1, "{kind:?}");
        }
    }

    #[tokio::test]
    async fn conflicts_pass_when_asked() {
        let mut calls = 0;
        let result = quick(Duration::from_secs(10))
            .through_conflicts()
            .retry(async || {
                calls += 1;
                if calls < 3 {
                    Err(failure(FailureKind::Conflict))
                } else {
                    Ok(calls)
                }
            })
            .await;
        assert_eq!(result.unwrap(), 3);
    }

    #[tokio::test]
    async fn the_deadline_ends_the_wait_with_what_kept_it_blind() {
        let result: Result<(), WaitEnd> = quick(20 * MS)
            .until(async || Err(failure(FailureKind::ServerError)))
            .await;
        assert!(matches!(result, Err(WaitEnd::TimedOut { unanswered: Some(f) }) if f.kind == FailureKind::ServerError));
        let result: Result<(), WaitEnd> = quick(20 * MS).until(async || Ok(Poll::Pending { news: false })).await;
        assert!(matches!(result, Err(WaitEnd::TimedOut { unanswered: None })));
        let last = quick(20 * MS)
            .retry(async || Err::<(), _>(failure(FailureKind::Throttled)))
            .await
            .unwrap_err();
        assert_eq!(last.kind, FailureKind::Throttled);
    }

    #[tokio::test]
    async fn never_sleeps_past_the_deadline() {
        let wait =
            Wait::new("test", Instant::now() + 30 * MS).polling(Duration::from_secs(60), Duration::from_secs(60));
        let started = Instant::now();
        let result: Result<(), WaitEnd> = wait.until(async || Ok(Poll::Pending { news: false })).await;
        assert!(matches!(result, Err(WaitEnd::TimedOut { .. })));
        assert!(started.elapsed() < Duration::from_secs(30), "slept past the deadline");
    }
}
