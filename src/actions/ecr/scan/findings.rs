//! The findings of a completed scan, read in either scanner's shape, and printed.

use aws_sdk_ecr::operation::describe_image_scan_findings::DescribeImageScanFindingsOutput;
use tracing::info;

use super::Target;
use super::wait::describe;
use crate::aws::{AwsFailure, Clients};
use crate::domain::ecr::EcrSettings;
use crate::domain::scan::{ScanFinding, ScanKind, ScanResult, Severity};
use crate::error::Error;

/// Findings read per image at most (ECR pages them by up to 1000): the counts are ECR's own
/// and cover every finding; the list is for the worst ones.
const MAX_PAGES: usize = 5;

/// Findings printed per image, worst first.
pub const SHOWN: usize = 10;

/// The findings of a completed scan, every page up to `MAX_PAGES`.
pub(super) async fn read_findings(
    settings: &EcrSettings,
    clients: &Clients,
    target: &Target,
    first: DescribeImageScanFindingsOutput,
) -> Result<ScanResult, Error> {
    let mut kind = ScanKind::Basic;
    let mut counts = None;
    let mut findings = Vec::new();
    let mut page = first;
    for pages in 1.. {
        if let Some(found) = page.image_scan_findings() {
            if counts.is_none() {
                counts = found.finding_severity_counts().map(|counts| {
                    counts
                        .iter()
                        .map(|(severity, n)| (Severity::from_ecr(severity.as_str()), (*n).max(0) as u32))
                        .collect::<Vec<_>>()
                });
            }
            findings.extend(found.findings().iter().map(basic_finding));
            if !found.enhanced_findings().is_empty() {
                kind = ScanKind::Enhanced;
            }
            findings.extend(found.enhanced_findings().iter().map(enhanced_finding));
        }
        let Some(token) = page.next_token().map(str::to_owned) else {
            break;
        };
        if pages >= MAX_PAGES {
            info!("Findings past the first {pages} pages are counted, not listed");
            break;
        }
        page = describe(settings, clients, target, Some(token))
            .await
            .map_err(AwsFailure::into_error)?;
    }
    Ok(ScanResult::new(
        target.digest.clone(),
        target.platform.clone(),
        kind,
        counts,
        findings,
    ))
}

fn basic_finding(finding: &aws_sdk_ecr::types::ImageScanFinding) -> ScanFinding {
    let attribute = |key: &str| {
        finding
            .attributes()
            .iter()
            .find(|attribute| attribute.key() == key)
            .and_then(|attribute| attribute.value())
            .map(str::to_owned)
    };
    ScanFinding {
        name: finding.name().unwrap_or("(unnamed)").to_owned(),
        severity: Severity::from_ecr(finding.severity().map_or("", |s| s.as_str())),
        package: attribute("package_name"),
        package_version: attribute("package_version"),
        fixed_in: None,
        description: finding.description().map(str::to_owned).filter(|d| !d.is_empty()),
        url: finding.uri().map(str::to_owned),
    }
}

fn enhanced_finding(finding: &aws_sdk_ecr::types::EnhancedImageScanFinding) -> ScanFinding {
    let details = finding.package_vulnerability_details();
    let package = details.and_then(|d| d.vulnerable_packages().first());
    ScanFinding {
        name: details
            .and_then(|d| d.vulnerability_id())
            .or(finding.title())
            .unwrap_or("(unnamed)")
            .to_owned(),
        severity: Severity::from_ecr(finding.severity().unwrap_or_default()),
        package: package.and_then(|p| p.name()).map(str::to_owned),
        package_version: package
            .and_then(|p| p.version())
            .map(str::to_owned)
            .filter(|v| !v.is_empty()),
        // Inspector says `NotAvailable` when no version fixes it.
        fixed_in: package
            .and_then(|p| p.fixed_in_version())
            .filter(|v| !v.is_empty() && *v != "NotAvailable")
            .map(str::to_owned),
        description: finding.description().map(str::to_owned).filter(|d| !d.is_empty()),
        url: details.and_then(|d| d.source_url()).map(str::to_owned),
    }
}

/// The counts and the worst findings of one image (every line the pipe prints is made one line,
/// so ECR's texts cannot forge lines of their own).
pub(super) fn print(result: &ScanResult, shown: &str) {
    let kind = match result.kind {
        ScanKind::Basic => "basic",
        ScanKind::Enhanced => "enhanced",
    };
    info!("Scan of {shown} ({kind}): {}", result.counts_line());
    for finding in result.findings.iter().take(SHOWN) {
        info!("  {}", finding_line(finding));
    }
    if result.total() as usize > SHOWN.min(result.findings.len()) {
        info!(
            "  … and {} more",
            result.total() as usize - SHOWN.min(result.findings.len())
        );
    }
}

/// `HIGH CVE-2024-1 openssl 3.0.2 (fixed in 3.0.13)`
pub fn finding_line(finding: &ScanFinding) -> String {
    let mut line = format!("{} {}", finding.severity, finding.name);
    if let Some(package) = &finding.package {
        line.push_str(&format!(" {package}"));
        if let Some(version) = &finding.package_version {
            line.push_str(&format!(" {version}"));
        }
    }
    if let Some(fixed) = &finding.fixed_in {
        line.push_str(&format!(" (fixed in {fixed})"));
    }
    line
}
