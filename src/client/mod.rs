//! A small HTTP/1.1 client for georep's API, used by the CLI, `georep bench` and the tests.
//! One `Client` keeps its connections alive between requests. `https://` endpoints are
//! verified against a CA file (`--cacert`) or, without one, the system's trust store.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, header::HeaderMap};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{Client as HyperClient, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid endpoint {0:?}: expected http://HOST:PORT or https://HOST:PORT")]
    Endpoint(String),
    /// An `https://` endpoint whose trust roots cannot be loaded (names `--cacert`).
    #[error("{0}")]
    Trust(String),
    #[error("request to {url} failed: {message}")]
    Transport { url: String, message: String },
    #[error("request to {url} timed out after {after:?}")]
    Timeout { url: String, after: Duration },
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The `error.code` of an error response.
    pub fn error_code(&self) -> Option<String> {
        Some(
            self.json()?
                .get("error")?
                .get("code")?
                .as_str()?
                .to_string(),
        )
    }
}

#[derive(Clone)]
pub struct Client {
    http: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    base: String,
    timeout: Duration,
    /// `Authorization` sent with every request (a bearer token), if any.
    authorization: Option<String>,
}

impl Client {
    /// `endpoint` is `http://host:port`, `https://host:port` or just `host:port`.
    pub fn new(endpoint: &str) -> Result<Client, ClientError> {
        Client::connect(endpoint, None)
    }

    /// As [`Client::new`]; an `https://` endpoint's certificate is verified against the CA
    /// certificates in `cacert` (PEM) if given, else against the system's trust store.
    pub fn connect(endpoint: &str, cacert: Option<&Path>) -> Result<Client, ClientError> {
        let (https, rest) = match endpoint.strip_prefix("https://") {
            Some(rest) => (true, rest),
            None => (false, endpoint.strip_prefix("http://").unwrap_or(endpoint)),
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains("://") || rest.contains('/') || !rest.contains(':') {
            return Err(ClientError::Endpoint(endpoint.to_string()));
        }
        // plain HTTP never reads a trust store: its TLS half stays unused
        let roots = match https {
            true => crate::https::client_roots(cacert).map_err(ClientError::Trust)?,
            false => rustls::RootCertStore::empty(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // ALPN (http/1.1) is set by the connector's enable_http1
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Trust(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(false);
        let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls);
        let connector = match https {
            true => builder.https_only(),
            false => builder.https_or_http(),
        }
        .enable_http1()
        .wrap_connector(http);
        let http = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        let scheme = if https { "https" } else { "http" };
        Ok(Client {
            http,
            base: format!("{scheme}://{rest}"),
            timeout: Duration::from_secs(30),
            authorization: None,
        })
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    pub fn with_bearer(mut self, token: &str) -> Self {
        self.authorization = Some(format!("Bearer {token}"));
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Response, ClientError> {
        let url = format!("{}{}", self.base, path);
        let transport = |e: &dyn std::fmt::Display| ClientError::Transport {
            url: url.clone(),
            message: e.to_string(),
        };
        let mut req = Request::builder().method(method).uri(&url);
        if let Some(a) = &self.authorization
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        {
            req = req.header("authorization", a.as_str());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body)).map_err(|e| transport(&e))?;
        let fut = async {
            let resp = self.http.request(req).await.map_err(|e| {
                // hyper-util hides the cause (connection refused, reset) one level down
                let cause = std::error::Error::source(&e)
                    .map(|s| format!(": {s}"))
                    .unwrap_or_default();
                transport(&format!("{e}{cause}"))
            })?;
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.map_err(|e| transport(&e))?.to_bytes();
            Ok(Response {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| ClientError::Timeout {
                url: url.clone(),
                after: self.timeout,
            })?
    }

    pub async fn put(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        headers: &[(&str, &str)],
    ) -> Result<Response, ClientError> {
        self.request(Method::PUT, &doc_path(collection, key), headers, value)
            .await
    }

    pub async fn get(
        &self,
        collection: &str,
        key: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, ClientError> {
        self.request(
            Method::GET,
            &doc_path(collection, key),
            headers,
            Bytes::new(),
        )
        .await
    }

    pub async fn delete(
        &self,
        collection: &str,
        key: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, ClientError> {
        self.request(
            Method::DELETE,
            &doc_path(collection, key),
            headers,
            Bytes::new(),
        )
        .await
    }
}

pub fn doc_path(collection: &str, key: &str) -> String {
    format!(
        "/v1/collections/{}/docs/{}",
        percent_encode(collection),
        percent_encode(key)
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_encoding() {
        assert_eq!(
            Client::new("127.0.0.1:7101").unwrap().base(),
            "http://127.0.0.1:7101"
        );
        assert_eq!(Client::new("http://h:1/").unwrap().base(), "http://h:1");
        assert!(Client::new("ftp://h:1").is_err());
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "").unwrap();
        match Client::connect("https://h:1", Some(&ca)) {
            Err(ClientError::Trust(m)) => assert!(m.contains("--cacert"), "{m}"),
            other => panic!("{:?}", other.map(|c| c.base().to_string())),
        }
        assert!(Client::new("h").is_err());
        assert_eq!(percent_encode("a b/ü"), "a%20b%2F%C3%BC");
    }
}
