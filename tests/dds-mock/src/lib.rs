//! # posemesh-dds-mock: the conformance DDS
//!
//! A Domain Discovery Service for tests and demos. It checks registrations the
//! way a DDS must (signatures recovered with libsecp256k1, timestamps within
//! 60 s, credentials, capabilities, SIWE nonces), calls legacy nodes back with
//! an id and a secret, probes their `/health` with a `DDS v…` user agent, and
//! fails on request through a control API, so that tests in every language
//! drive it the same way:
//!
//! - `POST /_control/faults` `{"faults":[{"status":503,"retry_after":"7","delay_ms":0,
//!   "drop":false,"body":"…","body_bytes":0,"non_utf8":false,"path":"/internal/v1/nodes/register"}]}`:
//!   each fault answers one later DDS API request (only for `path`, if given).
//! - `DELETE /_control/faults`, `POST /_control/reset`.
//! - `POST /_control/session` `{"token_lifetime_ms":2000}`: how long the access
//!   tokens `POST /internal/v1/auth/siwe/verify` issues from now on live (1 h
//!   by default); `GET /internal/v1/auth/check` with `Authorization: Bearer …`
//!   answers 200 for a live token and 401 otherwise. Faults for the verify
//!   path give its 401, 403 and 404 modes. `{"siwe_domain":"dds.example.com"}`:
//!   the name its SIWE challenges give it from now on (a DDS reached by a
//!   private URL that names its public domain), instead of its own address.
//! - `GET /_control/registrations`: everything received and done, as JSON.
//!
//! It listens on loopback only and never calls a node that is not on loopback.

pub mod slots;
mod verify;

pub use verify::Rejection;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use verify::{LegacyRegistration, WalletRegistration};

/// The user agent of health probes; nodes treat `DDS v…` as a health check.
pub const PROBE_USER_AGENT: &str =
    concat!("DDS v", env!("CARGO_PKG_VERSION"), " (posemesh-dds-mock)");
/// Largest request body read.
const MAX_BODY: usize = 256 * 1024;
/// A probe loop ends after this many probes or three failures in a row.
const MAX_PROBES: u32 = 100_000;

/// How the mock behaves.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Where to listen; must be a loopback address (port 0: ephemeral).
    pub listen: SocketAddr,
    /// If set, registrations must carry exactly these credentials (else 403).
    pub credentials: Option<String>,
    /// Interval between health probes of a registered legacy node.
    pub probe_interval: Duration,
    /// Oldest accepted registration timestamp.
    pub max_age: Duration,
    /// Furthest a timestamp may be ahead of the mock's clock (clock skew).
    pub max_future: Duration,
    /// Whether to call legacy nodes back and probe them.
    pub call_nodes: bool,
    /// Registrations served per second; the excess is answered 503 with a
    /// `Retry-After` naming a booked second (see [`slots`]). `None`: unlimited.
    pub capacity: Option<u32>,
    /// How long after answering a legacy registration the node is called
    /// back (a DDS that queues its callbacks).
    pub callback_delay: Duration,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            credentials: None,
            probe_interval: Duration::from_secs(2),
            max_age: Duration::from_secs(60),
            max_future: Duration::from_secs(5),
            call_nodes: true,
            capacity: None,
            callback_delay: Duration::ZERO,
        }
    }
}

/// One injected fault.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fault {
    /// Answer with this status (default 503, or 200 when only a delay is asked).
    pub status: Option<u16>,
    /// `Retry-After` header value.
    pub retry_after: Option<String>,
    /// Wait this long before answering.
    pub delay_ms: u64,
    /// Send headers, then break the connection mid-body.
    pub drop: bool,
    /// Body text.
    pub body: Option<String>,
    /// Body of this many bytes of filler (e.g. 10 MB), streamed.
    pub body_bytes: usize,
    /// Body of invalid UTF-8.
    pub non_utf8: bool,
    /// Send the body one byte every this many milliseconds (`body_bytes` long,
    /// 1000 if unset): a slow drip that only a timeout ends.
    pub drip_ms: u64,
    /// Apply only to this path.
    pub path: Option<String>,
    /// After the delay, handle the request normally instead of answering with `status`.
    pub pass_through: bool,
}

