//! How the pipe reaches AWS: endpoints (emulators, VPC endpoints), attempts and timeouts.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Network {
    pub max_attempts: u32,
    pub attempt_timeout: Duration,
    pub endpoint_url: Option<String>,
    pub sts_endpoint_url: Option<String>,
    pub ecs_endpoint_url: Option<String>,
    pub lambda_endpoint_url: Option<String>,
    pub s3_endpoint_url: Option<String>,
    pub ecr_endpoint_url: Option<String>,
    /// FIPS 140 endpoints (`AWS_USE_FIPS_ENDPOINT`), resolved by the SDK per service.
    pub use_fips: bool,
    /// Dual-stack endpoints (`AWS_USE_DUALSTACK_ENDPOINT`).
    pub use_dual_stack: bool,
}

impl Network {
    /// Where STS calls go, and which variable says so: for errors when it cannot be reached.
    pub fn sts_endpoint(&self, region: &str) -> String {
        match (&self.sts_endpoint_url, &self.endpoint_url) {
            (Some(url), _) => format!("{url} (AWS_ENDPOINT_URL_STS)"),
            (None, Some(url)) => format!("{url} (AWS_ENDPOINT_URL)"),
            (None, None) => format!("the STS endpoint of {region}"),
        }
    }
}
