//! Leaving a Code Insights report on the commit, through the Pipelines authentication proxy:
//! `http://host.docker.internal:29418` as the HTTP proxy for `http://api.bitbucket.org/2.0/...`,
//! as Atlassian's own pipes do. The proxy adds the step's credentials; the pipe sends none.
//!
//! Outside Bitbucket there is no proxy, and finding that out must cost nothing: the proxy's
//! host is looked up in the hosts file (where Bitbucket's agent puts it with `--add-host`),
//! never through DNS, and absent there means no attempt at all.

mod http;
pub mod proxy;

use std::net::SocketAddr;
use std::time::Duration;

use crate::domain::insights::{Commit, Report};
use crate::domain::secret::redact;

pub use proxy::{Proxy, find_proxy};

/// How long one request may take, the proxy's own call to api.bitbucket.org included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What was left on the commit.
#[derive(Debug, PartialEq, Eq)]
pub struct Left {
    pub annotations: usize,
}

/// PUT the report, then POST its annotations (worst first, 100 per request, up to the API's
/// 1000). The error says what Bitbucket (or the proxy) answered, or why nothing answered.
pub async fn leave(proxy: SocketAddr, commit: &Commit, report: &Report) -> Result<Left, String> {
    let path = commit.report_path(&report.id);
    put_or_post(proxy, "PUT", &path, &report.body())
        .await
        .map_err(|err| format!("the report was not accepted: {err}"))?;
    let mut annotations = 0;
    for batch in report.annotation_batches() {
        let count = batch.as_array().map_or(0, Vec::len);
        put_or_post(proxy, "POST", &format!("{path}/annotations"), &batch)
            .await
            .map_err(|err| {
                format!(
                    "the report was left with {annotations} of its annotations, the next ones were not accepted: {err}"
                )
            })?;
        annotations += count;
    }
    Ok(Left { annotations })
}

async fn put_or_post(proxy: SocketAddr, method: &str, path: &str, body: &serde_json::Value) -> Result<(), String> {
    // The report holds no secret by construction; the redactor runs anyway, as for every line
    // the pipe prints.
    let body = serde_json::to_string(body).map_err(|err| err.to_string())?;
    let body = redact(&body);
    let answer = tokio::time::timeout(REQUEST_TIMEOUT, http::exchange(proxy, method, path, body.as_bytes()))
        .await
        .map_err(|_| format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()))??;
    if (200..300).contains(&answer.status) {
        Ok(())
    } else {
        Err(format!("HTTP {} {}", answer.status, answer.snippet()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::insights::{ReportType, Verdict};

    /// Outside Bitbucket (no hosts entry) and with nothing listening (a hosts entry, no proxy),
    /// the report costs nothing: no proxy found without a lookup beyond the hosts file, and a
    /// refused connection is one attempt that ends at once. (How little that costs is the
    /// bench's to measure, not a timed assertion's.)
    #[tokio::test(start_paused = true)]
    async fn no_proxy_costs_nothing() {
        let dir = std::env::temp_dir().join(format!("insights-cost-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let hosts = dir.join("hosts");
        std::fs::write(&hosts, "127.0.0.1 localhost\n::1 localhost ip6-localhost\n").unwrap();
        assert!(matches!(find_proxy(&hosts, None), Proxy::Absent(_)));

        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let nobody = closed.local_addr().unwrap();
        drop(closed);
        let report = Report {
            id: "r".into(),
            title: "t".into(),
            details: "d".into(),
            report_type: ReportType::Test,
            result: Verdict::Passed,
            link: None,
            data: Vec::new(),
            annotations: Vec::new(),
        };
        let commit = Commit {
            workspace: "w".into(),
            repo_slug: "r".into(),
            commit: "c".into(),
        };
        // The clock is paused: a wait of any length (a retry's pause, REQUEST_TIMEOUT) would
        // show as virtual time passed; a refusal passes none.
        let started = tokio::time::Instant::now();
        let refused = leave(nobody, &commit, &report).await.unwrap_err();
        assert_eq!(started.elapsed(), Duration::ZERO, "{refused}");
        assert!(refused.contains("could not be reached"), "{refused}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