#[derive(Debug, Clone, Serialize)]
struct Received {
    seq: usize,
    path: String,
    status: u16,
    accepted: bool,
    reason: Option<String>,
    node_url: Option<String>,
    public_key: Option<String>,
    address: Option<String>,
    version: Option<String>,
    capabilities: Option<Vec<String>>,
    fault: bool,
}

#[derive(Debug, Clone, Serialize)]
struct CallbackRecord {
    node_url: String,
    id: String,
    status: Option<u16>,
    error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct ProbeRecord {
    node_url: String,
    status: Option<u16>,
}

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    callbacks: Vec<CallbackRecord>,
    probes: Vec<ProbeRecord>,
    issued_secrets: Vec<String>,
    faults: Vec<Fault>,
    /// Wallet → the exact SIWE message its last challenge allows.
    nonces: HashMap<String, String>,
    /// Client (public key or wallet) → the second booked for it.
    bookings: HashMap<String, u64>,
    slots: Option<slots::SlotBooker>,
    probe_generation: HashMap<String, u64>,
    next_node: u64,
    /// Addresses of the nodes registered (either flow): only they sign in.
    registered: std::collections::HashSet<String>,
    /// Access token → when it expires.
    tokens: HashMap<String, chrono::DateTime<chrono::Utc>>,
    sign_ins: usize,
    token_lifetime: Option<Duration>,
    /// The name SIWE challenges give the DDS, if not its own address.
    siwe_domain: Option<String>,
}

/// How long access tokens live unless `/_control/session` says otherwise.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

struct Shared {
    config: MockConfig,
    log: Mutex<Log>,
    in_flight: AtomicUsize,
    max_concurrent: AtomicUsize,
    client: reqwest::Client,
    base_url: String,
    shutdown: watch::Receiver<bool>,
}

/// A running mock DDS. Dropping it stops the server.
pub struct RunningMock {
    url: String,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningMock {
    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops the server and its probe loops and waits for it to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = (&mut { self }.task).await;
    }
}

impl Drop for RunningMock {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Whether `host` (from a URL) is a loopback address or `localhost`.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn loopback_url(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(is_loopback_host))
        .unwrap_or(false)
}

/// Starts the mock on `config.listen` (loopback only) in the current tokio runtime.
pub async fn start(config: MockConfig) -> std::io::Result<RunningMock> {
    if !config.listen.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the conformance DDS listens on loopback addresses only",
        ));
    }
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let url = match addr {
        SocketAddr::V4(a) => format!("http://{a}"),
        SocketAddr::V6(a) => format!("http://[{}]:{}", a.ip(), a.port()),
    };
    let (stop, shutdown) = watch::channel(false);
    // Calls nodes back like a DDS must: never following a redirect, which
    // would carry the issued id and secret to whatever host it names.
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(std::io::Error::other)?;
    let slots = config.capacity.map(slots::SlotBooker::new);
    let shared = Arc::new(Shared {
        config,
        log: Mutex::new(Log {
            slots,
            ..Log::default()
        }),
        in_flight: AtomicUsize::new(0),
        max_concurrent: AtomicUsize::new(0),
        client,
        base_url: url.clone(),
        shutdown: shutdown.clone(),
    });
    let app = Router::new()
        .route("/internal/v1/nodes/register", post(api))
        .route("/internal/v1/auth/siwe/request", post(api))
        .route("/internal/v1/nodes/register-wallet", post(api))
        .route("/internal/v1/auth/siwe/verify", post(api))
        .route("/internal/v1/auth/check", get(check_token))
        .route("/_control/session", post(set_session))
        .route("/_control/faults", post(add_faults))
        .route("/_control/faults", delete(clear_faults))
        .route("/_control/reset", post(reset))
        .route("/_control/registrations", get(read_out))
        .route("/health", get(|| async { "ok" }))
        .with_state(shared);
    let mut stopped = shutdown;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await;
    });
    Ok(RunningMock { url, stop, task })
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Log> {
    shared.log.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Deserialize)]
