//! HTTP as the app does it: the [`HttpClient`] foreign trait (OkHttp,
//! `java.net.http`, URLSession, …), the request/response types it sees, and the
//! adapter that lets the native driver send through it.

use crate::error::RegistrationError;
use futures_util::future::BoxFuture;
use posemesh_registration::{ReqwestTransport, Transport};
use posemesh_registration_core as core;
use posemesh_registration_core::response::{truncate_utf8, MAX_RESPONSE_BODY};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// One HTTP header.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpHeader {
    /// The name (requests use lower case; compare case-insensitively).
    pub name: String,
    /// The value.
    pub value: String,
}

/// An HTTP request for the app's client to send exactly as it is.
///
/// An object rather than a record so that its `toString()`/`description`
/// never prints the body: a registration body carries the registration
/// credentials. Read the body (`body()`) only to send it.
#[derive(uniffi::Object)]
#[uniffi::export(Display, Debug)]
pub struct HttpRequest {
    inner: core::HttpRequest,
    timeout: Duration,
}

impl HttpRequest {
    pub(crate) fn new(inner: core::HttpRequest, timeout: Duration) -> Arc<Self> {
        Arc::new(HttpRequest { inner, timeout })
    }
}

#[uniffi::export]
impl HttpRequest {
    /// `POST` (every DDS call) or `GET`.
    pub fn method(&self) -> String {
        self.inner.method.as_str().to_owned()
    }

    /// The full URL.
    pub fn url(&self) -> String {
        self.inner.url.clone()
    }

    /// Headers to set (lower-case names), e.g. `content-type: application/json`.
    pub fn headers(&self) -> Vec<HttpHeader> {
        self.inner
            .headers
            .iter()
            .map(|(name, value)| HttpHeader {
                name: name.clone(),
                value: value.clone(),
            })
            .collect()
    }

    /// The body bytes, to send unchanged. Contains the registration
    /// credentials: never log it.
    pub fn body(&self) -> Vec<u8> {
        self.inner.body.clone()
    }

    /// Give up after this long: throw the `Http` error (Kotlin `RegistrationException.Http`,
    /// Swift `RegistrationError.Http`) with kind timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl fmt::Display for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} (body of {} bytes, not shown)",
            self.inner.method.as_str(),
            self.inner.url,
            self.inner.body.len()
        )
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // core's Debug shows the body's length only.
        f.debug_struct("HttpRequest")
            .field("request", &self.inner)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What the app's client received.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpResponse {
    /// The HTTP status code, 100 to 999: Kotlin `Int` (pass OkHttp's
    /// `response.code` as it is), Swift `Int32` (the Swift package adds
    /// `HttpResponse(statusCode: Int, …)` for `HTTPURLResponse.statusCode`).
    pub status: i32,
    /// Response headers (`Retry-After` is the one the registrar reads).
    #[uniffi(default = [])]
    pub headers: Vec<HttpHeader>,
    /// The body, or its first 64 KiB: the registrar never needs more, so
    /// stop reading there. Longer bodies are cut.
    pub body: Vec<u8>,
}

impl TryFrom<HttpResponse> for core::HttpResponse {
    type Error = RegistrationError;

    /// Refuses a status outside 100..=999 (no HTTP response has one).
    fn try_from(response: HttpResponse) -> Result<Self, RegistrationError> {
        let status = u16::try_from(response.status)
            .ok()
            .filter(|status| (100..=999).contains(status))
            .ok_or_else(|| RegistrationError::InvalidInput {
                reason: format!(
                    "HTTP status {} is not a status code (100 to 999)",
                    response.status
                ),
            })?;
        let mut body = response.body;
        body.truncate(MAX_RESPONSE_BODY);
        Ok(core::HttpResponse {
            status,
            headers: response
                .headers
                .into_iter()
                .map(|h| (h.name, h.value))
                .collect(),
            body,
        })
    }
}

