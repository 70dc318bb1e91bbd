//! The registration loop as a sans-IO state machine.
//!
//! The host owns every side effect. It feeds in wall-clock time, responses
//! (matched by [`RequestId`]), lock results and the DDS's calls to the node,
//! and drains [`Registrar::poll_output`] until it answers [`Output::Wait`]:
//!
//! ```text
//! let mut registrar = Registrar::new(config, key, stored_snapshot, now, seed)?;
//! loop {
//!     match registrar.poll_output() {
//!         Output::Transmit(req)  => send it; later: registrar.handle_response(req.id, result, now)
//!         Output::AcquireLock    => try the lock; registrar.handle_lock(outcome, now)
//!         Output::ReleaseLock    => release it
//!         Output::Persist(snap)  => store snap.encode() atomically
//!         Output::Event(event)   => log it / call the user's callback
//!         Output::Wait(deadline) => sleep until `deadline` or until a response or
//!                                   node request arrives; then registrar.handle_timeout(now)
//!     }
//! }
//! ```
//!
//! Behaviour follows the reference loop: first check one second after start;
//! `disconnected → registering → registered`; TTL = max(interval, 1 s); a
//! registered node whose last health check is older than the TTL registers
//! again; failures back off `min(2ⁿ, 60) s × U[0.8, 1.2]`; an optional retry
//! cap pauses for a full TTL. Where the reference is wrong this is better, on
//! purpose: responses are classified (409 and other 4xx wait a full interval),
//! `Retry-After` is honoured as a floor over the backoff, expiry is noticed
//! when it happens rather than up to a TTL later, and callbacks are accepted
//! only while a registration is pending.

use crate::callback::{
    self, CallbackRejection, NodeResponse, RegistrationCallback, CALLBACK_PATH, HEALTH_PATH,
};
use crate::keys::{PrivateKey, Signer};
use crate::redact::{self, Redactor};
use crate::request::{self, HttpRequest, NodeDescription, SiweChallenge};
use crate::response::{self, Failure, FailureClass, HttpResponse, TransportError};
use crate::rng::SplitMix64;
use crate::secret::Secret;
use crate::snapshot::{CallbackSlot, DdsCredentials, RegisteredAs, Snapshot};
use crate::time::{millis, UnixTime};
use crate::url::{validate_node_url, BaseUrl, UrlError};
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Delay before the first check, and after a reset or an expired health check.
pub const SHORT_DELAY: Duration = Duration::from_secs(1);
/// Backoff never waits longer than this (before jitter).
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Repeated conflict or refused-request warnings are logged at most this often.
pub const WARN_INTERVAL: Duration = Duration::from_secs(180);
/// How long after a legacy attempt starts a DDS callback is still expected
/// while the attempt is unanswered (the request timeout ends it sooner).
pub const CALLBACK_WINDOW: Duration = Duration::from_secs(300);
/// After a successful legacy registration, how long a callback that arrives
/// after the DDS's answer is still accepted.
pub const CALLBACK_GRACE: Duration = Duration::from_secs(30);
/// Default time a request may stay unanswered before it counts as timed out.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default registration interval (the health-check TTL).
pub const DEFAULT_REGISTER_INTERVAL: Duration = Duration::from_secs(60);
/// Registration credentials shorter than this are refused: every message is
/// redacted of them, and a shorter one would be cut out of ordinary words
/// (one letter would garble every line).
pub const MIN_CREDENTIALS_BYTES: usize = 4;

/// Where the registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Status {
    /// Not registered and not trying yet.
    #[default]
    Disconnected,
    /// Trying to register.
    Registering,
    /// Registered with the DDS.
    Registered,
}

impl Status {
    /// The name the reference stores: `disconnected`, `registering`, `registered`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Disconnected => "disconnected",
            Status::Registering => "registering",
            Status::Registered => "registered",
        }
    }

    /// The status with that stored name.
    pub fn from_name(name: &str) -> Option<Status> {
        match name {
            "disconnected" => Some(Status::Disconnected),
            "registering" => Some(Status::Registering),
            "registered" => Some(Status::Registered),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which registration protocol to speak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// `nodes/register`, signed over the node URL; the DDS calls the node back
    /// and probes its health, and an expired health check means registering again.
    Legacy {
        /// The node's public URL, signed and sent verbatim.
        node_url: String,
    },
    /// SIWE: a nonce, an EIP-191 signature, `nodes/register-wallet`. Once
    /// registered, the registrar stays registered (as the reference does).
    Wallet,
}

impl Flow {
    /// The flow a binding's options describe: `flow` is `"wallet"` (the
    /// default when `None`) or `"legacy"`; only the legacy flow takes, and
    /// needs, a node URL. One rule for every binding.
    pub fn from_options(flow: Option<&str>, node_url: Option<&str>) -> Result<Flow, ConfigError> {
        let node_url = node_url.filter(|url| !url.is_empty());
        match (flow.unwrap_or("wallet"), node_url) {
            ("wallet", None) => Ok(Flow::Wallet),
            ("wallet", Some(_)) => Err(ConfigError::NodeUrlWithWallet),
            ("legacy", Some(url)) => Ok(Flow::Legacy {
                node_url: url.to_owned(),
            }),
            ("legacy", None) => Err(ConfigError::MissingNodeUrl),
            _ => Err(ConfigError::UnknownFlow),
        }
    }

    /// `wallet` or `legacy`.
    pub fn name(&self) -> &'static str {
        match self {
            Flow::Legacy { .. } => "legacy",
            Flow::Wallet => "wallet",
        }
    }
}

/// A duration from a binding's seconds (or milliseconds divided by 1000):
/// negative and NaN become zero (which [`RegistrarConfig::validate`] then
/// refuses with its message), anything beyond a year is a year.
pub fn duration_from_secs_f64(secs: f64) -> Duration {
    const YEAR: f64 = 365.0 * 24.0 * 3600.0;
    if secs.is_nan() || secs <= 0.0 {
        Duration::ZERO
    } else {
        Duration::from_secs_f64(secs.min(YEAR))
    }
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The DDS URL.
    #[error("invalid DDS URL: {0}")]
    DdsUrl(UrlError),
    /// The node URL.
    #[error("invalid node URL: {0}")]
    NodeUrl(UrlError),
    /// The wallet flow needs at least one capability.
    #[error("the wallet flow needs at least one capability")]
    NoCapabilities,
    /// A blank node version.
    #[error("node version must not be empty")]
    EmptyVersion,
    /// Empty registration credentials.
    #[error("registration credentials must not be empty")]
    EmptyCredentials,
    /// Registration credentials too short to be cut out of messages safely.
    #[error("registration credentials must be at least {MIN_CREDENTIALS_BYTES} bytes")]
    ShortCredentials,
    /// A capability that is blank.
    #[error("capabilities must not be blank")]
    BlankCapability,
    /// A request timeout of zero: every attempt would time out at once.
    #[error("request timeout must be greater than zero")]
    ZeroRequestTimeout,
    /// A registration interval under one second.
    #[error("registration interval must be at least 1 second")]
    IntervalTooShort,
    /// A flow name other than `wallet` or `legacy`.
    #[error("flow must be \"wallet\" or \"legacy\"")]
    UnknownFlow,
    /// The legacy flow without a node URL.
    #[error("the legacy flow needs a node URL (where the DDS calls the node back)")]
    MissingNodeUrl,
    /// A node URL with the wallet flow, which has none.
    #[error("the wallet flow takes no node URL; choose the legacy flow to register one")]
    NodeUrlWithWallet,
    /// A remote signer with the legacy flow, whose signature only the node's
    /// own key can make.
    #[error("a remote signer signs the wallet flow only; the legacy flow needs the node's key")]
    RemoteSignerNeedsWallet,
    /// A remote signer's address that is not `0x` and 40 hex digits.
    #[error("the signer's address is not 0x and 40 hex digits")]
    SignerAddress,
    /// A trusted SIWE domain that is not a bare host or `host:port`.
    #[error("a SIWE domain is a host or host:port (no scheme, path, user or spaces)")]
    SiweDomain,
}

impl ConfigError {
    /// A stable snake_case code for bindings' error objects.
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::DdsUrl(_) => "invalid_dds_url",
            ConfigError::NodeUrl(_) => "invalid_node_url",
            ConfigError::NoCapabilities => "no_capabilities",
            ConfigError::EmptyVersion => "empty_version",
            ConfigError::EmptyCredentials => "empty_credentials",
            ConfigError::ShortCredentials => "short_credentials",
            ConfigError::BlankCapability => "blank_capability",
            ConfigError::ZeroRequestTimeout => "zero_request_timeout",
            ConfigError::IntervalTooShort => "interval_too_short",
            ConfigError::UnknownFlow => "unknown_flow",
            ConfigError::MissingNodeUrl => "missing_node_url",
            ConfigError::NodeUrlWithWallet => "node_url_with_wallet",
            ConfigError::RemoteSignerNeedsWallet => "remote_signer_needs_wallet",
            ConfigError::SignerAddress => "invalid_signer_address",
            ConfigError::SiweDomain => "invalid_siwe_domain",
        }
    }
}

/// Everything the registrar needs to know that does not change while it runs.
#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    /// The DDS base URL.
    pub dds_url: BaseUrl,
    /// Which protocol.
    pub flow: Flow,
    /// Version, capabilities and registration credentials.
    pub node: NodeDescription,
    /// The health-check TTL and interval between checks (at least 1 s is used).
    pub register_interval: Duration,
    /// Consecutive fast failures before pausing a full TTL; `None` never pauses.
    pub max_retry: Option<u32>,
    /// Whether the host coordinates processes with a lock ([`Output::AcquireLock`]).
    pub use_lock: bool,
    /// How long a request may stay unanswered before it counts as timed out.
    pub request_timeout: Duration,
    /// Domains besides the DDS URL's own whose SIWE challenges may be signed
    /// (for a DDS that names its public domain behind a private URL).
    pub siwe_domains: Vec<String>,
}

impl RegistrarConfig {
    /// A configuration with the reference's defaults: 60 s interval, no retry
    /// cap, no lock, 30 s request timeout. Validates the URLs and the version.
    pub fn new(
        dds_url: &str,
        flow: Flow,
        node_version: &str,
        capabilities: Vec<String>,
        credentials: Secret,
    ) -> Result<Self, ConfigError> {
        let dds_url = BaseUrl::parse(dds_url).map_err(ConfigError::DdsUrl)?;
        if let Flow::Legacy { node_url } = &flow {
            validate_node_url(node_url).map_err(ConfigError::NodeUrl)?;
        }
        if matches!(flow, Flow::Wallet) && capabilities.is_empty() {
            return Err(ConfigError::NoCapabilities);
        }
        if node_version.trim().is_empty() {
            return Err(ConfigError::EmptyVersion);
        }
        if capabilities.iter().any(|c| c.trim().is_empty()) {
            return Err(ConfigError::BlankCapability);
        }
        Ok(RegistrarConfig {
            dds_url,
            flow,
            node: NodeDescription {
                version: node_version.to_owned(),
                capabilities,
                credentials,
            },
            register_interval: DEFAULT_REGISTER_INTERVAL,
            max_retry: None,
            use_lock: false,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            siwe_domains: Vec::new(),
        })
    }

