//! `ACTION=lambda-deploy`: the whole release in one step, in the order Lambda needs: wait
//! until the function is ready, update the configuration and wait, update the code and wait
//! (configuration first, as lambroll does, so nothing invoking `$LATEST` runs new code with the
//! old environment), publish a version pinned to exactly that code and revision, wait until
//! the version is Active, then move the alias. Only that last step is atomic.
//!
//! Every wait is part of correctness (an update while another is in progress fails), so they
//! all share one deadline, `WAIT_TIMEOUT`.

mod alarms;
pub(crate) mod cleanup;
mod code;
mod configuration;
mod function;
mod image;
mod pace;
pub mod package;
mod pairing;
mod progress;
mod promote;
pub(crate) mod provisioned;
mod readback;
mod release;
mod revert;
mod shift;

use std::cell::RefCell;
use std::fmt;
use std::time::Instant;

use serde::Serialize;
use tracing::{info, warn};

use self::function::{FunctionState, Waiting, wait_ready};
use self::progress::Progress;
use self::release::Alias;
pub use self::revert::{LambdaRollbackOutcome, run as roll_back};
use crate::aws::Clients;
use crate::aws::wait::Wait;
use crate::domain::context::RunContext;
use crate::domain::lambda::{CodeSource, LambdaSettings, direct_upload_problem};
use crate::error::Error;

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
    /// The alias's provisioned concurrency once READY ("READY, 4 of 4 allocated"); None
    /// without any.
    pub provisioned_concurrency: Option<String>,
    /// `KEEP_VERSIONS`: the versions deleted after success, space-separated (empty: none was);
    /// None without KEEP_VERSIONS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_versions: Option<String>,
    /// `VERSION`: only the alias was moved, to a version published before.
    #[serde(skip)]
    pub alias_only: bool,
    pub dry_run: bool,
    /// DEPLOYED, DRY_RUN, or PARTIAL in the outputs of a step that failed after changing
    /// something (then `done` and `not_done` say what).
    pub state: &'static str,
    pub done: Vec<String>,
    pub not_done: Vec<String>,
}

impl fmt::Display for LambdaOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.function_arn.rsplit(':').next().unwrap_or(&self.function_arn);
        if self.dry_run {
            return write!(f, "Dry run: nothing was changed ({name})");
        }
        if self.alias_only
            && let (Some(version), Some(alias)) = (&self.version, &self.alias_arn)
        {
            write!(
                f,
                "Alias {} of {name} now points at version {version}; nothing else was changed",
                alias.rsplit(':').next().unwrap_or(alias)
            )?;
            return match &self.provisioned_concurrency {
                Some(allocation) => write!(f, " (provisioned concurrency {allocation})"),
                None => Ok(()),
            };
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
                )?;
                match &self.provisioned_concurrency {
                    Some(allocation) => write!(f, " (provisioned concurrency {allocation})"),
                    None => Ok(()),
                }
            }
            (Some(version), None) => write!(f, "Deployed {name} ({code}): version {version}"),
            (None, _) => write!(f, "Updated {name} ({code}); no version published (PUBLISH is false)"),
        }
    }
}

