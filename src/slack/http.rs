//! How crmbot reaches Slack's Web API: slack-morphism's hyper client over a connector that
//! honours HTTPS_PROXY / HTTP_PROXY / ALL_PROXY and NO_PROXY (a CONNECT tunnel through the
//! proxy), as reqwest does for Salesforce and the model, with a bounded connect time.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::Uri;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use slack_morphism::prelude::{SlackClient, SlackClientHyperConnector};
use tokio::net::TcpStream;
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The connector of crmbot's Slack client.
pub type SlackHttpConnector = SlackClientHyperConnector<HttpsConnector<ProxyConnector>>;
/// The Slack client crmbot uses, for the Web API and Socket Mode.
pub type SlackHttpClient = SlackClient<SlackHttpConnector>;

/// A TCP connector that goes through a proxy when the environment says so.
#[derive(Clone)]
pub struct ProxyConnector {
    direct: HttpConnector,
    proxies: Arc<Matcher>,
}

impl ProxyConnector {
    /// Reads the proxy variables now (as reqwest does when its client is built).
    pub fn from_env(connect_timeout: Duration) -> ProxyConnector {
        let mut direct = HttpConnector::new();
        // The TLS layer above hands https URIs down here.
        direct.enforce_http(false);
        direct.set_connect_timeout(Some(connect_timeout));
        ProxyConnector {
            direct,
            proxies: Arc::new(Matcher::from_env()),
        }
    }
}

impl Service<Uri> for ProxyConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.direct.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let mut direct = self.direct.clone();
        let Some(proxy) = self.proxies.intercept(&dst) else {
            return Box::pin(async move { direct.call(dst).await.map_err(Into::into) });
        };
        let mut tunnel = Tunnel::new(proxy.uri().clone(), direct);
        if let Some(auth) = proxy.basic_auth() {
            tunnel = tunnel.with_auth(auth.clone());
        }
        let dst = with_port(dst);
        Box::pin(async move { tunnel.call(dst).await.map_err(Into::into) })
    }
}

/// The tunnel assumes port 443 when a URI has none; plain http means 80.
fn with_port(dst: Uri) -> Uri {
    if dst.port().is_some() || dst.scheme_str() != Some("http") {
        return dst;
    }
    let host = dst.host().unwrap_or_default().to_string();
    let mut parts = dst.into_parts();
    parts.authority = format!("{host}:80").parse().ok();
    Uri::from_parts(parts).unwrap_or_else(|_| Uri::from_static("http://localhost:80"))
}

/// The client for `api_url` (method names are appended), through `ProxyConnector`.
pub fn client(api_url: &str, connect_timeout: Duration) -> SlackHttpClient {
    // reqwest brings aws-lc-rs and slack-morphism ring; rustls then needs to be told.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(ProxyConnector::from_env(connect_timeout));
    let connector = SlackClientHyperConnector::with_connector(https)
        .with_slack_api_url(api_url.trim_end_matches('/'));
    SlackClient::new(connector)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_tunnels_to_port_80() {
        assert_eq!(
            with_port("http://example.com/api".parse().unwrap()).to_string(),
            "http://example.com:80/api"
        );
        let https: Uri = "https://slack.com/api".parse().unwrap();
        assert_eq!(with_port(https.clone()), https);
    }
}