    /// Checks the fields a host may set after [`RegistrarConfig::new`]: the
    /// one set of rules every binding applies (hosts call it before starting).
    ///
    /// Empty registration credentials are refused here rather than in
    /// [`RegistrarConfig::new`]: a request built by hand may carry them (the
    /// reference's vectors do), a registrar never sends them.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.node.credentials.is_empty() {
            return Err(ConfigError::EmptyCredentials);
        }
        if self.request_timeout.is_zero() {
            return Err(ConfigError::ZeroRequestTimeout);
        }
        if self.register_interval < Duration::from_secs(1) {
            return Err(ConfigError::IntervalTooShort);
        }
        check_siwe_domains(&self.siwe_domains)?;
        if self.node.credentials.len() < MIN_CREDENTIALS_BYTES {
            return Err(ConfigError::ShortCredentials);
        }
        Ok(())
    }

    /// Sets the SIWE domains trusted besides the DDS URL's own, checked as
    /// [`RegistrarConfig::validate`] checks them. For the low-level request
    /// builders, which take a configuration but send what the caller gives.
    pub fn with_siwe_domains(mut self, domains: Vec<String>) -> Result<Self, ConfigError> {
        check_siwe_domains(&domains)?;
        self.siwe_domains = domains;
        Ok(self)
    }

    /// What a registration made with this configuration is for.
    pub fn registered_as(&self, address: &str) -> RegisteredAs {
        let (flow, node_url) = match &self.flow {
            Flow::Legacy { node_url } => ("legacy", Some(node_url.clone())),
            Flow::Wallet => ("wallet", None),
        };
        RegisteredAs {
            dds_url: self.dds_url.as_str().to_owned(),
            flow: flow.to_owned(),
            address: address.to_owned(),
            node_url,
            version: self.node.version.clone(),
            capabilities: self.node.capabilities.clone(),
        }
    }

    /// The health-check TTL: the interval, at least one second.
    pub fn ttl(&self) -> Duration {
        self.register_interval.max(Duration::from_secs(1))
    }

    /// After this long a lock holder is presumed dead: `clamp(2 × TTL, 30 s, 600 s)`.
    /// Hosts whose locks do not vanish with their holder use it.
    pub fn lock_stale_after(&self) -> Duration {
        self.ttl()
            .saturating_mul(2)
            .clamp(Duration::from_secs(30), Duration::from_secs(600))
    }
}

/// A challenge's domain is compared with these as written: a URL here would
/// never match, and the mistake would show only as refusals.
fn check_siwe_domains(domains: &[String]) -> Result<(), ConfigError> {
    let bare_authority = |domain: &String| {
        !domain.is_empty()
            && !domain
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "/@?#".contains(c))
    };
    if domains.iter().all(bare_authority) {
        Ok(())
    } else {
        Err(ConfigError::SiweDomain)
    }
}

/// Identifies an outgoing request; hand it back with the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// A request the host must send, and report back with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRequest {
    /// Pass to [`Registrar::handle_response`].
    pub id: RequestId,
    /// What to send.
    pub request: HttpRequest,
    /// Give up (report [`response::TransportErrorKind::Timeout`]) after this long.
    pub timeout: Duration,
}

/// The result of the host's attempt to take the registration lock.
// Made once per attempt and consumed at once: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOutcome {
    /// Taken. `fresh` is the snapshot as stored now, read under the lock: another
    /// process may have registered meanwhile.
    Acquired {
        /// The stored snapshot, if any.
        fresh: Option<Snapshot>,
    },
    /// Another process holds it.
    Busy,
    /// The lock could not be tried (the message must not contain secrets).
    Failed(String),
}

/// How loud an event is; hosts map it to their logger's levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Diagnostic detail.
    Debug,
    /// Normal progress.
    Info,
    /// Something failed.
    Warn,
}

/// A value in [`Event::fields`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum FieldValue {
    /// A count or a number of milliseconds.
    Int(u64),
    /// Text (sanitised: no control characters).
    Text(String),
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Int(n) => write!(f, "{n}"),
            FieldValue::Text(text) => f.write_str(text),
        }
    }
}

/// How an attempt that succeeded came to: see [`Event::attempt_result`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptOutcome {
    /// The DDS accepted a registration just now.
    Registered,
    /// A fresh registration for this exact configuration was already stored
    /// (by this node before a restart, or by a sibling worker): taken over
    /// without asking the DDS again.
    Adopted,
}

/// Why a stored registration was not taken over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaleReason {
    /// Stored before this library recorded what a registration was for.
    NotRecorded,
    /// Made for another DDS, flow, key, node URL, version or capabilities.
    Changed {
        /// The fields that differ, e.g. `version, capabilities`.
        fields: String,
    },
    /// Not confirmed (registered or health-checked) within one TTL.
    Expired {
        /// Time since the last confirmation (None: never confirmed).
        since_last: Option<Duration>,
    },
}

impl fmt::Display for StaleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StaleReason::NotRecorded => f.write_str("it does not record what was registered"),
            StaleReason::Changed { fields } => write!(f, "{fields} changed"),
            StaleReason::Expired {
                since_last: Some(d),
            } => write!(f, "last confirmed {}s ago, more than one TTL", d.as_secs()),
            StaleReason::Expired { since_last: None } => f.write_str("never confirmed"),
        }
    }
}

/// Something that happened, for logs and callbacks. Never carries a secret:
/// `Display` gives a human line, [`Event::name`] the reference's event name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `registration.attempt`: upstream's "Registering node with DDS", once
    /// per attempt.
    AttemptStarted {
        /// Consecutive failed attempts before this one, plus one.
        attempt: u32,
        /// The first endpoint the attempt calls.
        endpoint: String,
    },
    /// `registration.loop.start`
    LoopStarted {
        /// The health-check TTL.
        ttl: Duration,
    },
    /// `lock.acquired`
    LockAcquired,
    /// `lock.busy`: another process is registering; check again after a TTL.
    LockBusy,
    /// `lock.error`
    LockError {
        /// What the host reported.
        error: String,
    },
    /// `status.transition`
    StatusChanged {
        /// Old status.
        from: Status,
        /// New status.
        to: Status,
    },
    /// `registration.success`
    Registered {
        /// How long the attempt took.
        elapsed: Duration,
    },
    /// `registration.error` (also the rate-limited warning for 4xx answers)
    RegistrationFailed {
        /// The classified failure.
        failure: Failure,
        /// Consecutive fast failures so far (0 after a slow-retry answer).
        attempt: u32,
        /// When the next attempt is due.
        retry_in: Duration,
        /// Whether a loop will make that attempt: false when the host drives
        /// no loop ([`Registrar::set_looping`]), e.g. a `register_once` alone;
        /// the text and fields then promise no retry.
        retrying: bool,
        /// Whether this deserves a warning (repeats are rate-limited to debug).
        warn: bool,
    },
    /// `registration.conflict`: the DDS says the node is registered elsewhere.
    Conflict {
        /// The classified failure.
        failure: Failure,
        /// How long the conflict has lasted.
        blocked_for: Duration,
        /// Whether this deserves a warning (at most every 180 s).
        warn: bool,
    },
    /// `registration.max_retry_reached`
    MaxRetryReached {
        /// The configured cap.
        max_retry: u32,
    },
    /// `healthcheck.expired`
    HealthCheckExpired {
        /// Time since the last health check (None: never checked).
        since_last: Option<Duration>,
    },
    /// `status.unknown`: a stored status was none of the known ones.
    UnknownStatus {
        /// The stored text (at most 64 characters of it).
        stored: String,
    },
    /// `healthcheck.touch`: the DDS probed `/health`.
    HealthCheckReceived,
    /// `registration.callback`: the DDS handed over id and secret.
    CallbackAccepted {
        /// The node's id.
        id: String,
        /// Its organisation, if given.
        organization_id: Option<String>,
        /// Length of the secret in bytes (never the secret).
        secret_len: usize,
    },
    /// `registration.callback.rejected`
    CallbackRejected {
        /// The status answered.
        status: u16,
        /// Why.
        reason: String,
        /// Rejected since the last one reported at warning level, not counting
        /// this one.
        suppressed: u32,
        /// A warning, at most one per `WARN_INTERVAL`; the rest are debug lines:
        /// anyone who reaches the node's port can post as often as they like.
        warn: bool,
    },
    /// `request.cancelled`: the host abandoned the request in flight.
    RequestCancelled {
        /// Its id.
        id: RequestId,
    },
    /// `response.ignored`: a response for a request that is no longer awaited.
    StaleResponse {
        /// Its id.
        id: RequestId,
    },
    /// `registration.adopted`: a fresh stored registration for this exact
    /// configuration was taken over instead of registering again.
    Adopted {
        /// Time since that registration was last confirmed.
        age: Duration,
    },
    /// `registration.stale`: the stored registration is not reused; the node
    /// registers again.
    StoredRegistrationStale {
        /// Why.
        reason: StaleReason,
    },
    /// `registration.callback.conflict`: a second, different callback in one
    /// window, refused; one of the two may be forged.
    CallbackConflict {
        /// The refused callback's id (sanitised, shortened).
        id: String,
    },
    /// `registration.rearm`: the host asked to register again now.
    RegisterAgain,
    /// `state.corrupt`: the stored snapshot was unusable and set aside (hosts
    /// report it; the registrar itself never reads storage).
    StateCorrupt {
        /// What was wrong (never the stored bytes).
        error: String,
    },
    /// `state.save.error`: a snapshot could not be stored (reported by hosts).
    StateSaveFailed {
        /// The store's error.
        error: String,
    },
}

