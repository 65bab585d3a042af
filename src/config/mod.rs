//! Raw environment → typed `Config`. Every variable is checked here, before the first AWS call,
//! and every problem is collected so the user sees them all at once.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub mod ecs;
pub mod lambda;

use crate::auth::session::{session_name, session_tags};
use crate::auth::token::TokenClaims;
use crate::error::{Error, Problem};
use crate::secret::Secret;
use crate::vars::{self, Var};

/// A snapshot of the process environment, so that configuration is a pure function of it.
#[derive(Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

/// Names only: the values include secrets.
impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.vars.keys()).finish()
    }
}

impl Env {
    pub fn from_process() -> Env {
        Env::from_pairs(std::env::vars_os().map(|(name, value)| {
            (
                name.to_string_lossy().into_owned(),
                value.to_string_lossy().into_owned(),
            )
        }))
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Env {
        Env {
            vars: pairs
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
        }
    }

    /// A variable's value; unset and blank are the same, as Bitbucket passes empty strings for
    /// variables that reference undefined repository variables.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    }
}

/// What Bitbucket tells every pipe about the build (`BITBUCKET_*`).
#[derive(Debug, Default, Deserialize)]
pub struct BitbucketContext {
    pub repo_slug: Option<String>,
    pub repo_full_name: Option<String>,
    pub branch: Option<String>,
    pub tag: Option<String>,
    pub commit: Option<String>,
    pub build_number: Option<String>,
    pub step_uuid: Option<String>,
    pub deployment_environment: Option<String>,
    pub clone_dir: Option<PathBuf>,
    pub pipe_shared_storage_dir: Option<PathBuf>,
    /// Present when the step has `oidc: true`.
    pub step_oidc_token: Option<Secret>,
}

impl BitbucketContext {
    pub fn from_env(env: &Env) -> Result<BitbucketContext, String> {
        let pairs = env
            .vars
            .keys()
            .filter_map(|name| Some((name.clone(), env.value(name)?.to_owned())));
        envy::prefixed("BITBUCKET_")
            .from_iter(pairs)
            .map_err(|err| err.to_string())
    }
}

/// The chosen action, with its own settings.
#[derive(Debug)]
pub enum Action {
    AssumeRole,
    EcsDeploy(Box<ecs::EcsConfig>),
    LambdaDeploy(Box<lambda::LambdaConfig>),
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::AssumeRole => "assume-role",
            Action::EcsDeploy(_) => "ecs-deploy",
            Action::LambdaDeploy(_) => "lambda-deploy",
        }
    }

    /// Whether the action waits for AWS after its changes, which decides how long the
    /// credentials must last.
    pub fn waits(&self) -> bool {
        match self {
            Action::AssumeRole => false,
            Action::EcsDeploy(_) | Action::LambdaDeploy(_) => true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ActionName {
    AssumeRole,
    EcsDeploy,
    LambdaDeploy,
}

impl ActionName {
    fn parse(value: &str) -> Result<ActionName, String> {
        match value.to_ascii_lowercase().as_str() {
            "assume-role" => Ok(ActionName::AssumeRole),
            "ecs-deploy" => Ok(ActionName::EcsDeploy),
            "lambda-deploy" => Ok(ActionName::LambdaDeploy),
            planned @ "ecr-push" => Err(format!(
                "{planned:?} is not available in this version of the pipe yet; available: \"assume-role\", \
                 \"ecs-deploy\", \"lambda-deploy\""
            )),
            _ => Err(format!(
                "must be one of \"assume-role\", \"ecs-deploy\", \"ecr-push\", \"lambda-deploy\", got {value:?}"
            )),
        }
    }
}

/// An IAM role ARN, in any partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    pub arn: String,
    pub partition: String,
    pub account: String,
    pub name: String,
}

pub const PARTITIONS: [&str; 3] = ["aws", "aws-cn", "aws-us-gov"];

impl RoleArn {
    pub fn parse(value: &str) -> Result<RoleArn, String> {
        let shape = || format!("must be an IAM role ARN such as arn:aws:iam::123456789012:role/deploy, got {value:?}");
        let parts: Vec<&str> = value.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts[..] else {
            return Err(shape());
        };
        let path_and_name = resource.strip_prefix("role/").ok_or_else(shape)?;
        let name = path_and_name.rsplit('/').next().unwrap_or_default();
        let name_ok =
            (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
        if arn != "arn" || service != "iam" || !region.is_empty() || !name_ok {
            return Err(shape());
        }
        if !PARTITIONS.contains(&partition) {
            return Err(format!(
                "has partition {partition:?}; expected one of aws, aws-cn, aws-us-gov"
            ));
        }
        if !is_account_id(account) {
            return Err(format!("has account {account:?}; an account id is 12 digits"));
        }
        Ok(RoleArn {
            arn: value.to_owned(),
            partition: partition.to_owned(),
            account: account.to_owned(),
            name: name.to_owned(),
        })
    }
}

pub fn is_account_id(value: &str) -> bool {
    value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())
}

/// The partition a region belongs to, which decides ARNs and console hosts.
pub fn partition_of_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// Where the first credentials come from.
#[derive(Debug, Clone)]
pub enum CredentialSource {
    WebIdentity {
        role: RoleArn,
        token: Secret,
        claims: TokenClaims,
    },
    AccessKeys {
        access_key_id: String,
        secret_access_key: Secret,
        session_token: Option<Secret>,
    },
}

/// A role assumed on top of the first credentials.
#[derive(Debug, Clone)]
pub struct ChainedRole {
    pub role: RoleArn,
    pub external_id: Option<Secret>,
}

/// Everything needed to obtain the session the action runs with.
#[derive(Debug, Clone)]
pub struct AuthPlan {
    pub source: CredentialSource,
    pub chained: Option<ChainedRole>,
    pub session_name: String,
    /// Tags for the `AssumeRole` hop; empty when disabled or without context.
    pub session_tags: Vec<(String, String)>,
    /// Lifetime of the final session.
    pub duration: Duration,
    /// The user chose `duration`; otherwise the pipe may ask for longer to cover a wait.
    pub duration_explicit: bool,
}

impl AuthPlan {
    /// AWS caps sessions of a role assumed with role credentials at one hour.
    pub fn is_role_chaining(&self) -> bool {
        self.chained.is_some() && matches!(self.source, CredentialSource::WebIdentity { .. })
    }

    /// The role the pipe ends up acting as; none for plain access keys.
    pub fn final_role(&self) -> Option<&RoleArn> {
        match (&self.chained, &self.source) {
            (Some(chained), _) => Some(&chained.role),
            (None, CredentialSource::WebIdentity { role, .. }) => Some(role),
            (None, CredentialSource::AccessKeys { .. }) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Network {
    pub max_attempts: u32,
    pub attempt_timeout: Duration,
    pub endpoint_url: Option<String>,
    pub sts_endpoint_url: Option<String>,
    pub ecs_endpoint_url: Option<String>,
    pub lambda_endpoint_url: Option<String>,
    pub s3_endpoint_url: Option<String>,
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

#[derive(Debug)]
pub struct Config {
    pub action: Action,
    pub region: String,
    pub auth: AuthPlan,
    pub allowed_account_ids: Vec<String>,
    pub network: Network,
    pub wait: bool,
    pub wait_timeout: Duration,
    pub dry_run: bool,
    pub debug: bool,
    pub context: BitbucketContext,
    /// `BITBUCKET_CLONE_DIR`, else the working directory: relative paths resolve against it.
    pub work_dir: PathBuf,
    /// `SSL_CERT_FILE` resolved against `work_dir`, when it was given.
    pub ca_bundle: Option<PathBuf>,
    /// Said once logging is up: nothing is wrong, but the user should know.
    pub warnings: Vec<String>,
}

/// Reads variables through their declarations and collects problems instead of stopping at
/// the first.
struct Reader<'e> {
    env: &'e Env,
    problems: Vec<Problem>,
}

impl<'e> Reader<'e> {
    fn raw(&self, var: &Var) -> Option<&'e str> {
        let value = self.env.value(var.name);
        if var.secret {
            value.inspect(|value| crate::output::redact_from_now_on(value));
        }
        value
    }

    fn problem(&mut self, variable: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            variable: variable.to_owned(),
            message: message.into(),
        });
    }

    /// How a rejected value is quoted back: in Rust's debug quoting, so invisible characters
    /// and escaping mistakes (a known footgun) show, unless it is secret.
    fn shown(var: &Var, value: &str) -> String {
        if var.secret {
            "(value hidden)".to_owned()
        } else {
            format!("{value:?}")
        }
    }

    fn text(&self, var: &Var) -> Option<String> {
        self.raw(var).map(str::to_owned)
    }

    fn secret(&self, var: &Var) -> Option<Secret> {
        self.raw(var).map(Secret::new)
    }

    fn bool(&mut self, var: &Var) -> bool {
        let default = var.default.and_then(parse_bool).unwrap_or(false);
        match self.raw(var) {
            None => default,
            Some(value) => parse_bool(value).unwrap_or_else(|| {
                let shown = Self::shown(var, value);
                self.problem(
                    var.name,
                    format!("must be true or false (also 1/0, yes/no), got {shown}"),
                );
                default
            }),
        }
    }

    /// A whole number in `range`, or the declared default when unset.
    fn number(&mut self, var: &Var, range: RangeInclusive<u64>) -> u64 {
        let default = var
            .default
            .and_then(|default| default.parse().ok())
            .unwrap_or(*range.start());
        let Some(value) = self.raw(var) else {
            return default;
        };
        match value.parse::<u64>() {
            Ok(number) if range.contains(&number) => number,
            _ => {
                let shown = Self::shown(var, value);
                let (low, high) = (range.start(), range.end());
                self.problem(
                    var.name,
                    format!("must be a whole number from {low} to {high}, got {shown}"),
                );
                default
            }
        }
    }

    /// A whole number in `range`, or None when unset.
    fn optional_number(&mut self, var: &Var, range: RangeInclusive<u64>) -> Option<u64> {
        self.raw(var)?;
        Some(self.number(var, range))
    }

    /// A list, written either as a space-separated string or as Bitbucket's flattened YAML list
    /// (`NAME_COUNT`, `NAME_0`, `NAME_1`...).
    fn list(&mut self, var: &Var) -> Vec<String> {
        let count_name = format!("{}_COUNT", var.name);
        let Some(count) = self.env.value(&count_name) else {
            return self
                .raw(var)
                .map(|value| value.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default();
        };
        let count = match count.parse::<usize>() {
            Ok(count) if count <= LIST_MAX => count,
            _ => {
                self.problem(
                    &count_name,
                    format!("must be a whole number up to {LIST_MAX}, got {count:?}"),
                );
                return Vec::new();
            }
        };
        if self.raw(var).is_some() {
            self.problem(
                var.name,
                format!("is set both as a string and as a YAML list ({count_name}); keep one"),
            );
        }
        let mut items = Vec::with_capacity(count);
        for index in 0..count {
            let item_name = format!("{}_{index}", var.name);
            match self.env.value(&item_name) {
                Some(item) => items.extend(item.split_whitespace().map(str::to_owned)),
                None => self.problem(&item_name, format!("is missing, but {count_name} is {count}")),
            }
        }
        items
    }

    fn role_arn(&mut self, var: &Var) -> Option<RoleArn> {
        let value = self.raw(var)?;
        RoleArn::parse(value)
            .map_err(|message| self.problem(var.name, message))
            .ok()
    }

    fn url(&mut self, var: &Var) -> Option<String> {
        let value = self.raw(var)?;
        let rest = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://"));
        let host = rest.map(|rest| rest.split(['/', '?', '#']).next().unwrap_or_default());
        if host.is_some_and(|host| !host.is_empty() && !host.contains(char::is_whitespace)) {
            Some(value.to_owned())
        } else {
            let shown = Self::shown(var, value);
            self.problem(
                var.name,
                format!("must be a URL starting with http:// or https://, got {shown}"),
            );
            None
        }
    }
}

pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

fn is_region(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let lower = |part: &&str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase());
    parts.len() >= 3
        && parts[0].len() == 2
        && lower(&parts[0])
        && parts[1..parts.len() - 1].iter().all(lower)
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

fn is_external_id(value: &str) -> bool {
    (2..=1224).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c))
}

