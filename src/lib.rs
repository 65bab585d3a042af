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
pub mod output;
pub mod vars;

use std::time::Instant;

use tracing::info;

use crate::actions::Outcome;
use crate::config::{Action, Config};
use crate::error::Error;

/// Authenticate, run the action, and leave its outcome for later script lines (also when it
/// failed in a way that leaves state behind: what was deployed, how each deployment ended).
/// The outputs of an earlier run are removed by `main` before the variables are validated.
pub async fn run(config: &Config) -> Result<Outcome, Error> {
    // `biased`: when the signal comes, the action is polled first, so one that answers SIGTERM
    // itself finishes its answer; the run's own answer covers every other moment.
    let acted = tokio::select! {
        biased;
        acted = act(config) => acted,
        () = actions::terminated_unhandled() => Err(Error::Cancelled {
            summary: format!("Cancelled (SIGTERM) during {}", config.action.name()),
            details: vec![
                "Stopped before the action had anything in flight that it follows: what it did so far, if anything, \
                 is in the lines above."
                    .to_owned(),
            ],
        }),
    };
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

async fn act(config: &Config) -> Result<Outcome, Error> {
    let run = config.run_context(Instant::now());
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
                &run,
                &session.identity,
                config.auth.final_role(),
            ))
        }
        Action::EcsDeploy(settings) => Outcome::EcsDeploy(actions::ecs::run(&run, settings, &session.clients).await?),
        Action::LambdaDeploy(settings) => {
            Outcome::LambdaDeploy(actions::lambda::run(&run, settings, &session.clients).await?)
        }
        Action::EcrPush(settings) => Outcome::EcrPush(actions::ecr::run(&run, settings, &session.clients).await?),
    };
    Ok(outcome)
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
