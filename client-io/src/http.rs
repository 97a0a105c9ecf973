//! An HTTP client for the tools: hyper-util's pooled client (keep-alive, maintained upstream)
//! with JSON bodies decoded and one deadline per request. `https://` goes through
//! hyper-rustls on the process's TLS configuration ([`crate::tls::config`]), the same one
//! `wss://` uses, so `--ca-cert` and `--insecure` apply to both.

use crate::ws::WireError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::time::Duration;

/// How long one request may take, connect to last body byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTP answer: status, headers, and the body as JSON (or a JSON string for other bodies).
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Value,
    pub is_json: bool,
    /// The body as text, as it came (Engine.IO polling payloads are not JSON).
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct HttpClient {
    base: String,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpClient {
    pub fn new(base: &str) -> Result<Self, WireError> {
        let bad = |reason: &str| WireError::BadUrl {
            url: base.to_owned(),
            expected: "http://host:port or https://host:port",
            reason: reason.to_owned(),
        };
        let uri: hyper::Uri = base.parse().map_err(|_| bad("cannot parse"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(bad("only http:// and https:// are supported"));
        }
        if uri.authority().is_none() {
            return Err(bad("no host"));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*crate::tls::config()).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        Ok(HttpClient {
            base: base.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// The base URL requests are made against.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get(&self, path: &str) -> Result<HttpReply, WireError> {
        self.request("GET", path, None).await
    }

    pub async fn post_form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Result<HttpReply, WireError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.request(
            "POST",
            path,
            Some(("application/x-www-form-urlencoded", body.into_bytes())),
        )
        .await
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<HttpReply, WireError> {
        self.request_within(method, path, body, REQUEST_TIMEOUT)
            .await
    }

    /// [`Self::request`] with its own bound (a long-polling GET waits up to pingInterval).
    pub async fn request_within(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        within: Duration,
    ) -> Result<HttpReply, WireError> {
        let url = format!("{}{path}", self.base);
        let fail = |reason: String| WireError::Http {
            url: url.clone(),
            reason,
        };
        let exchange = async {
            let mut builder = hyper::Request::builder().method(method).uri(&url);
            let payload = match body {
                Some((content_type, bytes)) => {
                    builder = builder.header("content-type", content_type);
                    bytes
                }
                None => Vec::new(),
            };
            let request = builder
                .body(Full::new(Bytes::from(payload)))
                .map_err(|e| fail(e.to_string()))?;
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| fail(e.to_string()))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| fail(e.to_string()))?
                .to_bytes();
            let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let is_json = parsed.is_some();
            let body = parsed
                .unwrap_or_else(|| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
            Ok(HttpReply {
                status,
                headers,
                body,
                is_json,
                text,
            })
        };
        tokio::time::timeout(within, exchange)
            .await
            .map_err(|_| fail(format!("no answer within {within:?}")))?
    }
}
