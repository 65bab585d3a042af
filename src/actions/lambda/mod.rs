//! `ACTION=lambda-deploy`: the whole release in one step, in the order Lambda needs: wait
//! until the function is ready, update the code and wait, update the configuration and wait,
//! publish a version pinned to exactly that code and revision, then move the alias.
//!
//! Every wait is part of correctness (an update while another is in progress fails), so they
//! all share one deadline, `WAIT_TIMEOUT`.

pub mod package;

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_lambda::types::{LastUpdateStatus, State};
use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

use self::package::{DIRECT_UPLOAD_MAX, Package};
use crate::actions::diff;
use crate::actions::poll::Poller;
use crate::auth::Session;
use crate::aws::{self, AwsFailure, RawResponse};
use crate::config::Config;
use crate::config::lambda::{CodeSource, LambdaConfig, S3Location};
use crate::error::Error;

const POLL_MIN: Duration = Duration::from_secs(1);
const POLL_MAX: Duration = Duration::from_secs(5);
const CONFLICT_BACKOFF_MAX: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn current_configuration_is_compared_in_the_request_shape() {
        let current = json!({
            "MemorySize": 256, "Runtime": "python3.12",
            "VpcConfig": {"SubnetIds": ["s-1"], "SecurityGroupIds": ["g-1"], "VpcId": "vpc-1"},
            "Layers": [{"Arn": "arn:aws:lambda:eu-west-1:1:layer:a:3", "CodeSize": 10}],
            "Environment": {"Variables": {"A": "1"}}
        });
        let wanted = json!({
            "MemorySize": 256,
            "VpcConfig": {"SubnetIds": ["s-1"], "SecurityGroupIds": ["g-1"]},
            "Layers": ["arn:aws:lambda:eu-west-1:1:layer:a:3"],
            "Environment": {"Variables": {"A": "1"}}
        });
        assert!(diff::diff(&shaped_like(&current, &wanted), &wanted).is_empty());
        let changed = json!({"MemorySize": 512, "Timeout": 30});
        let lines = diff::diff(&shaped_like(&current, &changed), &changed);
        assert_eq!(lines, vec!["~ MemorySize: 256 → 512", "~ Timeout: null → 30"]);
    }
}

#[derive(Debug, Serialize)]
pub struct LambdaOutcome {
    pub action: &'static str,
    pub region: String,
    pub function_arn: String,
    pub code_sha256: String,
    pub code_changed: bool,
    pub configuration_changed: bool,
    /// None when not published (or in a dry run).
    pub version: Option<String>,
    pub alias_arn: Option<String>,
    pub dry_run: bool,
}

impl fmt::Display for LambdaOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.function_arn.rsplit(':').next().unwrap_or(&self.function_arn);
        if self.dry_run {
            return write!(f, "Dry run: nothing was changed ({name})");
        }
        let code = if self.code_changed {
            "new code"
        } else {
            "code unchanged"
        };
        match (&self.version, &self.alias_arn) {
            (Some(version), Some(alias)) => {
                write!(
                    f,
                    "Deployed {name} ({code}): version {version}, alias {}",
                    alias.rsplit(':').next().unwrap_or(alias)
                )
            }
            (Some(version), None) => write!(f, "Deployed {name} ({code}): version {version}"),
            (None, _) => write!(f, "Updated {name} ({code}); no version published (PUBLISH is false)"),
        }
    }
}

/// What the function looks like between steps.
#[derive(Debug, Clone, Default)]
struct FunctionState {
    arn: String,
    code_sha256: String,
    revision_id: String,
    package_type: String,
    image_uri: Option<String>,
}

