//! One request to the registry, tried again when that helps: when the registry throttles or
//! fails for a moment, and (`OnLost::Retry`) when the connection is lost before the answer; through
//! the one retry mechanism of the AWS calls (`aws::wait`), never past the run's deadline
//! (`WAIT_TIMEOUT`). A blob's part is not sent again on its own: ECR cannot resume a session, so
//! `upload` starts the blob again instead.

use std::time::Duration;

use http::header::AUTHORIZATION;
use http::{HeaderMap, Method, Request, StatusCode};
use tracing::debug;

use super::body::Body;
use super::registry::{Answer, OnLost, Registry, path_of, said};
use crate::aws::wait::Wait;
use crate::aws::{AwsFailure, FailureKind};
use crate::error::Error;

impl Registry {
    /// One request, sent again when the registry throttles it or fails for a moment (ECR answers
    /// `429 TOOMANYREQUESTS` "Rate exceeded" past an API's quota, e.g. PutImage's 10 TPS, and now
    /// and then a 5xx), or when its connection is lost (`OnLost::Retry`): a few tries with growing
    /// pauses (or the registry's `Retry-After`), never past the run's deadline. `body` makes the
    /// request's body afresh for each try.
    pub(super) async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: impl Fn() -> Body,
        on_lost: OnLost,
    ) -> Result<Answer, Error> {
        self.try_send(method.clone(), url, headers, body, on_lost)
            .await
            .map_err(|failure| self.failure(&method, url, failure))
    }

    /// `send`, its last failure as it came: a lost connection (`NoResponse`) or the registry's
    /// passing refusal, its status, error code and message kept.
    pub(super) async fn try_send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: impl Fn() -> Body,
        on_lost: OnLost,
    ) -> Result<Answer, AwsFailure> {
        let wait = Wait::new(format!("The registry {}", self.host()), self.inner.deadline)
            .polling(Duration::from_millis(250), Duration::from_secs(2))
            .at_most(TRIES)
            .jittered()
            .through_only(match on_lost {
                OnLost::Retry => |failure: &AwsFailure| failure.kind.passes(),
                OnLost::GiveUp => |failure: &AwsFailure| failure.kind.passes() && failure.status.is_some(),
            });
        let (method, body) = (&method, &body);
        wait.retry(|| async move {
            let (status, headers, answer) = self.send_once(method.clone(), url, headers, body()).await?;
            if !is_transient(status) {
                return Ok((status, headers, answer));
            }
            let retry_after_secs = retry_after_header(&headers).map(|pause| pause.as_secs().min(10) as u8);
            let (code, message) = said(status, answer).await;
            Err(AwsFailure {
                kind: if status == StatusCode::TOO_MANY_REQUESTS {
                    FailureKind::Throttled
                } else {
                    FailureKind::ServerError
                },
                status: Some(status.as_u16()),
                code,
                retry_after_secs,
                ..AwsFailure::local(operation(method), format!("{}: {message}", path_of(url)))
            })
        })
        .await
    }

    /// The pipe's error for a request that got no usable answer.
    pub(super) fn failure(&self, method: &Method, url: &str, failure: AwsFailure) -> Error {
        let path = path_of(url);
        match failure.status.and_then(|status| StatusCode::from_u16(status).ok()) {
            Some(status) => {
                let message = failure
                    .message
                    .strip_prefix(&format!("{path}: "))
                    .unwrap_or(&failure.message);
                let said = match &failure.code {
                    Some(code) => format!("{code}: {message}"),
                    None => message.to_owned(),
                };
                self.refused(&format!("{method} {path}"), status, said)
            }
            None if failure.kind == FailureKind::NoResponse => Error::failed(
                format!(
                    "The registry {} {UNANSWERED} {method} {path}: {}",
                    self.host(),
                    failure.message
                ),
                vec![format!(
                    "{REACH_HINT} A connection that moves no byte for AWS_ATTEMPT_TIMEOUT ({} s) is abandoned; every \
                     try ends by WAIT_TIMEOUT.",
                    self.inner.idle.as_secs()
                )],
            ),
            None => Error::failed(format!("The registry {}: {failure}", self.host()), vec![]),
        }
    }

    async fn send_once(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Body,
    ) -> Result<Answer, AwsFailure> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(url)
            .header(AUTHORIZATION, self.inner.authorization.expose());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request.body(body).map_err(|err| {
            AwsFailure::local(
                operation(&method),
                format!("could not build a request to {}: {err}", path_of(url)),
            )
        })?;
        let response = self.inner.client.request(request).await.map_err(|err| AwsFailure {
            kind: FailureKind::NoResponse,
            ..AwsFailure::local(operation(&method), causes(&err))
        })?;
        let status = response.status();
        debug!("registry: {method} {} → {}", path_of(url), status.as_u16());
        let (parts, body) = response.into_parts();
        Ok((status, parts.headers, body))
    }
}

/// Tries of one request: the first and four more, about 2 s of pauses in all.
const TRIES: u32 = 5;

/// The operation a registry request is, for the retry's lines and failures.
fn operation(method: &Method) -> &'static str {
    match *method {
        Method::HEAD => "registry HEAD",
        Method::GET => "registry GET",
        Method::POST => "registry POST",
        Method::PATCH => "registry PATCH",
        Method::PUT => "registry PUT",
        _ => "registry request",
    }
}

/// An error and its causes on one line (the client's own Display says only "client error").
pub(super) fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        source = cause.source();
    }
    text
}

/// Answers worth another try: throttling and a registry's passing failures.
fn is_transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

/// `Retry-After` in seconds, capped so a run never waits long on one request.
fn retry_after_header(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers.get("retry-after")?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds.min(10)))
}

/// The registry gave no answer at all (connection refused, DNS, proxy needed), as opposed to
/// refusing the request. Told by the hint only `failure` puts first for a request with no answer,
/// never by the error's text, which quotes the registry (whose words are not the pipe's).
pub fn unanswered(error: &Error) -> bool {
    matches!(error, Error::Failed { details, .. } if details.first().is_some_and(|hint| hint.starts_with(REACH_HINT)))
}

const REACH_HINT: &str = "Check that the runner can reach the registry (HTTPS_PROXY / NO_PROXY).";

const UNANSWERED: &str = "did not answer";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_passing_failures_are_tried_again() {
        for status in [429, 500, 502, 503, 504] {
            assert!(is_transient(StatusCode::from_u16(status).unwrap()), "{status}");
        }
        for status in [400, 401, 403, 404, 405] {
            assert!(!is_transient(StatusCode::from_u16(status).unwrap()), "{status}");
        }
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after_header(&headers), None);
        headers.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after_header(&headers), Some(Duration::from_secs(3)));
        headers.insert("retry-after", "3600".parse().unwrap());
        assert_eq!(retry_after_header(&headers), Some(Duration::from_secs(10)));
    }

    #[test]
    fn no_answer_is_told_by_the_pipes_hint_not_by_the_registrys_words() {
        let none = Error::failed(
            "The registry r did not answer HEAD /v2/app/manifests/v1: connection refused",
            vec![format!("{REACH_HINT} More.")],
        );
        assert!(unanswered(&none));
        // A refusal whose message says the same words is still a refusal.
        let refusal = Error::failed("The registry refused HEAD: DENIED: the upstream did not answer", vec![]);
        assert!(!unanswered(&refusal));
        let auth = Error::auth("The registry r did not answer", vec![format!("{REACH_HINT}")]);
        assert!(!unanswered(&auth));
    }
}