impl Event {
    /// The reference's event name, e.g. `status.transition`.
    pub fn name(&self) -> &'static str {
        match self {
            Event::AttemptStarted { .. } => "registration.attempt",
            Event::LoopStarted { .. } => "registration.loop.start",
            Event::LockAcquired => "lock.acquired",
            Event::LockBusy => "lock.busy",
            Event::LockError { .. } => "lock.error",
            Event::StatusChanged { .. } => "status.transition",
            Event::Registered { .. } => "registration.success",
            Event::RegistrationFailed { .. } => "registration.error",
            Event::Conflict { .. } => "registration.conflict",
            Event::MaxRetryReached { .. } => "registration.max_retry_reached",
            Event::HealthCheckExpired { .. } => "healthcheck.expired",
            Event::UnknownStatus { .. } => "status.unknown",
            Event::HealthCheckReceived => "healthcheck.touch",
            Event::CallbackAccepted { .. } => "registration.callback",
            Event::CallbackRejected { .. } => "registration.callback.rejected",
            Event::RequestCancelled { .. } => "request.cancelled",
            Event::StaleResponse { .. } => "response.ignored",
            Event::Adopted { .. } => "registration.adopted",
            Event::StoredRegistrationStale { .. } => "registration.stale",
            Event::CallbackConflict { .. } => "registration.callback.conflict",
            Event::RegisterAgain => "registration.rearm",
            Event::StateCorrupt { .. } => "state.corrupt",
            Event::StateSaveFailed { .. } => "state.save.error",
        }
    }

    /// How loud the event is.
    pub fn level(&self) -> Level {
        match self {
            Event::LockBusy
            | Event::HealthCheckReceived
            | Event::StaleResponse { .. }
            | Event::RequestCancelled { .. } => Level::Debug,
            Event::LockError { .. }
            | Event::MaxRetryReached { .. }
            | Event::UnknownStatus { .. }
            | Event::CallbackConflict { .. }
            | Event::StateCorrupt { .. }
            | Event::StateSaveFailed { .. } => Level::Warn,
            Event::RegistrationFailed { warn, .. }
            | Event::Conflict { warn, .. }
            | Event::CallbackRejected { warn, .. } => {
                if *warn {
                    Level::Warn
                } else {
                    Level::Debug
                }
            }
            _ => Level::Info,
        }
    }

    /// The event's data as named fields (never a secret), the same in every
    /// binding: upstream's `attempt`, `elapsed_ms`, `error`, `blocked_ms` and
    /// `status` (as `503 Service Unavailable`) among them.
    pub fn fields(&self) -> Vec<(&'static str, FieldValue)> {
        use FieldValue::{Int, Text};
        let ms = |d: &Duration| Int(millis(*d));
        let status = |failure: &Failure| {
            failure
                .status
                .map(|code| ("status", Text(response::status_line(code))))
        };
        match self {
            Event::AttemptStarted { attempt, endpoint } => vec![
                ("attempt", Int(u64::from(*attempt))),
                ("endpoint", Text(endpoint.clone())),
            ],
            Event::LoopStarted { ttl } => vec![("ttl_ms", ms(ttl))],
            Event::LockError { error } => vec![("error", Text(error.clone()))],
            Event::StatusChanged { from, to } => vec![
                ("from", Text(from.as_str().into())),
                ("to", Text(to.as_str().into())),
            ],
            Event::Registered { elapsed } => vec![("elapsed_ms", ms(elapsed))],
            Event::RegistrationFailed {
                failure,
                attempt,
                retry_in,
                retrying,
                ..
            } => [
                Some(("attempt", Int(u64::from(*attempt)))),
                Some(("error", Text(failure.message.clone()))),
                Some(("failure_class", Text(failure.class.as_str().into()))),
                retrying.then(|| ("retry_in_ms", ms(retry_in))),
                status(failure),
            ]
            .into_iter()
            .flatten()
            .collect(),
            Event::Conflict {
                failure,
                blocked_for,
                ..
            } => [
                Some(("error", Text(failure.message.clone()))),
                Some(("blocked_ms", ms(blocked_for))),
                status(failure),
            ]
            .into_iter()
            .flatten()
            .collect(),
            Event::MaxRetryReached { max_retry } => {
                vec![("max_retry", Int(u64::from(*max_retry)))]
            }
            Event::HealthCheckExpired { since_last } => since_last
                .iter()
                .map(|d| ("since_last_ms", ms(d)))
                .collect(),
            Event::UnknownStatus { stored } => vec![("stored", Text(stored.clone()))],
            Event::HealthCheckReceived | Event::LockAcquired | Event::LockBusy => Vec::new(),
            Event::RegisterAgain => Vec::new(),
            Event::CallbackAccepted {
                id,
                organization_id,
                secret_len,
            } => [
                Some(("id", Text(id.clone()))),
                organization_id
                    .as_ref()
                    .map(|org| ("organization_id", Text(org.clone()))),
                Some(("secret_len", Int(*secret_len as u64))),
            ]
            .into_iter()
            .flatten()
            .collect(),
            Event::CallbackRejected {
                status,
                reason,
                suppressed,
                ..
            } => vec![
                ("status", Text(response::status_line(*status))),
                ("error", Text(reason.clone())),
                ("suppressed", Int(u64::from(*suppressed))),
            ],
            Event::RequestCancelled { id } | Event::StaleResponse { id } => {
                vec![("request_id", Int(id.0))]
            }
            Event::Adopted { age } => vec![("age_ms", ms(age))],
            Event::StoredRegistrationStale { reason } => {
                vec![("reason", Text(reason.to_string()))]
            }
            Event::CallbackConflict { id } => vec![("id", Text(id.clone()))],
            Event::StateCorrupt { error } | Event::StateSaveFailed { error } => {
                vec![("error", Text(error.clone()))]
            }
        }
    }

    /// For events that end an attempt (or a [`Registrar::register_now`]): its result.
    pub fn attempt_result(&self) -> Option<Result<AttemptOutcome, &Failure>> {
        match self {
            Event::Registered { .. } => Some(Ok(AttemptOutcome::Registered)),
            Event::Adopted { .. } => Some(Ok(AttemptOutcome::Adopted)),
            Event::RegistrationFailed { failure, .. } | Event::Conflict { failure, .. } => {
                Some(Err(failure))
            }
            _ => None,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::AttemptStarted { attempt, endpoint } => {
                write!(f, "Registering node with DDS (attempt {attempt}, {endpoint})")
            }
            Event::LoopStarted { ttl } => {
                write!(f, "registration loop started (health-check TTL {}s)", ttl.as_secs())
            }
            Event::LockAcquired => f.write_str("registration lock acquired"),
            Event::LockBusy => f.write_str("another registrar is active"),
            Event::LockError { error } => write!(f, "could not acquire lock: {error}"),
            Event::StatusChanged { from, to } => write!(f, "status {from} -> {to}"),
            Event::Registered { elapsed } => {
                write!(f, "successfully registered to DDS in {} ms", millis(*elapsed))
            }
            Event::RegistrationFailed {
                failure,
                attempt,
                retrying: false,
                ..
            } => write!(
                f,
                "registration to DDS failed (attempt {attempt}, {}): {failure}",
                failure.class.as_str()
            ),
            Event::RegistrationFailed {
                failure,
                attempt,
                retry_in,
                ..
            } => {
                // Tenths of a second in integer arithmetic (rounded to nearest), rather than
                // `{:.1}` of an f64: no float formatting in the registrar's own messages.
                let tenths = millis(*retry_in).saturating_add(50) / 100;
                write!(
                    f,
                    "registration to DDS failed (attempt {attempt}, {}); retrying in {}.{}s: {failure}",
                    failure.class.as_str(),
                    tenths / 10,
                    tenths % 10
                )
            }
            Event::Conflict {
                failure,
                blocked_for,
                ..
            } => write!(
                f,
                "registration blocked by an existing online node for {}s: {failure}",
                blocked_for.as_secs()
            ),
            Event::MaxRetryReached { max_retry } => write!(
                f,
                "max retry ({max_retry}) reached; pausing until next TTL window"
            ),
            Event::HealthCheckExpired { since_last } => match since_last {
                Some(d) => write!(f, "health-check TTL exceeded ({}s since last); registering again", d.as_secs()),
                None => f.write_str("no health check recorded; registering again"),
            },
            Event::UnknownStatus { stored } => {
                write!(f, "unknown stored status {stored:?}; resetting to disconnected")
            }
            Event::HealthCheckReceived => f.write_str("health check from DDS"),
            Event::CallbackAccepted {
                id,
                organization_id,
                secret_len,
            } => write!(
                f,
                "registration callback accepted: id {id}, organization {}, secret of {secret_len} bytes",
                organization_id.as_deref().unwrap_or("-")
            ),
            Event::CallbackRejected {
                status,
                reason,
                suppressed,
                ..
            } => {
                write!(f, "registration callback rejected with {status}: {reason}")?;
                match suppressed {
                    0 => Ok(()),
                    n => write!(f, " ({n} more rejected since the last warning)"),
                }
            }
            Event::RequestCancelled { id } => write!(f, "request {} abandoned by the host", id.0),
            Event::StaleResponse { id } => write!(f, "ignored response to request {}", id.0),
            Event::Adopted { age } => write!(
                f,
                "took over the stored registration for this DDS, key, URL, version and capabilities (confirmed {}s ago)",
                age.as_secs()
            ),
            Event::StoredRegistrationStale { reason } => {
                write!(f, "stored registration not reused ({reason}); registering again")
            }
            Event::CallbackConflict { id } => write!(
                f,
                "refused a second, different registration callback (id {id}) in one window: possibly forged"
            ),
            Event::RegisterAgain => f.write_str("asked to register again now"),
            Event::StateCorrupt { error } => write!(
                f,
                "stored registration state unusable ({error}); set aside, registering afresh"
            ),
            Event::StateSaveFailed { error } => {
                write!(f, "could not persist registration state: {error}")
            }
        }
    }
}

/// What the host has to do next; see the module docs for the loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this request.
    Transmit(OutgoingRequest),
    /// Only for a registrar built with [`Registrar::with_remote_signer`]: ask
    /// the signer for this message's EIP-191 signature, then call
    /// [`Registrar::handle_signature`].
    Sign(SignRequest),
    /// Try the registration lock, then call [`Registrar::handle_lock`].
    AcquireLock,
    /// Release the registration lock.
    ReleaseLock,
    /// Store this snapshot (atomically).
    Persist(Box<Snapshot>),
    /// Only with [`RegistrarConfig::use_lock`], from a process that does not
    /// hold the lock: merge what it learned (a health check, a callback) into
    /// the shared snapshot. Take the lock without waiting; if taken, load the
    /// stored snapshot, store what [`Registrar::merge_shared`] returns and
    /// release the lock; if busy, call [`Registrar::share_busy`].
    ShareState,
    /// Only with [`RegistrarConfig::use_lock`], about once a second in a
    /// process that does not hold the lock: read the shared snapshot (without
    /// the lock) and hand it to [`Registrar::observe_shared`], so that every
    /// process sees a sibling's registration within a second.
    LoadShared,
    /// Report this event.
    Event(Event),
    /// Nothing to do until this time (or until a response or node request arrives).
    Wait(UnixTime),
}

