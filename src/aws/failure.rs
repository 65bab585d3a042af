//! What went wrong with an AWS call, classified once from the SDK's error (keeping the HTTP
//! status), and the one mapping from such a failure to the pipe's error and exit code.

use std::fmt;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::RequestId;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::domain::answers;
use crate::error::Error;

/// What kind of trouble a failed call is in, which decides whether waiting helps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// AWS asked the pipe to slow down (throttling codes, HTTP 429).
    Throttled,
    /// No answer at all: the connection failed or timed out. I/O and timeouts only.
    NoResponse,
    /// AWS answered with a server error (HTTP 5xx).
    ServerError,
    /// The credentials provider failed: the session could not be renewed. Never "no response".
    CredentialsUnavailable,
    /// The resource is busy with another change (Lambda's ResourceConflictException).
    Conflict,
    /// AWS refused the request, or answered with something the pipe cannot use.
    Refused,
}

impl FailureKind {
    /// The trouble passes by itself: worth asking again until the deadline.
    pub fn passes(self) -> bool {
        matches!(
            self,
            FailureKind::Throttled | FailureKind::NoResponse | FailureKind::ServerError
        )
    }
}

/// An AWS call that failed, reduced to what a user needs: the operation, AWS's error code and
/// message (or what happened on the way), and the request id for a support case.
#[derive(Debug, Clone)]
pub struct AwsFailure {
    pub operation: &'static str,
    pub kind: FailureKind,
    /// The HTTP status of AWS's answer, when there was one.
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
    /// Why the credentials could not be had (`CredentialsUnavailable` only).
    pub details: Vec<String>,
    /// How many seconds the answer asked the caller to wait before trying again (`Retry-After`,
    /// capped by its reader; a byte keeps the failure small).
    pub retry_after_secs: Option<u8>,
}

/// Error codes with which AWS services say "slow down" (the SDK's own list, without the
/// quota-like `LimitExceededException`).
const THROTTLING_CODES: [&str; 13] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];
const CONFLICT_CODES: [&str; 2] = ["ResourceConflictException", "ConflictException"];

/// Raised by the credentials provider (`auth`) when it cannot renew the session. It travels
/// inside the SDK's error of the call that needed the credentials, and is found again there,
/// so the failure says which hop could not be renewed and why.
#[derive(Debug, Clone)]
pub struct CredentialsUnavailable {
    /// The hop that could not be renewed, as users name it ("the step's OIDC token → role …").
    pub hop: String,
    pub summary: String,
    pub details: Vec<String>,
}

impl fmt::Display for CredentialsUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.hop, self.summary)
    }
}

impl std::error::Error for CredentialsUnavailable {}

