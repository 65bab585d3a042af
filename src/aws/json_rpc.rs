//! One AWS JSON call (the `awsJson1_0` / `awsJson1_1` protocols: a POST to `/` with
//! `X-Amz-Target: <Service>.<Operation>` and a JSON body), signed by hand with SigV4 and sent by
//! the same HTTP stack as the SDK's clients (the smithy HTTP client with rustls,
//! `HTTPS_PROXY`/`NO_PROXY` honoured). For the services the pipe calls only a few operations of
//! (CloudWatch's DescribeAlarms, CodeDeploy's deployments), where a generated `aws-sdk-*` crate
//! would grow an image that must stay small.
//!
//! Like the SDK's standard retry mode: throttling, 5xx and no answer are tried again, at most
//! `AWS_MAX_ATTEMPTS` times, with jittered exponential backoff (at most 20 s); anything else is
//! returned at once. Errors keep AWS's code (`__type` without its namespace), message and
//! request id, classified like the SDK's (`AwsFailure`).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorSettings};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::body::SdkBody;
use serde_json::Value;
use tracing::debug;

use super::failure::{credentials_failure, kind_of_answer};
use super::{AwsFailure, FailureKind};
use crate::domain::answers;
use crate::domain::arn::partition_of_region;
use crate::domain::network::Network;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The SDK's standard mode: backoff up to 20 s between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(20);

/// Which service, and how it is reached.
#[derive(Clone, Copy, Debug)]
pub(super) struct Protocol {
    /// The SigV4 signing name (`monitoring`, `codedeploy`).
    pub signing_name: &'static str,
    /// `X-Amz-Target`'s prefix (`CodeDeploy_20141006`).
    pub target_prefix: &'static str,
    /// `1.0` or `1.1`.
    pub json_version: &'static str,
}

/// A signed AWS JSON client for one service at one endpoint.
#[derive(Clone)]
pub(super) struct JsonClient {
    protocol: Protocol,
    credentials: Option<SharedCredentialsProvider>,
    region: String,
    endpoint: String,
    max_attempts: u32,
    attempt_timeout: Duration,
    /// Built on the first request: a run that never calls the service (an ECS deploy without
    /// CODE_DEPLOY services still makes its CodeDeploy client) never reads the TLS roots for it.
    connector: Arc<OnceLock<aws_smithy_http_client::Connector>>,
}