/// How a request failed to produce a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum TransportErrorKind {
    /// No answer within the request's timeout.
    Timeout,
    /// The connection could not be made (refused, DNS, TLS).
    Connect,
    /// The connection broke while sending or receiving.
    Io,
    /// Anything else.
    Other,
}

impl TransportErrorKind {
    /// `timeout`, `connect`, `io` or `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportErrorKind::Timeout => "timeout",
            TransportErrorKind::Connect => "connect",
            TransportErrorKind::Io => "io",
            TransportErrorKind::Other => "other",
        }
    }
}

impl From<TransportErrorKind> for core::TransportErrorKind {
    fn from(kind: TransportErrorKind) -> Self {
        match kind {
            TransportErrorKind::Timeout => core::TransportErrorKind::Timeout,
            TransportErrorKind::Connect => core::TransportErrorKind::Connect,
            TransportErrorKind::Io => core::TransportErrorKind::Io,
            TransportErrorKind::Other => core::TransportErrorKind::Other,
        }
    }
}

/// The app's HTTP client (OkHttp, `java.net.http`, URLSession, …).
///
/// Called from a background thread, one request at a time per registrar.
/// Send the request as it is (method, URL, headers, body), give up after
/// the request's `timeout()`, and return any status, 4xx and 5xx included: the
/// registrar classifies them. Never follow redirects: return a 3xx as it is
/// (OkHttp `followRedirects(false)`, `HttpURLConnection.instanceFollowRedirects
/// = false`, a `URLSessionTaskDelegate` that completes
/// `willPerformHTTPRedirection` with `nil`); a followed redirect would carry
/// the signed body, registration credentials included, to another host.
/// Throw the `Http` error (Kotlin
/// `RegistrationException.Http`, Swift `RegistrationError.Http`) when there is no
/// response; anything else thrown counts as a transport error of kind other.
///
/// When the registrar no longer needs the answer (its coroutine/task was
/// cancelled, or it gave up), the call is cancelled: in Kotlin the coroutine
/// running `send` is cancelled, in Swift the `Task` is.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait HttpClient: Send + Sync {
    /// Sends `request` and returns the response (body: its first 64 KiB suffice).
    async fn send(&self, request: Arc<HttpRequest>) -> Result<HttpResponse, RegistrationError>;
}

impl From<core::TransportErrorKind> for TransportErrorKind {
    fn from(kind: core::TransportErrorKind) -> Self {
        match kind {
            core::TransportErrorKind::Timeout => TransportErrorKind::Timeout,
            core::TransportErrorKind::Connect => TransportErrorKind::Connect,
            core::TransportErrorKind::Io => TransportErrorKind::Io,
            core::TransportErrorKind::Other => TransportErrorKind::Other,
        }
    }
}

/// The library's own HTTP client (reqwest with rustls and its bundled web
/// roots, plus `SSL_CERT_FILE`; proxies from `https_proxy`/`HTTPS_PROXY`,
/// `all_proxy` and `no_proxy` where the process has an environment, as on
/// the JVM), with a proxy or a private CA of the app's: pass it as a
/// registrar's `httpClient`.
///
/// - `proxyUrl`: send every request through this proxy, e.g.
///   `http://proxy.example:3128` (credentials as `http://user:pass@…`; never
///   logged, never in an error).
/// - `caBundlePem`: one or more PEM certificates to trust besides the
///   built-in roots, for a DDS behind a private CA.
///
/// Throws `InvalidConfig` for a proxy URL or PEM text it cannot use.
#[uniffi::export(default(proxy_url = None, ca_bundle_pem = None))]
pub fn built_in_http_client(
    proxy_url: Option<String>,
    ca_bundle_pem: Option<String>,
) -> Result<Arc<dyn HttpClient>, RegistrationError> {
    let mut builder = ReqwestTransport::builder();
    if let Some(proxy) = proxy_url {
        builder = builder.proxy(proxy);
    }
    if let Some(pem) = ca_bundle_pem {
        builder = builder.ca_bundle_pem(pem.into_bytes());
    }
    let transport = builder
        .build()
        .map_err(|err| RegistrationError::InvalidConfig {
            reason: err.to_string(),
        })?;
    Ok(Arc::new(BuiltInClient { transport }))
}

