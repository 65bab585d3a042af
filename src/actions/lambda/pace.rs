//! How often the Lambda waits look: issue 23's frontier, completion noticed about 2 s after
//! Lambda records it at no more than 15 calls a minute. A poller notices an end half a pause
//! late on average, so the looks go where the ends are:
//!
//! - An update (LastUpdateStatus InProgress, then Successful) takes about a second for a zip
//!   function outside a VPC and about 25 s for an image or a function in a VPC
//!   (aws/aws-cdk#18536, measured when Lambda states reached every function), up to two
//!   minutes for a large image (fujiwara/lambroll#313). Most end within seconds, so the first
//!   `UPDATE_BURST` looks come every second (an update over within 2 s costs three calls,
//!   noticed within a second); past them the budget's pace, a look every 4 s: 2 s late in the
//!   median, 15 calls a minute plus the burst's few. A function busy with another change (ResourceConflictException)
//!   is free when that change ends, so a call refused so is tried again at the same pace.
//! - A published version is Active at once without SnapStart (the first look says so); with
//!   SnapStart Lambda takes its snapshot first, seconds to minutes, nothing saying when: one
//!   look at once, then the budget's pace from the start (burst 0, the first look counted).
//! - A provisioned-concurrency allocation takes minutes: more than three
//!   (hashicorp/terraform-provider-aws#31981); in the provider's acceptance tests, waiting for
//!   READY adds about two and a half to a run of one minute without it (#31991). An alias
//!   without one, or whose allocation is done, is answered by the first look. Otherwise a look
//!   every 10 s for the first minute, where an end is unlikely, then every 3 s on the calls
//!   saved until the budget binds (about 2.5 minutes in), then every 4 s: 1.5 s late in the
//!   median for an end in that stretch, 2 s after it, never more than 15 calls a minute.
//! - Each look is one call (`most`), and what it finds is printed as it comes.

use std::time::Duration;

use crate::aws::wait::Pace;

/// AWS calls a minute over a wait: one look every 4 s, noticed 2 s late in the median.
const PER_MINUTE: f64 = 15.0;
/// The pause between the first looks at an update.
const UPDATE_SOON: Duration = Duration::from_secs(1);
/// The looks at an update before the budget counts: its first three seconds, every second.
const UPDATE_BURST: u32 = 4;
/// The budget's own pause (60 s / 15).
const BUDGET_PAUSE: Duration = Duration::from_secs(4);

/// The function's update or state (and a call refused while the function is busy).
pub fn update(scale: u32) -> Pace {
    Pace {
        per_minute: PER_MINUTE,
        soon: UPDATE_SOON,
        // An update can end any moment: no phase where it cannot.
        later: UPDATE_SOON,
        most: 1,
        burst: UPDATE_BURST,
    }
    .scaled(scale)
}

/// The allocation's looks come `ALLOCATION_SOON` apart from this long after it started.
pub const ALLOCATION_SOON_AFTER: Duration = Duration::from_secs(60);
const ALLOCATION_SOON: Duration = Duration::from_secs(3);
const ALLOCATION_LATER: Duration = Duration::from_secs(10);

/// A provisioned-concurrency allocation until READY: over at the first look, or in minutes.
pub fn allocation(scale: u32) -> Pace {
    Pace {
        per_minute: PER_MINUTE,
        soon: ALLOCATION_SOON,
        later: ALLOCATION_LATER,
        most: 1,
        burst: 0,
    }
    .scaled(scale)
}

/// A published version until Active: over at the first look, or in seconds to minutes.
pub fn minutes(scale: u32) -> Pace {
    Pace {
        per_minute: PER_MINUTE,
        soon: BUDGET_PAUSE,
        later: BUDGET_PAUSE,
        most: 1,
        burst: 0,
    }
    .scaled(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The moments (seconds from the first look) of the looks a wait of `seconds` makes, the
    /// pause `soon` from `soon_after` on.
    fn looks_with(pace: Pace, seconds: f64, soon_after: f64) -> Vec<f64> {
        let (mut at, mut spent, mut moments) = (Duration::ZERO, 0, Vec::new());
        while at.as_secs_f64() <= seconds {
            moments.push(at.as_secs_f64());
            spent += 1;
            let wanted = if at.as_secs_f64() >= soon_after {
                pace.soon
            } else {
                pace.later
            };
            at += pace.pause(at, spent, wanted);
        }
        moments
    }

    fn looks(pace: Pace, seconds: f64) -> Vec<f64> {
        looks_with(pace, seconds, 0.0)
    }

    #[test]
    fn an_update_is_looked_at_every_second_at_first_then_every_four() {
        assert_eq!(looks(update(1), 20.0), [0.0, 1.0, 2.0, 3.0, 4.0, 8.0, 12.0, 16.0, 20.0]);
        // An update over within 2 s: three looks, the third a second after its end at most.
        assert_eq!(looks(update(1), 2.0).len(), 3);
        // Ten minutes: the budget and the burst, no more.
        let calls = looks(update(1), 600.0).len();
        assert!(calls <= 150 + 4 + 1, "{calls} calls in ten minutes");
    }

    #[test]
    fn a_wait_of_minutes_keeps_to_the_budget_from_its_first_look() {
        assert_eq!(looks(minutes(1), 20.0), [0.0, 8.0, 12.0, 16.0, 20.0]);
        for seconds in [60.0, 180.0, 240.0] {
            let calls = looks(minutes(1), seconds).len() as f64;
            assert!(calls / (seconds / 60.0) <= 15.0, "{calls} calls in {seconds} s");
        }
    }

    #[test]
    fn an_allocation_is_looked_at_closer_after_its_first_minute_within_the_budget() {
        let soon_after = ALLOCATION_SOON_AFTER.as_secs_f64();
        let moments = looks_with(allocation(1), 300.0, soon_after);
        let first_minute: Vec<f64> = moments.iter().copied().filter(|at| *at <= soon_after).collect();
        assert_eq!(first_minute, [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0]);
        let gaps: Vec<f64> = moments.windows(2).map(|pair| pair[1] - pair[0]).collect();
        // 3 s apart on the saved calls, then the budget's 4 s, never less than 3.
        assert!(
            gaps.iter().skip(6).take(20).all(|gap| (*gap - 3.0).abs() < 1e-9),
            "{gaps:?}"
        );
        assert!(
            gaps.iter().rev().take(10).all(|gap| (*gap - 4.0).abs() < 1e-9),
            "{gaps:?}"
        );
        for seconds in [60.0, 120.0, 180.0, 300.0] {
            let calls = moments.iter().filter(|at| **at <= seconds).count() as f64;
            assert!(calls <= 15.0 * seconds / 60.0 + 1.0, "{calls} calls in {seconds} s");
        }
    }

    #[test]
    fn the_tests_scale_divides_the_pauses() {
        assert_eq!(update(10).soon, Duration::from_millis(100));
        assert_eq!(minutes(10).later, Duration::from_millis(400));
    }
}
