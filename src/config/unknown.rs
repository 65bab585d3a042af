//! Variables as users write them. The pipe reads only the names it declares (`vars`), so any
//! other name is ignored: a typo (`DRYRUN: "true"`) or a name carried over from Atlassian's
//! pipes (`PUBLISH_FLAG: "false"`) would change nothing, silently, and deploy for real. Such a
//! name is refused before any AWS call, with the name meant.
//!
//! Only names that can have come from the step's `variables:` count. The environment Bitbucket
//! and the image provide (`BITBUCKET_*`, `PATH`, proxies, AWS SDK settings...) never does, and
//! neither does a name the configuration read (a `${NAME}` placeholder of a task definition): a
//! name nobody reads and close to none of ours is left alone too, since it may feed a template
//! this run did not get to read.

use std::collections::BTreeSet;

use super::Env;
use super::reader::Reader;
use crate::vars::{self, Var};

/// Atlassian's pipes that this one replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtlassianPipe {
    EcsDeploy,
    LambdaDeploy,
    EcrPushImage,
}

impl AtlassianPipe {
    pub const ALL: [AtlassianPipe; 3] = [
        AtlassianPipe::EcsDeploy,
        AtlassianPipe::LambdaDeploy,
        AtlassianPipe::EcrPushImage,
    ];

    /// This pipe's action that does what that pipe did.
    pub fn action(self) -> &'static str {
        match self {
            AtlassianPipe::EcsDeploy => "ecs-deploy",
            AtlassianPipe::LambdaDeploy => "lambda-deploy",
            AtlassianPipe::EcrPushImage => "ecr-push",
        }
    }

    /// As in `pipe: atlassian/<name>:<version>`.
    pub fn name(self) -> &'static str {
        match self {
            AtlassianPipe::EcsDeploy => "aws-ecs-deploy",
            AtlassianPipe::LambdaDeploy => "aws-lambda-deploy",
            AtlassianPipe::EcrPushImage => "aws-ecr-push-image",
        }
    }
}