impl AwsFailure {
    pub fn from_sdk<E>(operation: &'static str, error: &SdkError<E, HttpResponse>) -> AwsFailure
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        if let Some(failure) = credentials_failure(operation, error) {
            return failure;
        }
        let unanswered = |message: String| AwsFailure {
            kind: FailureKind::NoResponse,
            ..AwsFailure::local(operation, message)
        };
        match error {
            SdkError::ServiceError(service)
                if service.raw().status().is_success() && service.err().code().is_none() =>
            {
                unreadable(operation, service.raw())
            }
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let code = service.err().code().map(str::to_owned);
                AwsFailure {
                    operation,
                    kind: kind_of_answer(status, code.as_deref()),
                    status: Some(status),
                    message: service
                        .err()
                        .message()
                        .map(without_quoted_values)
                        .unwrap_or_else(|| format!("HTTP {status} without an error message")),
                    code,
                    request_id: service.err().meta().request_id().map(str::to_owned),
                    details: Vec::new(),
                    // The SDK's own retries honour AWS's hints; none reach this far.
                    retry_after_secs: None,
                }
            }
            SdkError::TimeoutError(_) => unanswered("no answer within AWS_ATTEMPT_TIMEOUT".to_owned()),
            // Anything on the way that is not our own request's fault (a reset or closed
            // connection, a refused connect, a timeout): no answer came. Said in a few words,
            // not the SDK's nested error context.
            SdkError::DispatchFailure(dispatch) if !dispatch.is_user() => {
                let how = if dispatch.is_timeout() {
                    "timed out"
                } else if dispatch.is_io() {
                    "connection failed"
                } else {
                    "connection lost"
                };
                unanswered(format!("no answer ({how}: {})", innermost(error)))
            }
            // An answer the SDK could not read (a proxy's page, a truncated body): described by
            // what it was, never quoted, since a body can carry configuration values. Some
            // protocols report a success status with a body they cannot parse as a service
            // error without code or message: the same thing.
            SdkError::ResponseError(response) => unreadable(operation, response.raw()),
            other => AwsFailure::local(operation, DisplayErrorContext(other).to_string()),
        }
    }

    /// A failure found on our side of a call that AWS did answer (an unexpected response).
    pub fn local(operation: &'static str, message: impl Into<String>) -> AwsFailure {
        AwsFailure {
            operation,
            kind: FailureKind::Refused,
            status: None,
            code: None,
            message: message.into(),
            request_id: None,
            details: Vec::new(),
            retry_after_secs: None,
        }
    }

    pub fn code_is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// The service part of the operation (`ecs` of `ecs:UpdateService`).
    fn service(&self) -> &str {
        self.operation.split(':').next().unwrap_or_default()
    }

    /// The pipe's error for this failure: the one mapping from AWS's answer to what the user
    /// reads and the exit code. Callers that know more (a name AWS did not find, say) explain
    /// those cases first and hand the rest here.
    pub fn into_error(self) -> Error {
        match self.kind {
            FailureKind::CredentialsUnavailable => {
                let summary = format!(
                    "The AWS session could not be renewed, so {} could not be called: {}",
                    self.operation, self.message
                );
                return Error::auth(summary, self.details);
            }
            FailureKind::NoResponse => {
                return Error::failed(
                    self,
                    vec![
                        "No answer from AWS within AWS_ATTEMPT_TIMEOUT, AWS_MAX_ATTEMPTS times. Check \
                         AWS_ENDPOINT_URL (and the per-service AWS_ENDPOINT_URL_*), HTTPS_PROXY / NO_PROXY, and \
                         that the runner can reach AWS."
                            .to_owned(),
                    ],
                );
            }
            FailureKind::Throttled | FailureKind::ServerError | FailureKind::Conflict => {
                return Error::failed(self, vec![]);
            }
            FailureKind::Refused => {}
        }
        if ["AccessDenied", "AccessDeniedException"]
            .iter()
            .any(|code| self.code_is(code))
        {
            let action = self
                .message
                .split("perform: ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap_or(self.operation)
                .to_owned();
            let section = match self.service() {
                "ecs" => "docs/ecs-deploy.md, Permissions",
                "lambda" | "s3" => "docs/lambda-deploy.md, Permissions",
                "ecr" => "docs/ecr-push.md, Permissions",
                _ => "docs/authentication.md",
            };
            return Error::auth(
                self,
                vec![format!("The role needs the IAM permission {action} (see {section}).")],
            );
        }
        let variable = match (self.service(), self.code.as_deref()) {
            (_, Some("ClusterNotFoundException")) => Some("CLUSTER_NAME"),
            (_, Some("ServiceNotFoundException" | "ServiceNotActiveException")) => Some("SERVICE_NAME"),
            ("lambda", Some("ResourceNotFoundException")) => Some("FUNCTION_NAME"),
            ("s3", Some("NoSuchBucket")) => Some("S3_BUCKET"),
            _ => None,
        };
        if let Some(variable) = variable {
            return Error::bad_input(self, variable);
        }
        let bad_input = [
            "ClientException",
            "InvalidParameterException",
            "InvalidParameterValueException",
            "ValidationException",
            "CodeStorageExceededException",
        ];
        if bad_input.iter().any(|code| self.code_is(code)) {
            return Error::BadInput {
                summary: self.to_string(),
                details: vec![],
            };
        }
        Error::failed(self, vec![])
    }
}

/// Lambda quotes the whole environment map after "String measured:" when it is too large; the
/// values are the user's secrets, so the message stops before it.
fn without_quoted_values(message: &str) -> String {
    match message.split_once("String measured:") {
        Some((before, _)) => format!("{}String measured: (values not shown)", before),
        None => message.to_owned(),
    }
}

pub(super) fn kind_of_answer(status: u16, code: Option<&str>) -> FailureKind {
    match code {
        Some(code) if THROTTLING_CODES.contains(&code) => FailureKind::Throttled,
        Some(code) if CONFLICT_CODES.contains(&code) => FailureKind::Conflict,
        _ if status == 429 => FailureKind::Throttled,
        _ if status >= 500 => FailureKind::ServerError,
        _ => FailureKind::Refused,
    }
}

/// A response the SDK could not read, described by status, content type, size and request id;
/// its body only on the DEBUG line, values masked.
fn unreadable(operation: &'static str, raw: &HttpResponse) -> AwsFailure {
    let status = raw.status().as_u16();
    let content_type = raw.headers().get("content-type").unwrap_or("no content type");
    let size = raw.body().bytes().map_or(0, <[u8]>::len);
    if let Some(body) = raw.body().bytes() {
        tracing::debug!(
            "{operation}: the response that could not be read, values masked: {}",
            answers::masked_body(body)
        );
    }
    let request_id = raw
        .headers()
        .get("x-amzn-requestid")
        .or_else(|| raw.headers().get("x-amz-request-id"))
        .map(str::to_owned);
    AwsFailure {
        kind: if status >= 500 {
            FailureKind::ServerError
        } else {
            FailureKind::Refused
        },
        status: Some(status),
        request_id,
        ..AwsFailure::local(
            operation,
            format!("the response could not be read (HTTP {status}, {content_type}, {size} bytes)"),
        )
    }
}

