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
                read.problem(vars::ACTION.name, "is required, e.g. ACTION: \"assume-role\"");
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

        let action = action.and_then(|name| match name {
            ActionName::AssumeRole => Some(Action::AssumeRole),
            ActionName::EcsDeploy => ecs::read(&mut read, env, &work_dir).map(|ecs| Action::EcsDeploy(Box::new(ecs))),
            ActionName::LambdaDeploy => lambda::read(&mut read, env, &work_dir, &context, &mut warnings)
                .map(|lambda| Action::LambdaDeploy(Box::new(lambda))),
            ActionName::EcrPush => ecr::read(&mut read, &work_dir, network.attempt_timeout, &mut warnings)
                .map(|ecr| Action::EcrPush(Box::new(ecr))),
            ActionName::Rollback => rollback::read(&mut read).map(|rollback| Action::Rollback(Box::new(rollback))),
        });

        match (action, region, auth) {
            (Some(action), Some(region), Some(auth)) if read.problems.is_empty() => Ok(Config {
                action,
                region,
                auth,
                network,
                wait,
                wait_timeout,
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
            region: self.region.clone(),
            partition: partition_of_region(&self.region),
            deadline: started + self.wait_timeout,
            wait: self.wait,
            wait_timeout: self.wait_timeout,
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
mod tests {
    use std::collections::BTreeMap;

    use super::reader::parse_bool;
    use super::*;
    use crate::domain::auth_plan::CredentialSource;
    use crate::error::Problem;

    const ROLE: &str = "arn:aws:iam::111111111111:role/deploy";
    const OTHER_ROLE: &str = "arn:aws:iam::222222222222:role/target";

    fn token() -> String {
        crate::domain::token::tests::encode(&serde_json::json!({
            "iss": "https://api.bitbucket.org/2.0/workspaces/acme/pipelines-config/identity/oidc",
            "aud": "ari:cloud:bitbucket::workspace/abc",
            "sub": "{repo}:{step}",
            "exp": 4_000_000_000u64
        }))
    }

    fn base() -> Vec<(String, String)> {
        [
            ("ACTION", "assume-role".to_owned()),
            ("AWS_DEFAULT_REGION", "eu-west-1".to_owned()),
            ("AWS_OIDC_ROLE_ARN", ROLE.to_owned()),
            ("BITBUCKET_STEP_OIDC_TOKEN", token()),
            ("BITBUCKET_REPO_SLUG", "web-app".to_owned()),
            ("BITBUCKET_BUILD_NUMBER", "42".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn with(changes: &[(&str, Option<&str>)]) -> Env {
        let mut vars: BTreeMap<String, String> = base().into_iter().collect();
        for (name, value) in changes {
            match value {
                Some(value) => vars.insert(name.to_string(), value.to_string()),
                None => vars.remove(*name),
            };
        }
        Env::from_pairs(vars)
    }

    fn problems(changes: &[(&str, Option<&str>)]) -> Vec<Problem> {
        match Config::from_env(&with(changes)) {
            Err(Error::Validation(problems)) => problems,
            Err(other) => panic!("unexpected error {other:?}"),
            Ok(_) => Vec::new(),
        }
    }

    fn assert_problem(changes: &[(&str, Option<&str>)], variable: &str, fragment: &str) {
        let found = problems(changes);
        assert!(
            found
                .iter()
                .any(|p| p.variable == variable && p.message.contains(fragment)),
            "expected {variable}: ...{fragment}... for {changes:?}, got {found:#?}"
        );
    }

    #[test]
    fn minimal_oidc_configuration() {
        let config = Config::from_env(&with(&[])).unwrap();
        assert!(matches!(config.action, Action::AssumeRole));
        assert_eq!(config.region, "eu-west-1");
        assert_eq!(config.auth.session_name, "bitbucket-web-app-42");
        assert_eq!(config.auth.duration, Duration::from_secs(3600));
        assert!(!config.auth.duration_explicit);
        assert!(matches!(config.auth.source, CredentialSource::WebIdentity { .. }));
        assert!(config.auth.chained.is_none());
        assert!(
            config.auth.session_tags.is_empty(),
            "tags go on the AssumeRole hop only"
        );
        assert_eq!(config.network.max_attempts, 5);
        assert!(config.wait && !config.dry_run && !config.debug);
        assert!(config.warnings.is_empty());
    }

    #[test]
    fn each_invalid_variable_is_reported() {
        let cases: &[(&[(&str, Option<&str>)], &str, &str)] = &[
            (&[("ACTION", None)], "ACTION", "is required"),
            (&[("ACTION", Some("deploy"))], "ACTION", "must be one of"),
            (
                &[("ACTION", Some("ecr-push"))],
                "IMAGE_NAME",
                "exactly one image source",
            ),
            (&[("AWS_DEFAULT_REGION", None)], "AWS_DEFAULT_REGION", "is required"),
            (
                &[("AWS_DEFAULT_REGION", Some("Europe"))],
                "AWS_DEFAULT_REGION",
                "\"Europe\"",
            ),
            (
                &[("AWS_DEFAULT_REGION", None), ("AWS_REGION", Some("eu_west_1"))],
                "AWS_REGION",
                "must be an AWS region",
            ),
            (
                &[("AWS_OIDC_ROLE_ARN", Some("deploy-role"))],
                "AWS_OIDC_ROLE_ARN",
                "must be an IAM role ARN",
            ),
            (
                &[("AWS_OIDC_ROLE_ARN", Some("arn:aws:iam::1234:role/x"))],
                "AWS_OIDC_ROLE_ARN",
                "12 digits",
            ),
            (
                &[("AWS_OIDC_ROLE_ARN", Some("arn:aws:iam::111111111111:user/x"))],
                "AWS_OIDC_ROLE_ARN",
                "IAM role ARN",
            ),
            (
                &[("AWS_OIDC_ROLE_ARN", Some("arn:aws-xx:iam::111111111111:role/x"))],
                "AWS_OIDC_ROLE_ARN",
                "partition",
            ),
            (
                &[("AWS_DEFAULT_REGION", Some("cn-north-1"))],
                "AWS_OIDC_ROLE_ARN",
                "partition \"aws-cn\"",
            ),
            (
                &[("AWS_ROLE_ARN", Some("nope"))],
                "AWS_ROLE_ARN",
                "must be an IAM role ARN",
            ),
            (
                &[("AWS_EXTERNAL_ID", Some("abc"))],
                "AWS_EXTERNAL_ID",
                "only used to assume AWS_ROLE_ARN",
            ),
            (
                &[("AWS_ROLE_ARN", Some(OTHER_ROLE)), ("AWS_EXTERNAL_ID", Some("bad id!"))],
                "AWS_EXTERNAL_ID",
                "2-1224",
            ),
            (
                &[("AWS_ROLE_SESSION_NAME", Some("!"))],
                "AWS_ROLE_SESSION_NAME",
                "at least 2",
            ),
            (
                &[("AWS_ROLE_DURATION_SECONDS", Some("60"))],
                "AWS_ROLE_DURATION_SECONDS",
                "from 900 to 43200",
            ),
            (
                &[("AWS_ROLE_DURATION_SECONDS", Some("1h"))],
                "AWS_ROLE_DURATION_SECONDS",
                "\"1h\"",
            ),
            (
                &[
                    ("AWS_ROLE_ARN", Some(OTHER_ROLE)),
                    ("AWS_ROLE_DURATION_SECONDS", Some("7200")),
                ],
                "AWS_ROLE_DURATION_SECONDS",
                "3600 seconds",
            ),
            (
                &[("AWS_SESSION_TAGS", Some("maybe"))],
                "AWS_SESSION_TAGS",
                "true or false",
            ),
            (
                &[("ALLOWED_ACCOUNT_IDS", Some("111111111111 12345"))],
                "ALLOWED_ACCOUNT_IDS",
                "\"12345\"",
            ),
            (&[("AWS_MAX_ATTEMPTS", Some("0"))], "AWS_MAX_ATTEMPTS", "from 1 to 10"),
            (
                &[("AWS_ATTEMPT_TIMEOUT", Some("-1"))],
                "AWS_ATTEMPT_TIMEOUT",
                "from 1 to 600",
            ),
            (
                &[("AWS_ENDPOINT_URL", Some("localhost:5000"))],
                "AWS_ENDPOINT_URL",
                "http://",
            ),
            (
                &[("AWS_ENDPOINT_URL_STS", Some("ftp://x"))],
                "AWS_ENDPOINT_URL_STS",
                "http://",
            ),
            (&[("HTTPS_PROXY", Some("proxy:3128"))], "HTTPS_PROXY", "http://"),
            (
                &[("SSL_CERT_FILE", Some("/no/such/file.pem"))],
                "SSL_CERT_FILE",
                "not a readable file",
            ),
            (
                &[("SSL_CERT_FILE", Some("../../etc/passwd"))],
                "SSL_CERT_FILE",
                "outside the clone directory",
            ),
            (&[("WAIT", Some("y"))], "WAIT", "true or false"),
            (&[("WAIT_TIMEOUT", Some("0"))], "WAIT_TIMEOUT", "from 1 to 86400"),
            (&[("DRY_RUN", Some("nah"))], "DRY_RUN", "true or false"),
            (&[("DEBUG", Some("verbose"))], "DEBUG", "true or false"),
            (
                &[("BITBUCKET_STEP_OIDC_TOKEN", None)],
                "AWS_OIDC_ROLE_ARN",
                "add `oidc: true`",
            ),
            (
                &[("BITBUCKET_STEP_OIDC_TOKEN", Some("not-a-jwt"))],
                "BITBUCKET_STEP_OIDC_TOKEN",
                "JSON Web Token",
            ),
            (&[("AWS_OIDC_ROLE_ARN", None)], "AWS_OIDC_ROLE_ARN", "is required"),
            (
                &[
                    ("AWS_OIDC_ROLE_ARN", None),
                    ("BITBUCKET_STEP_OIDC_TOKEN", None),
                    ("AWS_ROLE_ARN", Some(OTHER_ROLE)),
                ],
                "AWS_OIDC_ROLE_ARN",
                "to assume AWS_ROLE_ARN",
            ),
            (
                &[
                    ("AWS_OIDC_ROLE_ARN", None),
                    ("AWS_ACCESS_KEY_ID", Some("AKIAEXAMPLEEXAMPLE1")),
                ],
                "AWS_SECRET_ACCESS_KEY",
                "is required",
            ),
            (
                &[
                    ("AWS_OIDC_ROLE_ARN", None),
                    ("AWS_SECRET_ACCESS_KEY", Some("abcdefghijklmnop")),
                ],
                "AWS_ACCESS_KEY_ID",
                "is required",
            ),
            (
                &[
                    ("AWS_OIDC_ROLE_ARN", None),
                    ("AWS_ACCESS_KEY_ID", Some("AK")),
                    ("AWS_SECRET_ACCESS_KEY", Some("x")),
                ],
                "AWS_ACCESS_KEY_ID",
                "16-128",
            ),
            (
                &[
                    ("ALLOWED_ACCOUNT_IDS_COUNT", Some("2")),
                    ("ALLOWED_ACCOUNT_IDS_0", Some("111111111111")),
                ],
                "ALLOWED_ACCOUNT_IDS_1",
                "is missing",
            ),
        ];
        for (changes, variable, fragment) in cases {
            assert_problem(changes, variable, fragment);
        }
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let found = problems(&[
            ("ACTION", Some("deploy")),
            ("AWS_DEFAULT_REGION", Some("moon")),
            ("AWS_ROLE_DURATION_SECONDS", Some("1")),
            ("DEBUG", Some("loud")),
        ]);
        let variables: Vec<&str> = found.iter().map(|p| p.variable.as_str()).collect();
        for expected in ["ACTION", "AWS_DEFAULT_REGION", "AWS_ROLE_DURATION_SECONDS", "DEBUG"] {
            assert!(variables.contains(&expected), "{expected} missing from {variables:?}");
        }
    }

    #[test]
    fn secret_values_are_never_quoted_back() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzzzzzzzz";
        let found = problems(&[
            ("AWS_OIDC_ROLE_ARN", None),
            ("AWS_ACCESS_KEY_ID", Some("AK")),
            ("AWS_SECRET_ACCESS_KEY", Some(secret)),
            ("AWS_ROLE_ARN", Some(OTHER_ROLE)),
            ("AWS_EXTERNAL_ID", Some("has spaces which are not allowed")),
        ]);
        assert!(!found.is_empty());
        let text = format!("{found:?}");
        assert!(!text.contains(secret) && !text.contains("has spaces"), "{text}");
    }

    #[test]
    fn booleans_accept_common_spellings() {
        for (value, expected) in [
            ("TRUE", true),
            ("yes", true),
            ("1", true),
            ("False", false),
            ("NO", false),
            ("0", false),
        ] {
            assert_eq!(parse_bool(value), Some(expected), "{value}");
        }
        assert_eq!(parse_bool("on"), None);
    }

    #[test]
    fn lists_in_both_forms() {
        let spaced = Config::from_env(&with(&[("ALLOWED_ACCOUNT_IDS", Some(" 111111111111  222222222222 "))])).unwrap();
        assert_eq!(spaced.auth.allowed_account_ids, ["111111111111", "222222222222"]);
        let yaml = Config::from_env(&with(&[
            ("ALLOWED_ACCOUNT_IDS_COUNT", Some("2")),
            ("ALLOWED_ACCOUNT_IDS_0", Some("333333333333")),
            ("ALLOWED_ACCOUNT_IDS_1", Some("444444444444")),
        ]))
        .unwrap();
        assert_eq!(yaml.auth.allowed_account_ids, ["333333333333", "444444444444"]);
    }

    #[test]
    fn every_partition_is_accepted() {
        for (arn, region) in [
            ("arn:aws-cn:iam::111111111111:role/deploy", "cn-north-1"),
            ("arn:aws-us-gov:iam::111111111111:role/path/deploy", "us-gov-west-1"),
            ("arn:aws-eusc:iam::111111111111:role/deploy", "eusc-de-east-1"),
            (
                "arn:aws:iam::111111111111:role/service-role/a.b@c=d,e+f_g-h",
                "ap-southeast-2",
            ),
        ] {
            let config = Config::from_env(&with(&[
                ("AWS_OIDC_ROLE_ARN", Some(arn)),
                ("AWS_DEFAULT_REGION", Some(region)),
            ]));
            assert!(config.is_ok(), "{arn} in {region}: {config:?}");
        }
    }

    #[test]
    fn the_european_sovereign_cloud_has_its_own_partition() {
        let config = Config::from_env(&with(&[
            ("AWS_OIDC_ROLE_ARN", Some("arn:aws-eusc:iam::111111111111:role/deploy")),
            ("AWS_DEFAULT_REGION", Some("eusc-de-east-1")),
        ]))
        .unwrap();
        assert_eq!(
            config.run_context(Instant::now(), Cancellation::new()).partition,
            "aws-eusc"
        );
        // A commercial role cannot be assumed from the sovereign partition's STS.
        let refused = problems(&[("AWS_DEFAULT_REGION", Some("eusc-de-east-1"))]);
        assert!(refused[0].message.contains("\"aws-eusc\""), "{refused:?}");
    }

    #[test]
    fn fips_and_dual_stack_cannot_be_combined_with_a_custom_endpoint() {
        for flag in ["AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT"] {
            for endpoint in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_ECR"] {
                let refused = problems(&[(flag, Some("true")), (endpoint, Some("https://vpce.example"))]);
                assert_eq!(refused.len(), 1, "{refused:?}");
                assert_eq!(refused[0].variable, flag);
                assert!(refused[0].message.contains(endpoint), "{refused:?}");
            }
            let config = Config::from_env(&with(&[
                (flag, Some("true")),
                ("AWS_DEFAULT_REGION", Some("us-east-1")),
            ]))
            .unwrap();
            assert!(config.network.use_fips || config.network.use_dual_stack);
            assert!(config.warnings.is_empty(), "{:?}", config.warnings);
        }
    }

    #[test]
    fn fips_in_canada_warns_that_ecr_has_none() {
        let config = Config::from_env(&with(&[
            ("AWS_USE_FIPS_ENDPOINT", Some("true")),
            ("AWS_DEFAULT_REGION", Some("ca-central-1")),
        ]))
        .unwrap();
        assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
        assert!(
            config.warnings[0].contains("ECR has no FIPS endpoint in ca-central-1"),
            "{:?}",
            config.warnings
        );
    }

    #[test]
    fn fips_outside_us_canada_and_govcloud_is_warned_about() {
        let config = Config::from_env(&with(&[("AWS_USE_FIPS_ENDPOINT", Some("true"))])).unwrap();
        assert!(config.network.use_fips);
        assert!(
            config.warnings[0].contains("FIPS endpoints only in US and Canada"),
            "{:?}",
            config.warnings
        );
    }

    #[test]
    fn oidc_wins_over_keys_with_a_warning() {
        let config = Config::from_env(&with(&[
            ("AWS_ACCESS_KEY_ID", Some("AKIAEXAMPLEEXAMPLE1")),
            ("AWS_SECRET_ACCESS_KEY", Some("secretsecretsecret")),
        ]))
        .unwrap();
        assert!(matches!(config.auth.source, CredentialSource::WebIdentity { .. }));
        assert!(config.warnings[0].contains("are ignored"), "{:?}", config.warnings);
    }

    #[test]
    fn keys_work_with_a_warning_and_may_chain_beyond_an_hour() {
        let config = Config::from_env(&with(&[
            ("AWS_OIDC_ROLE_ARN", None),
            ("AWS_ACCESS_KEY_ID", Some("AKIAEXAMPLEEXAMPLE1")),
            ("AWS_SECRET_ACCESS_KEY", Some("secretsecretsecret")),
            ("AWS_ROLE_ARN", Some(OTHER_ROLE)),
            ("AWS_ROLE_DURATION_SECONDS", Some("7200")),
            ("BITBUCKET_REPO_FULL_NAME", Some("acme/web-app")),
        ]))
        .unwrap();
        assert!(matches!(config.auth.source, CredentialSource::AccessKeys { .. }));
        assert!(!config.auth.is_role_chaining());
        assert_eq!(config.auth.duration, Duration::from_secs(7200));
        assert!(config.auth.duration_explicit);
        assert!(config.warnings[0].contains("long-lived access keys"));
        assert_eq!(
            config.auth.session_tags[0],
            ("Repository".to_owned(), "acme/web-app".to_owned())
        );
    }

    #[test]
    fn session_tags_can_be_turned_off() {
        let config = Config::from_env(&with(&[
            ("AWS_ROLE_ARN", Some(OTHER_ROLE)),
            ("AWS_SESSION_TAGS", Some("false")),
            ("BITBUCKET_REPO_FULL_NAME", Some("acme/web-app")),
        ]))
        .unwrap();
        assert!(config.auth.is_role_chaining());
        assert!(config.auth.session_tags.is_empty());
    }

    #[test]
    fn aws_default_region_wins_over_aws_region() {
        let config = Config::from_env(&with(&[("AWS_REGION", Some("us-east-2"))])).unwrap();
        assert_eq!(config.region, "eu-west-1");
        let config = Config::from_env(&with(&[
            ("AWS_DEFAULT_REGION", None),
            ("AWS_REGION", Some("us-east-2")),
        ]))
        .unwrap();
        assert_eq!(config.region, "us-east-2");
    }
}