pub async fn run(config: &Config, lambda_config: &LambdaConfig, session: &Session) -> Result<LambdaOutcome, Error> {
    let deadline = Instant::now() + config.wait_timeout;
    let lambda = aws::lambda_client(&session.sdk, config.network.lambda_endpoint_url.as_deref());
    let function = lambda_config.function.as_str();
    if !config.wait {
        warn!("WAIT is false, but lambda-deploy waits for each update anyway: the next step depends on it");
    }

    // Read and check everything first.
    let current = get_function(&lambda, function).await?;
    check_package_type(&current, lambda_config.code.as_ref())?;
    let package = match &lambda_config.code {
        Some(CodeSource::Zip { path, upload_to }) => {
            let package = package::build(path).map_err(|message| Error::bad_input(message, "ZIP_FILE"))?;
            info!(
                "Package {}: {} bytes, CodeSha256 {}",
                path.display(),
                package.bytes.len(),
                package.sha256
            );
            if upload_to.is_none() && package.bytes.len() as u64 > DIRECT_UPLOAD_MAX {
                return Err(Error::bad_input(
                    format!(
                        "The package is {} MB, above Lambda's {} MB direct-upload limit",
                        package.bytes.len() / 1024 / 1024,
                        DIRECT_UPLOAD_MAX / 1024 / 1024
                    ),
                    "S3_BUCKET and S3_KEY (to upload it to S3 first)",
                ));
            }
            Some(package)
        }
        _ => None,
    };
    let code_changes = match (&lambda_config.code, &package) {
        (None, _) => false,
        (Some(CodeSource::Zip { .. }), Some(package)) => package.sha256 != current.code_sha256,
        _ => true,
    };
    let configuration_diff = match &lambda_config.configuration {
        Some((_, wanted)) => Some(configuration_diff(&lambda, function, wanted).await?),
        None => None,
    };
    let current_alias = match &lambda_config.alias {
        Some(alias) => get_alias(&lambda, function, alias, deadline).await?,
        None => None,
    };

    if config.dry_run {
        return Ok(dry_run(
            config,
            lambda_config,
            &current,
            code_changes,
            configuration_diff,
            current_alias,
        ));
    }

    // What has been changed so far: every error after the first change says it, so nothing
    // is left half-done without the log saying so.
    let mut done: Vec<String> = Vec::new();

    // 1. Ready?
    let mut state = wait_ready(&lambda, function, deadline, Waiting::BeforeUpdating).await?;

    // 2. Code.
    let mut code_changed = false;
    match (&lambda_config.code, package) {
        (Some(CodeSource::Zip { .. }), Some(package)) if package.sha256 == state.code_sha256 => {
            info!(
                "The code is unchanged (CodeSha256 {}): skipping the upload",
                package.sha256
            );
        }
        (Some(source), package) => {
            let expected = update_code(config, session, &lambda, function, source, package, &state, deadline)
                .await
                .map_err(said(&done))?;
            done.push("$LATEST has the new code".to_owned());
            state = wait_ready(&lambda, function, deadline, Waiting::After("the code update"))
                .await
                .map_err(said(&done))?;
            // Publishing pins what is there now: make sure it is what this pipe uploaded.
            if let Some(expected) = expected.filter(|sha| !sha.is_empty() && *sha != state.code_sha256) {
                return Err(Error::failed(
                    format!(
                        "The code of {function} changed under the pipe (CodeSha256 {} instead of {expected})",
                        state.code_sha256
                    ),
                    vec!["Someone else deployed meanwhile; no version was published. Run the step again.".to_owned()],
                ));
            }
            info!("Code updated: CodeSha256 {}", state.code_sha256);
            code_changed = true;
        }
        (None, _) => {}
    }

    // 3. Configuration.
    let mut configuration_changed = false;
    if let (Some((path, wanted)), Some(lines)) = (&lambda_config.configuration, &configuration_diff) {
        if lines.is_empty() {
            info!("The configuration in {} is already in place", path.display());
        } else {
            update_configuration(&lambda, function, wanted, &state, deadline)
                .await
                .map_err(said(&done))?;
            done.push("$LATEST has the new configuration".to_owned());
            state = wait_ready(&lambda, function, deadline, Waiting::After("the configuration update"))
                .await
                .map_err(said(&done))?;
            info!("Configuration updated from {}", path.display());
            configuration_changed = true;
        }
    }

    // 4. Publish exactly what was just produced: a concurrent change makes this fail instead
    //    of slipping into the version.
    let version = if lambda_config.publish {
        let version = publish(&lambda, function, &state, &lambda_config.version_description, deadline)
            .await
            .map_err(said(&done))?;
        done.push(format!("version {version} is published"));
        Some(version)
    } else {
        None
    };

    // 5. Alias, read again now: it may have moved during the deployment.
    let alias_arn = match (&lambda_config.alias, &version) {
        (Some(alias), Some(version)) => {
            let current = get_alias(&lambda, function, alias, deadline)
                .await
                .map_err(said(&done))?;
            Some(
                move_alias(&lambda, function, alias, version, current, deadline)
                    .await
                    .map_err(said(&done))?,
            )
        }
        _ => None,
    };

    Ok(LambdaOutcome {
        action: "lambda-deploy",
        region: config.region.clone(),
        function_arn: state.arn,
        code_sha256: state.code_sha256,
        code_changed,
        configuration_changed,
        version,
        alias_arn,
        dry_run: false,
    })
}