impl std::fmt::Debug for JsonClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonClient")
            .field("service", &self.protocol.signing_name)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl JsonClient {
    pub(super) fn new(
        protocol: Protocol,
        credentials: Option<SharedCredentialsProvider>,
        region: String,
        endpoint: String,
        network: &Network,
    ) -> JsonClient {
        JsonClient {
            protocol,
            credentials,
            region,
            endpoint,
            max_attempts: network.max_attempts.max(1),
            attempt_timeout: network.attempt_timeout,
            connector: Arc::new(OnceLock::new()),
        }
    }

    fn connector(&self) -> &aws_smithy_http_client::Connector {
        self.connector.get_or_init(|| {
            aws_smithy_http_client::Connector::builder()
                .connector_settings(
                    HttpConnectorSettings::builder()
                        .connect_timeout(CONNECT_TIMEOUT)
                        .read_timeout(self.attempt_timeout)
                        .build(),
                )
                .proxy_config(ProxyConfig::from_env())
                .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                .build()
        })
    }

    /// `operation` is `service:Operation` (`codedeploy:GetDeployment`): the part after the colon
    /// is the target. Timed and logged on one DEBUG line, like every SDK call (`aws::call`).
    pub(super) async fn call(&self, operation: &'static str, body: &Value) -> Result<Value, AwsFailure> {
        let started = std::time::Instant::now();
        let body = body.to_string();
        let mut attempt = 1;
        let result = loop {
            match self.send_once(operation, &body).await {
                Err(failure) if failure.kind.passes() && attempt < self.max_attempts => {
                    debug!("{operation}: attempt {attempt} failed ({failure}); trying again");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
                other => break other,
            }
        };
        let millis = started.elapsed().as_millis();
        match &result {
            Ok((_, request_id)) => debug!(
                "{operation} took {millis} ms (request id {})",
                request_id.as_deref().unwrap_or("none")
            ),
            Err(failure) => debug!("{operation} failed after {millis} ms ({:?}): {failure}", failure.kind),
        }
        result.map(|(document, _)| document)
    }

    async fn send_once(&self, operation: &'static str, body: &str) -> Result<(Value, Option<String>), AwsFailure> {
        let target = operation.split_once(':').map_or(operation, |(_, name)| name);
        let mut request = http::Request::builder()
            .method("POST")
            .uri(format!("{}/", self.endpoint.trim_end_matches('/')))
            .header(
                "content-type",
                format!("application/x-amz-json-{}", self.protocol.json_version),
            )
            .header("x-amz-target", format!("{}.{target}", self.protocol.target_prefix))
            .header("user-agent", concat!("aws-role-deploy/", env!("CARGO_PKG_VERSION")))
            .body(body.to_owned())
            .map_err(|err| AwsFailure::local(operation, format!("the request could not be made: {err}")))?;
        self.sign(operation, &mut request, body.as_bytes()).await?;

        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, SdkBody::from(body))
            .try_into()
            .map_err(|err| AwsFailure::local(operation, format!("the request could not be made: {err}")))?;
        let response = self.connector().call(request).await.map_err(|err| AwsFailure {
            kind: FailureKind::NoResponse,
            ..AwsFailure::local(operation, format!("no answer: {err}"))
        })?;
        let status = response.status().as_u16();
        let request_id = response.headers().get("x-amzn-requestid").map(str::to_owned);
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .map_err(|err| AwsFailure {
                kind: FailureKind::NoResponse,
                status: Some(status),
                ..AwsFailure::local(operation, format!("the answer was cut short: {err}"))
            })?
            .to_bytes();
        let document: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            return Err(failure(operation, status, &document, &bytes, request_id));
        }
        if !document.is_object() {
            debug!(
                "{operation}: the response that could not be read, values masked: {}",
                answers::masked_body(&bytes)
            );
            return Err(AwsFailure {
                status: Some(status),
                request_id,
                ..AwsFailure::local(
                    operation,
                    format!("the response could not be read (HTTP {status}, {} bytes)", bytes.len()),
                )
            });
        }
        Ok((document, request_id))
    }

    async fn sign(
        &self,
        operation: &'static str,
        request: &mut http::Request<String>,
        body: &[u8],
    ) -> Result<(), AwsFailure> {
        let Some(provider) = &self.credentials else {
            return Err(AwsFailure::local(operation, "no credentials to sign with"));
        };
        let credentials = provider.provide_credentials().await.map_err(|err| {
            credentials_failure(operation, &err).unwrap_or_else(|| AwsFailure {
                kind: FailureKind::CredentialsUnavailable,
                ..AwsFailure::local(operation, format!("the credentials could not be renewed: {err}"))
            })
        })?;
        let identity = Identity::from(credentials);
        let unsignable = |err: &dyn std::fmt::Display| {
            AwsFailure::local(operation, format!("the request could not be signed: {err}"))
        };
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.protocol.signing_name)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|err| unsignable(&err))?
            .into();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect();
        let signable = SignableRequest::new(
            request.method().as_str(),
            request.uri().to_string(),
            headers.iter().map(|(name, value)| (name.as_str(), value.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|err| unsignable(&err))?;
        let (instructions, _signature) = sign(signable, &params).map_err(|err| unsignable(&err))?.into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

/// Where a service's calls go: its own `AWS_ENDPOINT_URL_<SERVICE>` (`specific`), else
/// `AWS_ENDPOINT_URL` (config refuses the FIPS and dual-stack flags beside either), else the
/// service's endpoint in `region` as the SDKs' endpoint rules name it:
/// `<host>[-fips].<region>.<suffix>`, the suffix the partition's (`amazonaws.com`,
/// `amazonaws.com.cn`, `amazonaws.eu`), or its dual-stack one (`api.aws`,
/// `api.amazonwebservices.com.cn`, `api.amazonwebservices.eu`) with `AWS_USE_DUALSTACK_ENDPOINT`.
/// CloudWatch lists `monitoring.<region>.api.aws` and `monitoring-fips.<region>.api.aws` among its
/// endpoints (https://docs.aws.amazon.com/general/latest/gr/cw_region.html); CodeDeploy its
/// `codedeploy-fips` hosts (https://docs.aws.amazon.com/general/latest/gr/codedeploy.html).
pub(super) fn endpoint(specific: Option<&str>, network: &Network, host: &str, region: &str) -> String {
    if let Some(url) = specific.or(network.endpoint_url.as_deref()) {
        return url.to_owned();
    }
    let (suffix, dual_stack_suffix) = match partition_of_region(region) {
        "aws-cn" => ("amazonaws.com.cn", "api.amazonwebservices.com.cn"),
        "aws-eusc" => ("amazonaws.eu", "api.amazonwebservices.eu"),
        _ => ("amazonaws.com", "api.aws"),
    };
    let host = if network.use_fips {
        format!("{host}-fips")
    } else {
        host.to_owned()
    };
    let suffix = if network.use_dual_stack {
        dual_stack_suffix
    } else {
        suffix
    };
    format!("https://{host}.{region}.{suffix}")
}

/// Full jitter over an exponential base of 1 s, capped like the SDK's standard mode; the
/// jitter comes from the clock's nanoseconds (no random-number crate in the image).
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_secs(1u64 << attempt.saturating_sub(1).min(5)).min(MAX_BACKOFF);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |now| now.subsec_nanos());
    base.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

/// An error answer of AWS JSON: `{"__type": "namespace#Code", "message": "..."}` (`Message` in
/// some services; the code may also come in `X-Amzn-ErrorType`, not read here).
fn failure(
    operation: &'static str,
    status: u16,
    document: &Value,
    bytes: &[u8],
    request_id: Option<String>,
) -> AwsFailure {
    let code = document["__type"]
        .as_str()
        .map(|kind| kind.rsplit('#').next().unwrap_or(kind))
        .map(|code| code.split(':').next().unwrap_or(code).to_owned());
    let message = match document["message"].as_str().or_else(|| document["Message"].as_str()) {
        Some(message) => message.to_owned(),
        None => {
            if !bytes.is_empty() {
                debug!(
                    "{operation}: the error answer without a message, values masked: {}",
                    answers::masked_body(bytes)
                );
            }
            format!("HTTP {status} without an error message")
        }
    };
    AwsFailure {
        operation,
        kind: kind_of_answer(status, code.as_deref()),
        status: Some(status),
        code,
        message,
        request_id,
        details: Vec::new(),
        retry_after_secs: None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn errors_keep_code_message_and_kind() {
        let refused = failure(
            "codedeploy:CreateDeployment",
            400,
            &json!({"__type": "com.amazonaws.codedeploy#DeploymentLimitExceededException", "message": "busy"}),
            b"",
            Some("r-1".into()),
        );
        assert_eq!(refused.code.as_deref(), Some("DeploymentLimitExceededException"));
        assert_eq!(refused.kind, FailureKind::Refused);
        assert_eq!(refused.request_id.as_deref(), Some("r-1"));
        let throttled = failure(
            "x:Y",
            400,
            &json!({"__type": "ThrottlingException", "Message": "slow"}),
            b"",
            None,
        );
        assert_eq!(
            (throttled.kind, throttled.message.as_str()),
            (FailureKind::Throttled, "slow")
        );
        assert_eq!(
            failure("x:Y", 503, &Value::Null, b"", None).kind,
            FailureKind::ServerError
        );
        assert_eq!(
            failure("x:Y", 429, &Value::Null, b"", None).kind,
            FailureKind::Throttled
        );
        let odd = failure(
            "x:Y",
            400,
            &json!({"__type": "AccessDeniedException:http://internal"}),
            b"{}",
            None,
        );
        assert_eq!(odd.code.as_deref(), Some("AccessDeniedException"));
        assert_eq!(odd.message, "HTTP 400 without an error message");
    }

    #[test]
    fn endpoints_follow_the_variables_and_flags() {
        let network = |general: Option<&str>, fips: bool, dual_stack: bool| Network {
            max_attempts: 1,
            attempt_timeout: Duration::from_secs(1),
            endpoint_url: general.map(str::to_owned),
            sts_endpoint_url: None,
            ecs_endpoint_url: None,
            lambda_endpoint_url: None,
            s3_endpoint_url: None,
            ecr_endpoint_url: Some("http://ecr.example".to_owned()),
            cloudwatch_endpoint_url: None,
            codedeploy_endpoint_url: None,
            use_fips: fips,
            use_dual_stack: dual_stack,
        };
        let cases = [
            (
                None,
                network(None, false, false),
                "monitoring",
                "us-east-1",
                "https://monitoring.us-east-1.amazonaws.com",
            ),
            (
                None,
                network(None, true, false),
                "monitoring",
                "us-east-1",
                "https://monitoring-fips.us-east-1.amazonaws.com",
            ),
            (
                None,
                network(None, false, true),
                "monitoring",
                "us-east-1",
                "https://monitoring.us-east-1.api.aws",
            ),
            (
                None,
                network(None, true, true),
                "monitoring",
                "us-west-2",
                "https://monitoring-fips.us-west-2.api.aws",
            ),
            (
                None,
                network(None, false, false),
                "monitoring",
                "cn-north-1",
                "https://monitoring.cn-north-1.amazonaws.com.cn",
            ),
            (
                None,
                network(None, false, true),
                "monitoring",
                "cn-north-1",
                "https://monitoring.cn-north-1.api.amazonwebservices.com.cn",
            ),
            (
                None,
                network(None, false, false),
                "monitoring",
                "eusc-de-east-1",
                "https://monitoring.eusc-de-east-1.amazonaws.eu",
            ),
            (
                None,
                network(None, false, false),
                "codedeploy",
                "eu-west-1",
                "https://codedeploy.eu-west-1.amazonaws.com",
            ),
            (
                None,
                network(None, true, false),
                "codedeploy",
                "us-east-1",
                "https://codedeploy-fips.us-east-1.amazonaws.com",
            ),
            (
                None,
                network(Some("http://127.0.0.1:5000"), false, false),
                "codedeploy",
                "us-east-1",
                "http://127.0.0.1:5000",
            ),
            (
                Some("https://vpce-1.codedeploy.example"),
                network(Some("http://127.0.0.1:5000"), false, false),
                "codedeploy",
                "us-east-1",
                "https://vpce-1.codedeploy.example",
            ),
        ];
        for (specific, network, host, region, expected) in cases {
            assert_eq!(
                endpoint(specific, &network, host, region),
                expected,
                "{host} in {region}"
            );
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..10 {
            assert!(backoff(attempt) <= MAX_BACKOFF);
        }
        assert!(backoff(1) <= Duration::from_secs(1));
    }
}
