//! How the registry client reaches a registry: straight, or through `HTTPS_PROXY` (a CONNECT
//! tunnel, with the proxy's Basic credentials when its URL has them) unless `NO_PROXY` names the
//! host. Only `https` registries are proxied: plain HTTP is used on loopback alone. Connections
//! open within a connect timeout and end when no byte moves for a while (`idle`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service;

use super::idle::{self, Idle};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone)]
pub struct ProxyAware {
    direct: HttpConnector,
    proxies: Arc<Matcher>,
    idle: Duration,
}

impl ProxyAware {
    /// The proxies of the environment (`HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`, either case);
    /// connections give up after `idle` without a byte moved (and opening one, after at most that).
    pub fn from_env(idle: Duration) -> ProxyAware {
        ProxyAware {
            direct: direct(idle),
            proxies: Arc::new(Matcher::from_env()),
            idle,
        }
    }

    /// The proxy for `dst`, when one applies.
    fn proxy_for(&self, dst: &Uri) -> Option<(Uri, Option<http::HeaderValue>)> {
        if dst.scheme_str() != Some("https") {
            return None;
        }
        let intercept = self.proxies.intercept(dst)?;
        Some((intercept.uri().clone(), intercept.basic_auth().cloned()))
    }
}

fn direct(idle: Duration) -> HttpConnector {
    let mut direct = HttpConnector::new();
    direct.enforce_http(false);
    direct.set_connect_timeout(Some(idle::connect_timeout(idle)));
    direct
}

impl Service<Uri> for ProxyAware {
    type Response = Idle<TokioIo<TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let proxy = self.proxy_for(&dst);
        let mut direct = self.direct.clone();
        let idle = self.idle;
        Box::pin(async move {
            let stream = match proxy {
                Some((proxy, auth)) => {
                    let mut tunnel = Tunnel::new(proxy, direct);
                    if let Some(auth) = auth {
                        tunnel = tunnel.with_auth(auth);
                    }
                    std::future::poll_fn(|cx| tunnel.poll_ready(cx)).await?;
                    tunnel.call(dst).await?
                }
                None => {
                    std::future::poll_fn(|cx| direct.poll_ready(cx)).await?;
                    direct.call(dst).await?
                }
            };
            Ok(Idle::new(stream, idle))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_registries_are_proxied_and_no_proxy_wins() {
        let connector = ProxyAware {
            direct: direct(Duration::from_secs(30)),
            idle: Duration::from_secs(30),
            proxies: Arc::new(
                Matcher::builder()
                    .https("http://user:pa55@proxy.internal:3128")
                    .no("internal.example")
                    .build(),
            ),
        };
        let (proxy, auth) = connector
            .proxy_for(
                &"https://111111111111.dkr.ecr.eu-west-1.amazonaws.com/v2/"
                    .parse()
                    .unwrap(),
            )
            .unwrap();
        assert_eq!(proxy.host(), Some("proxy.internal"));
        assert!(auth.is_some());
        assert!(
            connector
                .proxy_for(&"http://127.0.0.1:5000/v2/".parse().unwrap())
                .is_none()
        );
        assert!(
            connector
                .proxy_for(&"https://registry.internal.example/v2/".parse().unwrap())
                .is_none()
        );
    }
}
