//! The variables of `ACTION=lambda-deploy`, checked before the first AWS call. The code source
//! must be exactly one; a configuration file is read, filled and made into the request here
//! (what AWS prints about a function is taken too: fields Lambda only reports are left out and
//! said, unknown ones refused), so a broken file is a validation error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::Env;
use super::files::{load_json_document, resolve_inside};
use super::reader::Reader;
use crate::domain::arn::is_account_id;
use crate::domain::context::BitbucketContext;
use crate::domain::lambda::{CodeSource, LambdaSettings, S3Location, direct_upload_problem, environment_too_large};
use crate::domain::lambda_configuration::{self, ConfigurationRequest};
use crate::domain::traffic_shift::{TrafficShift, human_step, parse_alarms};
use crate::vars;

pub(super) fn read(
    read: &mut Reader<'_>,
    env: &Env,
    work_dir: &Path,
    context: &BitbucketContext,
    shift_limits: ShiftLimits,
    warnings: &mut Vec<String>,
) -> Option<LambdaSettings> {
    let problems_before = read.problems.len();
    let function = read.text(&vars::FUNCTION_NAME);
    match &function {
        None => read.problem(vars::FUNCTION_NAME.name, "is required for lambda-deploy"),
        Some(name) if !is_function_name(name) => read.problem(
            vars::FUNCTION_NAME.name,
            format!("{name:?} is not a function name, ARN or partial ARN (no version or alias qualifier)"),
        ),
        Some(_) => {}
    }

    let code = read_code(read, work_dir);
    let named = function.as_deref().filter(|name| is_function_name(name));
    let mut configuration_notes = Vec::new();
    let mut configuration = read.raw(&vars::FUNCTION_CONFIGURATION).and_then(|value| {
        read_configuration(env, work_dir, value, named)
            .map_err(|messages| {
                for message in messages {
                    read.problem(vars::FUNCTION_CONFIGURATION.name, message);
                }
            })
            .ok()
    });
    if let Some((path, request)) = configuration.take() {
        configuration_notes = notes(&path, &request);
        if !request.body.is_empty() {
            configuration = Some((path, request));
        } else if code.is_some() {
            warnings.push(format!(
                "FUNCTION_CONFIGURATION: {} holds no field UpdateFunctionConfiguration takes{}: the function's \
                 configuration is left as it is",
                path.display(),
                only_printed(&request)
            ));
        } else {
            read.problem(
                vars::FUNCTION_CONFIGURATION.name,
                format!(
                    "{} holds no field UpdateFunctionConfiguration takes{}, and no code source is set: nothing to \
                     deploy",
                    path.display(),
                    only_printed(&request)
                ),
            );
        }
    }
    let version = read_version(read, code.is_some(), configuration.is_some());
    if code.is_none() && configuration.is_none() && version.is_none() && read.problems.len() == problems_before {
        read.problem(
            vars::ZIP_FILE.name,
            "nothing to deploy: set one code source (ZIP_FILE, S3_BUCKET with S3_KEY, or IMAGE_URI), \
             or FUNCTION_CONFIGURATION",
        );
    }

    let publish = read.bool(&vars::PUBLISH);
    let alias = read.text(&vars::ALIAS);
    if version.is_some() && alias.is_none() {
        read.problem(
            vars::VERSION.name,
            "needs ALIAS: VERSION is the version the alias is moved to",
        );
    }
    if let Some(alias) = &alias {
        if !publish && version.is_none() {
            read.problem(
                vars::ALIAS.name,
                "needs PUBLISH: the alias points at the version the pipe publishes",
            );
        } else if !is_alias_name(alias) {
            read.problem(
                vars::ALIAS.name,
                format!("{alias:?} is not an alias name (1-128 letters, digits, - and _, not only digits)"),
            );
        }
    }
    let clear_alias_weights = read.bool(&vars::ALIAS_CLEAR_WEIGHTS);
    if clear_alias_weights && alias.is_none() {
        read.problem(vars::ALIAS_CLEAR_WEIGHTS.name, "is only used with ALIAS");
    }
    let shift = read_shift(read, env, alias.is_some(), shift_limits);
    let version_description = read
        .text(&vars::VERSION_DESCRIPTION)
        .unwrap_or_else(|| default_description(context));
    if version_description.chars().count() > 256 {
        read.problem(vars::VERSION_DESCRIPTION.name, "must be at most 256 characters");
    }

    if read.problems.len() > problems_before {
        return None;
    }
    Some(LambdaSettings {
        function: function?,
        code,
        configuration: configuration.map(|(path, request)| (path, Value::Object(request.body))),
        configuration_notes,
        publish,
        version_description,
        alias,
        clear_alias_weights,
        traffic_shift: shift.shift,
        alarms: shift.alarms,
        shift_time_scale: shift.time_scale,
        version,
        keep_versions: super::read_keep(read, &vars::KEEP_VERSIONS),
    })
}

