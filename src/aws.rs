//! The one place where AWS clients are configured (region, endpoints, retries, timeouts,
//! attribution) and where AWS errors are turned into text users can act on.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_config::{AppName, BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::timeout::TimeoutConfig;
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::RequestId;
use aws_smithy_runtime::client::identity::IdentityCache;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::date_time::{DateTime, Format};

use crate::config::Config;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Shared configuration of every AWS client of this run. Credentials are optional because the
/// web-identity call is unsigned.
pub fn sdk_config(config: &Config, credentials: Option<SharedCredentialsProvider>) -> SdkConfig {
    let network = &config.network;
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(config.region.clone()))
        // Standard mode: throttling, 5xx, timeouts and dropped connections are retried with
        // jittered exponential backoff; access and validation errors are not.
        .retry_config(RetryConfig::standard().with_max_attempts(network.max_attempts))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(network.attempt_timeout)
                .build(),
        )
        // Credentials are cached (and refreshed) by `auth::RoleChain` itself, which knows each
        // hop's expiry; a second cache on top would only hide expiries from it.
        .identity_cache(IdentityCache::no_cache())
        // Shows up in the User-Agent of every call, so CloudTrail can tell this pipe's calls apart.
        .app_name(AppName::new(env!("CARGO_PKG_NAME")).expect("the package name is a valid app name"));
    if let Some(url) = &network.endpoint_url {
        builder = builder.endpoint_url(url);
    }
    if let Some(credentials) = credentials {
        builder = builder.credentials_provider(credentials);
    }
    builder.build()
}

/// `AWS_ENDPOINT_URL_STS` wins over `AWS_ENDPOINT_URL` for STS.
pub fn sts_client(sdk: &SdkConfig, sts_endpoint_url: Option<&str>) -> aws_sdk_sts::Client {
    let mut builder = aws_sdk_sts::config::Builder::from(sdk);
    if let Some(url) = sts_endpoint_url {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_sts::Client::from_conf(builder.build())
}

/// `AWS_ENDPOINT_URL_ECS` wins over `AWS_ENDPOINT_URL` for ECS.
pub fn ecs_client(sdk: &SdkConfig, ecs_endpoint_url: Option<&str>) -> aws_sdk_ecs::Client {
    let mut builder = aws_sdk_ecs::config::Builder::from(sdk);
    if let Some(url) = ecs_endpoint_url {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_ecs::Client::from_conf(builder.build())
}

/// `AWS_ENDPOINT_URL_LAMBDA` wins over `AWS_ENDPOINT_URL` for Lambda.
pub fn lambda_client(sdk: &SdkConfig, lambda_endpoint_url: Option<&str>) -> aws_sdk_lambda::Client {
    let mut builder = aws_sdk_lambda::config::Builder::from(sdk);
    if let Some(url) = lambda_endpoint_url {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_lambda::Client::from_conf(builder.build())
}

/// `AWS_ENDPOINT_URL_S3` wins over `AWS_ENDPOINT_URL` for S3. Path-style addressing when an
/// endpoint is given: emulators and VPC endpoints do not serve bucket subdomains.
pub fn s3_client(sdk: &SdkConfig, s3_endpoint_url: Option<&str>) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(sdk);
    if let Some(url) = s3_endpoint_url {
        builder = builder.endpoint_url(url);
    }
    if s3_endpoint_url.is_some() || sdk.endpoint_url().is_some() {
        builder = builder.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// An AWS call that failed, reduced to what a user needs: the operation, AWS's error code and
/// message (or the transport failure), and the request id for a support case.
#[derive(Debug, Clone, Default)]
pub struct AwsFailure {
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
    /// No answer came at all (timeouts, refused or dropped connections), as opposed to an
    /// answer the pipe did not like.
    pub unanswered: bool,
}

impl AwsFailure {
    pub fn from_sdk<E>(operation: &'static str, error: &SdkError<E, HttpResponse>) -> AwsFailure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match error {
            SdkError::ServiceError(service) => {
                AwsFailure {
                    operation,
                    code: service.err().code().map(str::to_owned),
                    message: service.err().message().map(str::to_owned).unwrap_or_else(|| {
                        format!("HTTP {} without an error message", service.raw().status().as_u16())
                    }),
                    request_id: service.err().meta().request_id().map(str::to_owned),
                    unanswered: false,
                }
            }
            // The whole chain of causes is what explains these (including a credentials
            // renewal that failed inside a later call).
            other => AwsFailure {
                operation,
                code: None,
                message: DisplayErrorContext(other).to_string(),
                request_id: None,
                unanswered: matches!(other, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)),
            },
        }
    }

    /// A failure found on our side of a call that AWS did answer (an unexpected response).
    pub fn local(operation: &'static str, message: impl Into<String>) -> AwsFailure {
        AwsFailure {
            operation,
            message: message.into(),
            ..AwsFailure::default()
        }
    }

    pub fn code_is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// Throttling, or no answer at all: worth asking again later, unlike a refusal.
    pub fn is_transient(&self) -> bool {
        self.unanswered
            || self
                .code
                .as_deref()
                .is_some_and(|code| code.contains("Throttl") || code == "TooManyRequestsException")
    }
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

/// A `DEBUG:` line for each AWS call: how long it took and its request id.
pub fn log_call(operation: &str, started: Instant, request_id: Option<&str>) {
    tracing::debug!(
        "{operation} took {} ms (request id {})",
        started.elapsed().as_millis(),
        request_id.unwrap_or("none")
    );
}

pub fn log_output<T: RequestId>(operation: &str, started: Instant, output: &T) {
    log_call(operation, started, output.request_id());
}

/// RFC 3339 in whole seconds, as AWS prints times.
pub fn format_time(time: SystemTime) -> String {
    format_epoch(DateTime::from(time).secs())
}

pub fn format_epoch(seconds: i64) -> String {
    DateTime::from_secs(seconds)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| seconds.to_string())
}

/// A request interceptor that replaces the body the SDK serialised with `body`, before signing:
/// for documents sent exactly as the user wrote them (task definitions, function
/// configurations) or written without copies (zip uploads).
pub fn with_body(body: bytes::Bytes) -> impl Fn(&mut aws_smithy_runtime_api::http::Request) + Send + Sync + 'static {
    move |request| {
        let length = body.len().to_string();
        *request.body_mut() = aws_smithy_types::body::SdkBody::from(body.clone());
        request.headers_mut().insert("content-length", length);
    }
}

/// AccessDenied from any service: name the IAM action to grant, as AWS's message states it
/// ("not authorized to perform: ecs:TagResource"), else the operation that was refused.
pub fn access_denied(failure: &AwsFailure, policy: &str) -> Option<crate::error::Error> {
    let denied = ["AccessDenied", "AccessDeniedException"]
        .iter()
        .any(|code| failure.code_is(code));
    if !denied {
        return None;
    }
    let action = failure
        .message
        .split("perform: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or(failure.operation);
    Some(crate::error::Error::auth(
        failure.clone(),
        vec![format!(
            "The role needs the IAM permission {action} (see the README's {policy})."
        )],
    ))
}

/// Keeps the raw body of one response: for documents the SDK's types would lose fields of
/// (task definitions, function configurations), which are then sent back as they are.
#[derive(Debug, Clone, Default)]
pub struct RawResponse(Arc<Mutex<Option<Vec<u8>>>>);

impl RawResponse {
    pub fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().ok()?.take()
    }

    pub fn json(&self, operation: &'static str) -> Result<serde_json::Value, AwsFailure> {
        let bytes = self.take().unwrap_or_default();
        serde_json::from_slice(&bytes)
            .map_err(|err| AwsFailure::local(operation, format!("the response is not JSON: {err}")))
    }
}

impl Intercept for RawResponse {
    fn name(&self) -> &'static str {
        "RawResponse"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(bytes), Ok(mut slot)) = (context.response().body().bytes(), self.0.lock()) {
            *slot = Some(bytes.to_vec());
        }
        Ok(())
    }
}