async fn get_function(lambda: &aws_sdk_lambda::Client, function: &str) -> Result<FunctionState, Error> {
    const OPERATION: &str = "lambda:GetFunction";
    let started = Instant::now();
    let output = lambda
        .get_function()
        .function_name(function)
        .send()
        .await
        .map_err(|err| {
            let failure = AwsFailure::from_sdk(OPERATION, &err);
            if failure.code_is("ResourceNotFoundException") {
                Error::bad_input(
                    format!("Function {function} not found ({failure})"),
                    "FUNCTION_NAME and AWS_DEFAULT_REGION",
                )
            } else {
                failure_of(failure)
            }
        })?;
    aws::log_output(OPERATION, started, &output);
    let configuration = output.configuration();
    Ok(FunctionState {
        arn: configuration
            .and_then(|c| c.function_arn())
            .unwrap_or_default()
            .to_owned(),
        code_sha256: configuration
            .and_then(|c| c.code_sha256())
            .unwrap_or_default()
            .to_owned(),
        revision_id: configuration
            .and_then(|c| c.revision_id())
            .unwrap_or_default()
            .to_owned(),
        package_type: configuration
            .and_then(|c| c.package_type())
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        image_uri: output.code().and_then(|c| c.image_uri()).map(str::to_owned),
    })
}

fn check_package_type(current: &FunctionState, code: Option<&CodeSource>) -> Result<(), Error> {
    let image_code = matches!(code, Some(CodeSource::Image(_)));
    let image_function = current.package_type == "Image";
    match (code, image_code == image_function) {
        (None, _) | (_, true) => Ok(()),
        (Some(_), false) => Err(Error::bad_input(
            format!(
                "The function's package type is {}, so its code comes from {}",
                current.package_type,
                if image_function {
                    "IMAGE_URI"
                } else {
                    "ZIP_FILE or S3_BUCKET/S3_KEY"
                }
            ),
            "the code source",
        )),
    }
}

/// Poll until the function is Active and no update is in progress. A failed update ends the
/// pipe with Lambda's reason; a failed update from before the pipe started only warns, since
/// this deployment may be the fix.
/// Whose update a wait is for: one of ours fails the pipe when it fails; an earlier one does not.
#[derive(Clone, Copy)]
enum Waiting {
    BeforeUpdating,
    After(&'static str),
}

impl fmt::Display for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Waiting::BeforeUpdating => f.write_str("before the update"),
            Waiting::After(what) => write!(f, "after {what}"),
        }
    }
}

