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
//!         Output::Transmit(req)   => send it; later: registrar.handle_response(req.id, result, now)
//!         Output::AcquireLock     => try the lock; registrar.handle_lock(outcome, now)
//!         Output::ReleaseLock     => release it
//!         Output::Persist(snap)   => store snap.encode() atomically
//!         Output::Event(event, _) => log it / call the user's callback
//!         Output::Wait(deadline)  => sleep until `deadline` or until a response or
//!                                    node request arrives; then registrar.handle_timeout(now)
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
//!
//! This file holds the state machine (its state, timers and outputs, the
//! loop's checks); each concern around it has a file: [`config`] (what it is
//! configured with), [`events`] (what it reports), `attempt` (one
//! registration attempt), `stored` (what a stored registration is worth:
//! kept at a restart, or taken over from a sibling), `callbacks` (the DDS's
//! calls to the node), `sharing` (several processes on one snapshot) and
//! `warnings` (how often a repeated trouble warns).

use crate::callback::{
    self, CallbackRejection, NodeResponse, RegistrationCallback, CALLBACK_PATH, HEALTH_PATH,
};
use crate::keys::{PrivateKey, Signer};
use crate::redact::{self, Redactor};
use crate::request::{self, HttpRequest, NodeDescription, SiweChallenge};
use crate::response::{self, Failure, FailureClass, HttpResponse, TransportError};
use crate::rng::SplitMix64;
use crate::secret::Secret;
use crate::snapshot::{CallbackSlot, DdsCredentials, EarlierCallback, RegisteredAs, Snapshot};
use crate::time::{millis, UnixTime};
use crate::url::{validate_node_url, BaseUrl, UrlError};
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

mod attempt;
mod callbacks;
mod clock;
pub mod config;
pub mod events;
pub mod options;
pub mod session;
mod sharing;
mod stored;
mod warnings;

pub use clock::CLOCK_SET_BACK_AFTER;
pub use config::*;
pub use events::*;
pub use options::{count_option, duration_option, Options, TimeUnit};
pub use session::{AccessToken, SIGN_IN_RETRIES, SIWE_VERIFY_PATH};

/// Whether a host may coordinate processes with a lock
/// ([`RegistrarConfig::use_lock`]). The npm package's build sets
/// `--cfg posemesh_no_process_lock` (its stores coordinate none), and the lock
/// and the shared-snapshot protocol are compiled out of it.
const PROCESS_LOCKS: bool = !cfg!(posemesh_no_process_lock);

/// Delay before the legacy flow's first check, and after a reset or an
/// expired health check.
pub const SHORT_DELAY: Duration = Duration::from_secs(1);

/// When a new registrar first checks: at once in the wallet flow (nothing
/// needs to be up first); [`SHORT_DELAY`] later in the legacy flow, whose DDS
/// calls the node back right after registering: the node's server, often
/// started beside the registrar, gets that second to listen (as upstream's
/// loop waits a second before its first attempt).
fn first_check(config: &RegistrarConfig, now: UnixTime) -> UnixTime {
    match config.flow {
        Flow::Wallet => now,
        Flow::Legacy { .. } => now + SHORT_DELAY,
    }
}
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

/// Where in this library's source an event was raised (file and line), for
/// loggers whose records name one (Python's `pathname` and `lineno`).
pub type Origin = &'static std::panic::Location<'static>;

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
    /// Report this event; the [`Origin`] is where this library raised it.
    Event(Event, Origin),
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
    #[cfg_attr(posemesh_local_signer_only, allow(dead_code))]
    Remote {
        address: String,
        /// With `posemesh_local_signer_only` (the npm package, which has no remote signer), a
        /// value that cannot exist: the variant is uninhabited, so the compiler drops every
        /// remote-signer branch (the sign request, the signature's answer) from that build.
        #[cfg(posemesh_local_signer_only)]
        never: std::convert::Infallible,
    },
}

