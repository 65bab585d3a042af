//! Following something AWS does over time (deployments, one-off tasks, function updates) under
//! one deadline: poll quickly at first and after anything new, so short waits end soon, and
//! slow down while nothing changes, so long ones do not hammer the API.

use std::time::{Duration, Instant};

pub struct Poller {
    interval: Duration,
    min: Duration,
    max: Duration,
    deadline: Instant,
}

impl Poller {
    pub fn new(min: Duration, max: Duration, deadline: Instant) -> Poller {
        Poller {
            interval: min,
            min,
            max,
            deadline,
        }
    }

    /// Something changed: look again soon.
    pub fn news(&mut self) {
        self.interval = self.min;
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Sleep until the next poll (never past the deadline), then lengthen the interval.
    pub async fn pause(&mut self) {
        tokio::time::sleep(
            self.interval
                .min(self.deadline.saturating_duration_since(Instant::now())),
        )
        .await;
        self.interval = self.interval.mul_f32(1.5).min(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn intervals_grow_reset_on_news_and_stop_at_the_deadline() {
        let mut poller = Poller::new(
            Duration::from_millis(10),
            Duration::from_millis(25),
            Instant::now() + Duration::from_secs(5),
        );
        poller.pause().await;
        assert_eq!(poller.interval, Duration::from_millis(15));
        poller.pause().await;
        poller.pause().await;
        assert_eq!(poller.interval, Duration::from_millis(25));
        poller.news();
        assert_eq!(poller.interval, Duration::from_millis(10));

        let mut late = Poller::new(
            Duration::from_secs(60),
            Duration::from_secs(60),
            Instant::now() + Duration::from_millis(20),
        );
        let started = Instant::now();
        late.pause().await;
        assert!(started.elapsed() < Duration::from_secs(30), "slept past the deadline");
        assert!(late.expired());
    }
}