/// A message for a remote signer ([`Output::Sign`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignRequest {
    /// Pass back to [`Registrar::handle_signature`].
    pub id: RequestId,
    /// The SIWE message to sign with EIP-191 (`personal_sign`).
    pub message: String,
    /// How long the signer may take (the request timeout); later, the
    /// registrar counts the attempt as failed.
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    SiweNonce,
    /// Waiting for a remote signer's signature of this SIWE message.
    Sign(String),
    Register,
}

/// Who signs for the node.
enum NodeSigner {
    /// A key (or signer) the registrar calls in place.
    Local(Arc<dyn Signer>),
    /// A signer the host asks ([`Output::Sign`]): only its address is known.
    Remote { address: String },
}

impl NodeSigner {
    fn eth_address(&self) -> String {
        match self {
            NodeSigner::Local(signer) => signer.eth_address(),
            NodeSigner::Remote { address } => address.clone(),
        }
    }
}

#[derive(Debug, Clone)]
struct InFlight {
    id: RequestId,
    step: Step,
    endpoint: String,
    attempt_started: UnixTime,
    deadline: UnixTime,
}

/// A callback this process accepted that the shared snapshot must get.
#[derive(Debug, Clone)]
struct Delivery {
    /// The attempt whose window it was accepted in: it is merged into that one only.
    attempt: u64,
    credentials: DdsCredentials,
    received_at: UnixTime,
    /// The window it was accepted in closes then; undelivered by then, it is dropped.
    until: UnixTime,
}

/// Where the DDS may call the node back: opened by a legacy attempt, closed
/// by its failure, kept open for [`CALLBACK_GRACE`] after its success.
#[derive(Debug, Clone)]
struct CallbackWindow {
    /// Names the attempt in the shared snapshot, so that siblings bind what
    /// they accept to it.
    attempt: u64,
    closes_at: UnixTime,
    attempt_succeeded: bool,
    /// The callback accepted in this window, committed once the attempt succeeded.
    received: Option<DdsCredentials>,
}

#[derive(Debug, Clone)]
enum Phase {
    /// Waiting for `next_check`.
    Idle,
    /// Waiting for [`Registrar::handle_lock`].
    AwaitingLock,
    /// One request outstanding: never more than one.
    InFlight(InFlight),
}

/// The registration state machine. See the module docs.
pub struct Registrar {
    config: RegistrarConfig,
    key: NodeSigner,
    /// The key's Ethereum address, derived once (a point multiplication and a
    /// hash: too dear for every judgement of a stored registration).
    address: String,
    rng: SplitMix64,
    /// Draws attempt ids (apart from `rng`, so ids leave the jitter sequence as it was).
    attempt_ids: SplitMix64,
    status: Status,
    last_health_check: Option<UnixTime>,
    attempt: u32,
    credentials: Option<DdsCredentials>,
    phase: Phase,
    holding_lock: bool,
    next_check: UnixTime,
    next_request_id: u64,
    /// The legacy callback window of the current (or just succeeded) attempt.
    callback: Option<CallbackWindow>,
    /// Since when a [`Registrar::register_now`] waits for its result.
    once_since: Option<UnixTime>,
    /// Set by [`Registrar::register_again`]: the next attempt must not adopt.
    rearm: bool,
    /// Whether the host runs a loop that acts on [`Output::Wait`]
    /// ([`Registrar::set_looping`]).
    looping: bool,
    /// Since when the lock has been found busy, in this round of checks: a
    /// sibling's registration made after it is adopted whatever its age.
    busy_since: Option<UnixTime>,
    /// What the current registration was made for.
    registered_as: Option<RegisteredAs>,
    /// When a probe last led to a persisted snapshot.
    last_probe_persisted: Option<UnixTime>,
    /// A callback still to be merged into the shared snapshot.
    delivery: Option<Delivery>,
    /// When to try [`Output::ShareState`] again after the lock was busy.
    share_retry_at: Option<UnixTime>,
    /// When to read the shared snapshot next ([`Output::LoadShared`]).
    next_observe: Option<UnixTime>,
    /// The latest time a host call named: a read that came due while there
    /// was nothing to learn is asked for no earlier.
    latest_now: UnixTime,
    /// Until when siblings may change the shared snapshot ([`Registrar::watch_until`]).
    watch_until: Option<UnixTime>,
    /// Secrets to cut out of every text that came from outside.
    redactor: Redactor,
    conflict_since: Option<UnixTime>,
    next_conflict_warn: Option<UnixTime>,
    next_refusal_warn: Option<UnixTime>,
    next_rejection_warn: Option<UnixTime>,
    rejections_unwarned: u32,
    outputs: VecDeque<Output>,
}

impl fmt::Debug for Registrar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registrar")
            .field("dds_url", &self.config.dds_url)
            .field("address", &self.address)
            .field("status", &self.status)
            .field("attempt", &self.attempt)
            .field("next_check", &self.next_check)
            .finish_non_exhaustive()
    }
}

impl Registrar {
    /// Starts a registrar at `now`, resuming from a stored snapshot if there is
    /// one. `seed` seeds the jitter generator: pass OS randomness in production,
    /// a constant in tests and simulations to replay exactly.
    pub fn new(
        config: RegistrarConfig,
        key: PrivateKey,
        snapshot: Option<Snapshot>,
        now: UnixTime,
        seed: u64,
    ) -> Registrar {
        let key_hex = zeroize::Zeroizing::new(hex::encode(*key.to_bytes()));
        let mut registrar = Self::with_signer(config, Arc::new(key), snapshot, now, seed);
        registrar.redactor.add_hex_key(&key_hex);
        registrar
    }

    /// Like [`Registrar::new`], with a [`Signer`] other than a [`PrivateKey`]
    /// (which may be shared by many registrars, as in a fleet simulation).
    pub fn with_signer(
        config: RegistrarConfig,
        key: Arc<dyn Signer>,
        snapshot: Option<Snapshot>,
        now: UnixTime,
        seed: u64,
    ) -> Registrar {
        Self::build(config, NodeSigner::Local(key), snapshot, now, seed)
    }

    /// A registrar for the wallet flow whose node key the library never
    /// holds (a wallet SDK, a hardware-backed key, a signing service): it
    /// knows the signer's `address` only, and asks for the one signature an
    /// attempt needs with [`Output::Sign`]. Refused for the legacy flow and
    /// for an address that is not `0x` and 40 hex digits.
    pub fn with_remote_signer(
        config: RegistrarConfig,
        address: &str,
        snapshot: Option<Snapshot>,
        now: UnixTime,
        seed: u64,
    ) -> Result<Registrar, ConfigError> {
        if !matches!(config.flow, Flow::Wallet) {
            return Err(ConfigError::RemoteSignerNeedsWallet);
        }
        let address = crate::keys::parse_eth_address(address).ok_or(ConfigError::SignerAddress)?;
        Ok(Self::build(
            config,
            NodeSigner::Remote { address },
            snapshot,
            now,
            seed,
        ))
    }

    fn build(
        config: RegistrarConfig,
        key: NodeSigner,
        snapshot: Option<Snapshot>,
        now: UnixTime,
        seed: u64,
    ) -> Registrar {
        let snapshot = snapshot.unwrap_or_default();
        let mut redactor = Redactor::new();
        redactor.add_secret(config.node.credentials.expose());
        if let Some(credentials) = &snapshot.credentials {
            redactor.add_secret(credentials.secret.expose());
        }
        let mut registrar = Registrar {
            rng: SplitMix64::new(seed),
            attempt_ids: SplitMix64::new(seed ^ 0x5bd1_e995_a3c5_9ac3),
            status: snapshot.status,
            last_health_check: snapshot.last_health_check,
            attempt: snapshot.attempt,
            credentials: snapshot.credentials,
            phase: Phase::Idle,
            holding_lock: false,
            next_check: now + SHORT_DELAY,
            next_request_id: 1,
            callback: None,
            once_since: None,
            rearm: false,
            busy_since: None,
            looping: true,
            registered_as: snapshot.registered_as,
            last_probe_persisted: None,
            delivery: None,
            share_retry_at: None,
            next_observe: config.use_lock.then(|| now + SHORT_DELAY),
            latest_now: now,
            watch_until: None,
            redactor,
            conflict_since: None,
            next_conflict_warn: None,
            next_refusal_warn: None,
            next_rejection_warn: None,
            rejections_unwarned: 0,
            outputs: VecDeque::new(),
            address: key.eth_address(),
            key,
            config,
        };
        registrar.emit(Event::LoopStarted {
            ttl: registrar.config.ttl(),
        });
        if let Some(stored) = snapshot.unknown_status {
            registrar.emit(Event::UnknownStatus {
                stored: redact::short_text(&stored, 64),
            });
            registrar.persist();
        }
        if registrar.status == Status::Registered {
            // Not persisted here: under a shared store only the lock holder writes.
            if let Err(reason) = registrar.judge_stored(
                registrar.registered_as.as_ref(),
                registrar.last_health_check,
                now,
            ) {
                registrar.emit(Event::StoredRegistrationStale { reason });
                registrar.set_status(Status::Registering);
            }
        }
        registrar
    }

