//! Raw environment → typed `Config`. Every variable is checked here, before the first AWS call,
//! and every problem is collected so the user sees them all at once.
//!
//! This layer turns the environment into the domain's types and imports nothing above it:
//! `auth`, `aws` and the actions use those types, never this module's parsing.

mod auth;
mod ecr;
mod ecs;
mod env;
mod files;
mod lambda;
mod network;
pub mod onboarding;
mod reader;
mod rollback;
pub mod template;
pub mod unknown;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use self::env::Env;
use self::reader::Reader;
use crate::domain::arn::partition_of_region;
use crate::domain::auth_plan::AuthPlan;
use crate::domain::context::{BitbucketContext, Cancellation, RunContext};
use crate::domain::ecr::EcrSettings;
use crate::domain::ecs::EcsSettings;
use crate::domain::insights::{InsightsSettings, TEST_PROXY_VARIABLE};
use crate::domain::lambda::LambdaSettings;
use crate::domain::network::Network;
use crate::domain::rollback::RollbackSettings;
use crate::domain::secret;

/// Variables whose values are split on whitespace (lists, a command): a newline or a tab there
/// separates items, as a multi-line YAML string does.
const WHITESPACE_SEPARATED: [&str; 5] = [
    "ALLOWED_ACCOUNT_IDS",
    "SERVICE_NAME",
    "IMAGES",
    "RUN_TASK_COMMAND",
    "NO_PROXY",
];

/// A control character in a value (a newline, an escape sequence) is a mistake, or an attempt
/// to forge log lines through the messages that quote the value: refused before anything else.
fn refuse_control_characters(read: &mut Reader, env: &Env) {
    for var in vars::ALL {
        let Some(value) = env.value(var.name) else {
            continue;
        };
        let separators = WHITESPACE_SEPARATED.contains(&var.name);
        if let Some(found) = value
            .chars()
            .find(|c| c.is_control() && !(separators && c.is_whitespace()))
        {
            let message = if var.secret {
                "contains a control character (value hidden)".to_owned()
            } else {
                format!(
                    "contains a control character ({}), which no valid value has",
                    found.escape_default()
                )
            };
            read.problem(var.name, message);
        }
    }
}

/// A CA bundle larger than this is no bundle (Debian's is about 200 KB).
const CA_BUNDLE_LIMIT: u64 = 16 * 1024 * 1024;
use crate::error::Error;
use crate::vars;