/// The core's `(name, value)` header pairs as records.
pub(crate) fn headers_of(pairs: Vec<(String, String)>) -> Vec<HttpHeader> {
    pairs
        .into_iter()
        .map(|(name, value)| HttpHeader { name, value })
        .collect()
}

/// [`built_in_http_client`]: reqwest as an [`HttpClient`].
struct BuiltInClient {
    transport: ReqwestTransport,
}

#[async_trait::async_trait]
impl HttpClient for BuiltInClient {
    async fn send(&self, request: Arc<HttpRequest>) -> Result<HttpResponse, RegistrationError> {
        let response = self
            .transport
            .send(request.inner.clone(), request.timeout)
            .await
            .map_err(|err| RegistrationError::Http {
                kind: err.kind.into(),
                detail: err.detail,
            })?;
        Ok(HttpResponse {
            status: i32::from(response.status),
            headers: headers_of(response.headers),
            body: response.body,
        })
    }
}

/// Lets the native driver send through an app's [`HttpClient`].
pub(crate) struct ForeignTransport {
    client: Arc<dyn HttpClient>,
}

impl ForeignTransport {
    pub(crate) fn new(client: Arc<dyn HttpClient>) -> Self {
        ForeignTransport { client }
    }
}

impl Transport for ForeignTransport {
    /// No timer here: the driver stops waiting once the request timeout has
    /// passed (the client is told it through `HttpRequest.timeout()`).
    fn send(
        &self,
        request: core::HttpRequest,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<core::HttpResponse, core::TransportError>> {
        Box::pin(async move {
            match self.client.send(HttpRequest::new(request, timeout)).await {
                Ok(response) => response.try_into().map_err(transport_error),
                Err(err) => Err(transport_error(err)),
            }
        })
    }
}

fn transport_error(err: RegistrationError) -> core::TransportError {
    match err {
        RegistrationError::Http { kind, detail } => {
            core::TransportError::new(kind.into(), truncate_utf8(&detail, 512))
        }
        other => core::TransportError::new(
            core::TransportErrorKind::Other,
            truncate_utf8(&other.to_string(), 512),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_display_and_debug_hide_the_body() {
        let request = HttpRequest::new(
            core::HttpRequest {
                method: core::Method::Post,
                url: "http://127.0.0.1:1/x".into(),
                headers: vec![],
                body: b"{\"registration_credentials\":\"hunter2\"}".to_vec(),
            },
            Duration::from_secs(3),
        );
        for text in [request.to_string(), format!("{request:?}")] {
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("http://127.0.0.1:1/x"), "{text}");
        }
        assert!(String::from_utf8(request.body())
            .unwrap()
            .contains("hunter2"));
    }

    #[test]
    fn long_bodies_are_cut() {
        let response = HttpResponse {
            status: 500,
            headers: vec![],
            body: vec![b'x'; MAX_RESPONSE_BODY + 10],
        };
        let core: core::HttpResponse = response.try_into().unwrap();
        assert_eq!(core.body.len(), MAX_RESPONSE_BODY);
        for status in [-1, 0, 99, 1000, 70_000] {
            let response = HttpResponse {
                status,
                headers: vec![],
                body: vec![],
            };
            let err = core::HttpResponse::try_from(response).unwrap_err();
            assert!(err.to_string().contains(&status.to_string()), "{err}");
        }
    }

    #[test]
    fn client_errors_map_to_transport_errors() {
        let err = transport_error(RegistrationError::Http {
            kind: TransportErrorKind::Connect,
            detail: "refused".into(),
        });
        assert_eq!(err.kind, core::TransportErrorKind::Connect);
        let err = transport_error(RegistrationError::Unexpected {
            detail: "java.lang.IllegalStateException: boom".into(),
        });
        assert_eq!(err.kind, core::TransportErrorKind::Other);
        assert!(err.detail.contains("boom"));
    }
}