/// What the traffic shift is checked against.
#[derive(Debug, Clone, Copy)]
pub(super) struct ShiftLimits {
    pub(super) wait_timeout: Duration,
    /// The Lambda endpoint is a loopback address (the tests' emulator): only then is the test
    /// time scale accepted.
    pub(super) loopback_endpoint: bool,
}

struct Shift {
    shift: TrafficShift,
    alarms: Vec<String>,
    time_scale: u32,
}

/// `TRAFFIC_SHIFT` and `ALARMS`, and the tests' time scale. The shift must fit in
/// `WAIT_TIMEOUT` with room for the deployment before it.
fn read_shift(read: &mut Reader<'_>, env: &Env, has_alias: bool, limits: ShiftLimits) -> Shift {
    let shift = match read.text(&vars::TRAFFIC_SHIFT) {
        None => TrafficShift::AllAtOnce,
        Some(value) => TrafficShift::parse(&value).unwrap_or_else(|problem| {
            read.problem(vars::TRAFFIC_SHIFT.name, problem);
            TrafficShift::AllAtOnce
        }),
    };
    if shift.is_gradual() && !has_alias {
        read.problem(
            vars::TRAFFIC_SHIFT.name,
            "needs ALIAS: traffic is shifted between the versions an alias points at",
        );
    }
    let alarms = match read.text(&vars::ALARMS) {
        None => Vec::new(),
        Some(value) => parse_alarms(&value).unwrap_or_else(|problem| {
            read.problem(vars::ALARMS.name, problem);
            Vec::new()
        }),
    };
    if !alarms.is_empty() && !shift.is_gradual() {
        read.problem(
            vars::ALARMS.name,
            "needs a gradual TRAFFIC_SHIFT (canary or linear): the alarms are watched while traffic is split, \
             and with AllAtOnce there is no such time",
        );
    }
    let time_scale = read_time_scale(read, env, limits.loopback_endpoint);
    let takes = shift.duration() / time_scale;
    // The tests' time scale shortens the margin too, so that a test can bring about the
    // run-time check (the deployment before the shift took the margin and more).
    let margin = SHIFT_MARGIN / time_scale;
    if shift.is_gradual() && takes + margin > limits.wait_timeout {
        read.problem(
            vars::WAIT_TIMEOUT.name,
            format!(
                "is {} s, but TRAFFIC_SHIFT {shift} holds traffic split for {} alone, and WAIT_TIMEOUT covers the \
                 whole deployment: set WAIT_TIMEOUT to at least {} (the shift plus {} for the rest), or choose a \
                 shorter TRAFFIC_SHIFT",
                limits.wait_timeout.as_secs(),
                human_step(takes),
                (takes + margin + margin).as_secs(),
                human_step(margin + margin),
            ),
        );
    }
    Shift {
        shift,
        alarms,
        time_scale,
    }
}

/// The least time `WAIT_TIMEOUT` must leave beside the shift (for the updates, the version and
/// the moves of the alias); the message suggests twice this.
const SHIFT_MARGIN: Duration = Duration::from_secs(60);

/// `AWS_ROLE_DEPLOY_TEST_TIME_SCALE`: the tests divide the shift's holds by this (a 5-minute
/// canary in half a second), and the paced waits' pauses (the ECS watch, the ECR scan wait: their
/// emulator's rollouts and scans move a step a look). Not a pipe variable: refused unless the
/// endpoint of the service waited on is a loopback address, so no wait on AWS can be shortened
/// by it.
pub(super) fn read_time_scale(read: &mut Reader<'_>, env: &Env, loopback_endpoint: bool) -> u32 {
    let Some(value) = env.value(TEST_TIME_SCALE_VARIABLE) else {
        return 1;
    };
    match value.parse::<u32>() {
        Ok(scale) if scale >= 1 && loopback_endpoint => scale,
        Ok(_) if !loopback_endpoint => {
            read.problem(
                TEST_TIME_SCALE_VARIABLE,
                "is for tests only, against an emulator on a loopback AWS_ENDPOINT_URL; unset it",
            );
            1
        }
        _ => {
            read.problem(
                TEST_TIME_SCALE_VARIABLE,
                format!("is for tests only and must be a whole number from 1, got {value:?}"),
            );
            1
        }
    }
}

/// The test-only variable that speeds up traffic shifts (not a pipe variable).
pub const TEST_TIME_SCALE_VARIABLE: &str = "AWS_ROLE_DEPLOY_TEST_TIME_SCALE";

