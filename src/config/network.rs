//! How the pipe reaches AWS: attempts, timeouts, endpoints and the SDK's endpoint flags
//! (`AWS_USE_FIPS_ENDPOINT`, `AWS_USE_DUALSTACK_ENDPOINT`), checked together so that a
//! combination the SDK would only refuse at the first call is refused here, with the fix.

use std::time::Duration;

use super::reader::Reader;
use crate::domain::arn::offers_fips_endpoints;
use crate::domain::network::{Network, plain_http_host};
use crate::vars::{self, Var};

pub(super) fn read(read: &mut Reader<'_>, region: Option<&str>, warnings: &mut Vec<String>) -> Network {
    let network = Network {
        max_attempts: read.number(&vars::AWS_MAX_ATTEMPTS, 1..=10) as u32,
        attempt_timeout: Duration::from_secs(read.number(&vars::AWS_ATTEMPT_TIMEOUT, 1..=600)),
        endpoint_url: read.url(&vars::AWS_ENDPOINT_URL),
        sts_endpoint_url: read.url(&vars::AWS_ENDPOINT_URL_STS),
        ecs_endpoint_url: read.url(&vars::AWS_ENDPOINT_URL_ECS),
        lambda_endpoint_url: read.url(&vars::AWS_ENDPOINT_URL_LAMBDA),
        s3_endpoint_url: read.url(&vars::AWS_ENDPOINT_URL_S3),
        ecr_endpoint_url: read.url(&vars::AWS_ENDPOINT_URL_ECR),
        cloudwatch_endpoint_url: read.url(&vars::AWS_ENDPOINT_URL_CLOUDWATCH),
        codedeploy_endpoint_url: read.url(&vars::AWS_ENDPOINT_URL_CODEDEPLOY),
        use_fips: read.bool(&vars::AWS_USE_FIPS_ENDPOINT),
        use_dual_stack: read.bool(&vars::AWS_USE_DUALSTACK_ENDPOINT),
    };
    let endpoint_vars: Vec<&str> = [
        (&vars::AWS_ENDPOINT_URL, &network.endpoint_url),
        (&vars::AWS_ENDPOINT_URL_STS, &network.sts_endpoint_url),
        (&vars::AWS_ENDPOINT_URL_ECS, &network.ecs_endpoint_url),
        (&vars::AWS_ENDPOINT_URL_LAMBDA, &network.lambda_endpoint_url),
        (&vars::AWS_ENDPOINT_URL_S3, &network.s3_endpoint_url),
        (&vars::AWS_ENDPOINT_URL_ECR, &network.ecr_endpoint_url),
        (&vars::AWS_ENDPOINT_URL_CLOUDWATCH, &network.cloudwatch_endpoint_url),
        (&vars::AWS_ENDPOINT_URL_CODEDEPLOY, &network.codedeploy_endpoint_url),
    ]
    .into_iter()
    .filter(|(_, url)| url.is_some())
    .map(|(var, _)| var.name)
    .collect();
    // The SDK's endpoint rules answer "Invalid Configuration: FIPS and custom endpoint are not
    // supported" (and the same for dual-stack) at the first call of every service: a custom
    // endpoint is used as given, so it must itself be the FIPS or dual-stack host.
    let flags: [(&Var, bool, &str); 2] = [
        (&vars::AWS_USE_FIPS_ENDPOINT, network.use_fips, "FIPS"),
        (&vars::AWS_USE_DUALSTACK_ENDPOINT, network.use_dual_stack, "dual-stack"),
    ];
    for (var, on, kind) in flags {
        if on && !endpoint_vars.is_empty() {
            read.problem(
                var.name,
                format!(
                    "cannot be combined with {} (AWS SDKs refuse a custom endpoint with {kind} endpoints): \
                     either remove it, or set the endpoint variable to the {kind} host itself",
                    endpoint_vars.join(", ")
                ),
            );
        }
    }
    warnings.extend(plain_http_warnings(&network));
    if network.use_fips
        && let Some(region) = region
        && !offers_fips_endpoints(region)
    {
        warnings.push(format!(
            "AWS_USE_FIPS_ENDPOINT is true, but AWS offers FIPS endpoints only in US and Canada regions and \
             GovCloud; in {region} the service endpoints (such as sts-fips.{region}.…) may not exist, and the \
             calls would fail to connect"
        ));
    }
    // FIPS endpoints are per service: ECR has none in the Canada regions (containers-roadmap#501,
    // open), so ECR's API calls there would fail to connect.
    if network.use_fips
        && let Some(region) = region
        && region.starts_with("ca-")
    {
        warnings.push(format!(
            "AWS_USE_FIPS_ENDPOINT is true, but ECR has no FIPS endpoint in {region}: ecr-push and a lambda-deploy \
             from an ECR IMAGE_URI would fail to connect to ecr-fips.{region}.…"
        ));
    }
    network
}

/// An endpoint over plain HTTP to another machine than this one: what would cross the network
/// unencrypted. STS's endpoint receives the step's OIDC token (which anyone who reads it can
/// exchange for the role's credentials until it expires); every signed call carries the
/// session token in its headers, and the documents sent (task definitions, function
/// configurations and code).
fn plain_http_warnings(network: &Network) -> Vec<String> {
    let sts_from_general = network.sts_endpoint_url.is_none();
    [
        (&vars::AWS_ENDPOINT_URL, &network.endpoint_url, sts_from_general),
        (&vars::AWS_ENDPOINT_URL_STS, &network.sts_endpoint_url, true),
        (&vars::AWS_ENDPOINT_URL_ECS, &network.ecs_endpoint_url, false),
        (&vars::AWS_ENDPOINT_URL_LAMBDA, &network.lambda_endpoint_url, false),
        (&vars::AWS_ENDPOINT_URL_S3, &network.s3_endpoint_url, false),
        (&vars::AWS_ENDPOINT_URL_ECR, &network.ecr_endpoint_url, false),
        (
            &vars::AWS_ENDPOINT_URL_CLOUDWATCH,
            &network.cloudwatch_endpoint_url,
            false,
        ),
        (
            &vars::AWS_ENDPOINT_URL_CODEDEPLOY,
            &network.codedeploy_endpoint_url,
            false,
        ),
    ]
    .into_iter()
    .filter_map(|(var, url, reaches_sts)| {
        let host = plain_http_host(url.as_deref()?)?;
        let token = if reaches_sts {
            "the step's OIDC token (AssumeRoleWithWebIdentity: whoever reads it can take the role until it \
             expires), "
        } else {
            ""
        };
        Some(format!(
            "{} sends requests over plain HTTP to {host}, which is not this machine: {token}the session token \
             of every signed call and everything sent (task definitions, function configurations, code) would \
             cross the network unencrypted. Use https:// unless {host} is reached only over a trusted link",
            var.name
        ))
    })
    .collect()
}