    /// Whether a stored registration may be taken over: made for exactly this
    /// configuration and confirmed within one TTL. `Ok` holds its age.
    fn judge_stored(
        &self,
        registered_as: Option<&RegisteredAs>,
        last_confirmed: Option<UnixTime>,
        now: UnixTime,
    ) -> Result<Duration, StaleReason> {
        let stored = registered_as.ok_or(StaleReason::NotRecorded)?;
        let current = self.config.registered_as(&self.address);
        let differing: Vec<&str> = [
            ("DDS URL", stored.dds_url == current.dds_url),
            ("flow", stored.flow == current.flow),
            ("address", stored.address == current.address),
            ("node URL", stored.node_url == current.node_url),
            ("version", stored.version == current.version),
            ("capabilities", stored.capabilities == current.capabilities),
        ]
        .into_iter()
        .filter_map(|(name, same)| (!same).then_some(name))
        .collect();
        if !differing.is_empty() {
            return Err(StaleReason::Changed {
                fields: differing.join(", "),
            });
        }
        match last_confirmed.map(|t| now.saturating_since(t)) {
            Some(age) if age <= self.config.ttl() => Ok(age),
            since_last => Err(StaleReason::Expired { since_last }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    /// The node's signer (for hosts that show its public key); `None` for a
    /// [remote signer](Registrar::with_remote_signer).
    pub fn signer(&self) -> Option<&dyn Signer> {
        match &self.key {
            NodeSigner::Local(signer) => Some(&**signer),
            NodeSigner::Remote { .. } => None,
        }
    }

    /// The node's Ethereum address (`0x`, lowercase hex).
    pub fn address(&self) -> String {
        self.address.clone()
    }

    /// Tells the registrar whether the host runs a loop that sleeps until
    /// [`Output::Wait`] and wakes it (the default). A host that only makes
    /// one-off attempts sets `false`, so failure events promise no retry.
    /// When a loop ends between attempts, a `registering` status becomes
    /// `disconnected`: nothing is trying any more.
    pub fn set_looping(&mut self, looping: bool) {
        self.looping = looping;
        if matches!(self.phase, Phase::Idle) {
            self.settle_if_not_looping();
        }
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The `state.save.error` event for a store's error. The text is the host's
    /// (a file system's, a KV namespace's, an app's): redacted, put on one line
    /// and shortened like any text from outside, so it can neither leak a
    /// secret it echoes nor forge log lines.
    pub fn save_failed_event(&self, error: &str) -> Event {
        Event::StateSaveFailed {
            error: response::body_snippet_redacted(error.as_bytes(), &self.redactor),
        }
    }

    /// Id and secret from the DDS callback, once received.
    pub fn credentials(&self) -> Option<&DdsCredentials> {
        self.credentials.as_ref()
    }

    /// Whether a request is outstanding.
    pub fn has_request_in_flight(&self) -> bool {
        matches!(self.phase, Phase::InFlight(_))
    }

    /// The state to persist.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            status: self.status,
            last_health_check: self.last_health_check,
            attempt: self.attempt,
            credentials: self.credentials.clone(),
            unknown_status: None,
            registered_as: self.registered_as.clone(),
            callback: self.callback.as_ref().map(|window| CallbackSlot {
                attempt: window.attempt,
                until: window.closes_at,
                taken: window.received.as_ref().map(DdsCredentials::fingerprint),
            }),
        }
    }

    /// The next thing for the host to do. Drain until [`Output::Wait`].
    pub fn poll_output(&mut self) -> Output {
        if let Some(output) = self.outputs.pop_front() {
            return output;
        }
        // An idle registrar holds no queue buffer: a fleet of them stays small.
        self.outputs = VecDeque::new();
        let wake = match &self.phase {
            Phase::Idle => self.next_check,
            Phase::InFlight(flight) => flight.deadline,
            // Nothing happens until the host answers; re-poll in a TTL at the latest.
            Phase::AwaitingLock => self.next_check + self.config.ttl(),
        };
        let observe = self
            .next_observe
            .filter(|_| self.learns_from_shared())
            .map(|at| at.max(self.latest_now));
        let wake = [self.share_retry_at, observe]
            .into_iter()
            .flatten()
            .fold(wake, UnixTime::min);
        Output::Wait(wake)
    }

    /// Lets time pass: runs a due check, or times out an unanswered request.
    pub fn handle_timeout(&mut self, now: UnixTime) {
        self.latest_now = self.latest_now.max(now);
        if self.share_retry_at.is_some_and(|at| now >= at) {
            self.share_retry_at = None;
            self.queue_share(now);
        }
        match &self.phase {
            Phase::InFlight(flight) if now >= flight.deadline => {
                let id = flight.id;
                if matches!(flight.step, Step::Sign(_)) {
                    let reason = "no signature within the request timeout".to_owned();
                    self.handle_signature(id, Err(reason), now);
                } else {
                    let error = TransportError::new(
                        response::TransportErrorKind::Timeout,
                        "no response within the request timeout",
                    );
                    self.handle_response(id, Err(error), now);
                }
            }
            Phase::Idle if now >= self.next_check => self.check(now),
            // The host never answered `AcquireLock`. Without this the registrar
            // would keep asking to be woken at a deadline already past (a host
            // sleeping until it would spin). Count it as a lock error; a late
            // `Acquired` is handed straight back by `handle_lock`.
            Phase::AwaitingLock if now >= self.next_check + self.config.ttl() => {
                self.handle_lock(
                    LockOutcome::Failed("no answer to the lock request within the TTL".into()),
                    now,
                );
            }
            _ => {}
        }
        // Last: what ran above may have changed whether there is anything to learn.
        if self.learns_from_shared() && self.next_observe.is_some_and(|at| now >= at) {
            self.next_observe = Some(now + SHORT_DELAY);
            if !self.outputs.contains(&Output::LoadShared) {
                self.outputs.push_back(Output::LoadShared);
            }
        }
    }

    /// Does now whatever the next check would do (for hosts that run the
    /// registrar in steps, like a cron trigger, instead of sleeping until
    /// [`Output::Wait`]): a fresh registrar's first check, an attempt if the
    /// node is not registered, the expiry of a lapsed health check. While a
    /// request or the lock is awaited, the same as [`Registrar::handle_timeout`].
    pub fn check_now(&mut self, now: UnixTime) {
        self.latest_now = self.latest_now.max(now);
        if matches!(self.phase, Phase::Idle) {
            self.next_check = now;
            self.check(now);
        } else {
            self.handle_timeout(now);
        }
    }

    /// Makes sure the node is registered, now ("register once"). Ends, through
    /// an event whose [`Event::attempt_result`] is set, in one of three ways:
    /// [`AttemptOutcome::Adopted`] when a fresh registration for this exact
    /// configuration is already known (this registrar's own, or, read under
    /// the lock, a sibling's), [`AttemptOutcome::Registered`] after a
    /// successful attempt, or a failure. While another process holds the lock
    /// it checks every second, and fails once the lock has stayed taken for
    /// [`RegistrarConfig::lock_stale_after`]. While an attempt is already
    /// running, that attempt's result answers.
    pub fn register_now(&mut self, now: UnixTime) {
        self.latest_now = self.latest_now.max(now);
        if !matches!(self.phase, Phase::Idle) {
            self.once_since.get_or_insert(now);
            return;
        }
        self.once_since = Some(now);
        if self.status == Status::Registered && !self.rearm {
            match self.judge_stored(self.registered_as.as_ref(), self.last_health_check, now) {
                Ok(age) => {
                    self.once_since = None;
                    self.emit(Event::Adopted { age });
                    return;
                }
                Err(reason) => {
                    self.emit(Event::StoredRegistrationStale { reason });
                    self.set_status(Status::Registering);
                }
            }
        }
        self.next_check = now;
        self.check(now);
    }

    /// Registers again now, whatever is stored (a host does this when the DDS
    /// answers a later call with 403 or 404: the registration is gone). The
    /// attempt does not take over a stored registration. Nothing happens while
    /// an attempt is already running.
    pub fn register_again(&mut self, now: UnixTime) {
        self.latest_now = self.latest_now.max(now);
        self.emit(Event::RegisterAgain);
        self.rearm = true;
        if matches!(self.phase, Phase::Idle) {
            if self.status == Status::Registered {
                self.set_status(Status::Registering);
            }
            self.next_check = now;
            self.check(now);
        }
    }

    fn check(&mut self, now: UnixTime) {
        match self.status {
            Status::Disconnected | Status::Registering => {
                if self.config.use_lock {
                    self.phase = Phase::AwaitingLock;
                    // The lock answer is due within a TTL of asking, even when
                    // this check itself ran late.
                    self.next_check = now;
                    self.outputs.push_back(Output::AcquireLock);
                } else {
                    self.start_attempt(now);
                }
            }
            Status::Registered => {
                let ttl = self.config.ttl();
                if matches!(self.config.flow, Flow::Wallet) {
                    // The wallet flow parks once registered, as the reference does.
                    self.next_check = now + ttl;
                    return;
                }
                let since_last = self.last_health_check.map(|t| now.saturating_since(t));
                match since_last {
                    Some(elapsed) if elapsed <= ttl => {
                        // Wake just after the TTL lapses, not a whole TTL later.
                        self.next_check = now + (ttl - elapsed) + Duration::from_millis(1);
                    }
                    _ if self.config.use_lock && !self.rearm => {
                        // Behind one port the DDS may have probed a sibling:
                        // read the shared snapshot (under the lock) first.
                        self.phase = Phase::AwaitingLock;
                        self.next_check = now;
                        self.outputs.push_back(Output::AcquireLock);
                    }
                    _ => self.expire_health_check(since_last, now),
                }
            }
        }
    }

    fn expire_health_check(&mut self, since_last: Option<Duration>, now: UnixTime) {
        self.emit(Event::HealthCheckExpired { since_last });
        self.set_status(Status::Registering);
        self.persist();
        self.next_check = now + SHORT_DELAY;
    }

    /// Reports the result of [`Output::AcquireLock`].
    pub fn handle_lock(&mut self, outcome: LockOutcome, now: UnixTime) {
        self.latest_now = self.latest_now.max(now);
        if !matches!(self.phase, Phase::AwaitingLock) {
            // An answer nobody asked for: hand a taken lock straight back.
            if matches!(outcome, LockOutcome::Acquired { .. }) && !self.holding_lock {
                self.outputs.push_back(Output::ReleaseLock);
            }
            return;
        }
        self.phase = Phase::Idle;
        match outcome {
            LockOutcome::Acquired { fresh } => {
                self.holding_lock = true;
                self.emit(Event::LockAcquired);
                let busy_since = self.busy_since.take();
                if let Some(fresh) = fresh {
                    if !self.rearm && self.adopt_if_registered(fresh, busy_since, now) {
                        self.release_lock();
                        self.next_check = now;
                        self.check(now);
                        return;
                    }
                }
                if self.status == Status::Registered {
                    // A lapsed health check, not confirmed by a sibling either.
                    let since_last = self.last_health_check.map(|t| now.saturating_since(t));
                    self.emit(Event::HealthCheckExpired { since_last });
                    self.set_status(Status::Registering);
                }
                self.start_attempt(now);
            }
            LockOutcome::Busy => {
                self.emit(Event::LockBusy);
                self.watch_until(now + self.config.ttl());
                self.busy_since.get_or_insert(now);
                let stale_after = self.config.lock_stale_after();
                match self.once_since {
                    Some(since) if now.saturating_since(since) >= stale_after => {
                        let message = format!(
                            "the registration lock stayed held by another process for {}s; gave up",
                            stale_after.as_secs()
                        );
                        self.fail_before_attempt(message, now);
                    }
                    // A waiting register_now looks again soon: the holder's
                    // attempt ends within its request timeout.
                    Some(_) => self.next_check = now + SHORT_DELAY,
                    None => self.next_check = now + self.config.ttl(),
                }
            }
            LockOutcome::Failed(error) => {
                let error = redact::sanitize(&error);
                self.emit(Event::LockError {
                    error: error.clone(),
                });
                self.fail_before_attempt(
                    format!("could not take the registration lock: {error}"),
                    now,
                );
            }
        }
    }

    /// A failure that happened before any request was sent (the lock): the
    /// attempt's result, waiting a full TTL. Persists nothing, as this
    /// registrar does not hold the lock.
    fn fail_before_attempt(&mut self, message: String, now: UnixTime) {
        let wait = self.config.ttl();
        self.once_since = None;
        self.busy_since = None;
        self.emit(Event::RegistrationFailed {
            failure: Failure {
                class: FailureClass::RetryLater,
                status: None,
                retry_after: None,
                message,
            },
            attempt: self.attempt,
            retry_in: wait,
            retrying: self.looping,
            warn: true,
        });
        self.settle_if_not_looping();
        self.next_check = now + wait;
    }

    /// Takes over a registration another process made, if it was made for
    /// this exact configuration and is fresh, or was made while this
    /// registrar waited for the lock (`busy_since`): with a long attempt or a
    /// slow sibling that can be more than a TTL ago, and registering again
    /// would repeat what the waiting was for.
    fn adopt_if_registered(
        &mut self,
        fresh: Snapshot,
        busy_since: Option<UnixTime>,
        now: UnixTime,
    ) -> bool {
        if fresh.status != Status::Registered {
            return false;
        }
        let confirmed = fresh.last_health_check;
        let age = match self.judge_stored(fresh.registered_as.as_ref(), confirmed, now) {
            Ok(age) => age,
            Err(StaleReason::Expired {
                since_last: Some(age),
            }) if matches!((busy_since, confirmed), (Some(busy), Some(at)) if at >= busy) => age,
            Err(_) => return false,
        };
        self.last_health_check = self.last_health_check.max(fresh.last_health_check);
        if let Some(credentials) = fresh
            .credentials
            .as_ref()
            .filter(|c| Some(*c) != self.credentials.as_ref())
        {
            self.redactor.add_secret(credentials.secret.expose());
        }
        self.credentials = fresh.credentials.or(self.credentials.take());
        self.registered_as = fresh.registered_as;
        self.attempt = 0;
        // Quiet when this only confirmed a registration already held, unless
        // a register_now waits for the result.
        let awaited = self.once_since.take().is_some();
        if self.status != Status::Registered || awaited {
            self.set_status(Status::Registered);
            self.emit(Event::Adopted { age });
        }
        true
    }

    fn start_attempt(&mut self, now: UnixTime) {
        if self.status == Status::Disconnected {
            self.set_status(Status::Registering);
            self.persist();
        }
        self.rearm = false;
        self.callback = None;
        let first_path = match self.config.flow {
            Flow::Legacy { .. } => request::LEGACY_REGISTER_PATH,
            Flow::Wallet => request::SIWE_REQUEST_PATH,
        };
        self.emit(Event::AttemptStarted {
            attempt: self.attempt.saturating_add(1),
            endpoint: self.config.dds_url.endpoint(first_path),
        });
        match self.config.flow.clone() {
            Flow::Legacy { node_url } => {
                let NodeSigner::Local(key) = &self.key else {
                    // `with_remote_signer` refuses the legacy flow: not reached.
                    let failure = response::signer_failure("the legacy flow needs the node's key");
                    self.failed(failure, now);
                    return;
                };
                let key = Arc::clone(key);
                self.callback = Some(CallbackWindow {
                    attempt: self.attempt_ids.next_u64(),
                    closes_at: now + CALLBACK_WINDOW,
                    attempt_succeeded: false,
                    received: None,
                });
                if self.config.use_lock {
                    // Siblings behind the same port may receive the callback:
                    // they read the window from the shared snapshot.
                    self.persist();
                }
                let request = request::legacy_registration_request(
                    &self.config.dds_url,
                    &node_url,
                    &self.config.node,
                    &*key,
                    now,
                );
                self.transmit(request, Step::Register, now, now);
            }
            Flow::Wallet => {
                let request = request::siwe_nonce_request(&self.config.dds_url, &self.address);
                self.transmit(request, Step::SiweNonce, now, now);
            }
        }
    }

    fn transmit(
        &mut self,
        request: HttpRequest,
        step: Step,
        attempt_started: UnixTime,
        now: UnixTime,
    ) {
        let id = self.next_id();
        let timeout = self.config.request_timeout;
        self.phase = Phase::InFlight(InFlight {
            id,
            step,
            endpoint: request.url.clone(),
            attempt_started,
            deadline: now + timeout,
        });
        self.outputs.push_back(Output::Transmit(OutgoingRequest {
            id,
            request,
            timeout,
        }));
    }

    fn next_id(&mut self) -> RequestId {
        let id = RequestId(self.next_request_id);
        self.next_request_id += 1;
        id
    }

    /// The host gave up on the request in flight without an answer (its task
    /// was cancelled). Nothing is counted as a failure: the registrar becomes
    /// idle, releases the lock, and checks again at once when next driven. A
    /// late answer to the abandoned request is ignored.
    pub fn cancel_request(&mut self, now: UnixTime) {
        self.latest_now = self.latest_now.max(now);
        if let Phase::InFlight(flight) = &self.phase {
            let id = flight.id;
            self.phase = Phase::Idle;
            self.callback = None;
            self.once_since = None;
            self.emit(Event::RequestCancelled { id });
            self.settle_if_not_looping();
            self.release_lock();
            self.next_check = now;
        }
    }

    /// Reports what became of request `id`: a response (body cut to
    /// [`response::MAX_RESPONSE_BODY`]) or a transport error. Responses to
    /// requests no longer awaited are ignored.
    pub fn handle_response(
        &mut self,
        id: RequestId,
        result: Result<HttpResponse, TransportError>,
        now: UnixTime,
    ) {
        self.latest_now = self.latest_now.max(now);
        let flight = match &self.phase {
            Phase::InFlight(flight) if flight.id == id && !matches!(flight.step, Step::Sign(_)) => {
                flight.clone()
            }
            _ => {
                self.emit(Event::StaleResponse { id });
                return;
            }
        };
        self.phase = Phase::Idle;
        let outcome = match &result {
            Ok(response) => response::classify_response_redacted(
                &flight.endpoint,
                response,
                now,
                &self.redactor,
            ),
            Err(error) => Err(response::classify_transport_error_redacted(
                &flight.endpoint,
                error,
                &self.redactor,
            )),
        };
        match (outcome, flight.step) {
            (Ok(()), Step::Register) => self.succeeded(flight.attempt_started, now),
            (Ok(()), Step::SiweNonce) => {
                let body = result.map(|r| r.body).unwrap_or_default();
                let checked = SiweChallenge::parse(&body).and_then(|challenge| {
                    challenge
                        .validate(&self.config.dds_url, &self.config.siwe_domains)
                        .map(|()| challenge)
                });
                match (checked, &self.key) {
                    (Ok(challenge), NodeSigner::Local(key)) => {
                        let message = challenge.message(&key.eth_address());
                        let signature = key.sign_eip191(message.as_bytes());
                        self.transmit_wallet_registration(
                            &message,
                            &signature,
                            flight.attempt_started,
                            now,
                        );
                    }
                    (Ok(challenge), NodeSigner::Remote { address }) => {
                        let message = challenge.message(address);
                        self.ask_signature(message, flight.attempt_started, now);
                    }
                    (Err(err), _) => {
                        let mut failure =
                            response::unusable_response(&flight.endpoint, &err.to_string());
                        if matches!(
                            err,
                            request::ChallengeError::ForeignDomain { .. }
                                | request::ChallengeError::ForeignUri(_)
                        ) {
                            // A challenge we refuse to sign will not change soon.
                            failure.class = FailureClass::RetryLater;
                        }
                        self.failed(failure, now);
                    }
                }
            }
            (Err(failure), _) => self.failed(failure, now),
            (Ok(()), Step::Sign(_)) => {}
        }
    }

    /// Reports the remote signer's answer to [`Output::Sign`] `id`: the
    /// 65-byte signature `r ‖ s ‖ v` (v in {0, 1} or {27, 28}), or why it
    /// could not sign (a refusal, say: text that is logged). A signature
    /// that does not recover to the signer's address fails the attempt like
    /// a refusal. Answers no longer awaited are ignored.
    pub fn handle_signature(
        &mut self,
        id: RequestId,
        result: Result<Vec<u8>, String>,
        now: UnixTime,
    ) {
        self.latest_now = self.latest_now.max(now);
        let (flight, message) = match &self.phase {
            Phase::InFlight(flight) if flight.id == id => match &flight.step {
                Step::Sign(message) => (flight.clone(), message.clone()),
                _ => {
                    self.emit(Event::StaleResponse { id });
                    return;
                }
            },
            _ => {
                self.emit(Event::StaleResponse { id });
                return;
            }
        };
        self.phase = Phase::Idle;
        let address = self.address.clone();
        let checked =
            result.and_then(|signature| check_remote_signature(&message, &signature, &address));
        match checked {
            Ok(signature) => {
                self.transmit_wallet_registration(&message, &signature, flight.attempt_started, now)
            }
            Err(reason) => self.failed(response::signer_failure(&reason), now),
        }
    }

    fn ask_signature(&mut self, message: String, attempt_started: UnixTime, now: UnixTime) {
        let id = self.next_id();
        let timeout = self.config.request_timeout;
        self.phase = Phase::InFlight(InFlight {
            id,
            step: Step::Sign(message.clone()),
            endpoint: "the remote signer".to_owned(),
            attempt_started,
            deadline: now + timeout,
        });
        self.outputs.push_back(Output::Sign(SignRequest {
            id,
            message,
            timeout,
        }));
    }

    fn transmit_wallet_registration(
        &mut self,
        message: &str,
        signature: &str,
        attempt_started: UnixTime,
        now: UnixTime,
    ) {
        let request = request::wallet_registration_request_signed(
            &self.config.dds_url,
            message,
            signature,
            &self.config.node,
        );
        self.transmit(request, Step::Register, attempt_started, now);
    }

    fn succeeded(&mut self, attempt_started: UnixTime, now: UnixTime) {
        self.attempt = 0;
        self.once_since = None;
        self.last_health_check = Some(now);
        let registered_as = self.config.registered_as(&self.address);
        // Credentials are the issuing DDS's name for this key: registered with
        // another DDS or key, the stored ones belong to another node.
        if self.registered_as.as_ref().is_some_and(|was| {
            was.dds_url != registered_as.dds_url || was.address != registered_as.address
        }) {
            self.credentials = None;
        }
        self.registered_as = Some(registered_as);
        if self.config.use_lock && self.callback.is_some() {
            // Its callback may reach a sibling, which stores it.
            self.watch_until(now + CALLBACK_GRACE + SHORT_DELAY);
        }
        if let Some(window) = &mut self.callback {
            window.attempt_succeeded = true;
            window.closes_at = now + CALLBACK_GRACE;
            if let Some(credentials) = window.received.clone() {
                self.credentials = Some(credentials);
            }
        }
        self.conflict_since = None;
        self.next_conflict_warn = None;
        self.next_refusal_warn = None;
        self.set_status(Status::Registered);
        self.emit(Event::Registered {
            elapsed: now.saturating_since(attempt_started),
        });
        self.persist();
        self.release_lock();
        self.next_check = now;
        self.check(now);
    }

    fn failed(&mut self, mut failure: Failure, now: UnixTime) {
        let ttl = self.config.ttl();
        // The attempt failed: a callback in its window is no longer expected,
        // and one already received is dropped.
        self.callback = None;
        self.once_since = None;
        failure.message = self.redactor.redact(&failure.message);
        // A server's Retry-After is a floor for any wait it applies to.
        let at_least = |wait: Duration| failure.retry_after.map_or(wait, |ra| wait.max(ra));
        let wait;
        match failure.class {
            FailureClass::Conflict => {
                self.attempt = 0;
                self.next_refusal_warn = None;
                let since = *self.conflict_since.get_or_insert(now);
                let warn = self.next_conflict_warn.is_none_or(|at| now >= at);
                if warn {
                    self.next_conflict_warn = Some(now + WARN_INTERVAL);
                }
                wait = at_least(ttl);
                self.emit(Event::Conflict {
                    failure,
                    blocked_for: now.saturating_since(since),
                    warn,
                });
            }
            FailureClass::RetryLater => {
                self.attempt = 0;
                self.conflict_since = None;
                self.next_conflict_warn = None;
                let warn = self.next_refusal_warn.is_none_or(|at| now >= at);
                if warn {
                    self.next_refusal_warn = Some(now + WARN_INTERVAL);
                }
                wait = at_least(ttl);
                self.emit(Event::RegistrationFailed {
                    failure,
                    attempt: 0,
                    retry_in: wait,
                    retrying: self.looping,
                    warn,
                });
            }
            FailureClass::RetryFast => {
                self.conflict_since = None;
                self.next_conflict_warn = None;
                self.attempt = self.attempt.saturating_add(1);
                let attempt = self.attempt;
                let capped = self.config.max_retry.filter(|max| attempt >= *max);
                wait = match (capped, failure.retry_after) {
                    (Some(_), retry_after) => ttl.max(retry_after.unwrap_or_default()),
                    (None, retry_after) => {
                        let backoff = backoff(attempt).mul_f64(self.rng.jitter_factor());
                        // The backoff is a floor: whoever answers (a proxy's
                        // `Retry-After: 0`, or 5 s to every node after an
                        // outage) cannot make a fleet retry faster. A later
                        // second it names is kept, clients spread across it.
                        retry_after.map_or(backoff, |retry_after| {
                            backoff
                                .max(retry_after + self.rng.duration_below(Duration::from_secs(1)))
                        })
                    }
                };
                self.emit(Event::RegistrationFailed {
                    failure,
                    attempt,
                    retry_in: wait,
                    retrying: self.looping,
                    warn: true,
                });
                if let Some(max_retry) = capped {
                    self.emit(Event::MaxRetryReached { max_retry });
                    self.attempt = 0;
                }
            }
        }
        self.settle_if_not_looping();
        self.persist();
        self.release_lock();
        self.next_check = now + wait;
    }

    /// Without a loop nothing is trying to register after a failure (or once
    /// the loop ends): `registering` would be a stale status.
    fn settle_if_not_looping(&mut self) {
        if !self.looping && self.status == Status::Registering {
            self.set_status(Status::Disconnected);
        }
    }

    /// The DDS probed `/health` with this `User-Agent`. Returns whether it
    /// counted as a health check (`DDS v…`).
    ///
    /// Probes cannot be authenticated (the protocol signs nothing towards the
    /// node), so one costs little: the snapshot is persisted at most once per
    /// quarter TTL for probes, and only by a registrar that is registered and
    /// idle, so a worker that is not the one registering never writes its
    /// stale view over the shared state.
    pub fn handle_health_check(&mut self, user_agent: &str, now: UnixTime) -> bool {
        self.latest_now = self.latest_now.max(now);
        if !callback::is_dds_user_agent(user_agent) {
            return false;
        }
        self.last_health_check = Some(now);
        self.emit(Event::HealthCheckReceived);
        let idle_registered =
            self.status == Status::Registered && matches!(self.phase, Phase::Idle);
        // Under a shared snapshot any worker's probe counts for all (merged
        // into a registration of this configuration only); alone, only a
        // registered registrar's.
        let shared = self.config.use_lock && !self.holding_lock;
        if idle_registered || shared {
            let every = (self.config.ttl() / 4).max(Duration::from_secs(1));
            if self
                .last_probe_persisted
                .is_none_or(|at| now.saturating_since(at) >= every)
            {
                self.last_probe_persisted = Some(now);
                self.persist();
            }
        }
        if idle_registered {
            self.next_check = now;
            self.check(now);
        }
        true
    }

    /// The DDS called `POST /internal/v1/registrations` with `body`.
    ///
    /// Unlike the reference, which stores any callback, this accepts one only
    /// in the window of a legacy attempt: from the attempt's start until it
    /// fails, or until [`CALLBACK_GRACE`] after it succeeded. The credentials
    /// are committed only once the attempt has succeeded; a failed attempt
    /// drops them, and a callback never marks the node registered. A second,
    /// different callback in one window is refused (409) and reported as
    /// possibly forged; the same callback again is answered 200.
    pub fn handle_registration_callback(
        &mut self,
        body: &[u8],
        now: UnixTime,
    ) -> Result<(), CallbackRejection> {
        self.latest_now = self.latest_now.max(now);
        self.handle_registration_callback_shared(body, None, now)
    }

    /// [`Registrar::handle_registration_callback`] for a process that shares
    /// its snapshot ([`RegistrarConfig::use_lock`]): `stored` is the shared
    /// snapshot as read now (without the lock). When this process has no open
    /// window but the stored one shows the lock holder's, the callback is the
    /// holder's: it is accepted and merged into the shared snapshot through
    /// [`Output::ShareState`], committed only if the holder's attempt succeeded.
    pub fn handle_registration_callback_shared(
        &mut self,
        body: &[u8],
        stored: Option<&Snapshot>,
        now: UnixTime,
    ) -> Result<(), CallbackRejection> {
        self.latest_now = self.latest_now.max(now);
        match self.accept_callback(body, stored, now) {
            Ok(()) => Ok(()),
            Err(rejection) => {
                let warn = self.next_rejection_warn.is_none_or(|at| now >= at);
                let suppressed = self.rejections_unwarned;
                if warn {
                    self.next_rejection_warn = Some(now + WARN_INTERVAL);
                    self.rejections_unwarned = 0;
                } else {
                    self.rejections_unwarned = suppressed.saturating_add(1);
                }
                self.emit(Event::CallbackRejected {
                    status: rejection.status(),
                    reason: rejection.to_string(),
                    suppressed: if warn { suppressed } else { 0 },
                    warn,
                });
                Err(rejection)
            }
        }
    }

    fn accept_callback(
        &mut self,
        body: &[u8],
        stored: Option<&Snapshot>,
        now: UnixTime,
    ) -> Result<(), CallbackRejection> {
        let credentials = credentials_of(callback::parse_registration_callback(body)?);
        // Behind one port the shared snapshot holds the window's slot: what a
        // sibling accepted for it, or the lock holder's window itself.
        let shared_slot = stored
            .filter(|_| self.config.use_lock)
            .and_then(|stored| stored.callback.clone());
        let own_attempt = match &self.callback {
            Some(window) if now <= window.closes_at => window.attempt,
            _ => {
                return match shared_slot.filter(|slot| now <= slot.until) {
                    Some(slot) => self.accept_for_sibling(credentials, slot, now),
                    None => Err(CallbackRejection::NotPending),
                };
            }
        };
        let taken_by_sibling = shared_slot
            .filter(|slot| slot.attempt == own_attempt)
            .and_then(|slot| slot.taken);
        let window = self.callback.as_mut().expect("checked above");
        if let Some(earlier) = &window.received {
            let same = earlier.fingerprint() == credentials.fingerprint();
            return self.second_callback(same, &credentials);
        }
        if let Some(taken) = taken_by_sibling {
            let same = taken == credentials.fingerprint();
            return self.second_callback(same, &credentials);
        }
        window.received = Some(credentials.clone());
        let (commit_now, attempt, closes_at) =
            (window.attempt_succeeded, window.attempt, window.closes_at);
        self.note_accepted(&credentials);
        if !commit_now {
            if self.config.use_lock {
                // Under the lock of this attempt: the slot is taken for every sibling.
                self.persist();
            }
            return Ok(());
        }
        if self.config.use_lock && !self.holding_lock {
            // The lock went with the success: merge under it again.
            self.delivery = Some(Delivery {
                attempt,
                credentials: credentials.clone(),
                received_at: now,
                until: closes_at,
            });
        }
        self.credentials = Some(credentials);
        // The DDS reaching the node is as good as a health check.
        self.last_health_check = Some(now);
        self.persist();
        if matches!(self.phase, Phase::Idle) {
            self.next_check = now;
            self.check(now);
        }
        Ok(())
    }

    /// A second callback for one window: the same one again is answered 200,
    /// a different one is refused and reported as possibly forged.
    fn second_callback(
        &mut self,
        same: bool,
        credentials: &DdsCredentials,
    ) -> Result<(), CallbackRejection> {
        if same {
            return Ok(());
        }
        self.report_conflict(credentials);
        Err(CallbackRejection::Conflicting)
    }

    fn report_conflict(&mut self, credentials: &DdsCredentials) {
        let id = redact::short_text(&credentials.id, 128);
        self.emit(Event::CallbackConflict { id });
    }

    /// Learns the secret (so it is redacted) and reports the accepted callback.
    fn note_accepted(&mut self, credentials: &DdsCredentials) {
        self.redactor.add_secret(credentials.secret.expose());
        self.emit(Event::CallbackAccepted {
            id: redact::short_text(&credentials.id, 128),
            organization_id: credentials
                .organization_id
                .as_deref()
                .map(|org| redact::short_text(org, 128)),
            secret_len: credentials.secret.len(),
        });
    }

    /// The callback of a sibling's attempt, received here (several processes
    /// behind one port): refused if the attempt's slot holds a different one,
    /// otherwise answered now and merged into the shared snapshot under the
    /// lock once the sibling's attempt has ended, into that attempt only.
    fn accept_for_sibling(
        &mut self,
        credentials: DdsCredentials,
        slot: CallbackSlot,
        now: UnixTime,
    ) -> Result<(), CallbackRejection> {
        if let Some(taken) = &slot.taken {
            let same = *taken == credentials.fingerprint();
            return self.second_callback(same, &credentials);
        }
        if let Some(earlier) = self.delivery.as_ref().filter(|d| d.attempt == slot.attempt) {
            let same = earlier.credentials.fingerprint() == credentials.fingerprint();
            return self.second_callback(same, &credentials);
        }
        self.note_accepted(&credentials);
        self.delivery = Some(Delivery {
            attempt: slot.attempt,
            credentials,
            received_at: now,
            until: slot.until,
        });
        self.queue_share(now);
        Ok(())
    }

    /// Answers [`Output::ShareState`]: given the shared snapshot as stored now
    /// (read under the lock), returns the snapshot to store, or `None` to
    /// leave it as it is. Only what this process learned is merged, into a
    /// stored registration made for this configuration: its latest health
    /// check, and a callback it accepted, into the slot of the attempt it was
    /// accepted for, if that attempt succeeded, its window is open and the
    /// slot is free (a different callback already there is reported as a
    /// conflict). Nothing stored (or unreadable) means nothing to merge into:
    /// this process never writes its whole view without the attempt's lock.
    /// This process's view takes the stored credentials.
    pub fn merge_shared(&mut self, stored: Option<Snapshot>, now: UnixTime) -> Option<Snapshot> {
        self.latest_now = self.latest_now.max(now);
        self.share_retry_at = None;
        let delivery = self.delivery.take();
        let mut merged = stored?;
        let current = self.config.registered_as(&self.address);
        let registered_here =
            merged.status == Status::Registered && merged.registered_as.as_ref() == Some(&current);
        if let Some(delivery) = delivery {
            let fingerprint = delivery.credentials.fingerprint();
            let slot = merged
                .callback
                .as_mut()
                .filter(|slot| slot.attempt == delivery.attempt);
            match slot {
                Some(CallbackSlot {
                    taken: Some(taken), ..
                }) if *taken != fingerprint => self.report_conflict(&delivery.credentials),
                Some(slot) if slot.taken.is_none() && now <= slot.until && registered_here => {
                    slot.taken = Some(fingerprint);
                    merged.credentials = Some(delivery.credentials);
                    merged.last_health_check =
                        merged.last_health_check.max(Some(delivery.received_at));
                }
                // Already in, or the attempt failed or its window closed: dropped, as in one process.
                _ => {}
            }
        }
        if !registered_here {
            return None;
        }
        merged.last_health_check = merged.last_health_check.max(self.last_health_check);
        if let Some(credentials) = &merged.credentials {
            self.redactor.add_secret(credentials.secret.expose());
            self.credentials = Some(credentials.clone());
        }
        Some(merged)
    }

    /// Whether reading the shared snapshot can teach this registrar anything:
    /// always, but while it holds the lock (it writes the snapshot then). A
    /// registered worker learns newer credentials and health checks from it;
    /// the others, a sibling's registration. Every worker sees what is stored
    /// within a second.
    fn learns_from_shared(&self) -> bool {
        !self.holding_lock
    }

    /// Keeps reading the shared snapshot until `until`: a sibling holds the
    /// lock, or an attempt's callback window is open (new credentials may be
    /// stored any moment).
    fn watch_until(&mut self, until: UnixTime) {
        self.watch_until = Some(self.watch_until.map_or(until, |was| was.max(until)));
    }

    /// Answers [`Output::LoadShared`] with the shared snapshot as stored now
    /// (`None` if missing or unreadable). A registration stored for this exact
    /// configuration is taken over as when found under the lock: fresh, or
    /// made since this process found the lock busy. So a worker that lost the
    /// race for the lock is registered within a second of the winner, with
    /// its credentials and health checks, instead of waiting an interval.
    /// Nothing happens while this process is in an attempt or waits for the
    /// lock (the lock's answer decides then), or after
    /// [`Registrar::register_again`] (the stored registration is what is gone).
    pub fn observe_shared(&mut self, stored: Option<Snapshot>, now: UnixTime) {
        self.latest_now = self.latest_now.max(now);
        let Some(stored) = stored else {
            return;
        };
        if let Some(slot) = stored.callback.as_ref().filter(|slot| slot.until >= now) {
            self.watch_until(slot.until + SHORT_DELAY);
        }
        if self.holding_lock || self.rearm || !matches!(self.phase, Phase::Idle) {
            return;
        }
        let nothing_new = self.status == Status::Registered
            && stored.last_health_check <= self.last_health_check
            && (stored.credentials.is_none() || stored.credentials == self.credentials);
        if nothing_new {
            return;
        }
        if self.adopt_if_registered(stored, self.busy_since, now) {
            self.busy_since = None;
            self.next_check = now;
            self.check(now);
        }
    }

    /// Answers [`Output::ShareState`] when the lock was busy (or failed): a
    /// callback still to merge is tried again in a second, until its window
    /// closes; a health check alone is not worth waiting for.
    pub fn share_busy(&mut self, now: UnixTime) {
        self.latest_now = self.latest_now.max(now);
        match &self.delivery {
            Some(delivery) if now < delivery.until => {
                self.share_retry_at = Some(now + SHORT_DELAY);
            }
            _ => self.delivery = None,
        }
    }

    /// Routes a request the node's web server received: `POST
    /// /internal/v1/registrations` and `GET /health`; anything else is 404.
    /// Returns the response to send. Header names are matched case-insensitively.
    pub fn handle_node_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
        now: UnixTime,
    ) -> NodeResponse {
        self.latest_now = self.latest_now.max(now);
        self.handle_node_request_shared(method, path, headers, body, None, now)
    }

    /// Whether a request is the DDS's registration callback, for which a host
    /// with a shared snapshot reads it first
    /// ([`Registrar::handle_node_request_shared`]).
    pub fn is_callback_request(method: &str, path: &str) -> bool {
        method.eq_ignore_ascii_case("POST") && path.split('?').next() == Some(CALLBACK_PATH)
    }

    /// Whether a host with a shared snapshot must read it before
    /// [`Registrar::handle_node_request_shared`]: only for a callback that could
    /// be accepted. A malformed, oversized or secretless body is refused without
    /// touching the store, so posting garbage costs the node no file read.
    pub fn needs_stored_snapshot(method: &str, path: &str, body: &[u8]) -> bool {
        Self::is_callback_request(method, path)
            && crate::callback::parse_registration_callback(body).is_ok()
    }

    /// [`Registrar::handle_node_request`] with the shared snapshot as read now
    /// (see [`Registrar::handle_registration_callback_shared`]).
    pub fn handle_node_request_shared(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
        stored: Option<&Snapshot>,
        now: UnixTime,
    ) -> NodeResponse {
        self.latest_now = self.latest_now.max(now);
        let path = path.split('?').next().unwrap_or(path);
        let method = method.to_ascii_uppercase();
        match (method.as_str(), path) {
            ("POST", CALLBACK_PATH) => match self
                .handle_registration_callback_shared(body, stored, now)
            {
                Ok(()) => NodeResponse::ok(),
                Err(rejection) => NodeResponse::error(rejection.status(), &rejection.to_string()),
            },
            ("GET" | "HEAD", HEALTH_PATH) => {
                let user_agent = headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("user-agent"))
                    .map_or("", |(_, value)| value.as_str());
                self.handle_health_check(user_agent, now);
                NodeResponse::ok()
            }
            (_, CALLBACK_PATH | HEALTH_PATH) => NodeResponse::error(405, "method not allowed"),
            _ => NodeResponse::error(404, "not found"),
        }
    }

