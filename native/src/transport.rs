//! Sending the core's requests. [`ReqwestTransport`] is the default; a
//! [`Transport`] of your own (or a foreign one, through the bindings) works too.

use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use posemesh_registration_core::response::MAX_RESPONSE_BODY;
use posemesh_registration_core::{
    HttpRequest, HttpResponse, Method, TransportError, TransportErrorKind,
};
use std::time::Duration;

/// Sends one HTTP request: the shared driver's trait (its docs state the
/// contract: no redirects, at most [`MAX_RESPONSE_BODY`] bytes of body).
pub use posemesh_registration_driver::Transport;

/// HTTP over reqwest with rustls.
///
/// **Redirects are never followed.** A registration request carries a signed
/// body with the node's registration credentials; following a `3xx` would
/// hand that body (and the signature) to whatever host the `Location` names.
/// A redirect comes back as an ordinary response, and the core classifies it
/// as a failed attempt, naming the status and where it pointed.
///
/// Proxies come from the environment the way curl reads them (see
/// [`ReqwestTransportBuilder::use_env_proxy`]), or are given explicitly with
/// [`ReqwestTransportBuilder::proxy`]. Server certificates are checked
/// against the bundled webpki roots plus any extra roots given with
/// [`ReqwestTransportBuilder::ca_bundle_file`],
/// [`ReqwestTransportBuilder::ca_bundle_pem`] or the `SSL_CERT_FILE`
/// environment variable.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