/// What became of one of their variables here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ours {
    /// The same name, read here too (the README says where the meaning or default differs).
    Same,
    /// Another name here: theirs is refused, naming ours.
    Renamed(&'static str),
    /// Replaced by an action: theirs is refused, naming the `ACTION` value.
    Action(&'static str),
    /// Nothing here does what it did: refused, saying why.
    Nothing(&'static str),
}

/// One variable of one of Atlassian's pipes, as their READMEs list it.
#[derive(Debug)]
pub struct AtlassianVariable {
    pub pipe: AtlassianPipe,
    pub name: &'static str,
    /// Their default, when the README gives one.
    pub default: Option<&'static str>,
    pub ours: Ours,
}

const fn atlassian(
    pipe: AtlassianPipe,
    name: &'static str,
    default: Option<&'static str>,
    ours: Ours,
) -> AtlassianVariable {
    AtlassianVariable {
        pipe,
        name,
        default,
        ours,
    }
}

use AtlassianPipe::{EcrPushImage, EcsDeploy, LambdaDeploy};
use Ours::{Action, Nothing, Renamed, Same};

/// The variables of `atlassian/aws-ecs-deploy` (1.x), `atlassian/aws-lambda-deploy` (1.x) and
/// `atlassian/aws-ecr-push-image` (2.x), from their READMEs on bitbucket.org. The README's
/// "Coming from Atlassian's pipes" tables are checked against this list (test/migration.rs).
pub const ATLASSIAN: &[AtlassianVariable] = &[
    atlassian(EcsDeploy, "AWS_ACCESS_KEY_ID", None, Same),
    atlassian(EcsDeploy, "AWS_SECRET_ACCESS_KEY", None, Same),
    atlassian(EcsDeploy, "AWS_DEFAULT_REGION", None, Same),
    atlassian(EcsDeploy, "AWS_OIDC_ROLE_ARN", None, Same),
    atlassian(EcsDeploy, "CLUSTER_NAME", None, Same),
    atlassian(EcsDeploy, "SERVICE_NAME", None, Same),
    atlassian(EcsDeploy, "TASK_DEFINITION", None, Same),
    atlassian(EcsDeploy, "FORCE_NEW_DEPLOYMENT", Some("false"), Same),
    atlassian(EcsDeploy, "WAIT", Some("false"), Same),
    atlassian(EcsDeploy, "DEBUG", Some("false"), Same),
    atlassian(LambdaDeploy, "AWS_ACCESS_KEY_ID", None, Same),
    atlassian(LambdaDeploy, "AWS_SECRET_ACCESS_KEY", None, Same),
    atlassian(LambdaDeploy, "AWS_DEFAULT_REGION", None, Same),
    atlassian(LambdaDeploy, "AWS_OIDC_ROLE_ARN", None, Same),
    atlassian(LambdaDeploy, "FUNCTION_NAME", None, Same),
    atlassian(LambdaDeploy, "COMMAND", None, Action("lambda-deploy")),
    atlassian(LambdaDeploy, "ZIP_FILE", None, Same),
    atlassian(LambdaDeploy, "PUBLISH_FLAG", Some("true"), Renamed("PUBLISH")),
    atlassian(LambdaDeploy, "ALIAS", None, Same),
    atlassian(LambdaDeploy, "VERSION", None, Same),
    atlassian(LambdaDeploy, "WAIT", None, Same),
    atlassian(
        LambdaDeploy,
        "WAIT_INTERVAL",
        None,
        Nothing("the pipe polls AWS with its own backoff, and WAIT_TIMEOUT bounds the whole wait"),
    ),
    atlassian(LambdaDeploy, "DEBUG", Some("false"), Same),
    atlassian(EcrPushImage, "AWS_ACCESS_KEY_ID", None, Same),
    atlassian(EcrPushImage, "AWS_SECRET_ACCESS_KEY", None, Same),
    atlassian(EcrPushImage, "AWS_DEFAULT_REGION", None, Same),
    atlassian(EcrPushImage, "AWS_OIDC_ROLE_ARN", None, Same),
    atlassian(EcrPushImage, "IMAGE_NAME", None, Same),
    atlassian(EcrPushImage, "TAGS", Some("latest"), Same),
    atlassian(EcrPushImage, "DEBUG", Some("false"), Same),
];

/// Refuse every variable of the step that this pipe would ignore although the user meant
/// something by it: an Atlassian pipe's name, or a near miss of one of ours.
pub(super) fn check(read: &mut Reader, env: &Env) {
    let mut reported = BTreeSet::new();
    for name in env.names() {
        if is_meant_for_us(name, env) || is_provided(name) {
            continue;
        }
        // A YAML list arrives as NAME_COUNT, NAME_0...: judged once, by its name.
        let name = list_base(name).unwrap_or(name);
        if is_meant_for_us(name, env) || !reported.insert(name) {
            continue;
        }
        if let Some(message) = refusal(name, env) {
            read.problem(name, message);
        }
    }
}

/// What `ACTION` is missing says: the action the other variables point to, when they do.
pub(super) fn missing_action(env: &Env) -> String {
    let set = |var: &Var| env.peek(var.name).is_some();
    if set(&vars::POLICY_ACTIONS) {
        return pointed(&[(vars::POLICY_ACTIONS.name, "trust-policy")]);
    }
    let mut pointers: Vec<(&str, &str)> = Vec::new();
    for (var, action) in POINTERS {
        if set(var) && !pointers.iter().any(|(_, seen)| *seen == action) {
            pointers.push((var.name, action));
        }
    }
    // Atlassian's way of choosing: `COMMAND: update` or `COMMAND: alias`.
    if env.peek("COMMAND").is_some() && !pointers.iter().any(|(_, seen)| *seen == "lambda-deploy") {
        pointers.push(("COMMAND", "lambda-deploy"));
    }
    pointed(&pointers)
}

fn pointed(pointers: &[(&str, &str)]) -> String {
    match pointers {
        [] => "is required, e.g. ACTION: \"assume-role\"".to_owned(),
        [(name, action)] => format!("is required: {name} is set, so this step looks like ACTION: \"{action}\""),
        several => {
            let listed: Vec<String> = several
                .iter()
                .map(|(name, action)| format!("{name} to \"{action}\""))
                .collect();
            format!(
                "is required: the variables point to more than one action ({}); set ACTION to the one this step does",
                listed.join(", ")
            )
        }
    }
}

/// Variables that belong to one action, so that a missing `ACTION` can name it.
const POINTERS: [(&Var, &str); 11] = [
    (&vars::CLUSTER_NAME, "ecs-deploy"),
    (&vars::SERVICE_NAME, "ecs-deploy"),
    (&vars::TASK_DEFINITION, "ecs-deploy"),
    (&vars::IMAGES, "ecs-deploy"),
    (&vars::FUNCTION_NAME, "lambda-deploy"),
    (&vars::ZIP_FILE, "lambda-deploy"),
    (&vars::IMAGE_URI, "lambda-deploy"),
    (&vars::FUNCTION_CONFIGURATION, "lambda-deploy"),
    (&vars::IMAGE_NAME, "ecr-push"),
    (&vars::IMAGE_ARCHIVE, "ecr-push"),
    (&vars::SOURCE_TAG, "ecr-push"),
];

fn is_meant_for_us(name: &str, env: &Env) -> bool {
    vars::ALL.iter().any(|var| var.name == name) || env.was_consulted(name)
}

/// `NAME` for `NAME_COUNT` and `NAME_<n>`, Bitbucket's flattening of a YAML list.
fn list_base(name: &str) -> Option<&str> {
    let (base, last) = name.rsplit_once('_')?;
    let is_list_part = last == "COUNT" || (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()));
    (is_list_part && !base.is_empty()).then_some(base)
}

fn refusal(name: &str, env: &Env) -> Option<String> {
    if let Some(theirs) = ATLASSIAN
        .iter()
        .find(|theirs| theirs.name == name && theirs.ours != Same)
    {
        return Some(atlassian_refusal(theirs, env));
    }
    let meant = near_misses(name);
    if meant.is_empty() {
        return None;
    }
    Some(format!(
        "is not a variable of this pipe, which would ignore it: did you mean {}?",
        meant.join(" or ")
    ))
}

fn atlassian_refusal(theirs: &AtlassianVariable, env: &Env) -> String {
    let pipe = theirs.pipe.name();
    // A step of another action (`ACTION: "ecs-deploy"` with `COMMAND`) did not come
    // from that pipe: the name is more likely a placeholder nothing reads, or a slip.
    let action = env.peek(vars::ACTION.name).map(str::to_ascii_lowercase);
    if let Some(action) = &action
        && matches!(theirs.ours, Action(_) | Nothing(_))
        && action != theirs.pipe.action()
    {
        let name = theirs.name;
        let hint = if name == "COMMAND" && action == "ecs-deploy" {
            "; the command of the one-off task is RUN_TASK_COMMAND"
        } else {
            ""
        };
        return format!(
            "is not a variable of this pipe (it is one of Atlassian's {pipe}), and nothing this step reads uses it, \
             as a ${{{name}}} placeholder say: remove it{hint}"
        );
    }
    match theirs.ours {
        Renamed(ours) => {
            format!("is what Atlassian's {pipe} pipe calls {ours}: rename it to {ours} (this pipe would ignore it)")
        }
        Action(action) => {
            // `COMMAND: alias` moved an alias to an existing version; here ALIAS with VERSION does
            // it. The value is Atlassian's keyword, never a secret; quoted only when it is one of
            // theirs.
            let alias = env
                .peek(theirs.name)
                .is_some_and(|value| value.eq_ignore_ascii_case("alias"));
            let how = if alias {
                format!(
                    "ACTION: \"{action}\" with ALIAS and VERSION (and no code source), which moves the alias to that \
                     existing version"
                )
            } else {
                format!(
                    "ACTION: \"{action}\", which updates the code, publishes a version and, with ALIAS, moves the alias, \
                     in one step"
                )
            };
            format!("is how Atlassian's {pipe} pipe chooses what to do; here that is {how}: remove it")
        }
        Nothing(why) => {
            format!("is a variable of Atlassian's {pipe} pipe with no equivalent here ({why}): remove it")
        }
        Same => unreachable!("shared variables are never refused"),
    }
}

/// Our names that `name` looks like a slip of, best first; empty when none is close.
fn near_misses(name: &str) -> Vec<&'static str> {
    let upper = name.to_ascii_uppercase();
    if upper.len() > 100 {
        return Vec::new();
    }
    let known = || vars::ALL.iter().map(|var| var.name);
    // The same letters: another case, or separators added or dropped (`DRYRUN`, `dry_run`).
    let squash = |text: &str| text.replace(['_', '-'], "");
    let same: Vec<&str> = known().filter(|ours| squash(ours) == squash(&upper)).collect();
    if !same.is_empty() {
        return same;
    }
    // A slip or two: a letter missing, extra, wrong or swapped (`WAIT_TIMOUT`, `SERVICE_NAMES`).
    let mut closest = Vec::new();
    let mut best = usize::MAX;
    for ours in known() {
        let allowed = match ours.len() {
            0..4 => 0,
            4..9 => 1,
            _ => 2,
        };
        let distance = edit_distance(&upper, ours);
        if distance <= allowed && distance <= best {
            if distance < best {
                best = distance;
                closest.clear();
            }
            closest.push(ours);
        }
    }
    if !closest.is_empty() {
        return closest;
    }
    // One of our names without its namespace (`REGION` for AWS_REGION, `BUCKET` for S3_BUCKET)
    // or without the word that says what kind of value it is (`CLUSTER` for CLUSTER_NAME,
    // `AWS_OIDC_ROLE` for AWS_OIDC_ROLE_ARN). Other words are not dropped by accident:
    // `IMAGE_TAG` is not IMAGE_TAG_MUTABILITY.
    if upper.len() < 5 {
        return Vec::new();
    }
    const NAMESPACES: [&str; 5] = ["AWS_", "AWS_DEFAULT_", "AWS_OIDC_", "S3_", "ECR_"];
    const KINDS: [&str; 5] = ["_NAME", "_ARN", "_ID", "_IDS", "_URI"];
    let parts: Vec<&str> = known()
        .filter(|ours| {
            NAMESPACES
                .iter()
                .any(|namespace| ours.strip_prefix(namespace) == Some(upper.as_str()))
                || KINDS.iter().any(|kind| ours.strip_suffix(kind) == Some(upper.as_str()))
        })
        .collect();
    if !parts.is_empty() {
        return parts;
    }
    // Cut short: the first half or more of exactly one name (`FUNCTION_CONFIG`, `ECR_REPO`).
    let cut: Vec<&str> = known()
        .filter(|ours| ours.starts_with(upper.as_str()) && upper.len() * 2 >= ours.len())
        .collect();
    if cut.len() == 1 { cut } else { Vec::new() }
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
/// neighbours, each counting one.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let substitution = rows[i - 1][j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let mut best = substitution.min(rows[i - 1][j] + 1).min(rows[i][j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// Names the runtime sets, never the step's `variables:`: Bitbucket's agent, the container,
/// the image, and the settings AWS SDKs and the CLI read (which this pipe may not read, but a
/// runner may set for every process).
fn is_provided(name: &str) -> bool {
    const PREFIXES: [&str; 12] = [
        "BITBUCKET_",
        "PIPELINES_",
        "PIPE_",
        "LC_",
        "RUST_",
        "AWS_ENDPOINT_URL_",
        "AWS_CLI_",
        "AWS_SDK_",
        "AWS_LAMBDA_",
        "AWS_CONTAINER_",
        "AWS_EC2_METADATA_",
        "AWS_METADATA_SERVICE_",
    ];
    const NAMES: [&str; 48] = [
        // The container and the image (`container` is set by Podman and systemd-nspawn).
        "container",
        "PATH",
        "HOME",
        "HOSTNAME",
        "PWD",
        "OLDPWD",
        "SHLVL",
        "TERM",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TZ",
        "_",
        "SSL_CERT_DIR",
        // Bitbucket's agent.
        "CI",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
        "DOCKER_TLS_CERTDIR",
        "DOCKER_CONFIG",
        "DOCKER_BUILDKIT",
        // AWS SDK and CLI settings (docs.aws.amazon.com/sdkref/latest/guide/settings-reference.html).
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CA_BUNDLE",
        "AWS_DATA_PATH",
        "AWS_DEFAULT_OUTPUT",
        "AWS_PAGER",
        "AWS_RETRY_MODE",
        "AWS_STS_REGIONAL_ENDPOINTS",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT",
        "AWS_S3_USE_ARN_REGION",
        "AWS_S3_DISABLE_MULTIREGION_ACCESS_POINTS",
        "AWS_REQUEST_CHECKSUM_CALCULATION",
        "AWS_RESPONSE_CHECKSUM_VALIDATION",
        "AWS_ACCOUNT_ID",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE",
        "AWS_SIGV4A_SIGNING_REGION_SET",
        "AWS_AUTH_SCHEME_PREFERENCE",
        "AWS_DISABLE_REQUEST_COMPRESSION",
        "AWS_REQUEST_MIN_COMPRESSION_SIZE_BYTES",
        "AWS_EXECUTION_ENV",
        "AWS_SECURITY_TOKEN",
        "AWS_CREDENTIAL_EXPIRATION",
    ];
    const PROXIES: [&str; 5] = ["http_proxy", "https_proxy", "no_proxy", "all_proxy", "ftp_proxy"];
    PREFIXES.iter().any(|prefix| name.starts_with(prefix))
        || NAMES.contains(&name)
        || PROXIES.iter().any(|proxy| name.eq_ignore_ascii_case(proxy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Problem;

    fn refused(pairs: &[(&str, &str)]) -> Vec<Problem> {
        let env = Env::from_pairs(pairs.iter().copied());
        let mut read = Reader::new(&env);
        check(&mut read, &env);
        read.problems
    }

    fn suggestion(name: &str) -> String {
        let problems = refused(&[(name, "x")]);
        assert_eq!(problems.len(), 1, "{name}: {problems:?}");
        assert_eq!(problems[0].variable, name);
        problems[0].message.clone()
    }

    #[test]
    fn near_misses_name_the_variable_meant() {
        for (typo, meant) in [
            ("DRYRUN", "DRY_RUN"),
            ("dry_run", "DRY_RUN"),
            ("Dry_Run", "DRY_RUN"),
            ("WAIT_TIMOUT", "WAIT_TIMEOUT"),
            ("SERVICE_NAMES", "SERVICE_NAME"),
            ("AWS_DEFAULT_REGOIN", "AWS_DEFAULT_REGION"),
            ("AWS_OIDC_ROLE", "AWS_OIDC_ROLE_ARN"),
            ("TAG", "TAGS"),
            ("IMAGE_URL", "IMAGE_URI"),
            ("CLUSTER", "CLUSTER_NAME"),
            ("FUNCTION", "FUNCTION_NAME"),
            ("BUCKET", "S3_BUCKET"),
            ("REPOSITORY", "ECR_REPOSITORY"),
            ("FUNCTION_CONFIG", "FUNCTION_CONFIGURATION"),
            ("ECR_REPO", "ECR_REPOSITORY"),
            ("WAIT_TIME", "WAIT_TIMEOUT"),
            ("FORCE_NEW_DEPLOYEMENT", "FORCE_NEW_DEPLOYMENT"),
            ("ALLOWED_ACCOUNTS_IDS", "ALLOWED_ACCOUNT_IDS"),
        ] {
            let message = suggestion(typo);
            assert!(message.contains(&format!("did you mean {meant}")), "{typo}: {message}");
        }
        // Two names fit as well: both are offered.
        let message = suggestion("REGION");
        assert!(message.contains("AWS_DEFAULT_REGION or AWS_REGION"), "{message}");
    }

    #[test]
    fn a_list_is_judged_by_its_name_once() {
        let problems = refused(&[
            ("SERVICE_NAMES_COUNT", "2"),
            ("SERVICE_NAMES_0", "a"),
            ("SERVICE_NAMES_1", "b"),
        ]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].variable, "SERVICE_NAMES");
        assert!(problems[0].message.contains("SERVICE_NAME?"));
        assert!(refused(&[("TAGS_COUNT", "1"), ("TAGS_0", "v1")]).is_empty());
    }

    #[test]
    fn atlassian_names_name_ours() {
        let message = suggestion("PUBLISH_FLAG");
        assert!(
            message.contains("aws-lambda-deploy") && message.contains("rename it to PUBLISH"),
            "{message}"
        );
        let message = suggestion("COMMAND");
        assert!(message.contains("ACTION: \"lambda-deploy\""), "{message}");
        let problems = refused(&[("COMMAND", "alias")]);
        assert!(problems[0].message.contains("with ALIAS"), "{problems:?}");
        assert!(suggestion("WAIT_INTERVAL").contains("no equivalent"));
        for theirs in ATLASSIAN {
            match theirs.ours {
                Same => assert!(
                    vars::ALL.iter().any(|var| var.name == theirs.name),
                    "{} is said to be shared",
                    theirs.name
                ),
                Renamed(ours) => assert!(vars::ALL.iter().any(|var| var.name == ours), "{ours}"),
                _ => assert!(vars::ALL.iter().all(|var| var.name != theirs.name), "{}", theirs.name),
            }
        }
    }

    #[test]
    fn in_a_step_of_another_action_their_names_are_placeholders_nothing_reads() {
        let problems = refused(&[("ACTION", "ecs-deploy"), ("COMMAND", "migrate")]);
        assert!(problems[0].message.contains("RUN_TASK_COMMAND"), "{problems:?}");
        let problems = refused(&[("ACTION", "ECS-DEPLOY"), ("WAIT_INTERVAL", "10")]);
        assert!(
            problems[0].message.contains("${WAIT_INTERVAL} placeholder"),
            "{problems:?}"
        );
        assert!(!problems[0].message.contains("backoff"), "{problems:?}");
        // A renamed one is still named: it can only mean ours.
        let problems = refused(&[("ACTION", "ecs-deploy"), ("PUBLISH_FLAG", "false")]);
        assert!(problems[0].message.contains("rename it to PUBLISH"), "{problems:?}");
        let problems = refused(&[("ACTION", "lambda-deploy"), ("WAIT_INTERVAL", "3")]);
        assert!(problems[0].message.contains("backoff"), "{problems:?}");
    }

    #[test]
    fn what_the_runtime_provides_is_never_refused() {
        let provided = [
            "PATH",
            "HOME",
            "HOSTNAME",
            "CI",
            "BITBUCKET_BUILD_NUMBER",
            "BITBUCKET_STEP_OIDC_TOKEN",
            "BITBUCKET_DOCKER_HOST_INTERNAL",
            "PIPELINES_JWT_TOKEN",
            "http_proxy",
            "Https_Proxy",
            "no_proxy",
            "ALL_PROXY",
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL_SSM",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "DOCKER_HOST",
            "LANG",
            "LC_ALL",
            "container",
        ];
        let pairs: Vec<(&str, &str)> = provided.iter().map(|name| (*name, "x")).collect();
        assert_eq!(refused(&pairs), Vec::new());
    }

    #[test]
    fn names_read_elsewhere_or_unlike_ours_are_left_alone() {
        // A placeholder of a task definition: read, so meant.
        let env = Env::from_pairs([("COMMAND", "1.2"), ("DRYRUN", "true")]);
        env.value("COMMAND");
        env.value("DRYRUN");
        let mut read = Reader::new(&env);
        check(&mut read, &env);
        assert!(read.problems.is_empty(), "{:?}", read.problems);
        // Names close to none of ours, or to too many.
        for name in [
            "APP_NAME",
            "ENVIRONMENT",
            "IMAGE_TAG",
            "NAME",
            "KEY",
            "MY_SECRET",
            "ENDPOINT",
            "TIMEOUT",
            "PORT",
            "STAGE",
            "DATABASE_URL",
        ] {
            assert_eq!(refused(&[(name, "x")]), Vec::new(), "{name}");
        }
    }

    #[test]
    fn missing_action_points_to_the_one_meant() {
        let hint = |pairs: &[(&str, &str)]| missing_action(&Env::from_pairs(pairs.iter().copied()));
        assert!(hint(&[("CLUSTER_NAME", "c")]).contains("ACTION: \"ecs-deploy\""));
        assert!(hint(&[("FUNCTION_NAME", "f")]).contains("ACTION: \"lambda-deploy\""));
        assert!(hint(&[("IMAGE_NAME", "app")]).contains("ACTION: \"ecr-push\""));
        assert!(hint(&[("IMAGE_ARCHIVE", "app.tar")]).contains("ACTION: \"ecr-push\""));
        assert!(hint(&[("COMMAND", "update")]).contains("ACTION: \"lambda-deploy\""));
        assert!(hint(&[("POLICY_ACTIONS", "ecs-deploy"), ("CLUSTER_NAME", "c")]).contains("\"trust-policy\""));
        let both = hint(&[("CLUSTER_NAME", "c"), ("FUNCTION_NAME", "f")]);
        assert!(
            both.contains("CLUSTER_NAME to \"ecs-deploy\"") && both.contains("FUNCTION_NAME to \"lambda-deploy\""),
            "{both}"
        );
        assert_eq!(hint(&[]), "is required, e.g. ACTION: \"assume-role\"");
    }

    /// Every name the sources read from the environment by a literal is declared in `vars` or
    /// provided by the runtime, so that the check can never refuse a name the pipe reads.
    #[test]
    fn every_name_the_code_reads_is_declared_or_provided() {
        fn sources(dir: &std::path::Path, found: &mut Vec<(String, String)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    sources(&path, found);
                } else if path.extension().is_some_and(|ext| ext == "rs") {
                    found.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
        let mut files = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        let mut reads = 0;
        for (path, text) in &files {
            for call in ["value(\"", "peek(\"", "var(\"", "var_os(\"", "list(\""] {
                for (at, _) in text.match_indices(call) {
                    let rest = &text[at + call.len()..];
                    let name = &rest[..rest.find('"').unwrap()];
                    if name.is_empty()
                        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                        || path.ends_with("unknown.rs")
                    {
                        continue;
                    }
                    reads += 1;
                    assert!(
                        vars::ALL.iter().any(|var| var.name == name) || is_provided(name),
                        "{path} reads {name}, which src/vars.rs does not declare: the unknown-variable check \
                         would refuse it as a near miss when it looks like one of ours"
                    );
                }
            }
        }
        assert!(reads >= 3, "the scan found {reads} reads: it no longer recognises them");
    }

    #[test]
    fn edit_distance_counts_slips() {
        assert_eq!(edit_distance("DRY_RUN", "DRY_RUN"), 0);
        assert_eq!(edit_distance("WAIT_TIMOUT", "WAIT_TIMEOUT"), 1);
        assert_eq!(edit_distance("REGOIN", "REGION"), 1);
        assert_eq!(edit_distance("", "ABC"), 3);
    }
}
