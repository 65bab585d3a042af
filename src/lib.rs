//! aws-role-deploy: a Bitbucket Pipe that deploys to AWS without long-lived keys.
//!
//! The pipeline, top to bottom: environment (`vars`) → validated `config` → credentials
//! (`auth`) → the chosen action (`actions`) → outcome (`output`).
//!
//! Layers point one way (a test keeps it so): `domain`, `error` and `vars` at the bottom;
//! `config` turns the environment into domain types; `aws` is the one way to call and wait on
//! AWS; `auth` builds the session; `actions` receive their own settings, a `RunContext` and the
//! clients, never the whole configuration or the credentials; this file ties them together.

pub mod actions;
pub mod auth;
pub mod aws;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod insights;
pub mod output;
pub mod vars;

use std::time::{Duration, Instant};

use tracing::info;

use crate::actions::Outcome;
use crate::config::{Action, Config};
use crate::domain::context::Cancellation;
use crate::domain::rollback::RollbackSettings;
use crate::error::Error;

/// How long a run has, after SIGTERM, to give its own answer (what it leaves in flight) before
/// the process ends anyway: a read that never returns must not keep a stopped step alive until
/// Bitbucket's SIGKILL, which leaves no last line at all.
pub const CANCEL_GRACE: Duration = Duration::from_secs(8);

/// Authenticate, run the action, and leave its outcome for later script lines (also when it
/// failed in a way that leaves state behind: what was deployed, how each deployment ended).
/// The outputs of an earlier run are removed by `main` before the variables are validated.
/// `cancel` is the run's one cancellation signal ([`cancel_on_sigterm`]).
pub async fn run(config: &Config, cancel: &Cancellation) -> Result<Outcome, Error> {
    let started = Instant::now();
    let run = config.run_context(started, cancel.clone());
    // `biased`: when the signal comes, the action is polled first, so one that answers SIGTERM
    // itself finishes its answer; the run's own answer covers every other moment.
    let acted = tokio::select! {
        biased;
        acted = act(config, &run) => acted,
        () = cancel.unanswered() => Err(cancelled(config)),
    };
    tokio::select! {
        () = leave_report(config, &run, &acted, started.elapsed()) => {}
        () = cancel.cancelled() => tracing::debug!("Code Insights: the report was abandoned (SIGTERM)"),
    }
    match acted {
        Ok(outcome) => {
            deliver(config, &outcome.to_json())?;
            Ok(outcome)
        }
        Err(Error::WithOutputs { error, outputs }) => {
            if let Err(unwritten) = deliver(config, &outputs) {
                tracing::warn!("{unwritten}");
            }
            Err(*error)
        }
        Err(error) => Err(error),
    }
}

/// `ACTION: trust-policy` in a step: print the AWS setup this step needs. No AWS call, no
/// credentials; the ExternalId, if set, is never written (a placeholder stands for it).
/// Returns the final line's message.
pub fn trust_policy_step(step: &config::onboarding::TrustPolicyStep) -> String {
    let setup = &step.setup;
    for note in setup.notes() {
        info!("{note}");
    }
    let document = domain::onboarding::render(setup, step.format, None);
    output::print_document(&document);
    format!(
        "Generated the identity provider, trust policy{} for {}",
        if setup.actions.is_empty() {
            String::new()
        } else {
            " and permissions".to_owned()
        },
        setup.scope.describe()
    )
}

/// The run's own answer to SIGTERM, while no action follows anything.
fn cancelled(config: &Config) -> Error {
    Error::Cancelled {
        summary: format!("Cancelled (SIGTERM) during {}", config.action.name()),
        details: vec![
            "Stopped before the action had anything in flight that it follows: what it did so far, if anything, \
             is in the lines above."
                .to_owned(),
        ],
    }
}

