//! Bitbucket Code Insights reports: what a run leaves on its commit (`BITBUCKET_COMMIT`), in the
//! shapes of Bitbucket Cloud's reports API
//! (https://developer.atlassian.com/cloud/bitbucket/rest/api-group-reports/): a report (PUT
//! `.../commit/<commit>/reports/<id>`), then its annotations (POST `.../reports/<id>/annotations`,
//! at most 100 per request and 1000 per report).
//!
//! Pure: the report of each action is built here from what the action left (its outputs), and
//! sent by `crate::insights`. A report's id is stable per action and target, so a re-run of the
//! same step on the same commit replaces its report instead of adding one.

pub mod deploy;
pub mod security;

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// How the run ended, in the words of its last line.
#[derive(Debug, Clone, Copy)]
pub enum Ended<'a> {
    Succeeded { headline: &'a str },
    Failed { summary: &'a str },
}

/// What a deployment's report is built from.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    pub region: &'a str,
    pub partition: &'a str,
    pub duration: Duration,
    pub ended: Ended<'a>,
    /// The outputs the run left (None: it failed before changing anything).
    pub outputs: Option<&'a Value>,
}

impl Run<'_> {
    fn headline(&self) -> &str {
        match self.ended {
            Ended::Succeeded { headline } => headline,
            Ended::Failed { summary } => summary,
        }
    }

    fn outputs<T: for<'de> Deserialize<'de> + Default>(&self) -> T {
        self.outputs
            .and_then(|outputs| T::deserialize(outputs).ok())
            .unwrap_or_default()
    }
}

/// `CODE_INSIGHTS`, and where the tests' fake proxy listens.
#[derive(Debug, Clone, Default)]
pub struct InsightsSettings {
    pub enabled: bool,
    /// `AWS_ROLE_DEPLOY_TEST_INSIGHTS_PROXY`: the proxy's address instead of the hosts file's
    /// `host.docker.internal:29418`, for tests. Only a loopback address is accepted, so it cannot
    /// send a report anywhere but to this machine (in Bitbucket: the pipe's own container).
    pub test_proxy: Option<std::net::SocketAddr>,
}

/// The test-only variable that names the fake proxy (not a pipe variable).
pub const TEST_PROXY_VARIABLE: &str = "AWS_ROLE_DEPLOY_TEST_INSIGHTS_PROXY";

/// What every report says made it.
pub const REPORTER: &str = "aws-role-deploy";
/// Bitbucket shows at most 10 data fields on a report.
pub const MAX_DATA: usize = 10;
/// A report holds at most 1000 annotations, sent at most 100 per request.
pub const MAX_ANNOTATIONS: usize = 1000;
pub const ANNOTATIONS_PER_REQUEST: usize = 100;
/// Text fields are cut to these lengths (with `…`), below what Bitbucket accepts: a report it
/// refuses for a long field would be no report at all.
const MAX_TITLE: usize = 200;
const MAX_DETAILS: usize = 2000;
const MAX_SUMMARY: usize = 400;
const MAX_FIELD: usize = 200;
/// Longest readable part of a report id (the target's name); a hash of the whole target follows.
const MAX_ID_NAME: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportType {
    /// A deployment: did it go through (Bitbucket has no deployment type; TEST is "did it pass").
    Test,
    Security,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed,
    /// Started and not waited for (`WAIT: "false"`).
    Pending,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Passed => "PASSED",
            Verdict::Failed => "FAILED",
            Verdict::Pending => "PENDING",
        }
    }
}

/// One data field of a report, shown as a labelled value.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    pub title: String,
    pub value: DatumValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DatumValue {
    Text(String),
    Number(u64),
    Duration(Duration),
    Link { text: String, href: String },
}

impl Datum {
    pub fn text(title: &str, value: impl Into<String>) -> Datum {
        Datum {
            title: title.to_owned(),
            value: DatumValue::Text(value.into()),
        }
    }

    pub fn number(title: &str, value: u64) -> Datum {
        Datum {
            title: title.to_owned(),
            value: DatumValue::Number(value),
        }
    }