/// `VERSION`: an existing published version (a number) the alias moves to, alone: with a code
/// source or a configuration it would not be the version those make.
fn read_version(read: &mut Reader<'_>, code: bool, configuration: bool) -> Option<String> {
    let version = read.text(&vars::VERSION)?;
    if !is_version_number(&version) {
        read.problem(
            vars::VERSION.name,
            format!("{version:?} is not a published version number (1, 2, ...; not $LATEST nor an alias)"),
        );
        return None;
    }
    if code || configuration {
        read.problem(
            vars::VERSION.name,
            "moves ALIAS to an existing version, so it cannot be combined with a code source (ZIP_FILE, S3_BUCKET \
             with S3_KEY, IMAGE_URI) or FUNCTION_CONFIGURATION: unset VERSION to deploy and publish a new version",
        );
        return None;
    }
    Some(version)
}

fn is_version_number(version: &str) -> bool {
    !version.is_empty()
        && version.len() <= 10
        && version.bytes().all(|b| b.is_ascii_digit())
        && !version.starts_with('0')
}

fn read_code(read: &mut Reader<'_>, work_dir: &Path) -> Option<CodeSource> {
    let zip = read.raw(&vars::ZIP_FILE);
    let bucket = read.text(&vars::S3_BUCKET);
    let key = read.text(&vars::S3_KEY);
    let version = read.text(&vars::S3_OBJECT_VERSION);
    let owner = read.text(&vars::S3_BUCKET_OWNER);
    let image = read.text(&vars::IMAGE_URI);
    if let Some(owner) = &owner
        && !is_account_id(owner)
    {
        read.problem(
            vars::S3_BUCKET_OWNER.name,
            format!("must be an AWS account id (12 digits), got {owner:?}"),
        );
    }
    if owner.is_some() && (bucket.is_none() || zip.is_none()) {
        read.problem(
            vars::S3_BUCKET_OWNER.name,
            "is only used when ZIP_FILE is uploaded to S3_BUCKET (the pipe makes no S3 call otherwise)",
        );
    }

    let s3 = match (bucket, key) {
        (Some(bucket), Some(key)) => Some(S3Location {
            bucket,
            key,
            version,
            owner,
        }),
        (Some(_), None) => {
            read.problem(vars::S3_KEY.name, "is required with S3_BUCKET");
            None
        }
        (None, Some(_)) => {
            read.problem(vars::S3_BUCKET.name, "is required with S3_KEY");
            None
        }
        (None, None) => {
            if version.is_some() {
                read.problem(vars::S3_OBJECT_VERSION.name, "is only used with S3_BUCKET and S3_KEY");
            }
            None
        }
    };
    let sources = [zip.is_some(), s3.is_some() && zip.is_none(), image.is_some()];
    if sources.iter().filter(|set| **set).count() > 1 {
        read.problem(
            vars::IMAGE_URI.name,
            "the code comes from exactly one of ZIP_FILE, S3_BUCKET with S3_KEY, or IMAGE_URI",
        );
        return None;
    }
    if let Some(image) = image {
        return Some(CodeSource::Image(image));
    }
    let Some(zip) = zip else { return s3.map(CodeSource::S3) };
    if s3.as_ref().is_some_and(|s3| s3.version.is_some()) {
        read.problem(
            vars::S3_OBJECT_VERSION.name,
            "cannot be set with ZIP_FILE: the upload makes the version",
        );
        return None;
    }
    let path = match resolve_inside(work_dir, zip) {
        Ok(path) if path.exists() => path,
        Ok(path) => {
            read.problem(vars::ZIP_FILE.name, format!("{} does not exist", path.display()));
            return None;
        }
        Err(message) => {
            read.problem(vars::ZIP_FILE.name, message);
            return None;
        }
    };
    // A directory's zip is measured once it is made (the action checks it again then).
    let too_big = path
        .is_file()
        .then(|| std::fs::metadata(&path).ok())
        .flatten()
        .and_then(|metadata| direct_upload_problem(metadata.len()));
    if let (Some(problem), None) = (too_big, &s3) {
        read.problem(
            vars::ZIP_FILE.name,
            format!(
                "{}: {problem}: set S3_BUCKET and S3_KEY to upload it to S3 first",
                path.display()
            ),
        );
        return None;
    }
    Some(CodeSource::Zip { path, upload_to: s3 })
}

