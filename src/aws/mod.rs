//! The one way to AWS: clients configured in one place (region, endpoints, retries, timeouts,
//! attribution), every call made through `call` (timing, request id, the DEBUG line, one
//! classification of what went wrong), and every wait or retry through `wait::Wait`.
//!
//! This layer sees the session only as an opaque credentials provider inside `Clients`; what
//! the credentials are and how they are renewed is `auth`'s business.

mod call;
mod cloudwatch;
mod codedeploy;
mod failure;
mod http_client;
mod json_rpc;
mod raw;
pub mod wait;

use std::time::Duration;

use aws_config::{AppName, BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::timeout::TimeoutConfig;
use aws_smithy_runtime::client::identity::IdentityCache;

pub use self::call::call;
pub use self::cloudwatch::{AlarmState, CloudWatch};
pub use self::codedeploy::CodeDeploy;
pub use self::failure::{AwsFailure, CredentialsUnavailable, FailureKind};
pub use self::raw::{RawResponse, with_body};
use crate::domain::network::Network;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The AWS clients of a run, all built from one configuration. Actions receive this and
/// nothing else of the session: the credentials stay inside its provider.
#[derive(Clone, Debug)]
pub struct Clients {
    sdk: SdkConfig,
    network: Network,
}

impl Clients {
    /// Clients for `region`. Without credentials they can only make unsigned calls (the
    /// web-identity exchange).
    pub fn new(region: &str, network: &Network, credentials: Option<SharedCredentialsProvider>) -> Clients {
        let mut builder = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
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
            .app_name(AppName::new(env!("CARGO_PKG_NAME")).expect("the package name is a valid app name"))
            // One pool and one read of the TLS roots for STS, ECS and the rest (`http_client`).
            .http_client(http_client::shared());
        if let Some(url) = &network.endpoint_url {
            builder = builder.endpoint_url(url);
        }
        // Every service's endpoint rules read these (config refuses them with a custom endpoint,
        // which the rules reject).
        builder = builder
            .use_fips(network.use_fips)
            .use_dual_stack(network.use_dual_stack);
        if let Some(credentials) = credentials {
            builder = builder.credentials_provider(credentials);
        }
        Clients {
            sdk: builder.build(),
            network: network.clone(),
        }
    }

    /// The same clients, signing with `credentials`.
    pub fn signed_with(&self, credentials: SharedCredentialsProvider) -> Clients {
        Clients {
            sdk: self.sdk.to_builder().credentials_provider(credentials).build(),
            network: self.network.clone(),
        }
    }

    /// `AWS_ENDPOINT_URL_STS` wins over `AWS_ENDPOINT_URL` for STS.
    pub fn sts(&self) -> aws_sdk_sts::Client {
        let mut builder = aws_sdk_sts::config::Builder::from(&self.sdk);
        if let Some(url) = &self.network.sts_endpoint_url {
            builder = builder.endpoint_url(url);
        }
        aws_sdk_sts::Client::from_conf(builder.build())
    }

    /// `AWS_ENDPOINT_URL_ECS` wins over `AWS_ENDPOINT_URL` for ECS.
    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        let mut builder = aws_sdk_ecs::config::Builder::from(&self.sdk);
        if let Some(url) = &self.network.ecs_endpoint_url {
            builder = builder.endpoint_url(url);
        }
        aws_sdk_ecs::Client::from_conf(builder.build())
    }

    /// `AWS_ENDPOINT_URL_ECR` wins over `AWS_ENDPOINT_URL` for ECR's API. The registry itself
    /// is reached at the address `GetAuthorizationToken` gives, not through this client.
    pub fn ecr(&self) -> aws_sdk_ecr::Client {
        let mut builder = aws_sdk_ecr::config::Builder::from(&self.sdk);
        if let Some(url) = &self.network.ecr_endpoint_url {
            builder = builder.endpoint_url(url);
        }
        aws_sdk_ecr::Client::from_conf(builder.build())
    }

    /// CloudWatch's DescribeAlarms (`ALARMS`), signed by hand: `AWS_ENDPOINT_URL_CLOUDWATCH` wins
    /// over `AWS_ENDPOINT_URL`; else CloudWatch's regional endpoint, FIPS and dual-stack as the
    /// flags say (`json_rpc::endpoint`).
    pub fn cloudwatch(&self) -> CloudWatch {
        let specific = self.network.cloudwatch_endpoint_url.as_deref();
        CloudWatch(self.json_client(cloudwatch::PROTOCOL, "monitoring", specific))
    }

    /// CodeDeploy's deployments (ECS blue/green), signed by hand: `AWS_ENDPOINT_URL_CODEDEPLOY`
    /// wins over `AWS_ENDPOINT_URL`; else CodeDeploy's regional endpoint, FIPS and dual-stack as
    /// the flags say.
    pub fn codedeploy(&self) -> CodeDeploy {
        let specific = self.network.codedeploy_endpoint_url.as_deref();
        CodeDeploy(self.json_client(codedeploy::PROTOCOL, "codedeploy", specific))
    }

    fn json_client(&self, protocol: json_rpc::Protocol, host: &str, specific: Option<&str>) -> json_rpc::JsonClient {
        let region = self.sdk.region().map(|region| region.to_string()).unwrap_or_default();
        let endpoint = json_rpc::endpoint(specific, &self.network, host, &region);
        json_rpc::JsonClient::new(
            protocol,
            self.sdk.credentials_provider(),
            region,
            endpoint,
            &self.network,
        )
    }

    /// `AWS_ENDPOINT_URL_LAMBDA` wins over `AWS_ENDPOINT_URL` for Lambda.
    pub fn lambda(&self) -> aws_sdk_lambda::Client {
        let mut builder = aws_sdk_lambda::config::Builder::from(&self.sdk);
        if let Some(url) = &self.network.lambda_endpoint_url {
            builder = builder.endpoint_url(url);
        }
        aws_sdk_lambda::Client::from_conf(builder.build())
    }

    /// `AWS_ENDPOINT_URL_S3` wins over `AWS_ENDPOINT_URL` for S3. Path-style addressing when an
    /// endpoint is given: emulators and VPC endpoints do not serve bucket subdomains.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let mut builder = aws_sdk_s3::config::Builder::from(&self.sdk);
        if let Some(url) = &self.network.s3_endpoint_url {
            builder = builder.endpoint_url(url);
        }
        if self.network.s3_endpoint_url.is_some() || self.sdk.endpoint_url().is_some() {
            builder = builder.force_path_style(true);
        }
        aws_sdk_s3::Client::from_conf(builder.build())
    }
}