struct FaultList {
    faults: Vec<Fault>,
}

async fn add_faults(
    State(shared): State<Arc<Shared>>,
    Json(list): Json<FaultList>,
) -> impl IntoResponse {
    let mut log = lock(&shared);
    log.faults.extend(list.faults);
    Json(json!({ "queued": log.faults.len() }))
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    lock(&shared).faults.clear();
    Json(json!({ "queued": 0 }))
}

async fn reset(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let mut log = lock(&shared);
    let generations = std::mem::take(&mut log.probe_generation);
    *log = Log {
        slots: shared.config.capacity.map(slots::SlotBooker::new),
        ..Log::default()
    };
    // Bump every probe loop's generation so running loops stop.
    log.probe_generation = generations.into_iter().map(|(k, v)| (k, v + 1)).collect();
    shared.max_concurrent.store(0, Ordering::SeqCst);
    Json(json!({ "ok": true }))
}

async fn read_out(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let log = lock(&shared);
    Json(json!({
        "received": log.received,
        "callbacks": log.callbacks,
        "health_probes": log.probes,
        "max_concurrent": shared.max_concurrent.load(Ordering::SeqCst),
        "issued_secrets": log.issued_secrets,
        "faults_queued": log.faults.len(),
        "sign_ins": log.sign_ins,
    }))
}

/// Counts concurrent DDS API requests for the read-out's `max_concurrent`.
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_concurrent.fetch_max(now, Ordering::SeqCst);
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn api(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let _in_flight = InFlight::enter(&shared);
    let path = request.uri().path().to_owned();
    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
        Ok(body) => body,
        Err(_) => {
            return record_rejection(
                &shared,
                &path,
                Rejection {
                    status: 413,
                    reason: "body too large".into(),
                },
            )
        }
    };
    let fault = {
        let mut log = lock(&shared);
        let index = log
            .faults
            .iter()
            .position(|f| f.path.as_deref().is_none_or(|p| p == path));
        index.map(|i| log.faults.remove(i))
    };
    if let Some(fault) = fault {
        if fault.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(fault.delay_ms)).await;
        }
        if !fault.pass_through {
            return faulty_response(&shared, &path, fault);
        }
    }
    let result = match path.as_str() {
        "/internal/v1/nodes/register" => legacy(&shared, &path, &body),
        "/internal/v1/auth/siwe/request" => siwe_request(&shared, &path, &body),
        "/internal/v1/auth/siwe/verify" => siwe_verify(&shared, &path, &body),
        _ => wallet(&shared, &path, &body),
    };
    result.unwrap_or_else(|rejection| record_rejection(&shared, &path, rejection))
}

fn received(shared: &Shared, path: &str, status: u16, reason: Option<String>) -> Received {
    let seq = lock(shared).received.len() + 1;
    Received {
        seq,
        path: path.to_owned(),
        status,
        accepted: (200..300).contains(&status),
        reason,
        node_url: None,
        public_key: None,
        address: None,
        version: None,
        capabilities: None,
        fault: false,
    }
}

fn record(shared: &Shared, entry: Received) {
    let mut log = lock(shared);
    let mut entry = entry;
    entry.seq = log.received.len() + 1;
    log.received.push(entry);
}

fn record_rejection(shared: &Shared, path: &str, rejection: Rejection) -> Response {
    record(
        shared,
        received(
            shared,
            path,
            rejection.status,
            Some(rejection.reason.clone()),
        ),
    );
    json_response(rejection.status, json!({ "error": rejection.reason }))
}

fn json_response(status: u16, body: serde_json::Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(body)).into_response()
}