    pub fn duration(title: &str, value: Duration) -> Datum {
        Datum {
            title: title.to_owned(),
            value: DatumValue::Duration(value),
        }
    }

    pub fn link(title: &str, text: impl Into<String>, href: impl Into<String>) -> Datum {
        Datum {
            title: title.to_owned(),
            value: DatumValue::Link {
                text: text.into(),
                href: href.into(),
            },
        }
    }

    fn to_json(&self) -> Value {
        let title = cut(&self.title, MAX_FIELD);
        match &self.value {
            DatumValue::Text(text) => json!({"title": title, "type": "TEXT", "value": cut(text, MAX_FIELD)}),
            DatumValue::Number(number) => json!({"title": title, "type": "NUMBER", "value": number}),
            // Milliseconds, which Bitbucket shows as a duration.
            DatumValue::Duration(duration) => {
                json!({"title": title, "type": "DURATION", "value": u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)})
            }
            DatumValue::Link { text, href } => {
                json!({"title": title, "type": "LINK", "value": {"text": cut(text, MAX_FIELD), "href": href}})
            }
        }
    }
}

/// Bitbucket's annotation severities (it has no INFORMATIONAL: those are LOW).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
        }
    }
}

/// One finding of a report (a vulnerability of a scanned image).
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    /// Unique within the report; stable, so a re-run replaces it.
    pub id: String,
    pub title: String,
    pub summary: String,
    pub details: Option<String>,
    pub severity: Severity,
    pub link: Option<String>,
}

impl Annotation {
    fn to_json(&self) -> Value {
        let mut annotation = json!({
            "external_id": self.id,
            "annotation_type": "VULNERABILITY",
            "title": cut(&self.title, MAX_TITLE),
            "summary": cut(&self.summary, MAX_SUMMARY),
            "severity": self.severity.as_str(),
            "result": "FAILED",
        });
        if let Some(details) = &self.details {
            annotation["details"] = json!(cut(details, MAX_DETAILS));
        }
        if let Some(link) = self.link.as_ref().filter(|link| is_web_link(link)) {
            annotation["link"] = json!(link);
        }
        annotation
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub id: String,
    pub title: String,
    pub details: String,
    pub report_type: ReportType,
    pub result: Verdict,
    /// Where to see more (the AWS console).
    pub link: Option<String>,
    pub data: Vec<Datum>,
    /// Worst first; at most [`MAX_ANNOTATIONS`] are sent.
    pub annotations: Vec<Annotation>,
}

impl Report {
    /// The body of the report's PUT.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "title": cut(&self.title, MAX_TITLE),
            "details": cut(&self.details, MAX_DETAILS),
            "report_type": match self.report_type {
                ReportType::Test => "TEST",
                ReportType::Security => "SECURITY",
            },
            "reporter": REPORTER,
            "result": self.result.as_str(),
            "data": self.data.iter().take(MAX_DATA).map(Datum::to_json).collect::<Vec<_>>(),
        });
        if let Some(link) = self.link.as_ref().filter(|link| is_web_link(link)) {
            body["link"] = json!(link);
        }
        body
    }

    /// The bodies of the annotations' POSTs, in order (worst first), up to the API's limits.
    pub fn annotation_batches(&self) -> Vec<Value> {
        let kept = &self.annotations[..self.annotations.len().min(MAX_ANNOTATIONS)];
        kept.chunks(ANNOTATIONS_PER_REQUEST)
            .map(|batch| Value::Array(batch.iter().map(Annotation::to_json).collect()))
            .collect()
    }

    /// Annotations that do not fit in a report.
    pub fn annotations_left_out(&self) -> usize {
        self.annotations.len().saturating_sub(MAX_ANNOTATIONS)
    }
}

/// Where a report goes: Bitbucket's repository and commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub workspace: String,
    pub repo_slug: String,
    pub commit: String,
}

impl Commit {
    /// The report's path on api.bitbucket.org (`/2.0/repositories/.../reports/<id>`).
    pub fn report_path(&self, report_id: &str) -> String {
        format!(
            "/2.0/repositories/{}/{}/commit/{}/reports/{}",
            segment(&self.workspace),
            segment(&self.repo_slug),
            segment(&self.commit),
            segment(report_id)
        )
    }
}

