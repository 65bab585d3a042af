//! How the pipe obtains the session it acts with: where the first credentials come from (the
//! step's token or legacy keys), the role chained on top, and what the session is called.

use std::time::{Duration, SystemTime};

use crate::domain::arn::RoleArn;
use crate::domain::secret::Secret;
use crate::domain::token::TokenClaims;

/// Where the first credentials come from.
#[derive(Debug, Clone)]
pub enum CredentialSource {
    WebIdentity {
        role: RoleArn,
        token: Secret,
        claims: TokenClaims,
    },
    AccessKeys {
        access_key_id: String,
        secret_access_key: Secret,
        session_token: Option<Secret>,
    },
}

/// A role assumed on top of the first credentials.
#[derive(Debug, Clone)]
pub struct ChainedRole {
    pub role: RoleArn,
    pub external_id: Option<Secret>,
}

/// Everything needed to obtain the session the action runs with.
#[derive(Debug, Clone)]
pub struct AuthPlan {
    pub source: CredentialSource,
    pub chained: Option<ChainedRole>,
    pub session_name: String,
    /// Tags for the `AssumeRole` hop; empty when disabled or without context.
    pub session_tags: Vec<(String, String)>,
    /// `AWS_SESSION_TAGS: "true"` set explicitly: a role that refuses tags is an error. By
    /// default the pipe assumes such a role untagged, with a warning.
    pub session_tags_required: bool,
    /// Lifetime of the final session.
    pub duration: Duration,
    /// The user chose `duration`; otherwise the pipe may ask for longer to cover a wait.
    pub duration_explicit: bool,
    /// `ALLOWED_ACCOUNT_IDS`: the accounts the pipe may act in; empty allows any.
    pub allowed_account_ids: Vec<String>,
}

impl AuthPlan {
    /// AWS caps sessions of a role assumed with role credentials at one hour.
    pub fn is_role_chaining(&self) -> bool {
        self.chained.is_some() && matches!(self.source, CredentialSource::WebIdentity { .. })
    }

    /// The role the pipe ends up acting as; none for plain access keys.
    pub fn final_role(&self) -> Option<&RoleArn> {
        match (&self.chained, &self.source) {
            (Some(chained), _) => Some(&chained.role),
            (None, CredentialSource::WebIdentity { role, .. }) => Some(role),
            (None, CredentialSource::AccessKeys { .. }) => None,
        }
    }
}

/// Who the pipe acts as: the assumed-role user STS named, or for plain keys what
/// `sts:GetCallerIdentity` answered.
#[derive(Debug, Clone)]
pub struct Identity {
    pub arn: String,
    pub account: String,
    pub session_name: String,
    /// `None` for long-lived keys.
    pub expiration: Option<SystemTime>,
}
