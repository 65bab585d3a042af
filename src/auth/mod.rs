//! Credentials: the step's OIDC token (or legacy keys) → optionally a chained role → a session
//! the action runs with, refreshed before it expires, and checked against `ALLOWED_ACCOUNT_IDS`.
//!
//! This is the only layer that sees the credentials. Actions get `Session::clients`, whose
//! provider is the `RoleChain`, and the confirmed `Identity`.

mod chain;
pub mod explain;

use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::provider::SharedCredentialsProvider;
use tracing::{debug, info, warn};

pub use self::chain::{RoleChain, web_identity_duration};
use crate::aws::{self, Clients};
use crate::domain::auth_plan::{AuthPlan, CredentialSource, Identity};
use crate::domain::network::Network;
use crate::domain::sts::masked_key_id;
use crate::domain::time::{format_time, human, relative};
use crate::error::Error;

/// An authenticated session: the clients every AWS call of the action goes through, and who
/// they act as. `run` hands actions the clients and the identity, never the chain.
pub struct Session {
    pub clients: Clients,
    pub identity: Identity,
    /// The credentials provider inside `clients`.
    pub chain: RoleChain,
}

/// Obtain the session, confirm who it is, and refuse accounts outside `ALLOWED_ACCOUNT_IDS`
/// before the action changes anything. `wait_horizon`: how long the action may wait, which
/// the session must outlast; `deadline`: when retries of STS stop.
pub async fn establish(
    plan: &AuthPlan,
    region: &str,
    network: &Network,
    wait_horizon: Option<Duration>,
    deadline: Instant,
) -> Result<Session, Error> {
    let sts_endpoint = network.sts_endpoint(region);
    let unsigned = Clients::new(region, network, None);
    let chain = RoleChain::new(plan, unsigned.clone(), sts_endpoint.clone(), wait_horizon, deadline);
    describe_plan(plan, wait_horizon);
    // The final role's ARN names its account: refuse before a single call when it is not allowed.
    if let Some(role) = plan.final_role() {
        check_account(plan, &role.account, &role.arn)?;
    }
    let credentials = chain.current().await?;
    let clients = unsigned.signed_with(SharedCredentialsProvider::new(chain.clone()));
    // A role's session names itself (STS's AssumedRoleUser, in the role's account): asking
    // GetCallerIdentity as well would cost every run a round trip to STS for nothing.
    let identity = match (chain.assumed_role_arn().await, plan.final_role()) {
        (Some(arn), Some(role)) => Identity {
            arn,
            account: role.account.clone(),
            session_name: plan.session_name.clone(),
            expiration: credentials.expiry(),
        },
        _ => caller_identity(plan, &clients, &sts_endpoint, credentials.expiry()).await?,
    };
    announce(&identity);
    check_account(plan, &identity.account, &identity.arn)?;
    Ok(Session {
        clients,
        identity,
        chain,
    })
}

fn describe_plan(plan: &AuthPlan, wait_horizon: Option<Duration>) {
    let mut hops = match &plan.source {
        CredentialSource::WebIdentity { role, claims, .. } => {
            debug!(
                "OIDC token claims (decoded, not verified): {}",
                explain::claims_summary(claims)
            );
            if let (Some(horizon), Some(token_expiry)) = (wait_horizon, claims.expiry())
                && token_expiry < SystemTime::now() + horizon
            {
                warn!(
                    "WAIT_TIMEOUT ({}) reaches past the expiry of the step's OIDC token ({}, {}). After that \
                     the AWS session can no longer be renewed, and the wait can outlast the token only by what \
                     is left of the session. Lower WAIT_TIMEOUT or run this pipe earlier in the step.",
                    human(horizon),
                    format_time(token_expiry),
                    relative(token_expiry)
                );
            }
            format!("the step's OIDC token → {}", role.arn)
        }
        CredentialSource::AccessKeys { access_key_id, .. } => format!("access key {}", masked_key_id(access_key_id)),
    };
    if let Some(chained) = &plan.chained {
        hops.push_str(&format!(" → {}", chained.role.arn));
        if chained.external_id.is_some() {
            hops.push_str(" (with ExternalId)");
        }
    }
    info!("Authenticating: {hops}; session name {}", plan.session_name);
    if !plan.session_tags.is_empty() {
        let tags: Vec<String> = plan
            .session_tags
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        debug!("Session tags: {}", tags.join(", "));
    }
}

async fn caller_identity(
    plan: &AuthPlan,
    clients: &Clients,
    sts_endpoint: &str,
    expiration: Option<SystemTime>,
) -> Result<Identity, Error> {
    let output = aws::call("sts:GetCallerIdentity", clients.sts().get_caller_identity().send())
        .await
        .map_err(|failure| explain::caller_identity_refused(failure, plan, sts_endpoint))?;
    Ok(Identity {
        arn: output.arn.unwrap_or_default(),
        account: output.account.unwrap_or_default(),
        session_name: plan.session_name.clone(),
        expiration,
    })
}

fn announce(identity: &Identity) {
    let expiry = match identity.expiration {
        Some(time) => format!("session expires {} ({})", format_time(time), relative(time)),
        None => "long-lived access keys, no expiry".to_owned(),
    };
    info!(
        "Authenticated as {} in account {}; {expiry}",
        identity.arn, identity.account
    );
}

fn check_account(plan: &AuthPlan, account: &str, who: &str) -> Result<(), Error> {
    let allowed = &plan.allowed_account_ids;
    if allowed.is_empty() || allowed.iter().any(|id| id == account) {
        return Ok(());
    }
    Err(Error::auth(
        format!(
            "Account {account} is not allowed: ALLOWED_ACCOUNT_IDS is {}",
            allowed.join(" ")
        ),
        vec![format!(
            "The pipe would act as {who} and stopped before changing anything. Check the role ARNs \
             (AWS_OIDC_ROLE_ARN, AWS_ROLE_ARN) or add the account to ALLOWED_ACCOUNT_IDS."
        )],
    ))
}
