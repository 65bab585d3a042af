//! One module per action. Each returns an outcome that is `Display` (the final `✔` line) and
//! `Serialize` (the outputs files).

pub mod assume_role;
pub mod diff;
pub mod ecr;
pub mod ecs;
pub mod lambda;

use std::fmt;

use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    AssumeRole(assume_role::AssumeRoleOutcome),
    EcsDeploy(ecs::EcsOutcome),
    LambdaDeploy(lambda::LambdaOutcome),
    EcrPush(ecr::EcrOutcome),
    LambdaRollback(lambda::LambdaRollbackOutcome),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::AssumeRole(outcome) => outcome.fmt(f),
            Outcome::EcsDeploy(outcome) => outcome.fmt(f),
            Outcome::LambdaDeploy(outcome) => outcome.fmt(f),
            Outcome::EcrPush(outcome) => outcome.fmt(f),
            Outcome::LambdaRollback(outcome) => outcome.fmt(f),
        }
    }
}

impl Outcome {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}