/// The chosen action, with its own settings.
#[derive(Debug)]
pub enum Action {
    AssumeRole,
    EcsDeploy(Box<EcsSettings>),
    LambdaDeploy(Box<LambdaSettings>),
    EcrPush(Box<EcrSettings>),
    Rollback(Box<RollbackSettings>),
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::AssumeRole => "assume-role",
            Action::EcsDeploy(_) => "ecs-deploy",
            Action::LambdaDeploy(_) => "lambda-deploy",
            Action::EcrPush(_) => "ecr-push",
            Action::Rollback(_) => "rollback",
        }
    }

    /// Whether the action waits for AWS after its changes, which decides how long the
    /// credentials must last.
    pub fn waits(&self) -> bool {
        match self {
            Action::AssumeRole | Action::EcrPush(_) => false,
            Action::EcsDeploy(_) | Action::LambdaDeploy(_) | Action::Rollback(_) => true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ActionName {
    AssumeRole,
    EcsDeploy,
    LambdaDeploy,
    EcrPush,
    Rollback,
}

impl ActionName {
    fn parse(value: &str) -> Result<ActionName, String> {
        match value.to_ascii_lowercase().as_str() {
            "assume-role" => Ok(ActionName::AssumeRole),
            "ecs-deploy" => Ok(ActionName::EcsDeploy),
            "lambda-deploy" => Ok(ActionName::LambdaDeploy),
            "ecr-push" => Ok(ActionName::EcrPush),
            "rollback" => Ok(ActionName::Rollback),
            // Read apart from `Config` (`onboarding::read`): it needs no region nor credentials.
            "trust-policy" => {
                Err("\"trust-policy\" is read apart from the deploy actions; this is a bug of the pipe".to_owned())
            }
            _ => Err(format!(
                "must be one of \"assume-role\", \"ecs-deploy\", \"ecr-push\", \"lambda-deploy\", \"rollback\", \"trust-policy\", got {value:?}"
            )),
        }
    }
}

#[derive(Debug)]
pub struct Config {
    pub action: Action,
    pub region: String,
    pub auth: AuthPlan,
    pub network: Network,
    pub wait: bool,
    pub wait_timeout: Duration,
    /// `AWS_ROLE_DEPLOY_TEST_TIME_SCALE` for the ECS watch's pace (tests against a loopback
    /// emulator only); 1 otherwise.
    pub test_time_scale: u32,
    pub dry_run: bool,
    pub debug: bool,
    /// `CODE_INSIGHTS`: the report left on the commit.
    pub insights: InsightsSettings,
    pub context: BitbucketContext,
    /// `BITBUCKET_CLONE_DIR`, else the working directory: relative paths resolve against it.
    pub work_dir: PathBuf,
    /// `SSL_CERT_FILE` resolved against `work_dir`, when it was given.
    pub ca_bundle: Option<PathBuf>,
    /// Said once logging is up: nothing is wrong, but the user should know.
    pub warnings: Vec<String>,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Config, Error> {
        let mut read = Reader::new(env);
        let mut warnings = Vec::new();

        refuse_control_characters(&mut read, env);

        let context = env::bitbucket_context(env).unwrap_or_else(|err| {
            read.problem("BITBUCKET_*", format!("could not be read: {err}"));
            BitbucketContext::default()
        });

        let action = match read.raw(&vars::ACTION) {
            None => {
                read.problem(vars::ACTION.name, unknown::missing_action(env));
                None
            }
            Some(value) => ActionName::parse(value)
                .map_err(|message| read.problem(vars::ACTION.name, message))
                .ok(),
        };

        let region = read_region(&mut read);
        let auth = auth::read(&mut read, &context, &mut warnings);
        if let (Some(region), Some(auth)) = (&region, &auth) {
            auth::check_partitions(&mut read, region, auth);
        }

        let network = network::read(&mut read, region.as_deref(), &mut warnings);
        for proxy in [&vars::HTTPS_PROXY, &vars::HTTP_PROXY] {
            read.url(proxy);
        }
        // The HTTP client also reads these spellings; they can carry passwords too.
        for name in ["https_proxy", "http_proxy", "all_proxy", "ALL_PROXY"] {
            env.value(name).inspect(|value| secret::redact_from_now_on(value));
        }

        let wait = read.bool(&vars::WAIT);
        let wait_timeout = Duration::from_secs(read.number(&vars::WAIT_TIMEOUT, 1..=86_400));
        let dry_run = read.bool(&vars::DRY_RUN);
        let debug = read.bool(&vars::DEBUG);
        let insights = InsightsSettings {
            enabled: read.bool(&vars::CODE_INSIGHTS),
            test_proxy: read_test_proxy(&mut read, env),
        };

        let work_dir = context
            .clone_dir
            .clone()
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("/"));
        let ca_bundle = read.raw(&vars::SSL_CERT_FILE).and_then(|value| {
            let read_pem = |path: &std::path::Path| {
                files::read_regular_file(path, CA_BUNDLE_LIMIT)
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            };
            let checked = files::resolve_path(&work_dir, value).and_then(|path| match read_pem(&path) {
                Ok(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => Ok(path),
                Ok(_) => Err(format!(
                    "{value:?} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
                )),
                Err(err) => Err(format!("{value:?} is not a readable file: {err}")),
            });
            checked
                .map_err(|message| read.problem(vars::SSL_CERT_FILE.name, message))
                .ok()
        });

        // The paced waits (the ECS watch, the ECR scan wait), sped up for the tests' emulator
        // (Lambda reads its own below, with the traffic shift's): only against a loopback
        // endpoint of the service waited on.
        let loopback = |service: &Option<String>| {
            service
                .as_ref()
                .or(network.endpoint_url.as_ref())
                .is_some_and(|url| crate::domain::network::is_loopback_url(url))
        };
        let test_time_scale = match action {
            Some(ActionName::EcsDeploy | ActionName::Rollback) => {
                lambda::read_time_scale(&mut read, env, loopback(&network.ecs_endpoint_url))
            }
            Some(ActionName::EcrPush) => lambda::read_time_scale(&mut read, env, loopback(&network.ecr_endpoint_url)),
            _ => 1,
        };
        let action = action.and_then(|name| match name {
            ActionName::AssumeRole => Some(Action::AssumeRole),
            ActionName::EcsDeploy => ecs::read(&mut read, env, &work_dir).map(|ecs| Action::EcsDeploy(Box::new(ecs))),
            ActionName::LambdaDeploy => {
                let limits = lambda::ShiftLimits {
                    wait_timeout,
                    loopback_endpoint: network
                        .lambda_endpoint_url
                        .as_ref()
                        .or(network.endpoint_url.as_ref())
                        .is_some_and(|url| crate::domain::network::is_loopback_url(url)),
                };
                lambda::read(&mut read, env, &work_dir, &context, limits, &mut warnings)
                    .map(|lambda| Action::LambdaDeploy(Box::new(lambda)))
            }
            ActionName::EcrPush => ecr::read(&mut read, &work_dir, network.attempt_timeout, &mut warnings)
                .map(|ecr| Action::EcrPush(Box::new(ecr))),
            ActionName::Rollback => rollback::read(&mut read).map(|rollback| Action::Rollback(Box::new(rollback))),
        });
        let test_time_scale = match &action {
            Some(Action::LambdaDeploy(lambda)) => lambda.shift_time_scale,
            _ => test_time_scale,
        };

        // Last, once everything the configuration reads has been read.
        unknown::check(&mut read, env);
        match (action, region, auth) {
            (Some(action), Some(region), Some(auth)) if read.problems.is_empty() => Ok(Config {
                action,
                region,
                auth,
                network,
                wait,
                wait_timeout,
                test_time_scale,
                dry_run,
                debug,
                insights,
                context,
                work_dir,
                ca_bundle,
                warnings,
            }),
            _ => Err(Error::Validation(read.problems)),
        }
    }

    /// How long the credentials must stay usable: the wait, for actions that wait.
    pub fn wait_horizon(&self) -> Option<Duration> {
        (self.action.waits() && self.wait).then_some(self.wait_timeout)
    }

    /// What every action is told about the run; `started` begins the `WAIT_TIMEOUT` clock.
    pub fn run_context(&self, started: Instant, cancel: Cancellation) -> RunContext {
        RunContext {
            cancel,
            scans: Default::default(),
            region: self.region.clone(),
            partition: partition_of_region(&self.region),
            deadline: started + self.wait_timeout,
            wait: self.wait,
            wait_timeout: self.wait_timeout,
            pace_scale: self.test_time_scale,
            dry_run: self.dry_run,
        }
    }
}

/// The tests' fake Code Insights proxy: a loopback `address:port`, nothing else.
fn read_test_proxy(read: &mut Reader<'_>, env: &Env) -> Option<std::net::SocketAddr> {
    let value = env.value(TEST_PROXY_VARIABLE)?;
    match value.parse::<std::net::SocketAddr>() {
        Ok(address) if address.ip().is_loopback() => Some(address),
        _ => {
            read.problem(
                TEST_PROXY_VARIABLE,
                format!("is for tests only and must be a loopback address:port such as 127.0.0.1:29418, got {value:?}"),
            );
            None
        }
    }
}

/// `KEEP_REVISIONS` / `KEEP_VERSIONS`: how many to keep, 1-1000; unset keeps all. 0 is refused:
/// it would leave nothing to roll back to.
fn read_keep(read: &mut Reader<'_>, var: &vars::Var) -> Option<u16> {
    read.optional_number(var, 1..=1000).map(|keep| keep as u16)
}

fn read_region(read: &mut Reader<'_>) -> Option<String> {
    let (var, value) = match (read.raw(&vars::AWS_DEFAULT_REGION), read.raw(&vars::AWS_REGION)) {
        (Some(value), _) => (&vars::AWS_DEFAULT_REGION, value),
        (None, Some(value)) => (&vars::AWS_REGION, value),
        (None, None) => {
            read.problem(
                vars::AWS_DEFAULT_REGION.name,
                "is required (or AWS_REGION), e.g. eu-west-1",
            );
            return None;
        }
    };
    if reader::is_region(value) {
        Some(value.to_owned())
    } else {
        read.problem(
            var.name,
            format!("must be an AWS region such as eu-west-1, got {value:?}"),
        );
        None
    }
}

#[cfg(test)]
mod tests;