async fn wait_ready(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    deadline: Instant,
    when: Waiting,
) -> Result<FunctionState, Error> {
    const OPERATION: &str = "lambda:GetFunctionConfiguration";
    let mut poller = Poller::new(POLL_MIN, POLL_MAX, deadline);
    let mut last_seen = String::new();
    loop {
        let started = Instant::now();
        let config = retry_conflicts(OPERATION, deadline, || {
            lambda.get_function_configuration().function_name(function).send()
        })
        .await
        .map_err(failure_of)?;
        aws::log_output(OPERATION, started, &config);
        let state = config.state().cloned().unwrap_or(State::Active);
        let update = config
            .last_update_status()
            .cloned()
            .unwrap_or(LastUpdateStatus::Successful);
        let seen = format!("State {}, LastUpdateStatus {}", state.as_str(), update.as_str());
        if seen != last_seen {
            info!("{function} {when}: {seen}");
            last_seen = seen;
            poller.news();
        }
        let reason = || {
            let code = config
                .last_update_status_reason_code()
                .map(|c| c.as_str().to_owned())
                .unwrap_or_default();
            format!(
                "{} ({code})",
                config.last_update_status_reason().unwrap_or("no reason given")
            )
        };
        match (&state, &update) {
            (State::Failed, _) => {
                return Err(Error::failed(
                    format!(
                        "The function {function} is in state Failed: {}",
                        config.state_reason().unwrap_or("no reason given")
                    ),
                    vec![],
                ));
            }
            (_, LastUpdateStatus::Failed) if matches!(when, Waiting::After(_)) => {
                return Err(Error::failed(
                    format!("The update of {function} failed: {}", reason()),
                    vec![
                    "Lambda keeps what the failed update would have replaced; no version was published and no alias moved."
                        .to_owned(),
                ],
                ));
            }
            (State::Pending, _) | (_, LastUpdateStatus::InProgress) => {}
            (_, LastUpdateStatus::Failed) => {
                warn!(
                    "The previous update of {function} had failed: {}; deploying anyway",
                    reason()
                );
                return Ok(state_of(&config));
            }
            _ => return Ok(state_of(&config)),
        }
        if poller.expired() {
            return Err(Error::failed(
                format!("{function} was still busy ({last_seen}) {when} when WAIT_TIMEOUT ran out"),
                vec!["Nothing further was changed.".to_owned()],
            ));
        }
        poller.pause().await;
    }
}

fn state_of(
    config: &aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput,
) -> FunctionState {
    FunctionState {
        arn: config.function_arn().unwrap_or_default().to_owned(),
        code_sha256: config.code_sha256().unwrap_or_default().to_owned(),
        revision_id: config.revision_id().unwrap_or_default().to_owned(),
        package_type: config.package_type().map(|p| p.as_str().to_owned()).unwrap_or_default(),
        image_uri: None,
    }
}

#[allow(clippy::too_many_arguments)]
async fn update_code(
    config: &Config,
    session: &Session,
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    source: &CodeSource,
    package: Option<Package>,
    state: &FunctionState,
    deadline: Instant,
) -> Result<Option<String>, Error> {
    const OPERATION: &str = "lambda:UpdateFunctionCode";
    let request = lambda
        .update_function_code()
        .function_name(function)
        .revision_id(&state.revision_id);
    let request = match (source, package) {
        (
            CodeSource::Zip {
                upload_to: Some(location),
                ..
            },
            Some(package),
        ) => {
            let version = upload(config, session, location, package).await?;
            request
                .s3_bucket(&location.bucket)
                .s3_key(&location.key)
                .set_s3_object_version(version)
        }
        (CodeSource::Zip { .. }, Some(package)) => {
            // The body is written by hand: the SDK would hold the zip and its base64 at once.
            let sha256 = package.sha256.clone();
            let body = package::direct_upload_body(package, &state.revision_id);
            let started = Instant::now();
            let output = retry_conflicts(OPERATION, deadline, || {
                request
                    .clone()
                    .customize()
                    .mutate_request(aws::with_body(body.clone()))
                    .send()
            })
            .await
            .map_err(failure_of)?;
            aws::log_output(OPERATION, started, &output);
            return Ok(Some(sha256));
        }
        (CodeSource::S3(location), _) => request
            .s3_bucket(&location.bucket)
            .s3_key(&location.key)
            .set_s3_object_version(location.version.clone()),
        (CodeSource::Image(uri), _) => request.image_uri(uri),
        (CodeSource::Zip { .. }, None) => return Ok(None),
    };
    let started = Instant::now();
    let output = retry_conflicts(OPERATION, deadline, || request.clone().send())
        .await
        .map_err(failure_of)?;
    aws::log_output(OPERATION, started, &output);
    // Images resolve asynchronously, so only package sources are checked against the result.
    let expected = match source {
        CodeSource::Image(_) => None,
        _ => output.code_sha256().map(str::to_owned),
    };
    Ok(expected)
}

