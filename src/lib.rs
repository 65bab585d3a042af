//! aws-role-deploy: a Bitbucket Pipe that deploys to AWS without long-lived keys.
//!
//! The pipeline, top to bottom: environment (`vars`) → validated `config` → credentials
//! (`auth`) → the chosen action (`actions`) → outcome (`output`).

pub mod actions;
pub mod auth;
pub mod aws;
pub mod config;
pub mod error;
pub mod output;
pub mod secret;
pub mod template;
pub mod vars;

use tracing::info;

use crate::actions::Outcome;
use crate::config::{Action, Config};
use crate::error::Error;

/// Authenticate, run the action, and leave its outcome for later script lines.
pub async fn run(config: &Config) -> Result<Outcome, Error> {
    let session = auth::establish(config).await?;
    let outcome = match &config.action {
        Action::AssumeRole => Outcome::AssumeRole(actions::assume_role::run(config, &session)),
        Action::EcsDeploy(ecs) => Outcome::EcsDeploy(actions::ecs::run(config, ecs, &session).await?),
        Action::LambdaDeploy(lambda) => Outcome::LambdaDeploy(actions::lambda::run(config, lambda, &session).await?),
    };
    deliver(config, &outcome)?;
    Ok(outcome)
}

fn deliver(config: &Config, outcome: &Outcome) -> Result<(), Error> {
    let Some(dir) = &config.context.pipe_shared_storage_dir else {
        info!("BITBUCKET_PIPE_SHARED_STORAGE_DIR is not set: no outputs files written");
        return Ok(());
    };
    let (env_path, json_path) = output::write_outputs(dir, &outcome.env_pairs(), &outcome.to_json())?;
    info!(
        "Outputs for later script lines: {} (source it) and {}",
        env_path.display(),
        json_path.display()
    );
    Ok(())
}