/// The file, filled and made into an UpdateFunctionConfiguration request (see
/// `domain::lambda_configuration`): every problem at once, each naming the file.
fn read_configuration(
    env: &Env,
    work_dir: &Path,
    value: &str,
    function: Option<&str>,
) -> Result<(PathBuf, ConfigurationRequest), Vec<String>> {
    let (path, document) = load_json_document(env, work_dir, value)?;
    let in_file = |problems: Vec<String>| {
        problems
            .into_iter()
            .map(|problem| format!("{}: {problem}", path.display()))
            .collect::<Vec<_>>()
    };
    let request = lambda_configuration::request(document, function).map_err(in_file)?;
    let wrong = lambda_configuration::type_problems(&request.body);
    if !wrong.is_empty() {
        return Err(in_file(wrong));
    }
    if let Some(size) = environment_too_large(&Value::Object(request.body.clone())) {
        return Err(vec![format!(
            "{}: Environment.Variables add up to {size} bytes (as JSON), more than Lambda's 4 KB: move large \
             values to SSM Parameter Store or Secrets Manager; nothing was changed",
            path.display()
        )]);
    }
    Ok((path, request))
}

/// What the deploy says about the file before it starts: get-function's parts that are not
/// applied, and the fields left out, each in one line.
fn notes(path: &Path, request: &ConfigurationRequest) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(others) = &request.get_function_others {
        let not_applied = if others.is_empty() {
            String::new()
        } else {
            format!(
                "; its {} {} not applied (the pipe changes the configuration only: code comes from ZIP_FILE, \
                 S3_BUCKET or IMAGE_URI)",
                others.join(", "),
                if others.len() == 1 { "is" } else { "are" }
            )
        };
        notes.push(format!(
            "FUNCTION_CONFIGURATION: {} is `get-function` output: its Configuration is used{not_applied}",
            path.display()
        ));
    }
    if !request.left_out.is_empty() {
        notes.push(format!(
            "FUNCTION_CONFIGURATION: left out what Lambda only reports (UpdateFunctionConfiguration does not take \
             it): {}",
            request.left_out.join(", ")
        ));
    }
    notes
}

fn only_printed(request: &ConfigurationRequest) -> String {
    if request.left_out.is_empty() {
        String::new()
    } else {
        format!(" (only what Lambda reports: {})", request.left_out.join(", "))
    }
}

fn default_description(context: &BitbucketContext) -> String {
    let commit: String = context.commit.as_deref().unwrap_or_default().chars().take(12).collect();
    match (context.build_number.as_deref(), commit.is_empty()) {
        (Some(build), false) => format!("Bitbucket build {build}, commit {commit}"),
        (Some(build), true) => format!("Bitbucket build {build}"),
        (None, false) => format!("Commit {commit}"),
        (None, true) => "Deployed by aws-role-deploy".to_owned(),
    }
}

/// A name, an ARN or a partial ARN, without a qualifier.
pub(super) fn is_function_name(value: &str) -> bool {
    let name = match value.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.split(':').collect();
            match parts.as_slice() {
                [_partition, "lambda", _region, account, "function", name] if is_account_id(account) => *name,
                _ => return false,
            }
        }
        None => match value.split(':').collect::<Vec<_>>().as_slice() {
            [account, "function", name] if is_account_id(account) => name,
            [name] => name,
            _ => return false,
        },
    };
    (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub(super) fn is_alias_name(value: &str) -> bool {
    (1..=128).contains(&value.len())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !value.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names() {
        for good in [
            "api",
            "my-func_2",
            "123456789012:function:api",
            "arn:aws:lambda:eu-west-1:123456789012:function:api",
            "arn:aws-cn:lambda:cn-north-1:123456789012:function:api",
        ] {
            assert!(is_function_name(good), "{good}");
        }
        for bad in [
            "",
            "api:prod",
            "arn:aws:lambda:eu-west-1:123456789012:function:api:3",
            "a b",
            "x:function:api",
        ] {
            assert!(!is_function_name(bad), "{bad}");
        }
    }

    #[test]
    fn version_numbers() {
        assert!(is_version_number("1") && is_version_number("42") && is_version_number("4294967295"));
        for bad in ["", "0", "07", "$LATEST", "live", "1.0", "-1", "12345678901"] {
            assert!(!is_version_number(bad), "{bad}");
        }
    }

    #[test]
    fn alias_names() {
        assert!(is_alias_name("live") && is_alias_name("v2-canary"));
        assert!(!is_alias_name("42") && !is_alias_name("a.b") && !is_alias_name(""));
    }

    #[test]
    fn default_description_names_build_and_commit() {
        let context = BitbucketContext {
            build_number: Some("42".into()),
            commit: Some("0123456789abcdef0123".into()),
            ..BitbucketContext::default()
        };
        assert_eq!(default_description(&context), "Bitbucket build 42, commit 0123456789ab");
        assert_eq!(
            default_description(&BitbucketContext::default()),
            "Deployed by aws-role-deploy"
        );
    }
}
