//! After an alias moves: when it has a provisioned-concurrency configuration, Lambda allocates
//! the new version's execution environments, and until it has (Status IN_PROGRESS) the alias's
//! traffic spills onto cold on-demand instances. Wait until READY; FAILED is the deploy's
//! failure, and says where the alias now points. Reusable by any action that moves an alias.

use std::cell::RefCell;
use std::time::Instant;

use aws_sdk_lambda::types::ProvisionedConcurrencyStatusEnum as Status;
use tracing::{info, warn};

use super::pace;
use crate::aws::wait::{self, Poll, Wait, WaitEnd};
use crate::aws::{self, AwsFailure, FailureKind};
use crate::error::Error;

/// Where an alias points now, for what a failure says.
pub(crate) struct MovedAlias<'a> {
    pub(crate) function: &'a str,
    pub(crate) alias: &'a str,
    pub(crate) version: &'a str,
    /// The version it pointed at before (None: created by this step).
    pub(crate) from: Option<&'a str>,
}

impl MovedAlias<'_> {
    fn whereabouts(&self) -> String {
        match self.from {
            Some(from) if from != self.version => format!(
                "Alias {} now points at version {} (it pointed at version {from} before this step).",
                self.alias, self.version
            ),
            _ => format!("Alias {} now points at version {}.", self.alias, self.version),
        }
    }
}

/// What the allocation came to: "READY, 4 of 4 allocated"; None when the alias has no
/// provisioned concurrency (or it could not be read: a warning says so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Allocation {
    pub(crate) requested: i32,
    pub(crate) allocated: i32,
}

/// Wait until the alias's provisioned concurrency is READY (`deadline`: WAIT_TIMEOUT's), at
/// `pace::allocation` (sped up `scale` times for the tests).
pub(crate) async fn wait_ready(
    lambda: &aws_sdk_lambda::Client,
    moved: &MovedAlias<'_>,
    deadline: Instant,
    scale: u32,
) -> Result<Option<Allocation>, Error> {
    let (function, alias) = (moved.function, moved.alias);
    let last_seen = &RefCell::new(String::new());
    let wait = Wait::new(format!("{function} alias {alias}"), deadline).paced(pace::allocation(scale));
    // Allocations take minutes: the looks come closer once the first minute is over.
    let (started, soon_after) = (wait::now(), pace::ALLOCATION_SOON_AFTER / scale.max(1));
    let result = wait
        .until(move || async move {
            let request = lambda
                .get_provisioned_concurrency_config()
                .function_name(function)
                .qualifier(alias);
            let config = match aws::call("lambda:GetProvisionedConcurrencyConfig", request.send()).await {
                Ok(config) => config,
                Err(failure) if failure.code_is("ProvisionedConcurrencyConfigNotFoundException") => {
                    return Ok(Poll::Ready(Ok(None)));
                }
                Err(failure) => return Err(failure),
            };
            let requested = config.requested_provisioned_concurrent_executions().unwrap_or(0);
            let allocated = config.allocated_provisioned_concurrent_executions().unwrap_or(0);
            let status = config.status().cloned().unwrap_or(Status::Ready);
            let seen = format!("{}, {allocated} of {requested} allocated", status.as_str());
            let news = seen != *last_seen.borrow();
            if news {
                info!(
                    "Provisioned concurrency of {function} alias {alias} (version {}): {seen}",
                    moved.version
                );
                *last_seen.borrow_mut() = seen;
            }
            let allocation = Allocation { requested, allocated };
            Ok(match status {
                Status::Ready => Poll::Ready(Ok(Some(allocation))),
                Status::Failed => Poll::Ready(Err(Error::failed(
                    format!(
                        "Provisioned concurrency of {function} alias {alias} FAILED for version {}: {}",
                        moved.version,
                        config.status_reason().unwrap_or("no reason given")
                    ),
                    vec![
                        moved.whereabouts(),
                        "Until provisioned concurrency is allocated, the alias's invocations run on on-demand \
                         instances (cold starts). FUNCTION_ERROR_INIT_FAILURE: the version's initialisation fails; \
                         its logs say why."
                            .to_owned(),
                    ],
                ))),
                _ => Poll::Paced {
                    calls: 1,
                    soon: wait::now().saturating_duration_since(started) >= soon_after,
                },
            })
        })
        .await;
    match result {
        Ok(verdict) => verdict,
        Err(WaitEnd::TimedOut { unanswered }) => {
            let mut details = vec![
                moved.whereabouts(),
                "Lambda goes on allocating; meanwhile the alias's invocations beyond what is allocated run on \
                 on-demand instances. A longer WAIT_TIMEOUT waits for it."
                    .to_owned(),
            ];
            details.extend(unanswered.map(|failure| format!("The last checks failed: {failure}")));
            Err(Error::failed(
                format!(
                    "Provisioned concurrency of {function} alias {alias} was still not READY ({}) when WAIT_TIMEOUT ran out",
                    last_seen.borrow()
                ),
                details,
            ))
        }
        Err(WaitEnd::Stopped(failure)) if is_refused(&failure) => {
            warn!(
                "Could not check the provisioned concurrency of {function} alias {alias} ({failure}); grant \
                 lambda:GetProvisionedConcurrencyConfig on the alias's ARN to have the pipe wait until it is READY"
            );
            Ok(None)
        }
        Err(WaitEnd::Stopped(failure)) => Err(failure.into_error().with_details([moved.whereabouts()])),
    }
}

fn is_refused(failure: &AwsFailure) -> bool {
    failure.kind == FailureKind::Refused
        && (failure.code_is("AccessDeniedException") || failure.code_is("AccessDenied"))
}

impl std::fmt::Display for Allocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "READY, {} of {} allocated", self.allocated, self.requested)
    }
}
