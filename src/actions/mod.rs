//! One module per action. Each returns an outcome that is `Display` (the final `✔` line) and
//! `Serialize` (the outputs files).

pub mod assume_role;
pub mod diff;
pub mod ecr;
pub mod ecs;
pub mod lambda;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    AssumeRole(assume_role::AssumeRoleOutcome),
    EcsDeploy(ecs::EcsOutcome),
    LambdaDeploy(lambda::LambdaOutcome),
    EcrPush(ecr::EcrOutcome),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::AssumeRole(outcome) => outcome.fmt(f),
            Outcome::EcsDeploy(outcome) => outcome.fmt(f),
            Outcome::LambdaDeploy(outcome) => outcome.fmt(f),
            Outcome::EcrPush(outcome) => outcome.fmt(f),
        }
    }
}

impl Outcome {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// Set by an action once it answers SIGTERM itself (saying what it leaves behind); until then
/// `lib.rs` answers it for the whole run.
static SIGTERM_HANDLED: AtomicBool = AtomicBool::new(false);

/// SIGTERM from here on is the action's to answer.
pub(crate) fn handling_sigterm() {
    SIGTERM_HANDLED.store(true, Ordering::SeqCst);
}

/// SIGTERM while no action answers it itself (authenticating, reading what AWS has, the steps
/// before an action starts watching). A pipe runs as PID 1 of its container, where an
/// unhandled SIGTERM is ignored until the SIGKILL that follows it: so it is always handled.
pub async fn terminated_unhandled() {
    let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
        return std::future::pending().await;
    };
    while signal.recv().await.is_some() {
        if !SIGTERM_HANDLED.load(Ordering::SeqCst) {
            return;
        }
    }
    std::future::pending().await
}

/// SIGTERM: Bitbucket stops a step at its time limit, and on a manual stop. Never resolves
/// where the signal cannot be watched.
pub(crate) async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}
