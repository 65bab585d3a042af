//! `SCAN_FAIL_ON`: after the push, wait for ECR's scan of what was pushed (each platform's
//! manifest of a multi-platform image) within `WAIT_TIMEOUT`, print the counts per severity and
//! the worst findings, and fail when a finding is at or above the threshold.
//!
//! Right after a push ECR may have no scan yet (`ScanNotFoundException`): with scan on push it
//! comes by itself. A repository that does not scan on push gets a basic scan started
//! (`StartImageScan`; once per image per 24 hours, a scan on push included, so
//! `LimitExceededException` means one exists or runs). Under enhanced (Amazon Inspector)
//! scanning `StartImageScan` is refused, and the registry's own rules decide: the scan is waited
//! for a while longer, then the push fails saying that nothing scans the image. The tags stay
//! pushed whatever the scan says: the scan runs on the pushed image, so it cannot come first.

mod findings;
mod wait;

use aws_sdk_ecr::types::ImageIdentifier;
use serde::Serialize;
use tracing::{debug, info};

pub use self::findings::{SHOWN, finding_line};
use self::findings::{print, read_findings};
use self::wait::{Ended, wait};
use super::EcrOutcome;
use crate::aws::{self, Clients};
use crate::domain::context::RunContext;
use crate::domain::ecr::{EcrSettings, MANIFEST_TYPES};
use crate::domain::lambda_image::index_images;
use crate::domain::scan::{ScanResult, Severity, total_counts};
use crate::error::Error;

/// One manifest to wait for.
#[derive(Debug, Clone)]
pub struct Target {
    pub digest: String,
    /// `linux/arm64`, for one platform of an index.
    pub platform: Option<String>,
}

/// What was pushed: the repository and the tags, for the messages.
pub struct Pushed<'a> {
    pub repository_uri: &'a str,
    pub tags: &'a [String],
}

impl std::fmt::Display for Pushed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (tags {})", self.repository_uri, self.tags.join(", "))
    }
}

/// Wait for every target's scan, then judge them: the results (also when the gate stops the
/// push: the caller writes them to the outputs), or why the scan could not be judged.
pub async fn gate(
    run: &RunContext,
    settings: &EcrSettings,
    clients: &Clients,
    targets: &[Target],
    scan_on_push: bool,
    pushed: &Pushed<'_>,
) -> Result<Vec<ScanResult>, Error> {
    let mut results = Vec::new();
    for target in targets {
        let shown = shown(pushed.repository_uri, target);
        let ended = wait(run, settings, clients, target, scan_on_push, &shown).await;
        let ended = ended.map_err(|err| err.with_details([stays_pushed(pushed)]))?;
        match ended {
            Ended::Complete(answer) => {
                let result = read_findings(settings, clients, target, *answer).await?;
                print(&result, &shown);
                // Kept for the run's Code Insights report, also when a later platform fails.
                run.scans.record(std::slice::from_ref(&result));
                results.push(result);
            }
            Ended::NoFindings(status, description) => {
                return Err(Error::failed(
                    format!("ECR's scan of {shown} ended {status}: {description}"),
                    vec![
                        "SCAN_FAIL_ON cannot judge an image ECR did not scan: an UNSUPPORTED_IMAGE is an operating \
                         system or package manager the scanner does not know (or an image index); a FAILED scan may \
                         pass when the push runs again. Unset SCAN_FAIL_ON to push without the gate."
                            .to_owned(),
                        stays_pushed(pushed),
                    ],
                ));
            }
            Ended::NotScanned(why) => return Err(not_scanned(&shown, &why, pushed)),
        }
    }
    Ok(results)
}

/// The gate's verdict on the results: Err when a finding is at or above `threshold`.
pub fn judge(results: &[ScanResult], threshold: Severity, pushed: &Pushed<'_>) -> Result<(), Error> {
    let failing: u32 = results.iter().map(|result| result.at_or_above(threshold)).sum();
    if failing > 0 {
        let worst = results
            .iter()
            .flat_map(|result| result.findings.iter())
            .filter(|finding| finding.severity.reaches(threshold))
            .map(|finding| finding.name.clone())
            .take(5)
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Error::failed(
            format!(
                "ECR's scan found {failing} finding(s) at or above SCAN_FAIL_ON ({threshold}) in {pushed} ({worst})"
            ),
            vec![
                "Update the packages named above to the versions that fix them and push again, or raise \
                 SCAN_FAIL_ON (CRITICAL is the highest)."
                    .to_owned(),
                stays_pushed(pushed),
            ],
        ));
    }
    info!(
        "ECR's scan: no finding at or above SCAN_FAIL_ON ({threshold}) in {}",
        if results.len() > 1 {
            format!("{} platforms", results.len())
        } else {
            "the image".to_owned()
        }
    );
    Ok(())
}

fn shown(repository_uri: &str, target: &Target) -> String {
    let image = format!("{repository_uri}@{}", target.digest);
    match &target.platform {
        Some(platform) => format!("{image} ({platform})"),
        None => image,
    }
}

fn stays_pushed(pushed: &Pushed<'_>) -> String {
    format!(
        "The image was pushed before the scan (ECR scans what is in the repository): {pushed} stays pushed; delete \
         or re-tag it if nothing may use it."
    )
}