fn faulty_response(shared: &Shared, path: &str, fault: Fault) -> Response {
    let status = fault.status.unwrap_or(503);
    let mut entry = received(shared, path, status, Some("injected fault".into()));
    entry.fault = true;
    record(shared, entry);
    let body = if fault.drop {
        // Headers go out, then the body stream fails: the connection breaks.
        let broken = futures_util::stream::iter([
            Ok(Bytes::from_static(b"partial")),
            Err(std::io::Error::other(
                "connection dropped by fault injection",
            )),
        ]);
        Body::from_stream(broken)
    } else if fault.drip_ms > 0 {
        let total = if fault.body_bytes > 0 {
            fault.body_bytes
        } else {
            1000
        };
        let every = Duration::from_millis(fault.drip_ms);
        Body::from_stream(futures_util::stream::unfold(
            0usize,
            move |sent| async move {
                if sent == total {
                    return None;
                }
                tokio::time::sleep(every).await;
                Some((Ok::<_, std::io::Error>(Bytes::from_static(b"x")), sent + 1))
            },
        ))
    } else if fault.body_bytes > 0 {
        let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
        let chunks = fault.body_bytes.div_ceil(chunk.len());
        let total = fault.body_bytes;
        Body::from_stream(futures_util::stream::iter((0..chunks).map(move |i| {
            let len = chunk.len().min(total - i * chunk.len());
            Ok::<_, std::io::Error>(chunk.slice(..len))
        })))
    } else if fault.non_utf8 {
        Body::from(vec![0xff, 0xfe, b'b', b'a', b'd', 0xc3, 0x28, b'\n', 0x80])
    } else {
        Body::from(fault.body.unwrap_or_else(|| "injected fault".into()))
    };
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    if let Some(retry_after) = fault
        .retry_after
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        response.headers_mut().insert("retry-after", retry_after);
    }
    response
}

fn check_credentials(shared: &Shared, given: &str) -> Result<(), Rejection> {
    let ok = match &shared.config.credentials {
        Some(expected) => expected == given,
        None => !given.is_empty(),
    };
    if ok {
        Ok(())
    } else {
        Err(Rejection {
            status: 403,
            reason: "registration credentials rejected".into(),
        })
    }
}

/// Over capacity: the 503 to send, with a `Retry-After` HTTP date naming the
/// booked second. `None`: the registration may proceed.
fn over_capacity(shared: &Shared, client: &str) -> Option<Response> {
    let now = chrono::Utc::now();
    let second = now.timestamp().max(0) as u64;
    let mut log = lock(shared);
    let mut slots = log.slots.take()?;
    let booked_for = log.bookings.remove(client);
    let admission = slots.admit(second, booked_for);
    log.slots = Some(slots);
    match admission {
        slots::Admission::Accept => None,
        slots::Admission::RetryAt {
            second: slot,
            booked,
        } => {
            if booked {
                log.bookings.insert(client.to_owned(), slot);
            }
            let mut response = json_response(503, json!({ "error": "over capacity" }));
            if let Ok(value) = HeaderValue::from_str(&slots::retry_after_date(slot)) {
                response.headers_mut().insert("retry-after", value);
            }
            Some(response)
        }
    }
}

fn legacy(shared: &Arc<Shared>, path: &str, body: &[u8]) -> Result<Response, Rejection> {
    let reg: LegacyRegistration = verify::parse_json(body)?;
    if let Some(busy) = over_capacity(shared, &reg.public_key) {
        record(
            shared,
            received(shared, path, 503, Some("over capacity".into())),
        );
        return Ok(busy);
    }
    verify::verify_legacy(
        &reg,
        chrono::Utc::now(),
        shared.config.max_age,
        shared.config.max_future,
    )?;
    check_credentials(shared, &reg.registration_credentials)?;
    if let Some(address) = verify::legacy_address(&reg.public_key) {
        lock(shared).registered.insert(address);
    }
    let mut entry = received(shared, path, 200, None);
    entry.node_url = Some(reg.url.clone());
    entry.public_key = Some(reg.public_key.clone());
    entry.version = Some(reg.version.clone());
    entry.capabilities = Some(reg.capabilities.clone());
    record(shared, entry);
    if shared.config.call_nodes && loopback_url(&reg.url) {
        tokio::spawn(call_node(
            shared.clone(),
            reg.url.trim_end_matches('/').to_owned(),
        ));
    }
    Ok(json_response(200, json!({ "ok": true })))
}

