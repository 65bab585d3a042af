//! The one HTTP client every SDK client of a run shares: one connection pool, and the TLS
//! roots read once.
//!
//! Left to themselves, the SDK clients each get a default client of their own, and each default
//! client builds its connector twice: once when the SDK client is made
//! (`validate_base_client_config` builds one and throws it away, to read the TLS roots early)
//! and again on its first request. The CA bundle is read once per process, but every build
//! turns its ~140 certificates into a new root store. Callgrind of a one-service ecs-deploy
//! (release build, 2026-12-07): five builds, 13.2 M of the run's 41.7 M instructions, of which
//! 8.9 M the one read of the bundle and ~1.1 M each further build (four for STS and ECS, one
//! for the CodeDeploy client the run never called). Shared, the connector is built once, on the
//! first request, and kept (the HTTP client caches it by its timeouts, which are the same for
//! every client of the run).

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::{RuntimeComponents, RuntimeComponentsBuilder};
use aws_smithy_types::config_bag::ConfigBag;

/// The SDK's default HTTPS client (hyper 1, rustls on aws-lc, proxies from `HTTPS_PROXY` and
/// friends: what `BehaviorVersion::latest()` picks, as aws-smithy-runtime's
/// `default_https_client` builds it), for all the run's SDK clients at once.
pub(super) fn shared() -> SharedHttpClient {
    let client = Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    });
    SharedHttpClient::new(BuiltOnFirstRequest(client))
}

/// The client as it is, except that making an SDK client builds no connector: the first
/// request builds the one the run keeps.
#[derive(Debug)]
struct BuiltOnFirstRequest(SharedHttpClient);

impl HttpClient for BuiltOnFirstRequest {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    /// The default client's check only builds a connector to read the TLS roots early, and
    /// ignores whether that worked (a missing bundle fails the first request either way).
    fn validate_base_client_config(&self, _: &RuntimeComponentsBuilder, _: &ConfigBag) -> Result<(), BoxError> {
        Ok(())
    }

    fn validate_final_config(&self, components: &RuntimeComponents, cfg: &ConfigBag) -> Result<(), BoxError> {
        self.0.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}
