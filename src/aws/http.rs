//! The one HTTP client every AWS SDK client of a run shares: the SDK's default stack (hyper 1.x,
//! rustls with aws-lc, `HTTPS_PROXY`/`NO_PROXY` from the environment), built once per run
//! instead of once per SDK client, and with its TLS set-up left to the first request.
//!
//! Why: each `aws_sdk_*::Client::from_conf` without an HTTP client of its own creates a new
//! default client (its own connection pool), and validating that client builds a TLS connector
//! only to drop it: a parse of every root certificate of the CA bundle, before the first request
//! and again for each client (profiled with callgrind: more instructions than everything else the
//! pipe does before its first request). Shared, the connector is built on the first request that
//! needs it, once per run, and one pool serves every client.

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::shared::IntoShared;

/// The HTTP client for every SDK client of the run. The same connector the SDK's
/// `default_https_client` builds for a current behavior version: rustls on aws-lc, the SDK's
/// timeouts and sleep, and the proxy settings of the environment.
pub(super) fn shared_client() -> SharedHttpClient {
    let client = Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    });
    BuiltOnFirstRequest(client).into_shared()
}

/// Leaves out the validation step that builds a connector at client construction (the trait's
/// default does nothing): the connector is built, and kept, by the first request.
#[derive(Debug)]
struct BuiltOnFirstRequest(SharedHttpClient);

impl HttpClient for BuiltOnFirstRequest {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}