fn siwe_request(shared: &Shared, path: &str, body: &[u8]) -> Result<Response, Rejection> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NonceRequest {
        wallet: String,
    }
    let request: NonceRequest = verify::parse_json(body)?;
    let digits = request.wallet.strip_prefix("0x").unwrap_or("");
    if !verify::is_lower_hex(digits, 40) {
        return Err(Rejection {
            status: 400,
            reason: "wallet must be 0x and 40 lowercase hex digits".into(),
        });
    }
    let nonce = hex::encode(random_bytes::<8>());
    let (host, uri) = match lock(shared).siwe_domain.clone() {
        Some(name) => (name.clone(), format!("https://{name}")),
        None => (
            shared.base_url.trim_start_matches("http://").to_owned(),
            shared.base_url.clone(),
        ),
    };
    let issued_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    // The one message this challenge allows (EIP-4361 as PROTOCOL.md lays it
    // out), composed here on its own so that a client's drift shows.
    let expected = [
        format!("{host} wants you to sign in with your Ethereum account:"),
        request.wallet.clone(),
        String::new(),
        format!("URI: {uri}"),
        "Version: 1".into(),
        "Chain ID: 1".into(),
        format!("Nonce: {nonce}"),
        format!("Issued At: {issued_at}"),
    ]
    .join("\n");
    lock(shared).nonces.insert(request.wallet.clone(), expected);
    let mut entry = received(shared, path, 200, None);
    entry.address = Some(request.wallet);
    record(shared, entry);
    Ok(json_response(
        200,
        json!({
            "nonce": nonce,
            "domain": host,
            "uri": uri,
            "version": "1",
            "chainId": 1,
            "issuedAt": issued_at,
        }),
    ))
}

fn wallet(shared: &Shared, path: &str, body: &[u8]) -> Result<Response, Rejection> {
    let reg: WalletRegistration = verify::parse_json(body)?;
    let wallet = verify::parse_siwe(&reg.message)
        .map(|f| f.address)
        .unwrap_or_default();
    if let Some(busy) = over_capacity(shared, &wallet) {
        record(
            shared,
            received(shared, path, 503, Some("over capacity".into())),
        );
        return Ok(busy);
    }
    if reg.capabilities.is_empty() {
        return Err(Rejection {
            status: 422,
            reason: "capabilities must not be empty".into(),
        });
    }
    let fields = signed_challenge(shared, &reg.message, &reg.signature)?;
    check_credentials(shared, &reg.registration_credentials)?;
    lock(shared).registered.insert(fields.address.clone());
    let mut entry = received(shared, path, 200, None);
    entry.address = Some(fields.address);
    entry.version = Some(reg.version);
    entry.capabilities = Some(reg.capabilities);
    record(shared, entry);
    Ok(json_response(200, json!({ "ok": true })))
}

/// A signed SIWE message, checked: it is exactly the one the challenge
/// issued for its address allows (consumed, whatever the rest says), and
/// that address signed it.
fn signed_challenge(
    shared: &Shared,
    message: &str,
    signature: &str,
) -> Result<verify::SiweFields, Rejection> {
    let fields = verify::parse_siwe(message)?;
    let Some(expected) = lock(shared).nonces.remove(&fields.address) else {
        return Err(Rejection {
            status: 401,
            reason: "unknown or used nonce".into(),
        });
    };
    if message != expected {
        let reason = if expected.contains(&format!("\nNonce: {}\n", fields.nonce)) {
            "SIWE message is not for this DDS (a field differs from the challenge issued)"
        } else {
            "unknown or used nonce"
        };
        return Err(Rejection {
            status: 401,
            reason: reason.into(),
        });
    }
    verify::verify_eip191(message, signature, &fields.address)?;
    Ok(fields)
}