/// Put the package in S3 (for packages over the direct-upload limit); returns the object
/// version when the bucket is versioned.
async fn upload(
    config: &Config,
    session: &Session,
    location: &S3Location,
    package: Package,
) -> Result<Option<String>, Error> {
    const OPERATION: &str = "s3:PutObject";
    let s3 = aws::s3_client(&session.sdk, config.network.s3_endpoint_url.as_deref());
    let size = package.bytes.len();
    let started = Instant::now();
    let output = s3
        .put_object()
        .bucket(&location.bucket)
        .key(&location.key)
        .body(aws_sdk_s3::primitives::ByteStream::from(package.bytes))
        .send()
        .await
        .map_err(|err| {
            let failure = AwsFailure::from_sdk(OPERATION, &err);
            if failure.code_is("NoSuchBucket") {
                Error::bad_input(format!("Bucket {} not found ({failure})", location.bucket), "S3_BUCKET")
            } else {
                failure_of(failure)
            }
        })?;
    aws::log_output(OPERATION, started, &output);
    info!(
        "Uploaded the package ({size} bytes) to s3://{}/{}",
        location.bucket, location.key
    );
    Ok(output.version_id().map(str::to_owned))
}

/// The fields of the file that differ from the function's current configuration (values under
/// `Environment` masked). Only the file's own fields are compared.
async fn configuration_diff(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    wanted: &Value,
) -> Result<Vec<String>, Error> {
    const OPERATION: &str = "lambda:GetFunctionConfiguration";
    let raw = RawResponse::default();
    lambda
        .get_function_configuration()
        .function_name(function)
        .customize()
        .interceptor(raw.clone())
        .send()
        .await
        .map_err(|err| failure_of(AwsFailure::from_sdk(OPERATION, &err)))?;
    let current = raw.json(OPERATION).map_err(failure_of)?;
    let current_subset = shaped_like(&current, wanted);
    let lines = diff::diff(&current_subset, wanted);
    if !lines.is_empty() {
        info!("Configuration changes (environment values masked):");
        for line in &lines {
            info!("  {line}");
        }
    }
    Ok(lines)
}

/// The current configuration in the shape of the request: only the fields the file sets (at
/// every depth), and `Layers` as ARNs, since GetFunctionConfiguration answers with more (a
/// `VpcId`, layer sizes) than UpdateFunctionConfiguration takes.
fn shaped_like(current: &Value, wanted: &Value) -> Value {
    match (current, wanted) {
        (Value::Object(current), Value::Object(wanted)) => Value::Object(
            wanted
                .iter()
                .map(|(key, want)| (key.clone(), shaped_like(current.get(key).unwrap_or(&Value::Null), want)))
                .collect(),
        ),
        (Value::Array(current), Value::Array(wanted)) if wanted.iter().all(Value::is_string) => Value::Array(
            current
                .iter()
                .map(|item| item.get("Arn").cloned().unwrap_or_else(|| item.clone()))
                .collect(),
        ),
        (current, _) => current.clone(),
    }
}

/// UpdateFunctionConfiguration with the file's fields exactly as written, plus the RevisionId
/// observed, so a concurrent change is refused rather than overwritten.
async fn update_configuration(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    wanted: &Value,
    state: &FunctionState,
    deadline: Instant,
) -> Result<(), Error> {
    const OPERATION: &str = "lambda:UpdateFunctionConfiguration";
    let mut body = wanted.clone();
    if let Some(fields) = body.as_object_mut() {
        fields.insert("RevisionId".to_owned(), Value::String(state.revision_id.clone()));
    }
    let bytes = bytes::Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
    let started = Instant::now();
    let output = retry_conflicts(OPERATION, deadline, || {
        lambda
            .update_function_configuration()
            .function_name(function)
            .customize()
            .mutate_request(aws::with_body(bytes.clone()))
            .send()
    })
    .await
    .map_err(|failure| match failure.code.as_deref() {
        Some("InvalidParameterValueException" | "ValidationException") => Error::BadInput {
            summary: format!("Lambda refused the configuration (FUNCTION_CONFIGURATION): {failure}"),
            details: vec![],
        },
        _ => failure_of(failure),
    })?;
    aws::log_output(OPERATION, started, &output);
    Ok(())
}