/// A report id stable per action and target: `aws-role-deploy-<action>-<target name>-<hash>`,
/// the name readable (cut, characters outside `[A-Za-z0-9._-]` as `-`), the hash of the whole
/// target so that two targets never share an id.
pub fn report_id(action: &str, target: &str) -> String {
    let readable: String = target
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(MAX_ID_NAME)
        .collect();
    let hash = Sha256::digest(format!("{action}\n{target}").as_bytes());
    let hex: String = hash.iter().take(4).map(|byte| format!("{byte:02x}")).collect();
    format!("{REPORTER}-{action}-{}-{hex}", readable.trim_matches('-'))
}

/// A path segment, percent-encoded outside the unreserved characters.
fn segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// `text` cut to at most `max` characters, ending with `…` when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut kept: String = text.chars().take(max.saturating_sub(1)).collect();
    kept.push('…');
    kept
}

fn is_web_link(link: &str) -> bool {
    link.starts_with("https://") || link.starts_with("http://")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(annotations: usize) -> Report {
        Report {
            id: "id".into(),
            title: "t".repeat(300),
            details: "d".repeat(3000),
            report_type: ReportType::Security,
            result: Verdict::Failed,
            link: Some("javascript:alert(1)".into()),
            data: (0..12).map(|n| Datum::number("n", n)).collect(),
            annotations: (0..annotations)
                .map(|n| Annotation {
                    id: format!("a{n}"),
                    title: "CVE".into(),
                    summary: "s".repeat(500),
                    details: None,
                    severity: Severity::High,
                    link: Some("https://nvd.nist.gov/".into()),
                })
                .collect(),
        }
    }

    #[test]
    fn the_body_keeps_to_the_api_limits() {
        let body = report(0).body();
        assert_eq!(body["data"].as_array().unwrap().len(), MAX_DATA);
        assert_eq!(body["title"].as_str().unwrap().chars().count(), MAX_TITLE);
        assert!(body["details"].as_str().unwrap().ends_with('…'));
        assert_eq!(body["report_type"], "SECURITY");
        assert_eq!(body["result"], "FAILED");
        assert!(body.get("link").is_none(), "only web links");
    }

    #[test]
    fn annotations_go_in_batches_of_100_up_to_1000() {
        let big = report(1234);
        let batches = big.annotation_batches();
        assert_eq!(batches.len(), 10);
        assert!(batches.iter().all(|b| b.as_array().unwrap().len() == 100));
        assert_eq!(big.annotations_left_out(), 234);
        let first = &batches[0][0];
        assert_eq!(first["external_id"], "a0");
        assert_eq!(first["annotation_type"], "VULNERABILITY");
        assert_eq!(first["summary"].as_str().unwrap().chars().count(), MAX_SUMMARY);
        assert_eq!(report(101).annotation_batches().len(), 2);
        assert!(report(0).annotation_batches().is_empty());
    }

    #[test]
    fn ids_are_stable_per_action_and_target_and_readable() {
        let id = report_id("ecs-deploy", "eu-west-1/prod/web api");
        assert_eq!(id, report_id("ecs-deploy", "eu-west-1/prod/web api"));
        assert!(
            id.starts_with("aws-role-deploy-ecs-deploy-eu-west-1-prod-web-api-"),
            "{id}"
        );
        assert_ne!(id, report_id("ecs-deploy", "eu-west-1/prod/web"));
        assert_ne!(id, report_id("lambda-deploy", "eu-west-1/prod/web api"));
        let long = report_id("ecs-deploy", &"x".repeat(500));
        assert!(long.len() < 100, "{long}");
    }

    #[test]
    fn paths_are_encoded() {
        let commit = Commit {
            workspace: "{ws uuid}".into(),
            repo_slug: "repo".into(),
            commit: "abc".into(),
        };
        assert_eq!(
            commit.report_path("a/b"),
            "/2.0/repositories/%7Bws%20uuid%7D/repo/commit/abc/reports/a%2Fb"
        );
    }
}
