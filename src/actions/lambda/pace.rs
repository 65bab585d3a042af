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
//!   SnapStart Lambda takes its snapshot first, seconds to minutes. A provisioned-concurrency
//!   allocation takes minutes: more than three (hashicorp/terraform-provider-aws#31981), three
//!   to four in the provider's acceptance tests (#31991); an alias without one is answered by
//!   the first look. Both: one look at once, then the budget's pace from the start (burst 0,
//!   the first look counted), so a wait of minutes stays within 15 calls a minute.
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

/// A published version until Active, a provisioned-concurrency allocation until READY: over
/// at the first look, or in minutes.
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

    /// The moments (seconds from the first look) of the looks a wait of `seconds` makes.
    fn looks(pace: Pace, seconds: f64) -> Vec<f64> {
        let (mut at, mut spent, mut moments) = (Duration::ZERO, 0, Vec::new());
        while at.as_secs_f64() <= seconds {
            moments.push(at.as_secs_f64());
            spent += 1;
            at += pace.pause(at, spent, pace.soon);
        }
        moments
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
    fn the_tests_scale_divides_the_pauses() {
        assert_eq!(update(10).soon, Duration::from_millis(100));
        assert_eq!(minutes(10).later, Duration::from_millis(400));
    }
}
