//! `ecr:GetAuthorizationToken`: the registry's address and its Basic credentials, as secrets, and
//! the registry client made from them.

use std::time::Instant;

use base64::Engine as _;
use tracing::info;

use super::registry::Registry;
use crate::aws::{self, AwsFailure, Clients};
use crate::domain::context::RunContext;
use crate::domain::ecr::{EcrSettings, RegistryEndpoint, split_basic_credentials};
use crate::domain::secret::Secret;
use crate::error::Error;

pub(super) async fn login(run: &RunContext, settings: &EcrSettings, clients: &Clients) -> Result<Registry, Error> {
    Ok(login_with_password(run, settings, clients).await?.0)
}

/// `GetAuthorizationToken`: the registry's address and its Basic credentials, as secrets.
/// `registryIds` is deprecated as a scope (one token serves every registry the role may use),
/// but it still decides which registry's address `proxyEndpoint` names: `REGISTRY_ID`'s.
#[allow(deprecated)]
pub(super) async fn login_with_password(
    run: &RunContext,
    settings: &EcrSettings,
    clients: &Clients,
) -> Result<(Registry, Secret), Error> {
    let registry_id = settings.registry_id.as_deref();
    let output = aws::call(
        "ecr:GetAuthorizationToken",
        clients
            .ecr()
            .get_authorization_token()
            .set_registry_ids(registry_id.map(|id| vec![id.to_owned()]))
            .send(),
    )
    .await
    .map_err(AwsFailure::into_error)?;
    let data = output.authorization_data().first();
    let (Some(token), Some(endpoint)) = (
        data.and_then(|data| data.authorization_token()),
        data.and_then(|data| data.proxy_endpoint()),
    ) else {
        return Err(Error::failed("ecr:GetAuthorizationToken returned no token", vec![]));
    };
    let token = Secret::new(token);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.expose())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .map(Secret::new);
    let password = decoded
        .as_ref()
        .and_then(|decoded| split_basic_credentials(decoded.expose()))
        .map(|(_, password)| Secret::new(password))
        .ok_or_else(|| {
            Error::failed(
                "ecr:GetAuthorizationToken returned a token that is not AWS:<password>",
                vec![],
            )
        })?;
    let expires = data
        .and_then(|data| data.expires_at())
        .and_then(|at| at.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
        .unwrap_or_else(|| "in 12 hours".to_owned());
    let endpoint = RegistryEndpoint::parse(endpoint).map_err(|message| {
        Error::failed(
            format!("ecr:GetAuthorizationToken returned an unusable registry: {message}"),
            vec![],
        )
    })?;
    info!("Logged in to {} (the token expires {expires})", endpoint.host);
    let deadline: Instant = run.deadline;
    Ok((
        Registry::new(endpoint, &token, settings.idle_timeout, deadline)?,
        password,
    ))
}
