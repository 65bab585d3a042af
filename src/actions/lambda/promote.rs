//! `lambda-deploy` with `VERSION` and `ALIAS` only: move the alias to a version published
//! earlier, and change nothing else (Atlassian's `COMMAND: alias`). The version is read first:
//! one that does not exist is bad input, before any change. With a gradual `TRAFFIC_SHIFT` the
//! alias is shifted to it step by step, as after a deployment (a canary of a version published
//! by an earlier step, e.g. in staging, is the usual promotion to production).

use std::cell::RefCell;

use tracing::info;

use super::LambdaOutcome;
use super::function::FunctionState;
use super::progress::Progress;
use super::provisioned::{self, MovedAlias};
use super::release::{self, Alias};
use crate::aws::{self, Clients};
use crate::domain::context::RunContext;
use crate::domain::lambda::LambdaSettings;
use crate::error::Error;

/// Read `version` of `function`: it must be published (not `$LATEST`), and it is waited for
/// while Pending. Its absence is bad input (`variable`).
pub(crate) async fn check_version_exists(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    version: &str,
    variable: &str,
) -> Result<(), Error> {
    let request = lambda
        .get_function_configuration()
        .function_name(function)
        .qualifier(version);
    match aws::call("lambda:GetFunctionConfiguration", request.send()).await {
        Ok(_) => Ok(()),
        Err(failure) if failure.code_is("ResourceNotFoundException") => Err(Error::bad_input(
            format!("Version {version} of {function} does not exist ({failure}); nothing was changed"),
            variable,
        )),
        Err(failure) => Err(failure.into_error()),
    }
}

pub(super) async fn run(
    run: &RunContext,
    settings: &LambdaSettings,
    clients: &Clients,
    current: &FunctionState,
    version: &str,
    current_alias: Option<Alias>,
) -> Result<LambdaOutcome, Error> {
    let lambda = &clients.lambda();
    let function = settings.function.as_str();
    let Some(alias) = settings.alias.as_deref() else {
        return Err(Error::bad_input("VERSION needs ALIAS", "ALIAS"));
    };
    check_version_exists(lambda, function, version, "VERSION").await?;
    let from = current_alias.as_ref().map(|alias| alias.version.clone());
    // Before any change (a dry run too): the two versions must be able to share the alias.
    if let Some(from) = from.as_deref().filter(|from| *from != version && *from != "$LATEST")
        && settings.traffic_shift.is_gradual()
    {
        super::pairing::check_versions(lambda, settings, from, version).await?;
    }
    if run.dry_run {
        match &from {
            Some(from) if settings.traffic_shift.is_gradual() && from != version => info!(
                "Dry run: would shift alias {alias} from version {from} to version {version}: {}",
                settings.traffic_shift
            ),
            Some(from) => info!("Dry run: would move alias {alias} from version {from} to version {version}"),
            None => info!("Dry run: would create alias {alias} at version {version}"),
        }
        super::dry_run_clean_up(settings);
        return Ok(outcome(run, current, settings, None, None, true));
    }

    let progress = RefCell::new(Progress::new(run, settings, current, current_alias.as_ref()));
    run.cancel.answered_by_action();
    let deadline = run.deadline;
    let moving = async {
        progress.borrow_mut().now("waiting until the version is Active");
        release::wait_version_active(lambda, function, version, deadline, run.pace_scale).await?;
        progress.borrow_mut().now("moving the alias");
        let arn = super::point_alias(settings, clients, alias, version, current_alias, deadline, &progress)
            .await
            .map_err(|error| progress.borrow().failed(error))?;
        progress.borrow_mut().alias_moved(alias, version);
        progress
            .borrow_mut()
            .now("waiting until the alias's provisioned concurrency is READY");
        let moved = MovedAlias {
            function,
            alias,
            version,
            from: from.as_deref(),
        };
        let allocation = provisioned::wait_ready(lambda, &moved, deadline, run.pace_scale)
            .await
            .map_err(|error| progress.borrow().failed(error))?;
        let mut done = outcome(
            run,
            current,
            settings,
            Some(arn),
            allocation.map(|allocation| allocation.to_string()),
            false,
        );
        done.deleted_versions = super::clean_up(settings, lambda, deadline).await;
        Ok(done)
    };
    tokio::select! {
        result = moving => result,
        () = run.cancel.cancelled() => Err(super::cancelled(lambda, function, &progress).await),
    }
}

fn outcome(
    run: &RunContext,
    current: &FunctionState,
    settings: &LambdaSettings,
    alias_arn: Option<String>,
    provisioned_concurrency: Option<String>,
    dry_run: bool,
) -> LambdaOutcome {
    LambdaOutcome {
        action: "lambda-deploy",
        region: run.region.clone(),
        function_arn: current.arn.clone(),
        code_sha256: current.code_sha256.clone(),
        code_changed: false,
        configuration_changed: false,
        version: (!dry_run).then(|| settings.version.clone()).flatten(),
        alias_arn,
        provisioned_concurrency,
        deleted_versions: None,
        alias_only: true,
        dry_run,
        state: if dry_run { "DRY_RUN" } else { "DEPLOYED" },
        done: Vec::new(),
        not_done: Vec::new(),
    }
}
