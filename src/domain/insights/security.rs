//! The SECURITY report of an `ecr-push` with `SCAN_FAIL_ON`: the findings per severity of ECR's
//! scan of what was pushed (every platform of an index added up), the threshold and how many
//! findings reach it, the image and its console link; one annotation per finding, worst first
//! (up to the API's 1000). PASSED when no finding reaches the threshold; FAILED when one does, or
//! when there is no scan to judge (it failed, ECR does not support the image, the wait ran out).

use sha2::{Digest, Sha256};

use super::{Annotation, Datum, Ended, Report, ReportType, Run, Severity as InsightSeverity, Verdict, report_id};
use crate::domain::arn::console_host;
use crate::domain::ecr::EcrSettings;
use crate::domain::scan::{ScanFinding, ScanKind, ScanResult, Severity, total_counts};

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct EcrOutputs {
    repository_uri: String,
    digest: Option<String>,
    tags: Vec<String>,
}

pub fn security(settings: &EcrSettings, threshold: Severity, run: &Run<'_>, scans: &[ScanResult]) -> Report {
    let outputs: EcrOutputs = run.outputs();
    let repository = settings.repository.as_str();
    let target = match settings.registry_id.as_deref() {
        Some(registry) => format!("{}/{registry}/{repository}", run.region),
        None => format!("{}/{repository}", run.region),
    };
    let failing: u32 = scans.iter().map(|scan| scan.at_or_above(threshold)).sum();
    let failed = matches!(run.ended, Ended::Failed { .. }) || scans.is_empty() || failing > 0;
    let tags = if outputs.tags.is_empty() {
        &settings.tags
    } else {
        &outputs.tags
    };
    let image = format!("{repository}:{}", tags.first().map_or("latest", String::as_str));

    let mut details = vec![format!("{}.", run.headline().trim_end_matches('.'))];
    if scans.is_empty() {
        details.push(format!(
            "No scan result to judge, so nothing shows the image is free of findings at or above {threshold}."
        ));
    } else {
        let counts = total_counts(scans);
        let line: Vec<String> = counts
            .iter()
            .filter(|(severity, n)| *severity != Severity::Undefined || *n > 0)
            .map(|(severity, n)| format!("{severity} {n}"))
            .collect();
        details.push(format!(
            "ECR's {} scan: {}. {failing} finding(s) at or above {threshold} (SCAN_FAIL_ON).",
            match scans[0].kind {
                ScanKind::Basic => "basic",
                ScanKind::Enhanced => "enhanced (Amazon Inspector)",
            },
            line.join(", ")
        ));
        for scan in scans {
            details.push(format!(
                "{}{}: {}",
                scan.platform.as_deref().map(|p| format!("{p} ")).unwrap_or_default(),
                scan.digest,
                scan.counts_line()
            ));
        }
    }

    let console = console_url(run, &outputs.repository_uri, repository, outputs.digest.as_deref());
    let mut data: Vec<Datum> = Vec::new();
    if !scans.is_empty() {
        for (severity, count) in total_counts(scans) {
            if severity != Severity::Undefined || count > 0 {
                data.push(Datum::number(&title_case(severity.as_str()), u64::from(count)));
            }
        }
    }
    data.push(Datum::text("Fail on", format!("{threshold} and above")));
    data.push(Datum::text("Image", image.clone()));
    data.push(Datum::duration("Duration", run.duration));
    data.push(Datum::link("Console", "the image in ECR", console.clone()));

    let mut findings: Vec<(&ScanFinding, Option<&str>)> = scans
        .iter()
        .flat_map(|scan| scan.findings.iter().map(move |f| (f, scan.platform.as_deref())))
        .collect();
    findings.sort_by_key(|(finding, _)| finding.severity);
    let multi_platform = scans.len() > 1;
    let annotations = findings
        .into_iter()
        .map(|(finding, platform)| annotation(finding, platform.filter(|_| multi_platform)))
        .collect();

    Report {
        id: report_id("ecr-scan", &target),
        title: format!("ECR scan of {image}"),
        details: details.join("\n"),
        report_type: ReportType::Security,
        result: if failed { Verdict::Failed } else { Verdict::Passed },
        link: Some(console),
        data,
        annotations,
    }
}

