//! Waiting for the scan of one manifest: not there yet, started when nothing will start it,
//! in progress, and how it ended.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use aws_sdk_ecr::config::retry::RetryConfig;
use aws_sdk_ecr::operation::describe_image_scan_findings::DescribeImageScanFindingsOutput;
use aws_sdk_ecr::types::{ImageIdentifier, ScanStatus};
use tracing::info;

use super::Target;
use crate::aws::wait::{Pace, Poll, Wait, WaitEnd};
use crate::aws::{self, AwsFailure, Clients};
use crate::domain::context::RunContext;
use crate::domain::ecr::EcrSettings;
use crate::error::Error;

/// How long a scan that no scanner started is waited for, after `StartImageScan` was refused
/// (or with scan on push, before starting one): enhanced scanning's own rules may still start it.
const GRACE: Duration = Duration::from_secs(30);

/// How often the scan is looked at: issue 23's budget, 15 calls a minute, spent evenly, which is
/// a look every 4 s and completion noticed 2 s after ECR records it in the median.
///
/// A scan shows no progress while it runs (IN_PROGRESS or PENDING until it ends), and AWS gives no
/// estimate of how long one takes (https://github.com/aws/containers-roadmap/issues/1600): users
/// report an enhanced scan on push done after four or five looks 5 s apart
/// (https://github.com/aws/aws-sdk/issues/289) and basic scans of 20 minutes on bad days
/// (https://github.com/alexjurkiewicz/ecr-scan-image/issues/24). With nothing telling where the end
/// is near, no schedule notices it sooner for the same calls than an even one, so the budget alone
/// sets the pace: `soon` and `later` are only a floor, short enough that the looks keep to the
/// budget's 4 s grid from the wait's start (a pause of 4 s after each look would add every look's
/// own time to the grid, and fall behind it) and catch up after a look that took long, no faster
/// than a look every 2 s. The first look comes at once (a digest pushed before was scanned then:
/// its scan is complete already; `burst` 1 is that look); the budget keeps the second 8 s out, as
/// it keeps room for a look at its `most` (one that finds no scan starts one), so a scan that ends
/// within 8 s of the push is noticed up to 8 s late; after that, a look every 4 s.
const PACE: Pace = Pace {
    per_minute: 15.0,
    soon: Duration::from_secs(2),
    later: Duration::from_secs(2),
    most: 2,
    burst: 1,
};

/// How a scan ended when it gave no findings.
#[derive(Debug)]
pub(super) enum Ended {
    Complete(Box<DescribeImageScanFindingsOutput>),
    /// FAILED, UNSUPPORTED_IMAGE and the other statuses without findings: (status, description).
    NoFindings(String, String),
    /// No scanner scans it: why.
    NotScanned(String),
}

#[derive(Default)]
struct Progress {
    status: Option<String>,
    not_found_since: Option<Instant>,
    start: Start,
}

#[derive(Default, PartialEq)]
enum Start {
    #[default]
    NotTried,
    /// Started, or one exists already (LimitExceededException).
    Done,
    /// Refused: why, and when.
    Refused(String, Instant),
}

fn image_id(target: &Target) -> ImageIdentifier {
    ImageIdentifier::builder().image_digest(&target.digest).build()
}

pub(super) async fn describe(
    settings: &EcrSettings,
    clients: &Clients,
    target: &Target,
    next_token: Option<String>,
) -> Result<DescribeImageScanFindingsOutput, AwsFailure> {
    aws::call(
        "ecr:DescribeImageScanFindings",
        clients
            .ecr()
            .describe_image_scan_findings()
            .repository_name(settings.repository.as_str())
            .set_registry_id(settings.registry_id.clone())
            .image_id(image_id(target))
            .max_results(1000)
            .set_next_token(next_token)
            .send(),
    )
    .await
}

pub(super) async fn wait(
    run: &RunContext,
    settings: &EcrSettings,
    clients: &Clients,
    target: &Target,
    scan_on_push: bool,
    shown: &str,
) -> Result<Ended, Error> {
    let progress = RefCell::new(Progress::default());
    let waited = Wait::new(format!("scan of {shown}"), run.deadline)
        .paced(PACE.scaled(run.pace_scale))
        .until(|| look(settings, clients, target, scan_on_push, shown, &progress))
        .await;
    match waited {
        Ok(ended) => Ok(ended),
        Err(WaitEnd::TimedOut { unanswered }) => {
            let progress = progress.borrow();
            let state = match (&progress.status, &progress.start) {
                (Some(status), _) => format!("the scan was still {status}"),
                (None, Start::Refused(why, _)) => return Ok(Ended::NotScanned(why.clone())),
                (None, _) if scan_on_push => {
                    "ECR had no scan of it (ScanNotFoundException) although the repository scans on push".to_owned()
                }
                (None, _) => "ECR had no scan of it (ScanNotFoundException)".to_owned(),
            };
            let mut details = vec![
                "WAIT_TIMEOUT bounds the push and the scan together: raise it (basic scans take a minute or two, \
                 enhanced ones longer)."
                    .to_owned(),
            ];
            if let Some(failure) = unanswered {
                details.push(format!("The last look failed: {failure}"));
            }
            Err(Error::failed(
                format!(
                    "ECR's scan of {shown} did not finish within WAIT_TIMEOUT ({} s): {state}",
                    run.wait_timeout.as_secs()
                ),
                details,
            ))
        }
        Err(WaitEnd::Stopped(failure)) => Err(failure.into_error()),
    }
}