/// Why a [`ReqwestTransport`] could not be built. Never contains a proxy URL
/// (it may carry credentials) or certificate bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportBuildError {
    /// A proxy URL (from `source`: the builder or an environment variable) is unusable.
    #[error("invalid proxy URL in {source_name}: {reason}")]
    Proxy {
        /// `"the proxy option"` or the environment variable's name.
        source_name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An extra CA bundle could not be read.
    #[error("cannot read CA bundle {path}: {source}")]
    CaBundleRead {
        /// The file, as `SSL_CERT_FILE=<path>` when named by that variable.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An extra CA bundle holds no usable PEM certificate.
    #[error("CA bundle {origin} holds no usable PEM certificate{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    CaBundleInvalid {
        /// The file, or `"PEM bytes"` when given in memory.
        origin: String,
        /// The parser's complaint, if it had one.
        detail: Option<String>,
    },
    /// reqwest refused the configuration (e.g. the TLS backend failed to start).
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Settings for a [`ReqwestTransport`]; [`ReqwestTransport::builder`] gives the defaults.
#[derive(Debug, Clone)]
pub struct ReqwestTransportBuilder {
    use_env_proxy: bool,
    use_env_ca_bundle: bool,
    proxy: Option<String>,
    no_proxy: Option<String>,
    ca_files: Vec<std::path::PathBuf>,
    ca_pems: Vec<Vec<u8>>,
    connect_timeout: Duration,
}

impl Default for ReqwestTransportBuilder {
    fn default() -> Self {
        ReqwestTransportBuilder {
            use_env_proxy: true,
            use_env_ca_bundle: true,
            proxy: None,
            no_proxy: None,
            ca_files: Vec::new(),
            ca_pems: Vec::new(),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl ReqwestTransportBuilder {
    /// Whether to take proxies from the environment as curl does (default
    /// `true`), read when [`build`](Self::build) runs:
    ///
    /// * `http://` URLs: `http_proxy` (lower case only: like curl, the upper
    ///   case `HTTP_PROXY` is ignored, since a CGI host sets it from the
    ///   request's `Proxy:` header), else `all_proxy` / `ALL_PROXY`;
    /// * `https://` URLs: `https_proxy` / `HTTPS_PROXY`, else `all_proxy` / `ALL_PROXY`;
    /// * hosts in `no_proxy` / `NO_PROXY` (comma-separated names, matching
    ///   subdomains too, IP addresses, CIDR ranges, or `*`) go direct.
    ///
    /// The lower case name wins when both are set; a variable set to the empty
    /// string means "no proxy" for its scheme. A value without a scheme is
    /// taken as `http://`. With `false`, only [`proxy`](Self::proxy) is used.
    pub fn use_env_proxy(mut self, yes: bool) -> Self {
        self.use_env_proxy = yes;
        self
    }

    /// Sends every request (http and https) through this proxy, e.g.
    /// `http://user:pass@proxy.example:3128`; the environment's proxies are
    /// then not used, but its `no_proxy` / `NO_PROXY` still is (unless
    /// [`no_proxy`](Self::no_proxy) is given or env proxies are off).
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(url.into());
        self
    }

    /// Hosts that bypass the proxy, in `NO_PROXY` syntax; overrides the
    /// environment's list.
    pub fn no_proxy(mut self, list: impl Into<String>) -> Self {
        self.no_proxy = Some(list.into());
        self
    }

    /// Also trusts the root certificates in this PEM file (read at
    /// [`build`](Self::build)), in addition to the bundled webpki roots.
    pub fn ca_bundle_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }

    /// Also trusts the root certificates in these PEM bytes, in addition to
    /// the bundled webpki roots.
    pub fn ca_bundle_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pems.push(pem.into());
        self
    }

    /// Whether to also trust the PEM file named by `SSL_CERT_FILE`, if set
    /// (default `true`). An unreadable or empty file is a build error.
    pub fn use_env_ca_bundle(mut self, yes: bool) -> Self {
        self.use_env_ca_bundle = yes;
        self
    }

    /// How long to wait for a TCP (and TLS) connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The transport, with redirects off.
    pub fn build(self) -> Result<ReqwestTransport, TransportBuildError> {
        let mut builder = reqwest::Client::builder()
            // reqwest's own reading of the environment differs from curl's
            // (it honours HTTP_PROXY): proxies are set below, or not at all.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .user_agent(concat!("posemesh-registration/", env!("CARGO_PKG_VERSION")));
        for proxy in self.proxies(&|name| std::env::var(name).ok())? {
            builder = builder.proxy(proxy);
        }
        let (roots, origins) = self.extra_roots(&|name| std::env::var_os(name))?;
        for cert in roots {
            builder = builder.add_root_certificate(cert);
        }
        let client = builder.build().map_err(|e| {
            // A certificate rustls cannot use fails here, not when read: say where they came from.
            let from = if origins.is_empty() {
                String::new()
            } else {
                format!(" (extra roots from {})", origins.join(", "))
            };
            TransportBuildError::Client(format!("{}{from}", error_chain(&e)))
        })?;
        Ok(ReqwestTransport { client })
    }

    fn proxies(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<reqwest::Proxy>, TransportBuildError> {
        let first = |names: &[&'static str]| -> Option<(&'static str, String)> {
            names
                .iter()
                .find_map(|name| env(name).map(|value| (*name, value)))
        };
        let no_proxy = match (&self.no_proxy, self.use_env_proxy) {
            (Some(list), _) => Some(list.clone()),
            (None, true) => first(&["no_proxy", "NO_PROXY"]).map(|(_, list)| list),
            (None, false) => None,
        };
        // "*" means every host; reqwest's matcher applies it to names only, not addresses.
        if no_proxy
            .as_deref()
            .is_some_and(|list| list.split(',').any(|entry| entry.trim() == "*"))
        {
            return Ok(Vec::new());
        }
        let no_proxy = || no_proxy.as_deref().and_then(reqwest::NoProxy::from_string);
        let mut proxies = Vec::new();
        if let Some(url) = &self.proxy {
            let url = proxy_url("the proxy option", url)?;
            proxies
                .push(reqwest::Proxy::all(url).map_err(|e| proxy_error("the proxy option", &e))?);
            return Ok(proxies
                .into_iter()
                .map(|p| p.no_proxy(no_proxy()))
                .collect());
        }
        if !self.use_env_proxy {
            return Ok(proxies);
        }
        let all = first(&["all_proxy", "ALL_PROXY"]);
        let http = first(&["http_proxy"]).or_else(|| all.clone());
        let https = first(&["https_proxy", "HTTPS_PROXY"]).or(all);
        if let Some((name, value)) = http.filter(|(_, v)| !v.trim().is_empty()) {
            let url = proxy_url(name, &value)?;
            proxies.push(reqwest::Proxy::http(url).map_err(|e| proxy_error(name, &e))?);
        }
        if let Some((name, value)) = https.filter(|(_, v)| !v.trim().is_empty()) {
            let url = proxy_url(name, &value)?;
            proxies.push(reqwest::Proxy::https(url).map_err(|e| proxy_error(name, &e))?);
        }
        Ok(proxies
            .into_iter()
            .map(|p| p.no_proxy(no_proxy()))
            .collect())
    }

    fn extra_roots(
        &self,
        env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Result<(Vec<reqwest::Certificate>, Vec<String>), TransportBuildError> {
        let mut files: Vec<(std::path::PathBuf, String)> = self
            .ca_files
            .iter()
            .map(|path| (path.clone(), path.display().to_string()))
            .collect();
        if self.use_env_ca_bundle {
            if let Some(path) = env("SSL_CERT_FILE").filter(|p| !p.is_empty()) {
                let path = std::path::PathBuf::from(path);
                let origin = format!("SSL_CERT_FILE={}", path.display());
                files.push((path, origin));
            }
        }
        let mut roots = Vec::new();
        let mut origins = Vec::new();
        for (path, origin) in files {
            let pem = std::fs::read(&path).map_err(|source| TransportBuildError::CaBundleRead {
                path: origin.clone(),
                source,
            })?;
            roots.extend(parse_pem_bundle(&pem, origin.clone())?);
            origins.push(origin);
        }
        for pem in &self.ca_pems {
            roots.extend(parse_pem_bundle(pem, "PEM bytes".into())?);
            origins.push("PEM bytes".into());
        }
        Ok((roots, origins))
    }
}

/// A proxy URL as curl takes it: no scheme means `http://`. Checked here so
/// that a typo is an error rather than a silently direct connection.
fn proxy_url(source_name: &str, value: &str) -> Result<String, TransportBuildError> {
    let value = value.trim();
    let url = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    let scheme_ok = reqwest::Url::parse(&url).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
    });
    if !scheme_ok {
        return Err(TransportBuildError::Proxy {
            source_name: source_name.to_owned(),
            reason: "not an http:// or https:// URL with a host".into(),
        });
    }
    Ok(url)
}

fn proxy_error(source_name: &str, err: &reqwest::Error) -> TransportBuildError {
    // reqwest's text names neither the URL nor its credentials.
    TransportBuildError::Proxy {
        source_name: source_name.to_owned(),
        reason: error_chain(err),
    }
}

fn parse_pem_bundle(
    pem: &[u8],
    origin: String,
) -> Result<Vec<reqwest::Certificate>, TransportBuildError> {
    match reqwest::Certificate::from_pem_bundle(pem) {
        Ok(certs) if !certs.is_empty() => Ok(certs),
        Ok(_) => Err(TransportBuildError::CaBundleInvalid {
            origin,
            detail: None,
        }),
        Err(e) => Err(TransportBuildError::CaBundleInvalid {
            origin,
            detail: Some(error_chain(&e)),
        }),
    }
}

impl ReqwestTransport {
    /// A transport with its own connection pool and the
    /// [`builder`](Self::builder)'s defaults: proxies and `SSL_CERT_FILE`
    /// from the environment, redirects never followed.
    pub fn new() -> Result<Self, TransportBuildError> {
        Self::builder().build()
    }

    /// Settings for a transport: proxies, extra root certificates.
    pub fn builder() -> ReqwestTransportBuilder {
        ReqwestTransportBuilder::default()
    }

    /// A transport over a client you configured. Build it with
    /// `.redirect(reqwest::redirect::Policy::none())`: a followed redirect
    /// would carry the signed registration to another host.
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
