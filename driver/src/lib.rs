//! # posemesh-registration-driver
//!
//! The loop around the sans-IO [`Registrar`](posemesh_registration_core::Registrar), written once for every runtime:
//! drain its outputs, send its requests, feed back the answers, persist its
//! snapshots, take and release the lock, report its events, and sleep until it
//! next wants to be woken. The driver knows no runtime: hosts supply four
//! small traits.
//!
//! - [`Transport`]: send one HTTP request (the deadline is the driver's).
//! - [`SnapshotStore`]: load, save, lock, set a corrupt snapshot aside.
//! - [`Runtime`]: the wall clock, a timer, spawning a task, a random seed.
//! - [`EventSink`]: where events go (a logger, a callback, a stream).
//! - [`RemoteSigner`] (optional): signs for a node whose key the host keeps.
//!
//! The native crate supplies tokio, reqwest and a file store; the npm package
//! supplies `fetch`, `setTimeout` and its storage adapters; the Python and
//! Kotlin/Swift libraries reuse the native ones. On `wasm32` nothing needs to
//! be `Send` (the [`MaybeSend`] bounds), as in matrix-rust-sdk.
//!
//! The rules a user can observe live here or in the core, once:
//!
//! - one loop drives at a time; [`Driver::run`] twice is an error, while a
//!   [`Driver::register_once`] next to a running loop (or another
//!   `register_once`) joins it and gets the same attempt's result;
//! - store I/O never runs under the registrar's mutex, and outputs are
//!   performed in the order the core gave them, even across callers;
//! - dropping a driving future abandons its request (its late answer is
//!   ignored) and finishes the outputs it left (a lock release, say);
//! - a failed save and a corrupt stored snapshot are events every host's
//!   logger receives ([`Event::StateSaveFailed`], [`Event::StateCorrupt`]);
//! - every load and save of the store ends: one that has not within the
//!   request timeout fails; a request unanswered by then is dropped (the
//!   core counts the timeout), so transports keep no timer;
//! - a stop ends the status streams once the status it leads to is out;
//!   a registrar object's own stream follows until it is closed.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bounded;
mod driver;
mod signal;

pub use driver::{
    after_fork_in_child, Driver, DriverBuilder, DriverError, RegisterOnceError, TickReport,
};
pub use posemesh_registration_core as core;

use posemesh_registration_core::{
    Event, HttpRequest, HttpResponse, Origin, TransportError, UnixTime,
};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// `Send` everywhere but on `wasm32`, where JavaScript's values and futures
/// never cross threads.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSend: Send {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + ?Sized> MaybeSend for T {}
/// `Send` everywhere but on `wasm32`, where JavaScript's values and futures
/// never cross threads.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSend for T {}

/// `Sync` everywhere but on `wasm32`.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSync: Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Sync + ?Sized> MaybeSync for T {}
/// `Sync` everywhere but on `wasm32`.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSync {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSync for T {}

/// A boxed future that is `Send` except on `wasm32`.
#[cfg(not(target_arch = "wasm32"))]
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
/// A boxed future that is `Send` except on `wasm32`.
#[cfg(target_arch = "wasm32")]
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Sends the core's HTTP requests.
///
/// Contract: never follow redirects (a redirect would carry the signed body,
/// credentials included, to whatever host it names: return the 3xx as it is);
/// read at most [`posemesh_registration_core::response::MAX_RESPONSE_BODY`]
/// bytes of a body; stop the exchange when the future is dropped. The
/// deadline is the driver's: once `timeout` passes unanswered, the core counts
/// a timeout and the driver drops the future, so a transport needs no timer
/// of its own (it may pass `timeout` on to a client that takes one).
pub trait Transport: MaybeSend + MaybeSync + 'static {
    /// Sends `request` and returns the response or why there was none.
    fn send(
        &self,
        request: HttpRequest,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<HttpResponse, TransportError>>;
}

/// A failed store operation, as the store describes it (the path and the OS
/// error, say). Never the stored bytes: they hold secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// Where the registration snapshot lives between runs, and optionally a lock
/// so that of several processes sharing it only one registers at a time.
pub trait SnapshotStore: MaybeSend + MaybeSync + 'static {
    /// The stored bytes, or `None` if nothing was stored yet.
    fn load(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>>;
    /// Replaces the stored bytes, atomically if the store can.
    fn save(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Whether this store can ever work (a file store: its path names a file
    /// beside which a lock file can be made). [`DriverBuilder::build`] asks
    /// once, after the configuration is checked and before the first load,
    /// so that a store that never works fails the build, not every attempt,
    /// and a refused configuration touches nothing. Quick and synchronous
    /// (a few file-system calls), like a file store's load.
    fn check_usable(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Whether this store coordinates processes: if so the driver takes
    /// [`SnapshotStore::try_lock`] before each registration attempt.
    fn uses_lock(&self) -> bool {
        false
    }
    /// Takes the lock without waiting: `Ok(true)` taken, `Ok(false)` held by
    /// another process, `Err` when it cannot be tried at all.
    fn try_lock(&self) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(std::future::ready(Ok(true)))
    }
    /// Releases the lock.
    fn unlock(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
    /// Moves unusable stored bytes aside (so nothing is lost) before a fresh
    /// snapshot overwrites them; says where, for the `state.corrupt` report
    /// (`None`: kept nowhere else, or the move failed).
    fn set_aside_corrupt(&self) -> BoxFuture<'_, Option<String>> {
        Box::pin(std::future::ready(None))
    }
}

/// What the driver needs of its runtime.
pub trait Runtime: MaybeSend + MaybeSync + 'static {
    /// Wall-clock time now.
    fn now(&self) -> UnixTime;
    /// Completes at `deadline` (wall clock) or soon after.
    fn sleep_until(&self, deadline: UnixTime) -> BoxFuture<'static, ()>;
    /// Runs `task` to completion in the background (used to finish the
    /// outputs a dropped future left, such as a lock release).
    fn spawn(&self, task: BoxFuture<'static, ()>);
    /// A seed for the jitter generator (OS randomness in production).
    fn random_seed(&self) -> u64;
}

/// Signs for a node whose key the library never holds: a wallet SDK, a
/// hardware-backed key, a signing service (see
/// [`Driver::builder_with_remote_signer`]). Asked for one EIP-191 signature
/// per wallet-flow attempt, never while the registrar's state is locked (a
/// shared store's cross-process registration lock is held, as for the
/// attempt's requests); it has the request timeout to answer.
pub trait RemoteSigner: MaybeSend + MaybeSync + 'static {
    /// The EIP-191 (`personal_sign`) signature of `message`: 65 bytes
    /// `r ‖ s ‖ v`, v in {0, 1} or {27, 28}; or why not (a refusal, say:
    /// the text is logged, so it must hold no secret).
    fn personal_sign(&self, message: String) -> BoxFuture<'_, Result<Vec<u8>, String>>;
}

/// Receives every event (never a secret), in order.
pub trait EventSink: MaybeSend + MaybeSync + 'static {
    /// One event.
    fn event(&self, event: &Event);
    /// One event and where this library raised it (for log records that
    /// name a source file and line); by default [`EventSink::event`].
    fn event_at(&self, event: &Event, origin: Origin) {
        let _ = origin;
        self.event(event);
    }
}

impl<F: Fn(&Event) + MaybeSend + MaybeSync + 'static> EventSink for F {
    fn event(&self, event: &Event) {
        self(event)
    }
}
