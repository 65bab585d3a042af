//! CloudWatch's DescribeAlarms, the one CloudWatch call the pipe makes (`ALARMS`), signed by
//! hand instead of through `aws-sdk-cloudwatch`: the SDK crate would add a whole generated client
//! to a binary that must stay small, for one read. The request is AWS JSON 1.0 (CloudWatch speaks
//! it besides query and CBOR: `X-Amz-Target: GraniteServiceVersion20100801.DescribeAlarms`),
//! signed with SigV4 for `monitoring`, and sent by the same HTTP stack as the SDK's clients (the
//! smithy HTTP client with rustls, `HTTPS_PROXY`/`NO_PROXY` honoured). Errors keep AWS's code,
//! message and request id, classified like the SDK's (`AwsFailure`).

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorSettings};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::body::SdkBody;
use serde_json::{Value, json};
use tracing::debug;

use super::{AwsFailure, FailureKind};
use crate::domain::network::Network;

const OPERATION: &str = "cloudwatch:DescribeAlarms";
const TARGET: &str = "GraniteServiceVersion20100801.DescribeAlarms";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where DescribeAlarms goes: `AWS_ENDPOINT_URL_CLOUDWATCH`, else `AWS_ENDPOINT_URL` (config
/// refuses the FIPS and dual-stack flags beside either), else CloudWatch's endpoint in `region`
/// as the SDKs' endpoint rules name it: `monitoring[-fips].<region>.<suffix>`, the suffix the
/// partition's (`amazonaws.com`, `amazonaws.com.cn`, `amazonaws.eu`), or its dual-stack one
/// (`api.aws`, `api.amazonwebservices.com.cn`, `api.amazonwebservices.eu`) with
/// `AWS_USE_DUALSTACK_ENDPOINT`. CloudWatch lists `monitoring.<region>.api.aws` and
/// `monitoring-fips.<region>.api.aws` among its endpoints
/// (https://docs.aws.amazon.com/general/latest/gr/cw_region.html).
pub(super) fn endpoint(network: &Network, region: &str) -> String {
    if let Some(url) = network
        .cloudwatch_endpoint_url
        .as_ref()
        .or(network.endpoint_url.as_ref())
    {
        return url.clone();
    }
    let (suffix, dual_stack_suffix) = if region.starts_with("cn-") {
        ("amazonaws.com.cn", "api.amazonwebservices.com.cn")
    } else if region.starts_with("eusc-") {
        ("amazonaws.eu", "api.amazonwebservices.eu")
    } else {
        ("amazonaws.com", "api.aws")
    };
    let host = if network.use_fips {
        "monitoring-fips"
    } else {
        "monitoring"
    };
    let suffix = if network.use_dual_stack {
        dual_stack_suffix
    } else {
        suffix
    };
    format!("https://{host}.{region}.{suffix}")
}

/// One alarm as DescribeAlarms reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmState {
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    pub reason: String,
}

/// A CloudWatch client for DescribeAlarms.
#[derive(Clone, Debug)]
pub struct CloudWatch {
    pub(super) credentials: Option<SharedCredentialsProvider>,
    pub(super) region: String,
    pub(super) endpoint: String,
    pub(super) attempt_timeout: Duration,
}

impl CloudWatch {
    /// The metric and composite alarms of `names` (at most 100), in CloudWatch's order; a name
    /// CloudWatch does not know is simply absent.
    pub async fn describe_alarms(&self, names: &[String]) -> Result<Vec<AlarmState>, AwsFailure> {
        let started = std::time::Instant::now();
        let result = self.send(names).await;
        match &result {
            Ok(alarms) => debug!(
                "{OPERATION} took {} ms ({} alarms)",
                started.elapsed().as_millis(),
                alarms.len()
            ),
            Err(failure) => debug!(
                "{OPERATION} failed after {} ms ({:?}): {failure}",
                started.elapsed().as_millis(),
                failure.kind
            ),
        }
        result
    }

    async fn send(&self, names: &[String]) -> Result<Vec<AlarmState>, AwsFailure> {
        let body = json!({
            "AlarmNames": names,
            "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
            "MaxRecords": 100,
        })
        .to_string();
        let mut request = http::Request::builder()
            .method("POST")
            .uri(format!("{}/", self.endpoint.trim_end_matches('/')))
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", TARGET)
            .header("user-agent", concat!("aws-role-deploy/", env!("CARGO_PKG_VERSION")))
            .body(body.clone())
            .map_err(|err| AwsFailure::local(OPERATION, format!("the request could not be made: {err}")))?;
        self.sign(&mut request, body.as_bytes()).await?;

        let connector = aws_smithy_http_client::Connector::builder()
            .connector_settings(
                HttpConnectorSettings::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .read_timeout(self.attempt_timeout)
                    .build(),
            )
            .proxy_config(ProxyConfig::from_env())
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
            .build();
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, SdkBody::from(body));
        let request = request
            .try_into()
            .map_err(|err| AwsFailure::local(OPERATION, format!("the request could not be made: {err}")))?;
        let response = connector.call(request).await.map_err(|err| AwsFailure {
            kind: FailureKind::NoResponse,
            ..AwsFailure::local(OPERATION, format!("no answer: {err}"))
        })?;
        let status = response.status().as_u16();
        let request_id = response.headers().get("x-amzn-requestid").map(str::to_owned);
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .map_err(|err| AwsFailure {
                kind: FailureKind::NoResponse,
                status: Some(status),
                ..AwsFailure::local(OPERATION, format!("the answer was cut short: {err}"))
            })?
            .to_bytes();
        let document: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            return Err(failure(status, &document, request_id));
        }
        if !document.is_object() {
            return Err(AwsFailure {
                status: Some(status),
                request_id,
                ..AwsFailure::local(OPERATION, "the answer is not a DescribeAlarms document (JSON)")
            });
        }
        Ok(alarms_of(&document))
    }

    async fn sign(&self, request: &mut http::Request<String>, body: &[u8]) -> Result<(), AwsFailure> {
        let Some(provider) = &self.credentials else {
            return Err(AwsFailure::local(OPERATION, "no credentials to sign with"));
        };
        let credentials = provider.provide_credentials().await.map_err(|err| AwsFailure {
            kind: FailureKind::CredentialsUnavailable,
            ..AwsFailure::local(OPERATION, format!("the credentials could not be renewed: {err}"))
        })?;
        let identity = Identity::from(credentials);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("monitoring")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|err| AwsFailure::local(OPERATION, format!("the request could not be signed: {err}")))?
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
        .map_err(|err| AwsFailure::local(OPERATION, format!("the request could not be signed: {err}")))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|err| AwsFailure::local(OPERATION, format!("the request could not be signed: {err}")))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