    fn set_status(&mut self, to: Status) {
        let from = self.status;
        if from != to {
            self.status = to;
            self.emit(Event::StatusChanged { from, to });
        }
    }

    fn release_lock(&mut self) {
        if self.holding_lock {
            self.holding_lock = false;
            self.outputs.push_back(Output::ReleaseLock);
            if self.delivery.is_some() {
                // A sibling's callback that arrived during this attempt.
                self.push_share();
            }
        }
    }

    /// Asks for [`Output::ShareState`], which takes the lock, merges and
    /// releases it: never while this registrar holds the lock for its own
    /// attempt (the release would end the attempt's exclusion); then it
    /// waits for the release.
    fn queue_share(&mut self, now: UnixTime) {
        if self.holding_lock {
            self.share_retry_at = Some(now + SHORT_DELAY);
        } else {
            self.push_share();
        }
    }

    fn push_share(&mut self) {
        if !matches!(self.outputs.back(), Some(Output::ShareState)) {
            self.outputs.push_back(Output::ShareState);
        }
    }

    /// Whether this registrar holds the cross-process lock (for its own
    /// attempt, or to read a sibling's registration). A host must not take
    /// and release the lock for [`Output::ShareState`] meanwhile: it calls
    /// [`Registrar::share_busy`] instead.
    pub fn holds_lock(&self) -> bool {
        self.holding_lock
    }

