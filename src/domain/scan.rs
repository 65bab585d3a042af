//! ECR image scan results as plain data: severities in ECR's order, one finding as both scan
//! kinds give it (basic: `findings[]` with `attributes` package_name / package_version;
//! enhanced, Amazon Inspector: `enhancedFindings[]` with
//! `packageVulnerabilityDetails.vulnerablePackages[].fixedInVersion`), the counts per severity,
//! and the gate `SCAN_FAIL_ON` sets. The ECR push prints it and fails on it; a Code Insights
//! SECURITY report is made from it.

use serde::Serialize;

/// A finding's severity, worst first. `Undefined` is basic scanning's `UNDEFINED` and enhanced
/// scanning's `UNTRIAGED` (Inspector has not rated it): below every threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Informational,
    Undefined,
}

impl Severity {
    /// Every severity, worst first.
    pub const ALL: [Severity; 6] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Informational,
        Severity::Undefined,
    ];

    /// The severities `SCAN_FAIL_ON` accepts, as written there.
    pub const THRESHOLDS: [&'static str; 5] = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"];

    /// `SCAN_FAIL_ON`'s value (any case); `UNDEFINED` is no threshold (it would fail on every
    /// finding, rated or not — `INFORMATIONAL` is the lowest one).
    pub fn threshold(value: &str) -> Option<Severity> {
        match value.trim().to_ascii_uppercase().as_str() {
            "CRITICAL" => Some(Severity::Critical),
            "HIGH" => Some(Severity::High),
            "MEDIUM" => Some(Severity::Medium),
            "LOW" => Some(Severity::Low),
            "INFORMATIONAL" => Some(Severity::Informational),
            _ => None,
        }
    }

    /// A severity as ECR or Inspector names it; anything unknown counts as `Undefined`.
    pub fn from_ecr(value: &str) -> Severity {
        Severity::threshold(value).unwrap_or(Severity::Undefined)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
            Severity::Informational => "INFORMATIONAL",
            Severity::Undefined => "UNDEFINED",
        }
    }

    /// At or above `threshold` (CRITICAL is at or above every threshold).
    pub fn reaches(self, threshold: Severity) -> bool {
        self <= threshold && self != Severity::Undefined
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which scanner produced the findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanKind {
    /// ECR's own (Clair-based, then AWS native) scanning: `findings[]`.
    Basic,
    /// Amazon Inspector: `enhancedFindings[]`.
    Enhanced,
}

/// One finding, as either scanner gives it. Every text is ECR's (untrusted): escape it before
/// printing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanFinding {
    /// The vulnerability: `CVE-2023-1234` (basic `name`, enhanced `packageVulnerabilityDetails.vulnerabilityId`
    /// or else `title`).
    pub name: String,
    pub severity: Severity,
    /// The package and its installed version, where given (`openssl 3.0.2-0ubuntu1.10`).
    pub package: Option<String>,
    pub package_version: Option<String>,
    /// The version that fixes it (enhanced scanning only: `fixedInVersion`).
    pub fixed_in: Option<String>,
    /// ECR's description of the vulnerability, if any.
    pub description: Option<String>,
    /// A link about it (basic `uri`, enhanced `packageVulnerabilityDetails.sourceUrl`).
    pub url: Option<String>,
}

/// The completed scan of one pushed manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanResult {
    /// The manifest scanned (`sha256:…`).
    pub digest: String,
    /// `linux/arm64`, for one platform of a multi-platform image; None for a plain image.
    pub platform: Option<String>,
    pub kind: ScanKind,
    /// Findings per severity, worst first, every severity listed (zeros included). ECR's own
    /// `findingSeverityCounts` when it gave them (they count every finding, also those past the
    /// last page read), else counted from `findings`.
    pub counts: Vec<(Severity, u32)>,
    /// The findings read, worst first.
    pub findings: Vec<ScanFinding>,
}

impl ScanResult {
    /// A result from ECR's counts (None: count the findings) and findings, sorted worst first.
    pub fn new(
        digest: String,
        platform: Option<String>,
        kind: ScanKind,
        ecr_counts: Option<Vec<(Severity, u32)>>,
        mut findings: Vec<ScanFinding>,
    ) -> ScanResult {
        findings.sort_by(|a, b| a.severity.cmp(&b.severity).then_with(|| a.name.cmp(&b.name)));
        let counts = Severity::ALL
            .iter()
            .map(|&severity| {
                let count = match &ecr_counts {
                    Some(counts) => counts.iter().filter(|(s, _)| *s == severity).map(|(_, n)| *n).sum(),
                    None => findings.iter().filter(|f| f.severity == severity).count() as u32,
                };
                (severity, count)
            })
            .collect();
        ScanResult {
            digest,
            platform,
            kind,
            counts,
            findings,
        }
    }