/// Access key ids are upper-case letters and digits (`AKIA…`, `ASIA…`). A secret key pasted
/// into the wrong variable has lower-case letters or `/+`, so it fails this and is not echoed.
fn is_access_key_id(value: &str) -> bool {
    (16..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// `AKIA…WXYZ`: enough to tell keys apart in a log, not the whole id.
pub fn masked_key_id(access_key_id: &str) -> String {
    let start: String = access_key_id.chars().take(4).collect();
    let end: String = access_key_id
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{start}…{end}")
}

/// More list items than any pipe variable needs; a larger `NAME_COUNT` is a mistake.
const LIST_MAX: usize = 100;

/// The longest session STS grants, and the shortest.
pub const SESSION_SECONDS: RangeInclusive<u64> = 900..=43_200;
pub const CHAINED_SESSION_MAX_SECONDS: u64 = 3_600;

impl Config {
    pub fn from_env(env: &Env) -> Result<Config, Error> {
        let mut read = Reader {
            env,
            problems: Vec::new(),
        };
        let mut warnings = Vec::new();

        let context = BitbucketContext::from_env(env).unwrap_or_else(|err| {
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
        let auth = read_auth(&mut read, &context, &mut warnings);
        if let (Some(region), Some(auth)) = (&region, &auth) {
            check_partitions(&mut read, region, auth);
        }

        let allowed_account_ids = read.list(&vars::ALLOWED_ACCOUNT_IDS);
        for id in allowed_account_ids.iter().filter(|id| !is_account_id(id)) {
            read.problem(
                vars::ALLOWED_ACCOUNT_IDS.name,
                format!("{id:?} is not an account id (12 digits)"),
            );
        }

        let network = Network {
            max_attempts: read.number(&vars::AWS_MAX_ATTEMPTS, 1..=10) as u32,
            attempt_timeout: Duration::from_secs(read.number(&vars::AWS_ATTEMPT_TIMEOUT, 1..=600)),
            endpoint_url: read.url(&vars::AWS_ENDPOINT_URL),
            sts_endpoint_url: read.url(&vars::AWS_ENDPOINT_URL_STS),
            ecs_endpoint_url: read.url(&vars::AWS_ENDPOINT_URL_ECS),
            lambda_endpoint_url: read.url(&vars::AWS_ENDPOINT_URL_LAMBDA),
            s3_endpoint_url: read.url(&vars::AWS_ENDPOINT_URL_S3),
        };
        for proxy in [&vars::HTTPS_PROXY, &vars::HTTP_PROXY] {
            read.url(proxy);
        }
        // The HTTP client also reads these spellings; they can carry passwords too.
        for name in ["https_proxy", "http_proxy", "all_proxy", "ALL_PROXY"] {
            env.value(name)
                .inspect(|value| crate::output::redact_from_now_on(value));
        }

        let wait = read.bool(&vars::WAIT);
        let wait_timeout = Duration::from_secs(read.number(&vars::WAIT_TIMEOUT, 1..=86_400));
        let dry_run = read.bool(&vars::DRY_RUN);
        let debug = read.bool(&vars::DEBUG);

        let work_dir = context
            .clone_dir
            .clone()
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("/"));
        let ca_bundle = read.raw(&vars::SSL_CERT_FILE).and_then(|value| {
            let checked = resolve_path(&work_dir, value).and_then(|path| match std::fs::read_to_string(&path) {
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
            ActionName::LambdaDeploy => {
                lambda::read(&mut read, env, &work_dir, &context).map(|lambda| Action::LambdaDeploy(Box::new(lambda)))
            }
        });

        match (action, region, auth) {
            (Some(action), Some(region), Some(auth)) if read.problems.is_empty() => Ok(Config {
                action,
                region,
                auth,
                allowed_account_ids,
                network,
                wait,
                wait_timeout,
                dry_run,
                debug,
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
    if is_region(value) {
        Some(value.to_owned())
    } else {
        read.problem(
            var.name,
            format!("must be an AWS region such as eu-west-1, got {value:?}"),
        );
        None
    }
}

fn read_auth(read: &mut Reader<'_>, context: &BitbucketContext, warnings: &mut Vec<String>) -> Option<AuthPlan> {
    let oidc_role_set = read.raw(&vars::AWS_OIDC_ROLE_ARN).is_some();
    let oidc_role = read.role_arn(&vars::AWS_OIDC_ROLE_ARN);
    let chained_role_set = read.raw(&vars::AWS_ROLE_ARN).is_some();
    let chained_role = read.role_arn(&vars::AWS_ROLE_ARN);
    let access_key_id = read.text(&vars::AWS_ACCESS_KEY_ID);
    let secret_access_key = read.secret(&vars::AWS_SECRET_ACCESS_KEY);
    let session_token = read.secret(&vars::AWS_SESSION_TOKEN);
    // A session token alone is half a key pair: it counts as keys, so it is reported, not ignored.
    let keys_set = access_key_id.is_some() || secret_access_key.is_some() || session_token.is_some();

    let source = if oidc_role_set {
        if keys_set {
            warnings.push(
                "AWS_OIDC_ROLE_ARN is set, so the access keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, \
                 AWS_SESSION_TOKEN) are ignored. Remove them from the repository variables and deactivate them in IAM."
                    .to_owned(),
            );
        }
        read_web_identity(read, oidc_role, context)
    } else if keys_set {
        read_access_keys(read, access_key_id, secret_access_key, session_token, warnings)
    } else {
        let message = if chained_role_set {
            "must be set to assume AWS_ROLE_ARN: the pipe needs credentials to assume it with. \
             Set AWS_OIDC_ROLE_ARN and add `oidc: true` to the step (or, legacy, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        } else if context.step_oidc_token.is_some() {
            "is required: the step has an OIDC token; set AWS_OIDC_ROLE_ARN to the role it may assume"
        } else {
            "is required: set AWS_OIDC_ROLE_ARN and add `oidc: true` to the step \
             (or, legacy, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        };
        read.problem(vars::AWS_OIDC_ROLE_ARN.name, message);
        None
    };

    let external_id = read.secret(&vars::AWS_EXTERNAL_ID);
    if let Some(external_id) = &external_id {
        if !chained_role_set {
            read.problem(
                vars::AWS_EXTERNAL_ID.name,
                "is only used to assume AWS_ROLE_ARN, which is not set",
            );
        } else if !is_external_id(external_id.expose()) {
            read.problem(
                vars::AWS_EXTERNAL_ID.name,
                "must be 2-1224 characters of letters, digits and _+=,.@:/-",
            );
        }
    }

    let duration_explicit = read.raw(&vars::AWS_ROLE_DURATION_SECONDS).is_some();
    let duration = read.number(&vars::AWS_ROLE_DURATION_SECONDS, SESSION_SECONDS);
    let chaining = oidc_role_set && chained_role_set;
    if chaining && duration > CHAINED_SESSION_MAX_SECONDS {
        read.problem(
            vars::AWS_ROLE_DURATION_SECONDS.name,
            format!(
                "is {duration}, but AWS caps a role assumed from another role's session (AWS_ROLE_ARN after \
                 AWS_OIDC_ROLE_ARN) at {CHAINED_SESSION_MAX_SECONDS} seconds; the pipe refreshes the session \
                 for longer runs"
            ),
        );
    }
    // Temporary keys may themselves be a role's session; then AWS applies the same cap.
    let maybe_chaining = !oidc_role_set && chained_role_set && read.raw(&vars::AWS_SESSION_TOKEN).is_some();
    if maybe_chaining && duration > CHAINED_SESSION_MAX_SECONDS {
        warnings.push(format!(
            "AWS_ROLE_DURATION_SECONDS is {duration}: if the temporary keys (AWS_SESSION_TOKEN) belong to a role \
             session, AWS refuses more than {CHAINED_SESSION_MAX_SECONDS} for AWS_ROLE_ARN."
        ));
    }

    let session_name = session_name(read.raw(&vars::AWS_ROLE_SESSION_NAME), context)
        .map_err(|message| read.problem(vars::AWS_ROLE_SESSION_NAME.name, message))
        .ok();
    let tags_on = read.bool(&vars::AWS_SESSION_TAGS);
    let session_tags = if tags_on && chained_role_set {
        session_tags(context)
    } else {
        Vec::new()
    };

    let chained = chained_role.map(|role| ChainedRole { role, external_id });
    Some(AuthPlan {
        source: source?,
        chained,
        session_name: session_name?,
        session_tags,
        duration: Duration::from_secs(duration),
        duration_explicit,
    })
}

fn read_web_identity(
    read: &mut Reader<'_>,
    role: Option<RoleArn>,
    context: &BitbucketContext,
) -> Option<CredentialSource> {
    let Some(token) = context.step_oidc_token.clone() else {
        read.problem(
            vars::AWS_OIDC_ROLE_ARN.name,
            "is set, but the step has no OIDC token (BITBUCKET_STEP_OIDC_TOKEN is empty): add `oidc: true` \
             to this step in bitbucket-pipelines.yml. The pipe does not fall back to access keys.",
        );
        return None;
    };
    let claims = TokenClaims::decode(token.expose())
        .map_err(|message| read.problem("BITBUCKET_STEP_OIDC_TOKEN", message))
        .ok()?;
    Some(CredentialSource::WebIdentity {
        role: role?,
        token,
        claims,
    })
}

fn read_access_keys(
    read: &mut Reader<'_>,
    access_key_id: Option<String>,
    secret_access_key: Option<Secret>,
    session_token: Option<Secret>,
    warnings: &mut Vec<String>,
) -> Option<CredentialSource> {
    match (access_key_id, secret_access_key) {
        (Some(access_key_id), Some(secret_access_key)) => {
            if !is_access_key_id(&access_key_id) {
                // Not quoted back: this is where a secret key lands when the two are swapped.
                read.problem(
                    vars::AWS_ACCESS_KEY_ID.name,
                    format!(
                        "must be 16-128 upper-case letters and digits (AKIA…), got {} characters that are not; \
                         is the secret key in AWS_ACCESS_KEY_ID?",
                        access_key_id.chars().count()
                    ),
                );
                return None;
            }
            warnings.push(
                "Using long-lived access keys (AWS_ACCESS_KEY_ID). Switch to OpenID Connect: set AWS_OIDC_ROLE_ARN \
                 and add `oidc: true` to the step; see the README's Prerequisites."
                    .to_owned(),
            );
            Some(CredentialSource::AccessKeys {
                access_key_id,
                secret_access_key,
                session_token,
            })
        }
        (Some(_), None) => {
            read.problem(vars::AWS_SECRET_ACCESS_KEY.name, "is required with AWS_ACCESS_KEY_ID");
            None
        }
        (None, _) => {
            read.problem(
                vars::AWS_ACCESS_KEY_ID.name,
                "is required with the other access key variables (or use AWS_OIDC_ROLE_ARN instead)",
            );
            None
        }
    }
}

/// A role in one partition cannot be reached from a region of another.
fn check_partitions(read: &mut Reader<'_>, region: &str, auth: &AuthPlan) {
    let expected = partition_of_region(region);
    let mut roles = Vec::new();
    if let CredentialSource::WebIdentity { role, .. } = &auth.source {
        roles.push((&vars::AWS_OIDC_ROLE_ARN, role));
    }
    if let Some(chained) = &auth.chained {
        roles.push((&vars::AWS_ROLE_ARN, &chained.role));
    }
    for (var, role) in roles {
        if role.partition != expected {
            read.problem(
                var.name,
                format!(
                    "is in partition {:?}, but region {region:?} belongs to partition {expected:?}",
                    role.partition
                ),
            );
        }
    }
}

/// Resolve a path given in a variable: absolute paths stay as they are; relative ones resolve
/// against the clone directory and must stay inside it, so a variable cannot reach files of the
/// runner through `..` or a symbolic link.
pub fn resolve_path(base: &Path, value: &str) -> Result<PathBuf, String> {
    let path = Path::new(value);
    if path.is_absolute() {
        return Ok(normalize(path));
    }
    let base = normalize(base);
    let joined = normalize(&base.join(path));
    let outside = || format!("{value:?} leads outside the clone directory {}", base.display());
    if !joined.starts_with(&base) {
        return Err(outside());
    }
    if let (Ok(real_base), Ok(real)) = (base.canonicalize(), joined.canonicalize())
        && !real.starts_with(&real_base)
    {
        return Err(outside());
    }
    Ok(joined)
}

/// Lexical normalisation: drop `.`, apply `..` (never above the root).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(component);
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::111111111111:role/deploy";
    const OTHER_ROLE: &str = "arn:aws:iam::222222222222:role/target";

    fn token() -> String {
        crate::auth::token::tests::encode(&serde_json::json!({
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
        Env { vars }
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
                "ACTION",
                "not available in this version",
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
        assert_eq!(spaced.allowed_account_ids, ["111111111111", "222222222222"]);
        let yaml = Config::from_env(&with(&[
            ("ALLOWED_ACCOUNT_IDS_COUNT", Some("2")),
            ("ALLOWED_ACCOUNT_IDS_0", Some("333333333333")),
            ("ALLOWED_ACCOUNT_IDS_1", Some("444444444444")),
        ]))
        .unwrap();
        assert_eq!(yaml.allowed_account_ids, ["333333333333", "444444444444"]);
    }

    #[test]
    fn every_partition_is_accepted() {
        for (arn, region) in [
            ("arn:aws-cn:iam::111111111111:role/deploy", "cn-north-1"),
            ("arn:aws-us-gov:iam::111111111111:role/path/deploy", "us-gov-west-1"),
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

    #[test]
    fn paths_resolve_inside_the_clone_dir() {
        let base = Path::new("/opt/build");
        let cases: &[(&str, Result<&str, ()>)] = &[
            ("task.json", Ok("/opt/build/task.json")),
            ("./deploy/../task.json", Ok("/opt/build/task.json")),
            ("/etc/ssl/ca.pem", Ok("/etc/ssl/ca.pem")),
            ("../secrets", Err(())),
            ("deploy/../../x", Err(())),
        ];
        for (value, expected) in cases {
            let resolved = resolve_path(base, value);
            match expected {
                Ok(path) => assert_eq!(resolved.unwrap(), PathBuf::from(path), "{value}"),
                Err(()) => assert!(resolved.unwrap_err().contains("outside the clone directory"), "{value}"),
            }
        }
    }

    #[test]
    fn symlinks_out_of_the_clone_dir_are_refused() {
        let dir = std::env::temp_dir().join(format!("ard-paths-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("escape");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/etc", &link).unwrap();
        assert!(resolve_path(&dir, "escape/hostname").unwrap_err().contains("outside"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