async fn publish(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    state: &FunctionState,
    description: &str,
    deadline: Instant,
) -> Result<String, Error> {
    const OPERATION: &str = "lambda:PublishVersion";
    let request = lambda
        .publish_version()
        .function_name(function)
        .code_sha256(&state.code_sha256)
        .revision_id(&state.revision_id)
        .description(description);
    let started = Instant::now();
    let output = retry_conflicts(OPERATION, deadline, || request.clone().send())
        .await
        .map_err(|failure| {
            let concurrent = failure.code_is("PreconditionFailedException")
                || (failure.code_is("InvalidParameterValueException") && failure.message.contains("CodeSha256"));
            if concurrent {
                Error::failed(
                    format!("Someone changed {function} while the pipe was deploying it, so no version was published"),
                    vec![failure.to_string(), "Run the step again.".to_owned()],
                )
            } else {
                failure_of(failure)
            }
        })?;
    aws::log_output(OPERATION, started, &output);
    let version = output.version().unwrap_or_default().to_owned();
    info!("Published version {version} ({description})");
    Ok(version)
}

/// The alias as it is now: (ARN, version, RevisionId), or None when it does not exist yet.
async fn get_alias(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    alias: &str,
    deadline: Instant,
) -> Result<Option<(String, String, String)>, Error> {
    const OPERATION: &str = "lambda:GetAlias";
    let read = retry_conflicts(OPERATION, deadline, || {
        lambda.get_alias().function_name(function).name(alias).send()
    });
    match read.await {
        Ok(output) => Ok(Some((
            output.alias_arn().unwrap_or_default().to_owned(),
            output.function_version().unwrap_or_default().to_owned(),
            output.revision_id().unwrap_or_default().to_owned(),
        ))),
        Err(failure) if failure.code_is("ResourceNotFoundException") => Ok(None),
        Err(failure) => Err(failure_of(failure)),
    }
}

async fn move_alias(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    alias: &str,
    version: &str,
    current: Option<(String, String, String)>,
    deadline: Instant,
) -> Result<String, Error> {
    let arn = match current {
        Some((arn, from, _)) if from == version => {
            info!("Alias {alias} already points at version {version}");
            arn
        }
        Some((_, from, revision_id)) => {
            const OPERATION: &str = "lambda:UpdateAlias";
            let request = lambda
                .update_alias()
                .function_name(function)
                .name(alias)
                .function_version(version)
                .revision_id(revision_id);
            match retry_conflicts(OPERATION, deadline, || request.clone().send()).await {
                Ok(output) => {
                    info!("Alias {alias}: version {from} → {version}");
                    output.alias_arn().unwrap_or_default().to_owned()
                }
                // The alias moved since it was read: read it again and move it from there.
                Err(failure) if failure.code_is("PreconditionFailedException") && Instant::now() < deadline => {
                    let current = get_alias(lambda, function, alias, deadline).await?;
                    return Box::pin(move_alias(lambda, function, alias, version, current, deadline)).await;
                }
                Err(failure) => return Err(failure_of(failure)),
            }
        }
        None => {
            const OPERATION: &str = "lambda:CreateAlias";
            let created = lambda
                .create_alias()
                .function_name(function)
                .name(alias)
                .function_version(version)
                .send()
                .await;
            match created {
                Ok(output) => {
                    info!("Alias {alias} created at version {version}");
                    output.alias_arn().unwrap_or_default().to_owned()
                }
                // Someone created it since GetAlias: move it like an existing alias.
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_resource_conflict_exception()) =>
                {
                    let current = get_alias(lambda, function, alias, deadline).await?;
                    return Box::pin(move_alias(lambda, function, alias, version, current, deadline)).await;
                }
                Err(err) => return Err(failure_of(AwsFailure::from_sdk(OPERATION, &err))),
            }
        }
    };
    Ok(arn)
}