    pub fn count(&self, severity: Severity) -> u32 {
        self.counts.iter().find(|(s, _)| *s == severity).map_or(0, |(_, n)| *n)
    }

    pub fn total(&self) -> u32 {
        self.counts.iter().map(|(_, n)| n).sum()
    }

    /// How many findings are at or above `threshold`.
    pub fn at_or_above(&self, threshold: Severity) -> u32 {
        self.counts
            .iter()
            .filter(|(severity, _)| severity.reaches(threshold))
            .map(|(_, n)| n)
            .sum()
    }

    /// `CRITICAL 1, HIGH 2, MEDIUM 0, LOW 5, INFORMATIONAL 0` (UNDEFINED only when there are some).
    pub fn counts_line(&self) -> String {
        self.counts
            .iter()
            .filter(|(severity, n)| *severity != Severity::Undefined || *n > 0)
            .map(|(severity, n)| format!("{severity} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Add up results (the platforms of one index) into counts per severity, worst first.
pub fn total_counts(results: &[ScanResult]) -> Vec<(Severity, u32)> {
    Severity::ALL
        .iter()
        .map(|&severity| (severity, results.iter().map(|result| result.count(severity)).sum()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(name: &str, severity: Severity) -> ScanFinding {
        ScanFinding {
            name: name.to_owned(),
            severity,
            package: None,
            package_version: None,
            fixed_in: None,
            description: None,
            url: None,
        }
    }

    #[test]
    fn thresholds() {
        assert_eq!(Severity::threshold("high"), Some(Severity::High));
        assert_eq!(Severity::threshold(" CRITICAL "), Some(Severity::Critical));
        assert_eq!(Severity::threshold("INFORMATIONAL"), Some(Severity::Informational));
        for bad in ["", "SEVERE", "UNDEFINED", "UNTRIAGED", "HIGHEST"] {
            assert_eq!(Severity::threshold(bad), None, "{bad}");
        }
        for name in Severity::THRESHOLDS {
            assert_eq!(Severity::threshold(name).map(Severity::as_str), Some(name));
        }
        assert_eq!(Severity::from_ecr("UNTRIAGED"), Severity::Undefined);
        assert!(Severity::Critical.reaches(Severity::High));
        assert!(Severity::High.reaches(Severity::High));
        assert!(!Severity::Medium.reaches(Severity::High));
        assert!(Severity::Informational.reaches(Severity::Informational));
        assert!(!Severity::Undefined.reaches(Severity::Informational));
    }

    #[test]
    fn counts_come_from_ecr_or_from_the_findings() {
        let findings = vec![
            finding("CVE-2", Severity::Low),
            finding("CVE-1", Severity::High),
            finding("CVE-3", Severity::Critical),
        ];
        let counted = ScanResult::new("sha256:a".into(), None, ScanKind::Basic, None, findings.clone());
        assert_eq!(counted.findings[0].name, "CVE-3");
        assert_eq!(counted.findings[2].name, "CVE-2");
        assert_eq!(counted.at_or_above(Severity::High), 2);
        assert_eq!(counted.at_or_above(Severity::Critical), 1);
        assert_eq!(counted.total(), 3);
        assert_eq!(
            counted.counts_line(),
            "CRITICAL 1, HIGH 1, MEDIUM 0, LOW 1, INFORMATIONAL 0"
        );
        let given = ScanResult::new(
            "sha256:a".into(),
            None,
            ScanKind::Enhanced,
            Some(vec![(Severity::High, 7), (Severity::Undefined, 2)]),
            findings,
        );
        assert_eq!(given.count(Severity::High), 7);
        assert_eq!(given.count(Severity::Critical), 0);
        assert_eq!(given.at_or_above(Severity::Informational), 7);
        assert!(given.counts_line().ends_with("UNDEFINED 2"));
        assert_eq!(total_counts(&[counted, given])[1], (Severity::High, 8));
    }
}