/// Sign-in: a signed challenge for a registered node's address becomes an
/// access token.
fn siwe_verify(shared: &Shared, path: &str, body: &[u8]) -> Result<Response, Rejection> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SignIn {
        address: String,
        message: String,
        signature: String,
    }
    let sign_in: SignIn = verify::parse_json(body)?;
    let fields = signed_challenge(shared, &sign_in.message, &sign_in.signature)?;
    if fields.address != sign_in.address {
        return Err(Rejection {
            status: 401,
            reason: "address is not the one the message names".into(),
        });
    }
    let mut log = lock(shared);
    if !log.registered.contains(&fields.address) {
        return Err(Rejection {
            status: 404,
            reason: "no node registered with this address".into(),
        });
    }
    let token = hex::encode(random_bytes::<24>());
    let lifetime = log.token_lifetime.unwrap_or(TOKEN_LIFETIME);
    let expires_at = chrono::Utc::now() + lifetime;
    log.tokens.insert(token.clone(), expires_at);
    log.sign_ins += 1;
    drop(log);
    let mut entry = received(shared, path, 200, None);
    entry.address = Some(fields.address);
    record(shared, entry);
    Ok(json_response(
        200,
        json!({
            "access_token": token,
            "access_expires_at": expires_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }),
    ))
}

/// `GET /internal/v1/auth/check`: 200 for a live bearer token, else 401.
async fn check_token(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let live = token
        .and_then(|t| lock(&shared).tokens.get(t).copied())
        .is_some_and(|expires_at| chrono::Utc::now() < expires_at);
    if live {
        json_response(200, json!({ "ok": true }))
    } else {
        json_response(401, json!({ "error": "missing, unknown or expired token" }))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionSettings {
    token_lifetime_ms: Option<u64>,
    siwe_domain: Option<String>,
}

async fn set_session(
    State(shared): State<Arc<Shared>>,
    Json(settings): Json<SessionSettings>,
) -> impl IntoResponse {
    let mut log = lock(&shared);
    if let Some(ms) = settings.token_lifetime_ms {
        log.token_lifetime = Some(Duration::from_millis(ms));
    }
    if let Some(name) = settings.siwe_domain {
        log.siwe_domain = Some(name);
    }
    Json(json!({
        "token_lifetime_ms": log.token_lifetime.map(|lifetime| lifetime.as_millis() as u64),
        "siwe_domain": log.siwe_domain,
    }))
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("OS randomness");
    bytes
}

/// After a legacy registration: hand the node an id and a secret, then probe
/// its health until it stops answering, it registers again (a new loop takes
/// over), or the mock shuts down. Loopback node URLs only.
async fn call_node(shared: Arc<Shared>, node_url: String) {
    if !shared.config.callback_delay.is_zero() {
        tokio::time::sleep(shared.config.callback_delay).await;
    }
    let (id, secret, generation) = {
        let mut log = lock(&shared);
        log.next_node += 1;
        let id = format!("node-{}", log.next_node);
        let secret = hex::encode(random_bytes::<24>());
        log.issued_secrets.push(secret.clone());
        let generation = log.probe_generation.entry(node_url.clone()).or_default();
        *generation += 1;
        (id, secret, *generation)
    };
    let callback = shared
        .client
        .post(format!("{node_url}/internal/v1/registrations"))
        .header("content-type", "application/json")
        .body(json!({ "id": id, "secret": secret, "organization_id": "mock-org" }).to_string())
        .send()
        .await;
    lock(&shared).callbacks.push(CallbackRecord {
        node_url: node_url.clone(),
        id,
        status: callback.as_ref().ok().map(|r| r.status().as_u16()),
        error: callback.as_ref().err().map(|e| e.to_string()),
    });
    let mut shutdown = shared.shutdown.clone();
    let mut failures = 0;
    for _ in 0..MAX_PROBES {
        tokio::select! {
            _ = tokio::time::sleep(shared.config.probe_interval) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        if lock(&shared).probe_generation.get(&node_url) != Some(&generation) {
            return;
        }
        let probe = shared
            .client
            .get(format!("{node_url}/health"))
            .header("user-agent", PROBE_USER_AGENT)
            .send()
            .await;
        let status = probe.as_ref().ok().map(|r| r.status().as_u16());
        lock(&shared).probes.push(ProbeRecord {
            node_url: node_url.clone(),
            status,
        });
        failures = if status == Some(200) { 0 } else { failures + 1 };
        if failures >= 3 {
            return;
        }
    }
}