/// Watch for SIGTERM on a thread of its own, so the signal is seen whatever the run's thread is
/// blocked in: it fires the returned cancellation; if the run has not printed its last line
/// [`CANCEL_GRACE`] later, the watcher prints one and ends the process with 143. A pipe runs as
/// PID 1 of its container, where an unhandled SIGTERM is ignored until the SIGKILL that follows:
/// so it is always handled, from the moment this returns.
pub fn cancel_on_sigterm() -> Cancellation {
    use tokio::signal::unix::{SignalKind, signal};
    let cancel = Cancellation::new();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    // Registered here, before returning, so no SIGTERM is missed once the run starts.
    let registered = runtime.and_then(|runtime| {
        let terminate = {
            let _inside = runtime.enter();
            signal(SignalKind::terminate())
        };
        terminate.map(|terminate| (runtime, terminate))
    });
    let (runtime, mut terminate) = match registered {
        Ok(registered) => registered,
        Err(err) => {
            tracing::warn!("SIGTERM cannot be watched ({err}): a stopped step ends without a last line");
            return cancel;
        }
    };
    let watched = cancel.clone();
    let started = std::thread::Builder::new().name("sigterm".to_owned()).spawn(move || {
        runtime.block_on(async {
            terminate.recv().await;
            watched.cancel();
            tokio::time::sleep(CANCEL_GRACE).await;
        });
        if watched.claim_last_line() {
            output::failure(&Error::Cancelled {
                summary: format!(
                    "Cancelled (SIGTERM): the run did not stop within {} s (a read or a call that does not end), \
                     so the process ends here",
                    CANCEL_GRACE.as_secs()
                ),
                details: vec!["What it did so far, if anything, is in the lines above.".to_owned()],
            });
            std::process::exit(143);
        }
    });
    if let Err(err) = started {
        tracing::warn!("SIGTERM cannot be watched ({err}): a stopped step ends without a last line");
    }
    cancel
}

async fn act(config: &Config, run: &domain::context::RunContext) -> Result<Outcome, Error> {
    let session = auth::establish(
        &config.auth,
        &config.region,
        &config.network,
        config.wait_horizon(),
        run.deadline,
    )
    .await?;
    let outcome = match &config.action {
        Action::AssumeRole => {
            // What the admitted token would need from a generated trust policy (the doctor's
            // comparison, on success): shows which narrower scope would still admit it.
            for line in auth::explain::admitted(&config.auth) {
                tracing::debug!("{line}");
            }
            Outcome::AssumeRole(actions::assume_role::run(
                run,
                &session.identity,
                config.auth.final_role(),
            ))
        }
        Action::EcsDeploy(settings) => Outcome::EcsDeploy(actions::ecs::run(run, settings, &session.clients).await?),
        Action::LambdaDeploy(settings) => Outcome::LambdaDeploy(
            actions::lambda::run(run, settings, &session.clients, &session.identity.account).await?,
        ),
        Action::EcrPush(settings) => Outcome::EcrPush(actions::ecr::run(run, settings, &session.clients).await?),
        Action::Rollback(settings) => match settings.as_ref() {
            RollbackSettings::Ecs(settings) => {
                Outcome::EcsDeploy(actions::ecs::roll_back(run, settings, &session.clients).await?)
            }
            RollbackSettings::Lambda(rollback) => Outcome::LambdaRollback(
                actions::lambda::roll_back(run, rollback, &session.clients, &session.identity.account).await?,
            ),
        },
    };
    Ok(outcome)
}

