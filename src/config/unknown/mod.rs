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

mod atlassian;
#[cfg(test)]
mod tests;

use self::atlassian::atlassian_refusal;
pub use self::atlassian::{ATLASSIAN, AtlassianPipe, AtlassianVariable, Ours};

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
        .find(|theirs| theirs.name == name && theirs.ours != Ours::Same)
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
/// Our names that `name` looks like a slip of, best first; empty when none is close.
fn near_misses(name: &str) -> Vec<&'static str> {
    let upper = name.to_ascii_uppercase();
    if upper.len() > 100 {
        return Vec::new();
    }
    let known = || vars::ALL.iter().map(|var| var.name);
    // The same letters: another case, or separators added or dropped (`DRYRUN`, `dry_run`).
    let squashed: String = without_separators(&upper).collect();
    let same: Vec<&str> = known()
        .filter(|ours| without_separators(ours).eq(squashed.chars()))
        .collect();
    if !same.is_empty() {
        return same;
    }
    // A slip or two: a letter missing, extra, wrong or swapped (`WAIT_TIMOUT`, `SERVICE_NAMES`).
    let mut closest = Vec::new();
    let mut best = usize::MAX;
    let letters = upper.chars().count();
    for ours in known() {
        let allowed = match ours.len() {
            0..4 => 0,
            4..9 => 1,
            _ => 2,
        };
        // The distance is at least the difference in length: most names are ruled out without
        // filling the table (one unknown name against all of ours took more instructions than
        // the rest of the start-up).
        if letters.abs_diff(ours.chars().count()) > allowed {
            continue;
        }
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

fn without_separators(name: &str) -> impl Iterator<Item = char> + '_ {
    name.chars().filter(|c| !matches!(c, '_' | '-'))
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
