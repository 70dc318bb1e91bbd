//! Sending the core's requests. [`ReqwestTransport`] is the default; a
//! [`Transport`] of your own (or a foreign one, through the bindings) works too.

use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use posemesh_registration_core::response::MAX_RESPONSE_BODY;
use posemesh_registration_core::{
    HttpRequest, HttpResponse, Method, TransportError, TransportErrorKind,
};
use std::time::Duration;

/// Sends one HTTP request and returns the response with its body cut to
/// [`MAX_RESPONSE_BODY`] bytes.
pub trait Transport: Send + Sync + 'static {
    /// Sends `request`, giving up after `timeout`.
    fn send(
        &self,
        request: HttpRequest,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<HttpResponse, TransportError>>;
}

/// HTTP over reqwest with rustls. No proxy from the environment: a node talks
/// to its DDS directly.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    /// A transport with its own connection pool.
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("posemesh-registration/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(ReqwestTransport { client })
    }

    /// A transport over a client you configured (proxies, roots, timeouts).
    pub fn with_client(client: reqwest::Client) -> Self {
        ReqwestTransport { client }
    }

    async fn exchange(
        &self,
        request: HttpRequest,
        timeout: Duration,
    ) -> Result<HttpResponse, TransportError> {
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let mut builder = self.client.request(method, &request.url).timeout(timeout);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let response = builder
            .body(request.body)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        // Read at most MAX_RESPONSE_BODY bytes and drop the rest unread: a huge
        // or endless body costs no more memory than a small one.
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(transport_error)?;
            let room = MAX_RESPONSE_BODY - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() == MAX_RESPONSE_BODY {
                break;
            }
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

impl Transport for ReqwestTransport {
    fn send(
        &self,
        request: HttpRequest,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(self.exchange(request, timeout))
    }
}

fn transport_error(err: reqwest::Error) -> TransportError {
    let kind = if err.is_timeout() {
        TransportErrorKind::Timeout
    } else if err.is_connect() {
        TransportErrorKind::Connect
    } else if err.is_body() || err.is_request() || err.is_decode() {
        TransportErrorKind::Io
    } else {
        TransportErrorKind::Other
    };
    // reqwest's text names the URL and the cause; never the body we sent.
    TransportError::new(kind, error_chain(&err))
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
