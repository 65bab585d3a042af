//! One error type for the whole pipe. Each variant decides its exit code, so `main` needs no
//! knowledge of where a failure came from.

use std::fmt;

/// A problem with one variable, reported together with all the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub variable: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad variables: every problem found, reported at once. Exit 2.
    #[error("Validation errors")]
    Validation(Vec<Problem>),
    /// Bad input found after validation (a file, a name AWS does not know). Exit 2.
    #[error("{summary}")]
    BadInput { summary: String, details: Vec<String> },
    /// AWS refused who we are, or the account is not allowed. Exit 3.
    #[error("{summary}")]
    Auth { summary: String, details: Vec<String> },
    /// The deployment failed, timed out, or AWS failed in a way that is not the user's input. Exit 1.
    #[error("{summary}")]
    Failed { summary: String, details: Vec<String> },
    /// The action finished but its results could not be written for later script lines. Exit 1.
    #[error("The action succeeded, but its outputs could not be written: {0}")]
    Outputs(String),
    /// The step was cancelled (SIGTERM: Bitbucket's time limit, or a manual stop). Exit 143,
    /// as for a process ended by SIGTERM.
    #[error("{summary}")]
    Cancelled { summary: String, details: Vec<String> },
    /// A failure that leaves state later script lines can act on (what was deployed, how each
    /// deployment ended): the outputs files are written, then `error` is reported.
    #[error("{error}")]
    WithOutputs {
        error: Box<Error>,
        outputs: serde_json::Value,
    },
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Failed { .. } | Error::Outputs(_) => 1,
            Error::Validation(_) | Error::BadInput { .. } => 2,
            Error::Auth { .. } => 3,
            Error::Cancelled { .. } => 143,
            Error::WithOutputs { error, .. } => error.exit_code(),
        }
    }

    /// Lines printed before the `✖` headline: explanations and hints.
    pub fn details(&self) -> &[String] {
        match self {
            Error::BadInput { details, .. }
            | Error::Auth { details, .. }
            | Error::Failed { details, .. }
            | Error::Cancelled { details, .. } => details,
            Error::WithOutputs { error, .. } => error.details(),
            Error::Validation(_) | Error::Outputs(_) => &[],
        }
    }

    /// Bad input found in AWS (a name it does not know), with the variable to change.
    pub fn bad_input(summary: impl fmt::Display, variable: &str) -> Self {
        Error::BadInput {
            summary: summary.to_string(),
            details: vec![format!("Check {variable}.")],
        }
    }

    /// Add lines (what was already done, say) to the explanation.
    pub fn with_details(mut self, more: impl IntoIterator<Item = String>) -> Self {
        match &mut self {
            Error::BadInput { details, .. }
            | Error::Auth { details, .. }
            | Error::Failed { details, .. }
            | Error::Cancelled { details, .. } => details.extend(more),
            Error::WithOutputs { error, .. } => {
                let inner = std::mem::replace(error.as_mut(), Error::Outputs(String::new()));
                **error = inner.with_details(more);
            }
            Error::Validation(_) | Error::Outputs(_) => {}
        }
        self
    }

    pub fn auth(summary: impl fmt::Display, details: Vec<String>) -> Self {
        Error::Auth {
            summary: summary.to_string(),
            details,
        }
    }

    pub fn failed(summary: impl fmt::Display, details: Vec<String>) -> Self {
        Error::Failed {
            summary: summary.to_string(),
            details,
        }
    }
}