fn dry_run(
    config: &Config,
    lambda_config: &LambdaConfig,
    current: &FunctionState,
    code_changes: bool,
    configuration_diff: Option<Vec<String>>,
    current_alias: Option<(String, String, String)>,
) -> LambdaOutcome {
    let code = match &lambda_config.code {
        None => "would leave the code as it is".to_owned(),
        Some(CodeSource::Zip { .. }) if !code_changes => "the code is unchanged: no upload".to_owned(),
        Some(CodeSource::Zip {
            upload_to: Some(s3), ..
        }) => {
            format!(
                "would upload the new package to s3://{}/{} and update the code",
                s3.bucket, s3.key
            )
        }
        Some(CodeSource::Zip { .. }) => "would update the code with the new package".to_owned(),
        Some(CodeSource::S3(s3)) => format!("would update the code from s3://{}/{}", s3.bucket, s3.key),
        Some(CodeSource::Image(uri)) => {
            format!(
                "would update the image from {} to {uri}",
                current.image_uri.as_deref().unwrap_or("?")
            )
        }
    };
    info!("Dry run: {code}");
    match configuration_diff {
        Some(lines) if lines.is_empty() => info!("Dry run: the configuration is already in place"),
        Some(_) => info!("Dry run: would update the configuration as shown above"),
        None => {}
    }
    if lambda_config.publish {
        info!(
            "Dry run: would publish a version ({})",
            lambda_config.version_description
        );
    }
    if let Some(alias) = &lambda_config.alias {
        match current_alias {
            Some((_, from, _)) => info!("Dry run: would move alias {alias} from version {from} to the new version"),
            None => info!("Dry run: would create alias {alias} at the new version"),
        }
    }
    LambdaOutcome {
        action: "lambda-deploy",
        region: config.region.clone(),
        function_arn: current.arn.clone(),
        code_sha256: current.code_sha256.clone(),
        code_changed: false,
        configuration_changed: false,
        version: None,
        alias_arn: None,
        dry_run: true,
    }
}

/// Lambda refuses a change while another is in progress (ResourceConflictException) and
/// throttles (TooManyRequestsException); both pass, so retry them with backoff until the
/// deadline. The SDK has already retried throttling a few times by then.
async fn retry_conflicts<T, E, F, Fut>(operation: &'static str, deadline: Instant, mut call: F) -> Result<T, AwsFailure>
where
    F: FnMut() -> Fut,
    Fut: Future<
        Output = Result<
            T,
            aws_sdk_lambda::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
        >,
    >,
    E: aws_sdk_lambda::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let mut delay = POLL_MIN;
    loop {
        let failure = match call().await {
            Ok(output) => return Ok(output),
            Err(err) => AwsFailure::from_sdk(operation, &err),
        };
        let passing = failure.code_is("ResourceConflictException") || failure.code_is("TooManyRequestsException");
        if !passing || Instant::now() + delay >= deadline {
            return Err(failure);
        }
        info!(
            "{operation}: {} ({}); trying again in {} s",
            failure.message,
            failure.code.as_deref().unwrap_or(""),
            delay.as_secs()
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(CONFLICT_BACKOFF_MAX);
    }
}

/// Access refusals name the IAM action to grant; the rest keep Lambda's code and message.
/// Adds what was already changed to an error, so a failure halfway says what it leaves behind.
fn said(done: &[String]) -> impl Fn(Error) -> Error + '_ {
    move |error| {
        if done.is_empty() {
            error
        } else {
            error.with_details([format!("Already done: {}.", done.join("; "))])
        }
    }
}

fn failure_of(failure: AwsFailure) -> Error {
    if let Some(denied) = aws::access_denied(&failure, "minimal Lambda policy") {
        return denied;
    }
    match failure.code.as_deref() {
        Some("ResourceNotFoundException") => Error::bad_input(failure.to_string(), "FUNCTION_NAME"),
        Some("InvalidParameterValueException" | "ValidationException" | "CodeStorageExceededException") => {
            Error::BadInput {
                summary: failure.to_string(),
                details: vec![],
            }
        }
        _ => Error::failed(failure, vec![]),
    }
}