/// `account`: the role's, which owns `S3_BUCKET` unless `S3_BUCKET_OWNER` says otherwise.
pub async fn run(
    run: &RunContext,
    settings: &LambdaSettings,
    clients: &Clients,
    account: &str,
) -> Result<LambdaOutcome, Error> {
    let deadline = run.deadline;
    let lambda = clients.lambda();
    let function = settings.function.as_str();
    if !run.wait {
        warn!("WAIT is false, but lambda-deploy waits for each update anyway: the next step depends on it");
    }

    // Read and check everything first: the package before any call, then what Lambda has.
    let package = match &settings.code {
        Some(CodeSource::Zip { path, upload_to }) => Some(build_package(path, upload_to.is_some())?),
        _ => None,
    };
    let current = function::get_function(&lambda, function).await?;
    function::check_package_type(&current, settings.code.as_ref())?;
    // An image index in IMAGE_URI: its image for the function's architecture instead.
    let with_image;
    let settings = match &settings.code {
        Some(CodeSource::Image(uri)) => match image::resolve(clients, uri, &current.architecture).await? {
            Some(chosen) => {
                with_image = LambdaSettings {
                    code: Some(CodeSource::Image(chosen)),
                    ..settings.clone()
                };
                &with_image
            }
            None => settings,
        },
        _ => settings,
    };
    let code_changes = match (&settings.code, &package) {
        (None, _) => false,
        (Some(CodeSource::Zip { .. }), Some(package)) => package.sha256 != current.code_sha256,
        _ => true,
    };
    for note in &settings.configuration_notes {
        info!("{note}");
    }
    let configuration_diff = match &settings.configuration {
        Some((_, wanted)) => Some(configuration::changes(&lambda, function, wanted).await?),
        None => None,
    };
    let current_alias = match &settings.alias {
        Some(alias) => release::get_alias(&lambda, function, alias, deadline).await?,
        None => None,
    };
    if let (Some(name), Some(alias)) = (&settings.alias, &current_alias) {
        release::check_weights(name, alias, settings.clear_alias_weights)?;
    }
    // ALARMS: each must exist and none be in ALARM, before anything changes.
    if !settings.alarms.is_empty() && settings.traffic_shift.is_gradual() {
        watch(settings, clients, deadline).check_before_any_change().await?;
    }
    // A new role or dead-letter queue: the new version could not share the alias with the old.
    if let (Some(alias), Some((_, wanted))) = (&current_alias, &settings.configuration)
        && settings.traffic_shift.is_gradual()
        && alias.version != "$LATEST"
    {
        pairing::check_configuration(&lambda, settings, &alias.version, wanted).await?;
    }
    if let Some(version) = &settings.version {
        return promote::run(run, settings, clients, &current, version, current_alias).await;
    }

    if run.dry_run {
        return dry_run(
            run,
            settings,
            clients,
            &current,
            code_changes,
            configuration_diff,
            current_alias,
        )
        .await;
    }

    // What has been changed so far: every error after the first change says it, and the
    // outputs files record it, so nothing is left half-done without the log saying so. A
    // SIGTERM (the step's time limit, a manual stop) says it too, with what was in flight.
    let progress = RefCell::new(Progress::new(run, settings, &current, current_alias.as_ref()));
    run.cancel.answered_by_action();
    tokio::select! {
        result = deploy(run, settings, clients, account, package, configuration_diff, &progress) => result,
        () = run.cancel.cancelled() => Err(cancelled(&lambda, function, &progress).await),
    }
}

/// SIGTERM: the error that says what was done; during a traffic shift the alias goes back to
/// the old version first.
async fn cancelled(lambda: &aws_sdk_lambda::Client, function: &str, progress: &RefCell<Progress<'_>>) -> Error {
    let under_way = progress.borrow().shift_under_way();
    let Some(state) = under_way else {
        return progress.borrow().cancelled();
    };
    let said = shift::roll_back(lambda, function, &state, Instant::now() + shift::CANCEL_ROLLBACK).await;
    progress.borrow_mut().rolled_back(said.is_ok());
    let error = progress.borrow().cancelled();
    error.with_details(vec![said.unwrap_or_else(|problem| problem)])
}

/// Step 5: `alias` (as it is now: `current`) to `version`, all at once or step by step as
/// `TRAFFIC_SHIFT` says (an alias created now is created whole). Returns the alias ARN.
async fn point_alias(
    settings: &LambdaSettings,
    clients: &Clients,
    alias: &str,
    version: &str,
    current: Option<Alias>,
    deadline: Instant,
    done: &RefCell<Progress<'_>>,
) -> Result<String, Error> {
    let lambda = clients.lambda();
    match current {
        Some(current) if settings.traffic_shift.is_gradual() => {
            let watch = (!settings.alarms.is_empty()).then(|| watch(settings, clients, deadline));
            shift::shift(&lambda, settings, version, current, watch.as_ref(), deadline, done).await
        }
        current => {
            release::move_alias(
                &lambda,
                &settings.function,
                alias,
                version,
                current,
                settings.clear_alias_weights,
                deadline,
            )
            .await
        }
    }
}