/// One finding: `CVE-2023-1234 (HIGH) in openssl 3.0.2 fixed in 3.0.7`, ECR's description and link.
fn annotation(finding: &ScanFinding, platform: Option<&str>) -> Annotation {
    let package = match (&finding.package, &finding.package_version) {
        (Some(package), Some(version)) => Some(format!("{package} {version}")),
        (Some(package), None) => Some(package.clone()),
        _ => None,
    };
    let mut summary = vec![format!("{} ({})", finding.name, finding.severity)];
    if let Some(package) = &package {
        summary.push(format!("in {package}"));
    }
    // Only enhanced scanning gives one; basic scanning's silence says nothing.
    if let Some(fixed) = &finding.fixed_in {
        summary.push(format!("fixed in {fixed}"));
    }
    if let Some(platform) = platform {
        summary.push(format!("({platform})"));
    }
    // Stable per finding, so a re-run replaces it; unique within the report.
    let key = format!(
        "{}\n{}\n{}\n{}",
        platform.unwrap_or(""),
        finding.name,
        finding.package.as_deref().unwrap_or(""),
        finding.package_version.as_deref().unwrap_or("")
    );
    let hash: String = Sha256::digest(key.as_bytes())
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Annotation {
        id: format!("aws-role-deploy-{hash}"),
        title: finding.name.clone(),
        summary: summary.join(" "),
        details: finding.description.clone(),
        severity: match finding.severity {
            Severity::Critical => InsightSeverity::Critical,
            Severity::High => InsightSeverity::High,
            Severity::Medium => InsightSeverity::Medium,
            Severity::Low | Severity::Informational | Severity::Undefined => InsightSeverity::Low,
        },
        link: finding.url.clone(),
    }
}

/// The image's page in the ECR console (the repository's, before the push).
fn console_url(run: &Run<'_>, repository_uri: &str, repository: &str, digest: Option<&str>) -> String {
    let host = console_host(run.partition);
    let account = repository_uri
        .split('.')
        .next()
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()));
    match (account, digest) {
        (Some(account), Some(digest)) => format!(
            "https://{host}/ecr/repositories/private/{account}/{repository}/_/image/{digest}/details?region={}",
            run.region
        ),
        (Some(account), None) => format!(
            "https://{host}/ecr/repositories/private/{account}/{repository}?region={}",
            run.region
        ),
        _ => format!("https://{host}/ecr/private-registry/repositories?region={}", run.region),
    }
}