/// The deepest cause of an error: what actually happened ("connection closed before message
/// completed"), without the layers of context the SDK wraps around it.
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(cause) = current.source() {
        current = cause;
    }
    current.to_string()
}

/// The credentials provider failed inside this call: found in the error's chain of sources,
/// wherever the SDK put it, with the explanation `auth` gave when it is there.
pub(super) fn credentials_failure(
    operation: &'static str,
    error: &(dyn std::error::Error + 'static),
) -> Option<AwsFailure> {
    let mut provider_failure = None;
    let mut current = Some(error);
    while let Some(cause) = current {
        if let Some(unavailable) = cause.downcast_ref::<CredentialsUnavailable>() {
            let mut details = vec![format!("Could not renew: {}.", unavailable.hop)];
            details.extend(unavailable.details.iter().cloned());
            return Some(AwsFailure {
                kind: FailureKind::CredentialsUnavailable,
                details,
                ..AwsFailure::local(operation, unavailable.summary.clone())
            });
        }
        if cause.downcast_ref::<CredentialsError>().is_some() {
            provider_failure.get_or_insert_with(|| DisplayErrorContext(cause).to_string());
        }
        current = cause.source();
    }
    provider_failure.map(|message| AwsFailure {
        kind: FailureKind::CredentialsUnavailable,
        ..AwsFailure::local(operation, message)
    })
}

impl fmt::Display for AwsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} failed: {code}: {}", self.operation, self.message)?,
            None => write!(f, "{} failed: {}", self.operation, self.message)?,
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(operation: &'static str, code: &str, message: &str) -> AwsFailure {
        AwsFailure {
            code: Some(code.into()),
            ..AwsFailure::local(operation, message)
        }
    }

    #[test]
    fn a_renewal_that_failed_is_found_anywhere_in_the_chain_and_named_by_its_hop() {
        #[derive(Debug)]
        struct Wrapped(Box<dyn std::error::Error + 'static>);
        impl fmt::Display for Wrapped {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "dispatch failure")
            }
        }
        impl std::error::Error for Wrapped {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(self.0.as_ref())
            }
        }
        let unavailable = CredentialsUnavailable {
            hop: "the step's OIDC token → arn:aws:iam::1:role/deploy".into(),
            summary: "STS refused the renewal".into(),
            details: vec!["Run the step again.".into()],
        };
        assert_eq!(
            unavailable.to_string(),
            "the step's OIDC token → arn:aws:iam::1:role/deploy: STS refused the renewal"
        );
        let chain = Wrapped(Box::new(Wrapped(Box::new(unavailable))));
        let failure = credentials_failure("ecs:UpdateService", &chain).expect("found in the chain");
        assert_eq!(failure.kind, FailureKind::CredentialsUnavailable);
        assert_eq!(failure.message, "STS refused the renewal");
        assert_eq!(
            failure.details,
            vec![
                "Could not renew: the step's OIDC token → arn:aws:iam::1:role/deploy.".to_owned(),
                "Run the step again.".to_owned()
            ]
        );
        // What actually happened is the deepest cause, not the wrapping around it.
        assert_eq!(
            innermost(&chain),
            "the step's OIDC token → arn:aws:iam::1:role/deploy: STS refused the renewal"
        );
        assert!(credentials_failure("ecs:UpdateService", &Wrapped(Box::new(std::io::Error::other("reset")))).is_none());
    }

    #[test]
    fn answers_are_classified_by_code_then_status() {
        let cases = [
            (400, Some("Throttling"), FailureKind::Throttled),
            (400, Some("ThrottlingException"), FailureKind::Throttled),
            (429, Some("TooManyRequestsException"), FailureKind::Throttled),
            (429, None, FailureKind::Throttled),
            (409, Some("ResourceConflictException"), FailureKind::Conflict),
            (500, Some("InternalFailure"), FailureKind::ServerError),
            (503, Some("ServiceUnavailable"), FailureKind::ServerError),
            (403, Some("AccessDeniedException"), FailureKind::Refused),
            (400, Some("ClientException"), FailureKind::Refused),
        ];
        for (status, code, kind) in cases {
            assert_eq!(kind_of_answer(status, code), kind, "{status} {code:?}");
        }
        assert!(FailureKind::Throttled.passes() && FailureKind::NoResponse.passes());
        assert!(FailureKind::ServerError.passes());
        assert!(!FailureKind::CredentialsUnavailable.passes() && !FailureKind::Refused.passes());
        assert!(
            !FailureKind::Conflict.passes(),
            "conflicts pass only where a wait says so"
        );
    }

    #[test]
    fn credentials_are_found_anywhere_in_the_chain() {
        let unavailable = CredentialsUnavailable {
            hop: "the step's OIDC token → arn:aws:iam::1:role/deploy".into(),
            summary: "The step's OIDC token has expired".into(),
            details: vec!["Re-run the step.".into()],
        };
        let provider = CredentialsError::provider_error(unavailable);
        #[derive(Debug)]
        struct Outer(CredentialsError);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("dispatch failure")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let failure = credentials_failure("ecs:DescribeServices", &Outer(provider)).unwrap();
        assert_eq!(failure.kind, FailureKind::CredentialsUnavailable);
        let error = failure.into_error();
        assert_eq!(error.exit_code(), 3);
        let text = format!("{error} {}", error.details().join(" "));
        for expected in [
            "could not be renewed",
            "ecs:DescribeServices",
            "has expired",
            "role/deploy",
            "Re-run",
        ] {
            assert!(text.contains(expected), "{expected} missing from {text}");
        }
        assert!(credentials_failure("x", &std::fmt::Error).is_none());
    }

    #[test]
    fn one_mapping_gives_the_exit_code_and_the_variable() {
        let cases = [
            (
                refused("ecs:DescribeServices", "ClusterNotFoundException", "x"),
                2,
                "CLUSTER_NAME",
            ),
            (
                refused("ecs:UpdateService", "ServiceNotFoundException", "x"),
                2,
                "SERVICE_NAME",
            ),
            (
                refused("lambda:GetFunction", "ResourceNotFoundException", "x"),
                2,
                "FUNCTION_NAME",
            ),
            (refused("s3:PutObject", "NoSuchBucket", "x"), 2, "S3_BUCKET"),
            (
                refused("ecs:RegisterTaskDefinition", "ClientException", "bad"),
                2,
                "bad",
            ),
            (
                refused(
                    "ecs:RegisterTaskDefinition",
                    "AccessDeniedException",
                    "User: arn:x is not authorized to perform: ecs:TagResource on resource: y",
                ),
                3,
                "ecs:TagResource",
            ),
            (
                refused("lambda:UpdateAlias", "AccessDeniedException", "Access denied"),
                3,
                "lambda:UpdateAlias",
            ),
            (refused("ecs:UpdateService", "SomethingElse", "x"), 1, "SomethingElse"),
        ];
        for (failure, exit, mentioned) in cases {
            let error = failure.clone().into_error();
            let text = format!("{error} {}", error.details().join(" "));
            assert_eq!(error.exit_code(), exit, "{failure}");
            assert!(text.contains(mentioned), "{mentioned} missing from {text}");
        }
    }

    #[test]
    fn unreadable_bodies_show_their_shape_never_their_values() {
        let cut = br#"{"services": [{"serviceName": "web", "desiredCount": 2, "environment": "s3cret-value", "deploym"#;
        assert_eq!(
            answers::masked_body(cut),
            r#"{"services": [{"serviceName": "***", "desiredCount": 0, "environment": "***", "***""#
        );
        let escaped = br#"{"a": "x\"y secret", "b": ["k1", "k2"]}"#;
        let masked = answers::masked_body(escaped);
        assert!(!masked.contains("secret") && !masked.contains("k1"), "{masked}");
        assert_eq!(
            answers::masked_body(b"<html>502 Bad Gateway\n</html>"),
            "<html>502 Bad Gateway </html>"
        );
    }

    #[test]
    fn quoted_environment_values_are_cut_from_messages() {
        let message = "Lambda was unable to configure your environment variables because the environment \
            variables you have provided exceeded the 4KB limit. String measured: {\"DB_PASSWORD\":\"hunter2\"}";
        let cut = without_quoted_values(message);
        assert!(
            !cut.contains("hunter2") && cut.contains("exceeded the 4KB limit"),
            "{cut}"
        );
        assert_eq!(without_quoted_values("plain"), "plain");
    }

    #[test]
    fn failure_text_names_operation_code_and_request_id() {
        let failure = AwsFailure {
            request_id: Some("req-1".into()),
            ..refused("sts:AssumeRole", "AccessDenied", "nope")
        };
        assert_eq!(
            failure.to_string(),
            "sts:AssumeRole failed: AccessDenied: nope (request id req-1)"
        );
    }
}