    fn emit(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }

    fn persist(&mut self) {
        if self.config.use_lock && !self.holding_lock {
            // A shared snapshot is written whole only by the lock holder;
            // another process merges what it learned under the lock.
            self.push_share();
            return;
        }
        // One write per step is enough: a newer snapshot replaces a queued one
        // unless something (a lock release) must happen between them.
        if let Some(Output::Persist(_)) = self.outputs.back() {
            self.outputs.pop_back();
        }
        self.outputs
            .push_back(Output::Persist(Box::new(self.snapshot())));
    }
}

fn credentials_of(cb: RegistrationCallback) -> DdsCredentials {
    DdsCredentials {
        id: cb.id,
        secret: cb.secret,
        organization_id: cb.organization_id,
    }
}

/// A remote signer's signature, checked: it must recover to the signer's address.
#[cfg(not(posemesh_local_signer_only))]
fn check_remote_signature(
    message: &str,
    signature: &[u8],
    address: &str,
) -> Result<String, String> {
    crate::keys::accept_eip191_signature(message.as_bytes(), signature, address)
        .map_err(|err| err.to_string())
}

/// The npm package signs with the node's key only (it has no remote signer) and is built with
/// this cfg (bindings-wasm/build.sh): the public-key recovery above would be 5.5 KB (gzipped)
/// of its WebAssembly that nothing reaches. Every remote signature is refused.
#[cfg(posemesh_local_signer_only)]
fn check_remote_signature(_: &str, _: &[u8], _: &str) -> Result<String, String> {
    Err("this build signs with the node's key only".to_owned())
}

/// The reference's backoff before jitter: `min(2^attempt, 60)` seconds.
pub fn backoff(attempt: u32) -> Duration {
    if attempt == 0 {
        return Duration::ZERO;
    }
    let secs = 1u64.checked_shl(attempt).unwrap_or(u64::MAX);
    Duration::from_secs(secs).min(MAX_BACKOFF)
}