/// The changes, in order, each recorded in `done` as it is made.
async fn deploy(
    run: &RunContext,
    settings: &LambdaSettings,
    clients: &Clients,
    account: &str,
    package: Option<package::Package>,
    configuration_diff: Option<Vec<String>>,
    done: &RefCell<Progress<'_>>,
) -> Result<LambdaOutcome, Error> {
    let deadline = run.deadline;
    let lambda = clients.lambda();
    let function = settings.function.as_str();

    // 1. Ready?
    done.borrow_mut()
        .now("waiting until the function is ready (nothing changed yet)");
    let scale = run.pace_scale;
    let mut state = wait_ready(&lambda, function, deadline, scale, Waiting::BeforeUpdating).await?;

    // 2. Configuration, before the code: new code never runs with the old environment.
    let mut configuration_changed = false;
    if let (Some((path, wanted)), Some(lines)) = (&settings.configuration, &configuration_diff) {
        if lines.is_empty() {
            info!("The configuration in {} is already in place", path.display());
        } else {
            done.borrow_mut()
                .now("UpdateFunctionConfiguration, then the wait for it");
            configuration::update(&lambda, function, wanted, &state, deadline)
                .await
                .map_err(|error| done.borrow().failed(error))?;
            done.borrow_mut()
                .configuration_changed("$LATEST has the new configuration");
            state = wait_ready(
                &lambda,
                function,
                deadline,
                scale,
                Waiting::After("the configuration update"),
            )
            .await
            .map_err(|error| done.borrow().failed(error))?;
            info!("Configuration updated from {}", path.display());
            configuration_changed = true;
        }
    }

    // 3. Code.
    let mut code_changed = false;
    match (&settings.code, package) {
        (Some(CodeSource::Zip { .. }), Some(package)) if package.sha256 == state.code_sha256 => {
            info!(
                "The code is unchanged (CodeSha256 {}): skipping the upload",
                package.sha256
            );
        }
        (Some(source), package) => {
            done.borrow_mut()
                .now("UpdateFunctionCode (with the S3 upload, if any), then the wait for it");
            let expected = code::update(clients, account, function, source, package, &state, deadline)
                .await
                .map_err(|error| done.borrow().failed(error))?;
            done.borrow_mut().code_changed("$LATEST has the new code");
            state = wait_ready(&lambda, function, deadline, scale, Waiting::After("the code update"))
                .await
                .map_err(|error| done.borrow().failed(error))?;
            done.borrow_mut().code_sha256.clone_from(&state.code_sha256);
            // Publishing pins what is there now: make sure it is what this pipe uploaded.
            if let Some(expected) = expected.filter(|sha| !sha.is_empty() && *sha != state.code_sha256) {
                return Err(done.borrow().failed(Error::failed(
                    format!(
                        "The code of {function} changed under the pipe (CodeSha256 {} instead of {expected})",
                        state.code_sha256
                    ),
                    vec!["Someone else deployed meanwhile; no version was published. Run the step again.".to_owned()],
                )));
            }
            info!("Code updated: CodeSha256 {}", state.code_sha256);
            code_changed = true;
        }
        (None, _) => {}
    }

    // 4. Publish exactly what was just produced: a concurrent change makes this fail instead
    //    of slipping into the version. Then wait until the version can serve (SnapStart).
    let version = if settings.publish {
        done.borrow_mut()
            .now("PublishVersion, then the wait until the version is Active");
        let version = release::publish(&lambda, function, &state, &settings.version_description, deadline)
            .await
            .map_err(|error| done.borrow().failed(error))?;
        done.borrow_mut().published(&version);
        release::wait_version_active(&lambda, function, &version, deadline, scale)
            .await
            .map_err(|error| done.borrow().failed(error))?;
        Some(version)
    } else {
        None
    };

    // 5. Alias, read again now: it may have moved during the deployment. The one atomic step.
    //    Then, when it has provisioned concurrency, the wait until the new version's is READY.
    let mut provisioned_concurrency = None;
    let alias_arn = match (&settings.alias, &version) {
        (Some(alias), Some(version)) => {
            done.borrow_mut().now("moving the alias");
            let current = release::get_alias(&lambda, function, alias, deadline)
                .await
                .map_err(|error| done.borrow().failed(error))?;
            let from = current.as_ref().map(|current| current.version.clone());
            let arn = point_alias(settings, clients, alias, version, current, deadline, done)
                .await
                .map_err(|error| done.borrow().failed(error))?;
            done.borrow_mut().alias_moved(alias, version);
            done.borrow_mut()
                .now("waiting until the alias's provisioned concurrency is READY");
            let moved = provisioned::MovedAlias {
                function,
                alias,
                version,
                from: from.as_deref(),
            };
            provisioned_concurrency = provisioned::wait_ready(&lambda, &moved, deadline, scale)
                .await
                .map_err(|error| done.borrow().failed(error))?
                .map(|allocation| allocation.to_string());
            Some(arn)
        }
        _ => None,
    };

    Ok(LambdaOutcome {
        action: "lambda-deploy",
        region: run.region.clone(),
        function_arn: state.arn,
        code_sha256: state.code_sha256,
        code_changed,
        configuration_changed,
        version,
        alias_arn,
        provisioned_concurrency,
        deleted_versions: clean_up(settings, &lambda, deadline).await,
        alias_only: false,
        dry_run: false,
        state: "DEPLOYED",
        done: Vec::new(),
        not_done: Vec::new(),
    })
}