/// "in 12 min" / "3 min ago", for expiries.
pub fn relative(time: SystemTime) -> String {
    match time.duration_since(SystemTime::now()) {
        Ok(ahead) => format!("in {}", human(ahead)),
        Err(past) => format!("{} ago", human(past.duration())),
    }
}

pub fn human(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds < 120 {
        format!("{seconds} s")
    } else if seconds < 2 * 3600 {
        format!("{} min", seconds / 60)
    } else {
        format!("{:.1} h", seconds as f64 / 3600.0)
    }
}

/// The AWS console's host in each partition, so links work for China and GovCloud users too.
pub fn console_host(partition: &str) -> &'static str {
    match partition {
        "aws-cn" => "console.amazonaws.cn",
        "aws-us-gov" => "console.amazonaws-us-gov.com",
        _ => "console.aws.amazon.com",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_hosts_follow_the_partition() {
        assert_eq!(console_host("aws"), "console.aws.amazon.com");
        assert_eq!(console_host("aws-cn"), "console.amazonaws.cn");
        assert_eq!(console_host("aws-us-gov"), "console.amazonaws-us-gov.com");
    }

    #[test]
    fn access_denied_names_the_action_aws_names() {
        let failure = |message: &str| AwsFailure {
            code: Some("AccessDeniedException".into()),
            ..AwsFailure::local("ecs:RegisterTaskDefinition", message)
        };
        let hint = |f: &AwsFailure| access_denied(f, "policy").unwrap().details().join(" ");
        let named = failure("User: arn:x is not authorized to perform: ecs:TagResource on resource: y");
        assert!(hint(&named).contains("ecs:TagResource"));
        assert!(hint(&failure("Access denied")).contains("ecs:RegisterTaskDefinition"));
        assert!(access_denied(&AwsFailure::local("x", "y"), "policy").is_none());
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(Duration::from_secs(45)), "45 s");
        assert_eq!(human(Duration::from_secs(900)), "15 min");
        assert_eq!(human(Duration::from_secs(3 * 3600)), "3.0 h");
    }

    #[test]
    fn failure_text_names_operation_code_and_request_id() {
        let failure = AwsFailure {
            code: Some("AccessDenied".into()),
            request_id: Some("req-1".into()),
            ..AwsFailure::local("sts:AssumeRole", "nope")
        };
        assert_eq!(
            failure.to_string(),
            "sts:AssumeRole failed: AccessDenied: nope (request id req-1)"
        );
    }
}
