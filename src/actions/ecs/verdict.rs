//! How a watched deployment ended, as the rolling judge (`rollout`) and ECS's service deployments
//! (`service_deployment`) both say it. Its own module so that those two need not import each other.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    InProgress,
    Completed,
    /// Our deployment FAILED without ECS going back (no circuit-breaker rollback).
    Failed(String),
    /// The circuit breaker (or someone) put the previous revision back.
    RolledBack(String),
    /// Another deployment with a newer revision took over: not our failure, but not our success.
    Superseded(String),
    TimedOut,
}

impl Verdict {
    pub fn state(&self) -> &'static str {
        match self {
            Verdict::InProgress => "IN_PROGRESS",
            Verdict::Completed => "COMPLETED",
            Verdict::Failed(_) => "FAILED",
            Verdict::RolledBack(_) => "ROLLED_BACK",
            Verdict::Superseded(_) => "SUPERSEDED",
            Verdict::TimedOut => "TIMED_OUT",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::InProgress => f.write_str("still in progress"),
            Verdict::Completed => f.write_str("completed"),
            Verdict::Failed(reason) => write!(f, "failed: {reason}"),
            Verdict::RolledBack(reason) => write!(f, "rolled back: {reason}"),
            Verdict::Superseded(reason) => write!(f, "superseded: {reason}"),
            Verdict::TimedOut => f.write_str("did not complete within WAIT_TIMEOUT"),
        }
    }
}
