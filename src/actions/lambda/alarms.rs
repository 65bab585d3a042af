//! `ALARMS` during a traffic shift: CloudWatch alarms checked before anything changes (each
//! must exist, none may be in ALARM), again as the shift starts, and throughout the shift's
//! holds; one in ALARM stops the shift (the caller puts the alias back). Only ALARM does, as in
//! CodeDeploy ("If any of the specified alarms are activated, the deployment stops":
//! https://docs.aws.amazon.com/codedeploy/latest/userguide/monitoring-create-alarms.html):
//! INSUFFICIENT_DATA (a new alarm, or a metric with no datapoints yet, as a canary's often has)
//! is said, not acted on. Alarms that cannot be read stop the shift, as CodeDeploy's default
//! (`ignorePollAlarmFailure` false) does.

use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::busy;
use crate::aws::{AlarmState, AwsFailure, CloudWatch};
use crate::error::Error;

/// How often the alarms are read while traffic is split (divided by the tests' time scale).
const POLL: Duration = Duration::from_secs(10);
/// The shortest pause between reads, whatever the scale.
const POLL_MIN: Duration = Duration::from_millis(100);

/// Why a watch ended a shift.
pub(super) enum Stop {
    /// An alarm is in ALARM: the shift is rolled back.
    Firing(Error),
    /// The alarms could not be read: the shift cannot go on blind.
    Unreadable(Error),
}

impl Stop {
    pub(super) fn into_error(self) -> Error {
        match self {
            Stop::Firing(error) | Stop::Unreadable(error) => error,
        }
    }
}

pub(super) struct Watch<'a> {
    pub(super) cloudwatch: CloudWatch,
    pub(super) names: &'a [String],
    pub(super) alias: &'a str,
    /// The tests' time scale (1 in a real deployment).
    pub(super) scale: u32,
    pub(super) deadline: Instant,
}

impl Watch<'_> {
    /// Before any change: every alarm exists (exit 2 otherwise), and none is in ALARM.
    pub(super) async fn check_before_any_change(&self) -> Result<(), Error> {
        let alarms = self.read().await.map_err(Stop::into_error)?;
        let missing: Vec<&str> = self
            .names
            .iter()
            .filter(|name| !alarms.iter().any(|alarm| &alarm.name == *name))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(Error::BadInput {
                summary: format!(
                    "ALARMS names {}, which CloudWatch does not have in this region (DescribeAlarms does not return \
                     them), so nothing was changed",
                    missing.join(", ")
                ),
                details: vec![
                    "Check the names (they are case-sensitive) and the region. A composite alarm is returned only to \
                     a role allowed cloudwatch:DescribeAlarms on every alarm (Resource \"*\")."
                        .to_owned(),
                    "Check ALARMS.".to_owned(),
                ],
            });
        }
        if let Some(firing) = firing(&alarms) {
            return Err(Error::failed(
                format!(
                    "Alarm {} is in ALARM already ({}), so the traffic shift did not start and nothing was changed",
                    firing.name, firing.reason
                ),
                vec![
                    "The old version is not healthy either: deal with what the alarm says, then run the step again."
                        .to_owned(),
                ],
            ));
        }
        info!(
            "ALARMS: {} (none in ALARM); watched during the traffic shift",
            self.names.join(", ")
        );
        let waiting: Vec<&str> = alarms
            .iter()
            .filter(|alarm| alarm.state == "INSUFFICIENT_DATA")
            .map(|alarm| alarm.name.as_str())
            .collect();
        if !waiting.is_empty() {
            info!(
                "ALARMS: {} in INSUFFICIENT_DATA (no datapoints to judge yet): only ALARM stops the shift, as in \
                 CodeDeploy",
                waiting.join(", ")
            );
        }
        Ok(())
    }

    /// One look: an alarm in ALARM stops the shift.
    pub(super) async fn check(&self) -> Result<(), Stop> {
        let alarms = self.read().await?;
        match firing(&alarms) {
            Some(alarm) => Err(Stop::Firing(Error::failed(
                format!(
                    "Alarm {} went to ALARM during the traffic shift of alias {}: {}",
                    alarm.name, self.alias, alarm.reason
                ),
                Vec::new(),
            ))),
            None => Ok(()),
        }
    }

    /// Hold the current split for `hold` (scaled), reading the alarms every `POLL`, and once
    /// more at its end: the next step goes ahead only after a look that found none in ALARM.
    pub(super) async fn hold(&self, hold: Duration) -> Result<(), Stop> {
        let scale = self.scale.max(1);
        let until = Instant::now() + hold / scale;
        let every = (POLL / scale).max(POLL_MIN);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            tokio::time::sleep(left.min(every)).await;
            self.check().await?;
            if Instant::now() >= until {
                return Ok(());
            }
        }
    }

    /// DescribeAlarms of the names, through what passes (throttling, no answer) until the deadline.
    async fn read(&self) -> Result<Vec<AlarmState>, Stop> {
        let cloudwatch = &self.cloudwatch;
        let names = self.names;
        busy("ALARMS", self.deadline)
            .retry(|| async move { cloudwatch.describe_alarms(names).await })
            .await
            .map_err(|failure: AwsFailure| {
                warn!("ALARMS could not be read: {failure}");
                let mut error = failure.into_error();
                error = error.with_details(vec![
                    "The alarms must be readable throughout the shift (cloudwatch:DescribeAlarms); check ALARMS and \
                     the role's permissions."
                        .to_owned(),
                ]);
                Stop::Unreadable(error)
            })
    }
}

fn firing(alarms: &[AlarmState]) -> Option<&AlarmState> {
    alarms.iter().find(|alarm| alarm.state == "ALARM")
}