/// The package of a `ZIP_FILE`, checked against Lambda's limits before any call: the unzipped
/// size (while zipping a directory) and, when it goes in the request, the encoded request size.
fn build_package(path: &std::path::Path, through_s3: bool) -> Result<package::Package, Error> {
    let package = package::build(path).map_err(|message| Error::bad_input(message, "ZIP_FILE"))?;
    info!(
        "Package {}: {} bytes, CodeSha256 {}",
        path.display(),
        package.bytes.len(),
        package.sha256
    );
    if let Some(problem) = direct_upload_problem(package.bytes.len() as u64).filter(|_| !through_s3) {
        return Err(Error::bad_input(
            format!("{}: {problem}", path.display()),
            "S3_BUCKET and S3_KEY (to upload it to S3 first)",
        ));
    }
    Ok(package)
}

async fn dry_run(
    run: &RunContext,
    settings: &LambdaSettings,
    clients: &Clients,
    current: &FunctionState,
    code_changes: bool,
    configuration_diff: Option<Vec<String>>,
    current_alias: Option<Alias>,
) -> Result<LambdaOutcome, Error> {
    let code = match &settings.code {
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
    if let Some(source) = &settings.code
        && code::dry_run(clients, &settings.function, source, run.deadline).await?
    {
        info!("Dry run: Lambda accepts the code source (UpdateFunctionCode with DryRun)");
    }
    match configuration_diff {
        Some(lines) if lines.is_empty() => info!("Dry run: the configuration is already in place"),
        Some(_) => info!("Dry run: would update the configuration as shown above"),
        None => {}
    }
    if settings.publish {
        info!("Dry run: would publish a version ({})", settings.version_description);
    }
    dry_run_clean_up(settings);
    if let Some(alias) = &settings.alias {
        match current_alias {
            Some(current) if !current.weights.is_empty() => info!(
                "Dry run: would move alias {alias} from version {} to the new version and clear its weights",
                current.version
            ),
            Some(current) if settings.traffic_shift.is_gradual() => info!(
                "Dry run: would shift alias {alias} from version {} to the new version: {}",
                current.version, settings.traffic_shift
            ),
            Some(current) => info!(
                "Dry run: would move alias {alias} from version {} to the new version",
                current.version
            ),
            None => info!("Dry run: would create alias {alias} at the new version"),
        }
    }
    Ok(LambdaOutcome {
        action: "lambda-deploy",
        region: run.region.clone(),
        function_arn: current.arn.clone(),
        code_sha256: current.code_sha256.clone(),
        code_changed: false,
        configuration_changed: false,
        version: None,
        alias_arn: None,
        provisioned_concurrency: None,
        deleted_versions: None,
        alias_only: false,
        dry_run: true,
        state: "DRY_RUN",
        done: Vec::new(),
        not_done: Vec::new(),
    })
}

/// `KEEP_VERSIONS`, after success: the versions deleted, space-separated.
pub(crate) async fn clean_up(
    settings: &LambdaSettings,
    lambda: &aws_sdk_lambda::Client,
    deadline: Instant,
) -> Option<String> {
    let keep = settings.keep_versions?;
    Some(
        cleanup::delete_old_versions(lambda, &settings.function, keep, deadline)
            .await
            .join(" "),
    )
}

pub(crate) fn dry_run_clean_up(settings: &LambdaSettings) {
    if let Some(keep) = settings.keep_versions {
        info!(
            "Dry run: KEEP_VERSIONS would then delete the published versions beyond the newest {keep} that no alias \
             points at and that have no provisioned concurrency"
        );
    }
}

/// The watch of `ALARMS` over this deployment's traffic shift.
fn watch<'a>(settings: &'a LambdaSettings, clients: &Clients, deadline: Instant) -> alarms::Watch<'a> {
    alarms::Watch {
        cloudwatch: clients.cloudwatch(),
        names: &settings.alarms,
        alias: settings.alias.as_deref().unwrap_or_default(),
        scale: settings.shift_time_scale,
        deadline,
    }
}

/// Lambda refuses a change while another is in progress (ResourceConflictException), and
/// throttles: both pass, so such calls go through this wait until the deadline, at an update's
/// pace (the change in the way is one). Not sped up for the tests: a scripted conflict refuses
/// a given number of calls, which the first second-apart tries get through.
fn busy(function: &str, deadline: Instant) -> Wait {
    Wait::new(function.to_owned(), deadline)
        .paced(pace::update(1))
        .through_conflicts()
}