/// The run's Code Insights report on its commit (`CODE_INSIGHTS`): what a deployment did, PASSED
/// or FAILED. At most one warning when it cannot be left, never a failed step; outside Bitbucket
/// (no proxy in the hosts file) not even an attempt.
async fn leave_report(
    config: &Config,
    run: &domain::context::RunContext,
    acted: &Result<Outcome, Error>,
    duration: Duration,
) {
    use domain::insights::{Ended, deploy, security};
    use tracing::debug;
    let reported = match &config.action {
        Action::AssumeRole => false,
        Action::EcrPush(settings) => settings.scan_fail_on.is_some(),
        Action::EcsDeploy(_) | Action::LambdaDeploy(_) | Action::Rollback(_) => true,
    };
    if !config.insights.enabled || !reported {
        return;
    }
    if config.dry_run {
        debug!("Code Insights: no report for a dry run (it would replace the deployment's report)");
        return;
    }
    let headline;
    let json;
    let (ended, outputs) = match acted {
        Ok(outcome) => {
            headline = outcome.to_string();
            json = outcome.to_json();
            (Ended::Succeeded { headline: &headline }, Some(&json))
        }
        Err(Error::Cancelled { .. }) => return,
        Err(Error::WithOutputs { error, .. }) if matches!(**error, Error::Cancelled { .. }) => return,
        Err(Error::WithOutputs { error, outputs }) => {
            headline = error.to_string();
            (Ended::Failed { summary: &headline }, Some(outputs))
        }
        Err(error) => {
            headline = error.to_string();
            (Ended::Failed { summary: &headline }, None)
        }
    };
    let facts = domain::insights::Run {
        region: &run.region,
        partition: run.partition,
        duration,
        ended,
        outputs,
    };
    let report = match &config.action {
        Action::EcsDeploy(settings) => deploy::ecs(settings, &facts),
        Action::LambdaDeploy(settings) => deploy::lambda(settings, &facts),
        Action::EcrPush(settings) => {
            let scans = run.scans.recorded();
            match settings.scan_fail_on {
                // A push that passed its gate has its scans; without them there is nothing to say.
                Some(_) if scans.is_empty() && acted.is_ok() => return,
                Some(threshold) => security::security(settings, threshold, &facts, &scans),
                None => return,
            }
        }
        // A rollback replaces the deployment's report (same id), titled as a rollback.
        Action::Rollback(settings) => match settings.as_ref() {
            RollbackSettings::Ecs(settings) => deploy::ecs_rollback(settings, &facts),
            RollbackSettings::Lambda(rollback) => {
                deploy::lambda_rollback(&rollback.alias_move(rollback.version.clone()), &facts)
            }
        },
        Action::AssumeRole => return,
    };
    let context = &config.context;
    let (Some(workspace), Some(repo_slug), Some(commit)) = (&context.workspace, &context.repo_slug, &context.commit)
    else {
        debug!("Code Insights: no report (BITBUCKET_WORKSPACE, BITBUCKET_REPO_SLUG or BITBUCKET_COMMIT is not set)");
        return;
    };
    let commit = domain::insights::Commit {
        workspace: workspace.clone(),
        repo_slug: repo_slug.clone(),
        commit: commit.clone(),
    };
    let hosts = std::path::Path::new(insights::proxy::HOSTS_FILE);
    match insights::find_proxy(hosts, config.insights.test_proxy) {
        insights::Proxy::Absent(why) => debug!("Code Insights: no report ({why})"),
        insights::Proxy::At(proxy) => match insights::leave(proxy, &commit, &report).await {
            Ok(left) => info!(
                "Code Insights: report {} ({}{}) left on commit {}",
                report.id,
                report.result.as_str(),
                match (left.annotations, report.annotations_left_out()) {
                    (0, _) => String::new(),
                    (sent, 0) => format!(", {sent} annotations"),
                    (sent, more) => format!(", {sent} annotations; {more} more findings do not fit in a report"),
                },
                commit.commit.get(..12).unwrap_or(&commit.commit)
            ),
            Err(err) => tracing::warn!(
                "Code Insights: no report left on the commit: {err}. The step's result does not depend on it \
                 (CODE_INSIGHTS: \"false\" stops trying)"
            ),
        },
    }
}

fn deliver(config: &Config, outputs: &serde_json::Value) -> Result<(), Error> {
    let Some(dir) = &config.context.pipe_shared_storage_dir else {
        info!("BITBUCKET_PIPE_SHARED_STORAGE_DIR is not set: no outputs files written");
        return Ok(());
    };
    let (env_path, json_path) = output::write_outputs(dir, config.context.clone_dir.as_deref(), outputs)?;
    info!(
        "Outputs for later script lines: {} (source it) and {}",
        env_path.display(),
        json_path.display()
    );
    Ok(())
}