/// One look at the scan: its status, and a scan started when none will come by itself.
async fn look(
    settings: &EcrSettings,
    clients: &Clients,
    target: &Target,
    scan_on_push: bool,
    shown: &str,
    progress: &RefCell<Progress>,
) -> Result<Poll<Ended>, AwsFailure> {
    let answer = match describe(settings, clients, target, None).await {
        Ok(answer) => answer,
        Err(failure) if failure.code_is("ScanNotFoundException") => {
            return not_found(settings, clients, target, scan_on_push, shown, progress).await;
        }
        Err(failure) => return Err(failure),
    };
    let status = answer.image_scan_status();
    let code = status
        .and_then(|s| s.status())
        .map_or("(none)", ScanStatus::as_str)
        .to_owned();
    if progress.borrow().status.as_deref() != Some(code.as_str()) {
        info!("Scan of {shown}: {code}");
        progress.borrow_mut().status = Some(code.clone());
    }
    let description = status.and_then(|s| s.description()).unwrap_or_default().to_owned();
    Ok(match status.and_then(|s| s.status()) {
        Some(ScanStatus::InProgress | ScanStatus::Pending) | None => looked(1),
        Some(ScanStatus::Complete | ScanStatus::Active) => Poll::Ready(Ended::Complete(Box::new(answer))),
        Some(_) => Poll::Ready(Ended::NoFindings(code, description)),
    })
}

/// Not there yet, after a look of `calls` AWS calls (see `PACE`: no look is nearer the end than another).
fn looked(calls: u32) -> Poll<Ended> {
    Poll::Paced { calls, soon: false }
}

async fn not_found(
    settings: &EcrSettings,
    clients: &Clients,
    target: &Target,
    scan_on_push: bool,
    shown: &str,
    progress: &RefCell<Progress>,
) -> Result<Poll<Ended>, AwsFailure> {
    let now = Instant::now();
    let since = *progress.borrow_mut().not_found_since.get_or_insert(now);
    let first = since == now;
    if let Start::Refused(why, at) = &progress.borrow().start {
        return Ok(if at.elapsed() >= GRACE {
            Poll::Ready(Ended::NotScanned(why.clone()))
        } else {
            looked(1)
        });
    }
    let start_now = progress.borrow().start == Start::NotTried && (!scan_on_push || since.elapsed() >= GRACE);
    if !start_now {
        if first {
            info!("Scan of {shown}: not there yet (the repository scans on push); waiting for it");
        }
        return Ok(looked(1));
    }
    let started = aws::call(
        "ecr:StartImageScan",
        clients
            .ecr()
            .start_image_scan()
            .repository_name(settings.repository.as_str())
            .set_registry_id(settings.registry_id.clone())
            .image_id(image_id(target))
            // The SDK takes LimitExceededException (once per image per 24 hours) for throttling
            // and would try again with backoff: it is an answer here, and the wait itself looks
            // again after a throttled or unanswered attempt.
            .customize()
            .config_override(aws_sdk_ecr::config::Builder::default().retry_config(RetryConfig::disabled()))
            .send(),
    )
    .await;
    let mut progress = progress.borrow_mut();
    match started {
        Ok(_) => {
            info!(
                "Scan of {shown}: started a basic scan (StartImageScan), as {}",
                if scan_on_push {
                    "none had come"
                } else {
                    "the repository does not scan on push"
                }
            );
            progress.start = Start::Done;
            Ok(looked(2))
        }
        Err(failure) if failure.code_is("LimitExceededException") => {
            // Once per image per 24 hours, a scan on push included: one exists or runs.
            info!(
                "Scan of {shown}: ECR scanned it already today ({}); waiting for that scan",
                failure.message
            );
            progress.start = Start::Done;
            Ok(looked(2))
        }
        Err(failure) if failure.code_is("UnsupportedImageTypeException") => Ok(Poll::Ready(Ended::NoFindings(
            "UNSUPPORTED_IMAGE".to_owned(),
            format!("StartImageScan: UnsupportedImageTypeException: {}", failure.message),
        ))),
        Err(failure) if failure.kind.passes() || failure.code_is("AccessDeniedException") => Err(failure),
        Err(failure) => {
            // Enhanced (continuous) scanning refuses a basic scan; its own rules may still scan
            // the image, so it is waited for a while.
            info!(
                "Scan of {shown}: ECR refused to start a basic scan ({}); waiting {} s for a scan of the registry's \
                 own rules (enhanced scanning)",
                failure,
                GRACE.as_secs()
            );
            let why = format!(
                "ECR has no scan of it, and refused to start one (StartImageScan: {}: {})",
                failure.code.as_deref().unwrap_or("error"),
                failure.message
            );
            progress.start = Start::Refused(why, Instant::now());
            Ok(looked(2))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn the_scan_is_looked_at_on_the_budget_s_grid() {
        // After the first look (at once) the second comes 8 s on, then one every 4 s from the
        // wait's start, whatever time a look itself took.
        assert_eq!(PACE.pause(Duration::ZERO, 1, PACE.later), S(8));
        let slow = Duration::from_millis(300);
        assert_eq!(PACE.pause(S(8) + slow, 2, PACE.later), S(4) - slow);
        // A look that started a scan (two calls) pays for the second.
        assert_eq!(PACE.pause(Duration::ZERO, 2, PACE.later), S(12));
        // After a look that took 20 s, the looks catch up no faster than one every 2 s.
        assert_eq!(PACE.pause(S(32), 3, PACE.later), S(2));
        // Ten minutes of one-call looks (at 0, then 8, 12 ... 596 s): within 15 a minute.
        let (mut at, mut spent) = (Duration::ZERO, 0);
        while at < S(600) {
            spent += 1;
            at += PACE.pause(at, spent, PACE.later);
        }
        assert_eq!(spent, 149);
    }
}