fn not_scanned(shown: &str, why: &str, pushed: &Pushed<'_>) -> Error {
    Error::failed(
        format!("Nothing scans {shown}: {why}"),
        vec![
            "Turn on scanning for the repository: scan on push (SCAN_ON_PUSH with CREATE_REPOSITORY, or the \
             repository's settings), or a registry scanning rule (basic or enhanced) that matches it; or unset \
             SCAN_FAIL_ON."
                .to_owned(),
            stays_pushed(pushed),
        ],
    )
}

/// The outputs `SCAN_*`: findings per severity, and the threshold they were judged by.
#[derive(Debug, Clone, Serialize)]
pub struct ScanCounts {
    pub critical: u32,
    pub high: u32,
    pub medium: u32,
    pub low: u32,
    pub informational: u32,
    /// Unrated findings (basic `UNDEFINED`, enhanced `UNTRIAGED`).
    pub undefined: u32,
    pub total: u32,
    /// `SCAN_FAIL_ON` as read (`HIGH`).
    pub fail_on: &'static str,
    /// Findings at or above `fail_on`: the push failed when not 0.
    pub failing: u32,
}

impl ScanCounts {
    pub fn of(results: &[ScanResult], threshold: Severity) -> ScanCounts {
        let counts = total_counts(results);
        let count = |severity| counts.iter().find(|(s, _)| *s == severity).map_or(0, |(_, n)| *n);
        ScanCounts {
            critical: count(Severity::Critical),
            high: count(Severity::High),
            medium: count(Severity::Medium),
            low: count(Severity::Low),
            informational: count(Severity::Informational),
            undefined: count(Severity::Undefined),
            total: counts.iter().map(|(_, n)| n).sum(),
            fail_on: threshold.as_str(),
            failing: results.iter().map(|result| result.at_or_above(threshold)).sum(),
        }
    }
}

/// `SCAN_FAIL_ON`: wait for ECR's scan of what was pushed (each platform of an index), then
/// judge it. The outputs carry the image (it stays pushed) and the counts, also when it fails.
pub(super) async fn scan_gate(
    run: &RunContext,
    settings: &EcrSettings,
    clients: &Clients,
    threshold: Severity,
    scan_on_push: bool,
    outcome: &mut EcrOutcome,
) -> Result<(), Error> {
    let targets: Vec<Target> = if outcome.platforms.is_empty() {
        match outcome.digest.as_deref() {
            Some(digest) => index_targets(settings, clients, digest).await,
            None => Vec::new(),
        }
    } else {
        outcome
            .platforms
            .iter()
            .map(|platform| Target {
                digest: platform.digest.clone(),
                platform: Some(platform.platform.clone()),
            })
            .collect()
    };
    let (repository_uri, tags) = (outcome.repository_uri.clone(), outcome.tags.clone());
    let pushed = Pushed {
        repository_uri: &repository_uri,
        tags: &tags,
    };
    info!(
        "Waiting for ECR's scan of {} (SCAN_FAIL_ON {threshold}, within WAIT_TIMEOUT)",
        if targets.len() > 1 {
            format!("{} platforms", targets.len())
        } else {
            "the image".to_owned()
        }
    );
    let with_outputs = |error: Error, outcome: &EcrOutcome| Error::WithOutputs {
        error: Box::new(error),
        outputs: serde_json::to_value(outcome).unwrap_or_default(),
    };
    let results = match gate(run, settings, clients, &targets, scan_on_push, &pushed).await {
        Ok(results) => results,
        Err(error) => return Err(with_outputs(error, outcome)),
    };
    let counts = ScanCounts::of(&results, threshold);
    info!(
        "scan: CRITICAL {}, HIGH {}, MEDIUM {}, LOW {}, INFORMATIONAL {}, UNDEFINED {}",
        counts.critical, counts.high, counts.medium, counts.low, counts.informational, counts.undefined
    );
    outcome.scan = Some(counts);
    let verdict = judge(&results, threshold, &pushed);
    outcome.scans = results;
    verdict.map_err(|error| with_outputs(error, outcome))
}

/// What to scan of a pushed digest that no archive described (a daemon push, a promotion): each
/// platform's image of an index (ECR scans images, not indexes), else the digest itself. The
/// manifest is read with `ecr:BatchGetImage`, which the push needs anyway; if it cannot be read,
/// the digest is scanned as it is.
async fn index_targets(settings: &EcrSettings, clients: &Clients, digest: &str) -> Vec<Target> {
    let itself = || {
        vec![Target {
            digest: digest.to_owned(),
            platform: None,
        }]
    };
    let read = aws::call(
        "ecr:BatchGetImage",
        clients
            .ecr()
            .batch_get_image()
            .repository_name(settings.repository.as_str())
            .set_registry_id(settings.registry_id.clone())
            .image_ids(ImageIdentifier::builder().image_digest(digest).build())
            .set_accepted_media_types(Some(MANIFEST_TYPES.iter().map(|t| t.to_string()).collect()))
            .send(),
    )
    .await;
    let image = match read {
        Ok(answer) => answer.images().first().cloned(),
        Err(failure) => {
            debug!("The pushed manifest could not be read ({failure}); its digest is scanned as it is");
            None
        }
    };
    let Some(image) = image else {
        return itself();
    };
    match index_images(
        image.image_manifest_media_type(),
        image.image_manifest().unwrap_or_default(),
    ) {
        Some(images) if !images.is_empty() => images
            .into_iter()
            .map(|(platform, digest)| Target {
                digest,
                platform: Some(platform),
            })
            .collect(),
        _ => itself(),
    }
}
