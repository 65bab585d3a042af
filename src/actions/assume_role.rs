//! `ACTION=assume-role`: prove that the pipe can act as the role, and say as whom. Users run it
//! as a smoke step for their OIDC setup. It exports no credentials, by design.

use std::fmt;

use serde::Serialize;

use crate::domain::arn::{RoleArn, console_host};
use crate::domain::auth_plan::Identity;
use crate::domain::context::RunContext;
use crate::domain::time::format_time;

#[derive(Debug, Serialize)]
pub struct AssumeRoleOutcome {
    pub action: &'static str,
    pub region: String,
    pub account: String,
    pub caller_arn: String,
    pub session_name: String,
    /// RFC 3339; absent for long-lived keys.
    pub session_expiration: Option<String>,
    /// The role the pipe ended up acting as, and where to look at it in the console.
    pub role_arn: Option<String>,
    pub role_console_url: Option<String>,
}

/// `role`: the role the pipe ended up acting as (none for plain access keys).
pub fn run(run: &RunContext, identity: &Identity, role: Option<&RoleArn>) -> AssumeRoleOutcome {
    let role_console_url = role.map(|role| {
        format!(
            "https://{}/iam/home#/roles/details/{}",
            console_host(&role.partition),
            role.name
        )
    });
    AssumeRoleOutcome {
        action: "assume-role",
        region: run.region.clone(),
        account: identity.account.clone(),
        caller_arn: identity.arn.clone(),
        session_name: identity.session_name.clone(),
        session_expiration: identity.expiration.map(format_time),
        role_arn: role.map(|role| role.arn.clone()),
        role_console_url,
    }
}

impl fmt::Display for AssumeRoleOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Assumed {} in account {}",
            self.role_arn.as_deref().unwrap_or(&self.caller_arn),
            self.account
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_the_role_else_the_caller() {
        let mut outcome = AssumeRoleOutcome {
            action: "assume-role",
            region: "eu-west-1".into(),
            account: "111111111111".into(),
            caller_arn: "arn:aws:iam::111111111111:user/ci".into(),
            session_name: "s".into(),
            session_expiration: None,
            role_arn: None,
            role_console_url: None,
        };
        assert_eq!(
            outcome.to_string(),
            "Assumed arn:aws:iam::111111111111:user/ci in account 111111111111"
        );
        outcome.role_arn = Some("arn:aws:iam::111111111111:role/deploy".into());
        assert_eq!(
            outcome.to_string(),
            "Assumed arn:aws:iam::111111111111:role/deploy in account 111111111111"
        );
    }
}