fn title_case(word: &str) -> String {
    let lower = word.to_ascii_lowercase();
    let mut chars = lower.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::domain::ecr::{ImageRef, ImageSource, TagMutability};
    use crate::domain::insights::DatumValue;

    fn settings() -> EcrSettings {
        EcrSettings {
            source: ImageSource::Promote(ImageRef::Tag("v1".into())),
            repository: "team/app".into(),
            tags: vec!["1.2".into()],
            create_repository: false,
            tag_mutability: TagMutability::Mutable,
            scan_on_push: false,
            scan_fail_on: Some(Severity::High),
            registry_id: None,
            docker_host: None,
            idle_timeout: Duration::from_secs(30),
        }
    }

    fn finding(name: &str, severity: Severity) -> ScanFinding {
        ScanFinding {
            name: name.into(),
            severity,
            package: Some("openssl".into()),
            package_version: Some("3.0.2".into()),
            fixed_in: (severity == Severity::High).then(|| "3.0.7".into()),
            description: Some("bad".into()),
            url: Some("https://nvd.nist.gov/vuln/detail/CVE-1".into()),
        }
    }

    fn facts<'a>(ended: Ended<'a>, outputs: Option<&'a serde_json::Value>) -> Run<'a> {
        Run {
            region: "eu-west-1",
            partition: "aws",
            duration: Duration::from_secs(3),
            ended,
            outputs,
        }
    }

    #[test]
    fn findings_at_the_threshold_fail_the_report_with_counts_and_annotations_worst_first() {
        let scans = vec![
            ScanResult::new(
                "sha256:a".into(),
                Some("linux/amd64".into()),
                ScanKind::Basic,
                None,
                vec![finding("CVE-2", Severity::Low), finding("CVE-1", Severity::High)],
            ),
            ScanResult::new(
                "sha256:b".into(),
                Some("linux/arm64".into()),
                ScanKind::Basic,
                None,
                vec![finding("CVE-3", Severity::Critical)],
            ),
        ];
        let outputs = json!({
            "repository_uri": "111111111111.dkr.ecr.eu-west-1.amazonaws.com/team/app",
            "digest": "sha256:i", "tags": ["1.2", "latest"]
        });
        let report = security(
            &settings(),
            Severity::High,
            &facts(
                Ended::Failed {
                    summary: "2 findings at or above HIGH",
                },
                Some(&outputs),
            ),
            &scans,
        );
        assert_eq!(report.result, Verdict::Failed);
        assert_eq!(report.report_type, ReportType::Security);
        assert_eq!(report.title, "ECR scan of team/app:1.2");
        let field = |title: &str| report.data.iter().find(|d| d.title == title).map(|d| d.value.clone());
        assert_eq!(field("Critical"), Some(DatumValue::Number(1)));
        assert_eq!(field("High"), Some(DatumValue::Number(1)));
        assert_eq!(field("Low"), Some(DatumValue::Number(1)));
        assert_eq!(field("Undefined"), None);
        assert!(report.data.len() <= super::super::MAX_DATA);
        assert!(
            report
                .link
                .as_deref()
                .unwrap()
                .ends_with("/ecr/repositories/private/111111111111/team/app/_/image/sha256:i/details?region=eu-west-1")
        );
        let names: Vec<&str> = report.annotations.iter().map(|a| a.title.as_str()).collect();
        assert_eq!(names, ["CVE-3", "CVE-1", "CVE-2"]);
        assert_eq!(
            report.annotations[1].summary,
            "CVE-1 (HIGH) in openssl 3.0.2 fixed in 3.0.7 (linux/amd64)"
        );
        assert_eq!(report.annotations[2].severity, InsightSeverity::Low);
        assert!(
            report.details.contains("2 finding(s) at or above HIGH"),
            "{}",
            report.details
        );
        let ids: std::collections::HashSet<&str> = report.annotations.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids.len(), 3);
    }

    #[test]
    fn below_the_threshold_passes_and_no_scan_fails() {
        let scans = vec![ScanResult::new(
            "sha256:a".into(),
            None,
            ScanKind::Enhanced,
            None,
            vec![finding("CVE-9", Severity::Medium)],
        )];
        let passed = security(
            &settings(),
            Severity::High,
            &facts(Ended::Succeeded { headline: "Pushed" }, None),
            &scans,
        );
        assert_eq!(passed.result, Verdict::Passed);
        assert_eq!(passed.annotations[0].summary, "CVE-9 (MEDIUM) in openssl 3.0.2");
        let failed = security(
            &settings(),
            Severity::High,
            &facts(
                Ended::Failed {
                    summary: "ECR could not scan the image (UNSUPPORTED_IMAGE)",
                },
                None,
            ),
            &[],
        );
        assert_eq!(failed.result, Verdict::Failed);
        assert!(failed.annotations.is_empty());
        assert!(failed.details.contains("UNSUPPORTED_IMAGE"));
        assert_eq!(failed.id, passed.id, "one report per repository");
    }
}