impl NodeSigner {
    fn eth_address(&self) -> String {
        match self {
            NodeSigner::Local(signer) => signer.eth_address(),
            NodeSigner::Remote { address, .. } => address.clone(),
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
    /// The window it was accepted in closes then.
    until: UnixTime,
    /// Merges tried since the window closed ([`LATE_MERGE_TRIES`] at most).
    late_tries: u8,
}

/// How many times a callback's merge is still tried after its window closed
/// (once a second while the lock is busy; the clock may have jumped past the
/// window): the holder's attempt that keeps the lock ends within the request
/// timeout, so a minute covers it whatever the clock did.
const LATE_MERGE_TRIES: u8 = 60;

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
    InFlight(Box<InFlight>),
}

/// The registration state machine. See the module docs.
pub struct Registrar {
    config: RegistrarConfig,
    key: NodeSigner,
    /// The key's Ethereum address, derived once (a point multiplication and a
    /// hash: too dear for every judgement of a stored registration), kept as
    /// its 20 bytes.
    address: [u8; 20],
    rng: SplitMix64,
    /// Draws attempt ids (apart from `rng`, so ids leave the jitter sequence as it was).
    attempt_ids: SplitMix64,
    status: Status,
    last_health_check: Option<UnixTime>,
    attempt: u32,
    credentials: Option<Box<DdsCredentials>>,
    phase: Phase,
    holding_lock: bool,
    next_check: UnixTime,
    next_request_id: u64,
    /// The legacy callback window of the current (or just succeeded) attempt.
    callback: Option<Box<CallbackWindow>>,
    /// Kept from the shared snapshot when this holder's attempt replaced the
    /// slot of an earlier one that had taken a callback (see [`EarlierCallback`]).
    earlier_callback: Option<Box<EarlierCallback>>,
    /// Since when a [`Registrar::register_now`] waits for its result.
    once_since: Option<UnixTime>,
    /// Set by [`Registrar::register_again`]: the next attempt must not adopt.
    rearm: bool,
    /// A fresh stored registration was restored at start and no event has
    /// said so yet: the first check reports it as adopted.
    restored_unreported: bool,
    /// Whether the host runs a loop that acts on [`Output::Wait`]
    /// ([`Registrar::set_looping`]).
    looping: bool,
    /// Since when the lock has been found busy, in this round of checks: a
    /// sibling's registration made after it is adopted whatever its age.
    busy_since: Option<UnixTime>,
    /// What the current registration was made for.
    registered_as: Option<Box<RegisteredAs>>,
    /// When a probe last led to a persisted snapshot.
    last_probe_persisted: Option<UnixTime>,
    /// A callback still to be merged into the shared snapshot.
    delivery: Option<Box<Delivery>>,
    /// When to try [`Output::ShareState`] again after the lock was busy.
    share_retry_at: Option<UnixTime>,
    /// When to read the shared snapshot next ([`Output::LoadShared`]).
    next_observe: Option<UnixTime>,
    /// The latest time a host call named: a read that came due while there
    /// was nothing to learn is asked for no earlier.
    latest_now: UnixTime,
    /// Secrets to cut out of every text that came from outside.
    redactor: Redactor,
    /// Made when something first needs to warn.
    warnings: Option<Box<warnings::Warnings>>,
    /// The DDS session, once a host asked for an access token.
    session: Option<Box<session::Session>>,
    outputs: VecDeque<Output>,
}

impl fmt::Debug for Registrar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registrar")
            .field("dds_url", &self.config.dds_url)
            .field("address", &self.address())
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
    #[cfg(not(posemesh_local_signer_only))]
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
            last_health_check: clock::stored_confirmation(snapshot.last_health_check, now),
            attempt: snapshot.attempt,
            credentials: snapshot.credentials.map(Box::new),
            phase: Phase::Idle,
            holding_lock: false,
            next_check: first_check(&config, now),
            next_request_id: 1,
            callback: None,
            earlier_callback: snapshot.earlier_callback.map(Box::new),
            once_since: None,
            rearm: false,
            restored_unreported: false,
            busy_since: None,
            looping: true,
            registered_as: snapshot.registered_as.map(Box::new),
            last_probe_persisted: None,
            delivery: None,
            share_retry_at: None,
            next_observe: (PROCESS_LOCKS && config.use_lock).then(|| now + SHORT_DELAY),
            latest_now: now,
            redactor,
            warnings: None,
            session: None,
            outputs: VecDeque::new(),
            address: address_bytes(&key.eth_address()),
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
        registrar.restore(now);
        registrar
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
        format!("0x{}", hex::encode(self.address))
    }

    /// Tells the registrar whether the host runs a loop that sleeps until
    /// [`Output::Wait`] and wakes it (the default). A host that only makes
    /// one-off attempts sets `false`, so failure events promise no retry.
    /// When a loop ends between attempts, a `registering` status becomes
    /// `disconnected`: nothing is trying any more.
    ///
    /// `registration.loop.start` says a loop started: a registrar reports it
    /// when made, takes it back if `false` comes before the host read it, and
    /// reports it again whenever `true` follows `false`.
    pub fn set_looping(&mut self, looping: bool) {
        if looping && !self.looping {
            self.emit(Event::LoopStarted {
                ttl: self.config.ttl(),
            });
        } else if !looping {
            self.outputs
                .retain(|output| !matches!(output, Output::Event(Event::LoopStarted { .. }, _)));
        }
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
        self.credentials.as_deref()
    }

    /// Whether a request (the registration's or the session's) is outstanding.
    pub fn has_request_in_flight(&self) -> bool {
        matches!(self.phase, Phase::InFlight(_)) || self.session_in_flight().is_some()
    }

    /// Whether the answer to request `id` (or signature `id`) is still
    /// awaited: a host that sends requests side by side drops the others.
    pub fn awaits(&self, id: RequestId) -> bool {
        matches!(&self.phase, Phase::InFlight(flight) if flight.id == id)
            || self.session_in_flight() == Some(id)
    }

    /// The state to persist.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            status: self.status,
            last_health_check: self.last_health_check,
            attempt: self.attempt,
            credentials: self.credentials.as_deref().cloned(),
            unknown_status: None,
            registered_as: self.registered_as.as_deref().cloned(),
            callback: self.callback.as_ref().map(|window| CallbackSlot {
                attempt: window.attempt,
                until: window.closes_at,
                // Only siblings read it.
                taken: window
                    .received
                    .as_ref()
                    .filter(|_| self.shares_snapshot())
                    .map(DdsCredentials::fingerprint),
            }),
            earlier_callback: self.earlier_callback.as_deref().cloned(),
        }
    }

    /// The next thing for the host to do. Drain until [`Output::Wait`].
    pub fn poll_output(&mut self) -> Output {
        if let Some(output) = self.outputs.pop_front() {
            return output;
        }
        if self.session.is_some() {
            self.session_step(self.latest_now);
            if let Some(output) = self.outputs.pop_front() {
                return output;
            }
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
        let wake = [self.share_retry_at, observe, self.session_wake()]
            .into_iter()
            .flatten()
            .fold(wake, UnixTime::min);
        Output::Wait(wake)
    }

    /// Lets time pass: runs a due check, or times out an unanswered request.
    pub fn handle_timeout(&mut self, now: UnixTime) {
        self.observe_time(now);
        if self.share_retry_at.is_some_and(|at| now >= at) {
            self.share_retry_at = None;
            self.queue_share(now);
        }
        match &self.phase {
            Phase::InFlight(flight) if now >= flight.deadline => {
                let (id, signing) = (flight.id, matches!(flight.step, Step::Sign(_)));
                self.time_out(id, signing, now);
            }
            Phase::Idle if now >= self.next_check => self.check(now),
            // The host never answered `AcquireLock`. Without this the registrar
            // would keep asking to be woken at a deadline already past (a host
            // sleeping until it would spin). Count it as a lock error; a late
            // `Acquired` is handed straight back by `handle_lock`.
            Phase::AwaitingLock
                if self.shares_snapshot() && now >= self.next_check + self.config.ttl() =>
            {
                self.handle_lock(
                    LockOutcome::Failed("no answer to the lock request within the TTL".into()),
                    now,
                );
            }
            _ => {}
        }
        self.session_step(now);
        // Last: what ran above may have changed whether there is anything to learn.
        if self.learns_from_shared() && self.next_observe.is_some_and(|at| now >= at) {
            self.next_observe = Some(now + SHORT_DELAY);
            if !self.outputs.iter().any(|o| matches!(o, Output::LoadShared)) {
                self.outputs.push_back(Output::LoadShared);
            }
        }
    }

    /// Answers request `id` (a signature when `signing`) as unanswered within
    /// the request timeout, routed like any answer (the registration's or the
    /// session's).
    fn time_out(&mut self, id: RequestId, signing: bool, now: UnixTime) {
        if signing {
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

    /// Does now whatever the next check would do (for hosts that run the
    /// registrar in steps, like a cron trigger, instead of sleeping until
    /// [`Output::Wait`]): a fresh registrar's first check, an attempt if the
    /// node is not registered, the expiry of a lapsed health check. While a
    /// request or the lock is awaited, the same as [`Registrar::handle_timeout`].
    pub fn check_now(&mut self, now: UnixTime) {
        self.observe_time(now);
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
        self.observe_time(now);
        // Its own result reports a restored registration.
        self.restored_unreported = false;
        if !matches!(self.phase, Phase::Idle) {
            self.once_since.get_or_insert(now);
            return;
        }
        self.once_since = Some(now);
        if self.status == Status::Registered && !self.rearm {
            match self.judge_stored(self.registered_as.as_deref(), self.last_health_check, now) {
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
        self.observe_time(now);
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
                if self.shares_snapshot() {
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
                // In the wallet flow the DDS sends no health checks: the last
                // confirmation is the last successful registration.
                let since_last = self.last_health_check.map(|t| now.saturating_since(t));
                match since_last {
                    Some(elapsed) if elapsed <= ttl => {
                        self.report_restored(elapsed);
                        // Wake just after the TTL lapses, not a whole TTL later.
                        self.next_check = now + (ttl - elapsed) + Duration::from_millis(1);
                    }
                    // Behind one port the DDS may have probed a sibling: read
                    // the shared snapshot (under the lock) first. A wallet
                    // renewal sends requests, so it too goes through the lock,
                    // asked to register again or not (the lock then skips adoption).
                    _ if self.shares_snapshot()
                        && (!self.rearm || matches!(self.config.flow, Flow::Wallet)) =>
                    {
                        self.phase = Phase::AwaitingLock;
                        self.next_check = now;
                        self.outputs.push_back(Output::AcquireLock);
                    }
                    // The wallet flow renews its registration every TTL, as
                    // Auki's newer compute credential does (upstream 0.2.1
                    // never does): a DDS that dropped the node hears from it
                    // again within one interval. It stays registered meanwhile.
                    _ if matches!(self.config.flow, Flow::Wallet) => self.start_attempt(now),
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

    /// Whether this registrar shares its snapshot with other processes
    /// under a lock ([`RegistrarConfig::use_lock`]).
    fn shares_snapshot(&self) -> bool {
        PROCESS_LOCKS && self.config.use_lock
    }

    fn set_status(&mut self, to: Status) {
        let from = self.status;
        if from != to {
            self.status = to;
            self.restored_unreported = false;
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

    #[track_caller]
    fn emit(&mut self, event: Event) {
        let origin = std::panic::Location::caller();
        self.outputs.push_back(Output::Event(event, origin));
    }

    fn persist(&mut self) {
        if self.shares_snapshot() && !self.holding_lock {
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

/// `0x` and 40 hex digits as bytes (a key's, or a remote signer's address the
/// constructor checked).
fn address_bytes(address: &str) -> [u8; 20] {
    let mut bytes = [0; 20];
    let digits = address.strip_prefix("0x").unwrap_or(address);
    // Checked by the constructor; a malformed one could only come from a
    // `Signer` that breaks its contract, and then registers as all zeros.
    let _ = hex::decode_to_slice(digits, &mut bytes);
    bytes
}

/// The DDS repeating a callback sends the same id and secret.
fn same_callback(earlier: &DdsCredentials, callback: &DdsCredentials) -> bool {
    earlier.id == callback.id && earlier.secret == callback.secret
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