/// `MetricAlarms` and `CompositeAlarms` of an answer.
fn alarms_of(document: &Value) -> Vec<AlarmState> {
    ["MetricAlarms", "CompositeAlarms"]
        .iter()
        .flat_map(|kind| document[kind].as_array().cloned().unwrap_or_default())
        .map(|alarm| AlarmState {
            name: alarm["AlarmName"].as_str().unwrap_or_default().to_owned(),
            state: alarm["StateValue"].as_str().unwrap_or_default().to_owned(),
            reason: alarm["StateReason"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// An error answer of AWS JSON 1.0: `{"__type": "...#Code", "message": "..."}`.
fn failure(status: u16, document: &Value, request_id: Option<String>) -> AwsFailure {
    let code = document["__type"]
        .as_str()
        .map(|kind| kind.rsplit('#').next().unwrap_or(kind).to_owned());
    let message = document["message"]
        .as_str()
        .or_else(|| document["Message"].as_str())
        .unwrap_or("no message")
        .to_owned();
    let throttled = status == 429 || code.as_deref().is_some_and(|code| code.contains("Throttl"));
    AwsFailure {
        operation: OPERATION,
        kind: if throttled {
            FailureKind::Throttled
        } else if status >= 500 {
            FailureKind::ServerError
        } else {
            FailureKind::Refused
        },
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
    use super::*;

    #[test]
    fn endpoints_follow_the_variables_and_flags() {
        let network = |cloudwatch: Option<&str>, general: Option<&str>, fips: bool, dual_stack: bool| Network {
            max_attempts: 1,
            attempt_timeout: Duration::from_secs(1),
            endpoint_url: general.map(str::to_owned),
            sts_endpoint_url: None,
            ecs_endpoint_url: None,
            lambda_endpoint_url: None,
            s3_endpoint_url: None,
            ecr_endpoint_url: Some("http://ecr.example".to_owned()),
            cloudwatch_endpoint_url: cloudwatch.map(str::to_owned),
            use_fips: fips,
            use_dual_stack: dual_stack,
        };
        let cases = [
            (
                network(None, None, false, false),
                "us-east-1",
                "https://monitoring.us-east-1.amazonaws.com",
            ),
            (
                network(None, None, true, false),
                "us-east-1",
                "https://monitoring-fips.us-east-1.amazonaws.com",
            ),
            (
                network(None, None, false, true),
                "us-east-1",
                "https://monitoring.us-east-1.api.aws",
            ),
            (
                network(None, None, true, true),
                "us-west-2",
                "https://monitoring-fips.us-west-2.api.aws",
            ),
            (
                network(None, None, false, false),
                "cn-north-1",
                "https://monitoring.cn-north-1.amazonaws.com.cn",
            ),
            (
                network(None, None, false, true),
                "cn-north-1",
                "https://monitoring.cn-north-1.api.amazonwebservices.com.cn",
            ),
            (
                network(None, None, false, false),
                "eusc-de-east-1",
                "https://monitoring.eusc-de-east-1.amazonaws.eu",
            ),
            (
                network(None, Some("http://127.0.0.1:5000"), false, false),
                "us-east-1",
                "http://127.0.0.1:5000",
            ),
            (
                network(
                    Some("https://vpce-1.monitoring.example"),
                    Some("http://127.0.0.1:5000"),
                    false,
                    false,
                ),
                "us-east-1",
                "https://vpce-1.monitoring.example",
            ),
        ];
        for (network, region, expected) in cases {
            assert_eq!(endpoint(&network, region), expected, "{network:?} in {region}");
        }
    }

    #[test]
    fn answers_are_read() {
        let document = json!({
            "MetricAlarms": [{"AlarmName": "errors", "StateValue": "ALARM", "StateReason": "Threshold Crossed"}],
            "CompositeAlarms": [{"AlarmName": "api-health", "StateValue": "OK", "StateReason": "fine"}],
        });
        let alarms = alarms_of(&document);
        assert_eq!(alarms.len(), 2);
        assert_eq!(alarms[0].state, "ALARM");
        assert_eq!(alarms[1].name, "api-health");

        let refused = failure(
            400,
            &json!({"__type": "com.amazonaws.cloudwatch#AccessDenied", "message": "not authorized"}),
            None,
        );
        assert_eq!(refused.code.as_deref(), Some("AccessDenied"));
        assert_eq!(refused.kind, FailureKind::Refused);
        assert_eq!(failure(503, &Value::Null, None).kind, FailureKind::ServerError);
        assert_eq!(
            failure(400, &json!({"__type": "ThrottlingException", "message": "slow"}), None).kind,
            FailureKind::Throttled
        );
    }
}
