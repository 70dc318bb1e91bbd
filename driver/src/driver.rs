//! The [`Driver`]: one registrar, its I/O, and the operations hosts call.

use crate::bounded::bounded;
use crate::signal::{lock, Broadcast, Until, Wake};
use crate::{BoxFuture, EventSink, RemoteSigner, Runtime, SnapshotStore, StoreError, Transport};
use futures_channel::mpsc::UnboundedReceiver;
use futures_util::lock::Mutex as AsyncMutex;
use futures_util::{FutureExt, StreamExt};
use posemesh_registration_core::registrar::SHORT_DELAY;
use posemesh_registration_core::{
    AttemptOutcome, ConfigError, Event, Failure, HttpResponse, LockOutcome, Metrics,
    MetricsSnapshot, NodeResponse, Origin, OutgoingRequest, Output, PrivateKey, Registrar,
    RegistrarConfig, RequestId, Snapshot, SnapshotError, Status, TransportError, UnixTime,
};
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::panic::Location;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// Whether a store may coordinate processes ([`SnapshotStore::uses_lock`]).
/// The npm package's stores never do (browser storage, KV namespaces): its
/// build sets `--cfg posemesh_no_process_lock`, and the lock and the
/// shared-snapshot protocol are compiled out of it.
const PROCESS_LOCKS: bool = !cfg!(posemesh_no_process_lock);

/// Bumped by [`after_fork_in_child`]; each driver catches up on its next call.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Tells every driver of this process that it now runs in the child of a
/// `fork()` (call it from the host's at-fork hook, as the Python package does
/// with `os.register_at_fork`). Threads do not survive a fork: a loop the
/// parent ran, and any call it had in progress, are gone, though their locks
/// and flags were copied. Each driver forgets them on its next call, so it
/// says it is not running and works when started again; what it knows of the
/// registration is kept.
pub fn after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// Why the driver could not start or run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// The configuration breaks one of the core's rules.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The stored snapshot could not be read at all (permissions, I/O).
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The host's HTTP client could not be built.
    #[error("cannot build HTTP client: {0}")]
    Http(String),
    /// [`Driver::run`] was called while the loop already runs.
    #[error("the registration loop is already running on this driver")]
    AlreadyRunning,
    /// [`Driver::stop`] ended the operation before it had a result.
    #[error("stopped before the attempt finished")]
    Stopped,
}

/// Why [`Driver::register_once`] did not register.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterOnceError {
    /// The DDS refused, could not be reached, or the lock could not be taken.
    #[error("{0}")]
    Failed(Failure),
    /// The driver could not run the attempt.
    #[error(transparent)]
    Driver(DriverError),
}

/// The outputs drained from the registrar and not yet carried out. Kept
/// across callers (and across a dropped future) so that none is lost and
/// all happen in the core's order.
#[derive(Default)]
struct Io {
    queue: VecDeque<Output>,
    next_wake: Option<UnixTime>,
}

struct Shared {
    registrar: Mutex<Registrar>,
    transport: Arc<dyn Transport>,
    #[cfg_attr(posemesh_local_signer_only, allow(dead_code))]
    remote_signer: Option<Arc<dyn RemoteSigner>>,
    store: Arc<dyn SnapshotStore>,
    /// How long a load or save may take (the request timeout).
    store_limit: Duration,
    runtime: Arc<dyn Runtime>,
    sink: Option<Arc<dyn EventSink>>,
    /// Held while outputs are carried out: one caller at a time, in order.
    /// (Replaced in a forked child, where the parent's holder does not exist.)
    io: Mutex<Arc<AsyncMutex<Io>>>,
    /// Held by whoever runs the loop (run, register_once, tick).
    drive: Mutex<Arc<AsyncMutex<()>>>,
    /// The [`after_fork_in_child`] generation this driver has caught up with.
    generation: AtomicU64,
    wake: Wake,
    run_active: AtomicBool,
    /// Bumped by [`Driver::stop`]; a loop ends when it changes.
    stops: AtomicU64,
    /// Set by [`Driver::stop`]: the stop-bound status streams end once the
    /// operation it ended has finished its outputs.
    stream_end_pending: AtomicBool,
    status: Mutex<Status>,
    status_changes: Broadcast<Status>,
    results: Broadcast<Result<AttemptOutcome, Failure>>,
    /// How each sign-in round ends ([`Event::session_result`]): `Ok` once
    /// signed in (always `Registered`: a signed-in node is registered) or the
    /// round's failure. The attempts' type rather than `Result<(), Failure>`,
    /// so that the channel code exists once (npm package: −264 B gzipped).
    sessions: Broadcast<Result<AttemptOutcome, Failure>>,
    /// A request a node-request handler drained, for the loop to send.
    stashed: Mutex<Vec<Pending>>,
    /// Counters and gauges from every event ([`Driver::metrics`]).
    metrics: Mutex<Metrics>,
    /// The last failed save's text, for [`TickReport::save_error`].
    last_save_error: Mutex<Option<String>>,
    recovered_from: Option<SnapshotError>,
}

/// Drives one node's registration. Cheap to clone; clones share the state.
#[derive(Clone)]
pub struct Driver {
    shared: Arc<Shared>,
}

/// What the registrar is waiting for from the outside world.
enum Pending {
    Send(OutgoingRequest),
    #[cfg(not(posemesh_local_signer_only))]
    Sign(posemesh_registration_core::SignRequest),
}

impl Pending {
    fn id(&self) -> RequestId {
        match self {
            Pending::Send(outgoing) => outgoing.id,
            #[cfg(not(posemesh_local_signer_only))]
            Pending::Sign(request) => request.id,
        }
    }
}

/// How a [`Pending`] ended.
enum Answer {
    Response(Result<HttpResponse, TransportError>),
    #[cfg(not(posemesh_local_signer_only))]
    Signature(Result<Vec<u8>, String>),
}

type InFlight<'a> = (RequestId, BoxFuture<'a, Answer>);

/// The first of the requests under way to be answered, and where it is in the list.
fn first_answer(in_flight: &mut [InFlight<'_>], cx: &mut Context<'_>) -> Poll<(usize, Answer)> {
    for (index, (_, send)) in in_flight.iter_mut().enumerate() {
        if let Poll::Ready(answer) = send.as_mut().poll(cx) {
            return Poll::Ready((index, answer));
        }
    }
    Poll::Pending
}

impl Driver {
    /// The current status.
    pub fn status(&self) -> Status {
        *lock(&self.shared.status)
    }

    /// Every status from now on, starting with the current one, until
    /// [`Driver::stop`] ends the stream (after the status the stop leads to).
    /// Opened after a stop and before the loop runs again, it gives the
    /// current status and ends.
    pub fn status_stream(&self) -> UnboundedReceiver<Status> {
        let current = lock(&self.shared.status);
        self.shared
            .status_changes
            .subscribe_with(*current, Until::Stop)
    }

    /// Every status from now on, starting with the current one, across
    /// stops and starts, until [`Driver::close_status_streams`]: what a
    /// registrar object's own status flow follows for its whole life.
    pub fn status_stream_until_closed(&self) -> UnboundedReceiver<Status> {
        let current = lock(&self.shared.status);
        self.shared
            .status_changes
            .subscribe_with(*current, Until::Close)
    }

    /// Ends every status stream, and every later one at once (the host's
    /// registrar object is gone). Does not stop the loop.
    pub fn close_status_streams(&self) {
        self.shared.status_changes.close();
    }

    /// Waits until the status is `wanted` (`true`, at once if it is), or
    /// until `timeout` passes or [`Driver::stop`] ends the wait (`false`).
    pub async fn wait_for_status(&self, wanted: Status, timeout: Option<Duration>) -> bool {
        let mut statuses = self.status_stream();
        let reached = async {
            while let Some(status) = statuses.next().await {
                if status == wanted {
                    return true;
                }
            }
            false
        };
        let Some(timeout) = timeout else {
            return reached.await;
        };
        let runtime = &self.shared.runtime;
        let mut expired = runtime.sleep_until(runtime.now() + timeout);
        let mut reached = pin!(reached);
        poll_fn(|cx| match reached.as_mut().poll(cx) {
            Poll::Ready(reached) => Poll::Ready(reached),
            Poll::Pending => expired.as_mut().poll(cx).map(|()| false),
        })
        .await
    }

    /// The current snapshot (what would be stored).
    pub fn snapshot(&self) -> Snapshot {
        lock(&self.shared.registrar).snapshot()
    }

    /// The operator metrics: attempts by result, consecutive failures, time
    /// since the last success, health checks, callbacks, lock contention and
    /// sign-ins, the same in every runtime
    /// ([`MetricsSnapshot::to_prometheus`] gives Prometheus text).
    pub fn metrics(&self) -> MetricsSnapshot {
        let now = self.shared.runtime.now();
        lock(&self.shared.metrics).snapshot(self.status(), now)
    }

    /// The node's Ethereum address.
    pub fn address(&self) -> String {
        lock(&self.shared.registrar).address()
    }

    /// The node's public key (uncompressed, hex); `None` with a remote signer.
    pub fn public_key_hex(&self) -> Option<String> {
        lock(&self.shared.registrar)
            .signer()
            .map(|signer| signer.public_key_hex())
    }

    /// The configuration the driver runs with.
    pub fn config(&self) -> RegistrarConfig {
        lock(&self.shared.registrar).config().clone()
    }

    /// Why the stored snapshot was set aside at start, if it was.
    pub fn recovered_from(&self) -> Option<&SnapshotError> {
        self.shared.recovered_from.as_ref()
    }

    /// Whether [`Driver::run`] is active.
    pub fn is_running(&self) -> bool {
        self.catch_up_with_fork();
        self.shared.run_active.load(Ordering::Acquire)
    }

    /// Runs the registration loop until [`Driver::stop`] (or until the future
    /// is dropped, which abandons the request in flight). An error if the loop
    /// already runs.
    pub async fn run(&self) -> Result<(), DriverError> {
        self.catch_up_with_fork();
        if self.shared.run_active.swap(true, Ordering::AcqRel) {
            return Err(DriverError::AlreadyRunning);
        }
        self.shared
            .stream_end_pending
            .store(false, Ordering::Release);
        self.shared.status_changes.restart();
        lock(&self.shared.registrar).set_looping(true);
        let _active = RunGuard(self.clone());
        let stops = self.shared.stops.load(Ordering::Acquire);
        let drive = self.drive_lock();
        let _drive = drive.lock().await;
        if self.stopped_since(stops) {
            return Ok(());
        }
        self.drive(stops).await;
        Ok(())
    }

    /// Ends [`Driver::run`], any `register_once` waiting for a result (with
    /// [`DriverError::Stopped`]) and the [`Driver::status_stream`]s; the
    /// request in flight is abandoned.
    pub fn stop(&self) {
        self.shared.stops.fetch_add(1, Ordering::AcqRel);
        // Status streams end once what the stop leads to (a last status) is
        // out: when the operation it ends has finished, or now if none runs.
        self.shared
            .stream_end_pending
            .store(true, Ordering::Release);
        if self.drive_lock().try_lock().is_some() {
            self.end_streams_if_stopped();
        }
        self.shared.wake.notify();
    }

    /// Makes sure the node is registered, now, and returns how
    /// ([`AttemptOutcome`]) or why not. It always ends: a fresh registration
    /// for this exact configuration is adopted without a request; otherwise
    /// one attempt is made (both steps of the wallet flow), never retried.
    /// Next to a running loop, or another `register_once`, it joins the
    /// attempt in progress and gets the same result.
    pub async fn register_once(&self) -> Result<AttemptOutcome, RegisterOnceError> {
        self.catch_up_with_fork();
        let stops = self.shared.stops.load(Ordering::Acquire);
        let mut results = self.shared.results.subscribe();
        {
            let now = self.shared.runtime.now();
            lock(&self.shared.registrar).register_now(now);
        }
        self.shared.wake.notify();
        match self.drive_until(stops, &mut results).await {
            Some(Ok(outcome)) => Ok(outcome),
            Some(Err(failure)) => Err(RegisterOnceError::Failed(failure)),
            None => Err(RegisterOnceError::Driver(DriverError::Stopped)),
        }
    }

    /// Asks the registrar to register again now, whatever is stored (after
    /// the DDS answered a later call with 403 or 404, say). A running loop
    /// carries it out; without one, the next `run`, `tick` or
    /// `register_once` does.
    pub fn register_again(&self) {
        self.catch_up_with_fork();
        let now = self.shared.runtime.now();
        lock(&self.shared.registrar).register_again(now);
        self.shared.wake.notify();
    }

    /// Whether serving this node request needs the shared snapshot read first
    /// (a callback that could be accepted, at the route the node URL gives it).
    #[cfg(not(posemesh_no_process_lock))]
    fn needs_stored_snapshot(&self, method: &str, path: &str, body: &[u8]) -> bool {
        let registrar = lock(&self.shared.registrar);
        let route = registrar.config().flow.node_route(path);
        Registrar::needs_stored_snapshot(method, route, body)
    }

    /// Serves a request the DDS made to the node (`POST
    /// /internal/v1/registrations`, `GET /health`); anything else is 404.
    /// What it changed is persisted before it returns.
    pub async fn handle_node_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> NodeResponse {
        self.catch_up_with_fork();
        // Behind one port, a callback may be for a sibling process's attempt:
        // its window is in the shared snapshot (read only for a body that parses).
        // (A `cfg`, not only the constant: an await the constant made dead
        // would still keep its state, and the code it polls, in the future.)
        #[cfg(not(posemesh_no_process_lock))]
        let stored =
            if self.shared.store.uses_lock() && self.needs_stored_snapshot(method, path, body) {
                self.load_stored().await
            } else {
                None
            };
        #[cfg(posemesh_no_process_lock)]
        let stored = None;
        let now = self.shared.runtime.now();
        let response = lock(&self.shared.registrar).handle_node_request_shared(
            method,
            path,
            headers,
            body,
            stored.as_ref(),
            now,
        );
        let pending = self.flush().await;
        if !pending.is_empty() {
            lock(&self.shared.stashed).extend(pending);
        }
        self.shared.wake.notify();
        response
    }

    /// The next of `results`, driving the loop meanwhile if nobody else does
    /// (whoever holds the loop carries the work out); `None` if stopped first.
    async fn drive_until<T>(&self, stops: u64, results: &mut UnboundedReceiver<T>) -> Option<T> {
        let drive = async {
            let drive = self.drive_lock();
            let _drive = drive.lock().await;
            if !self.stopped_since(stops) {
                self.drive(stops).await;
            }
        };
        let mut drive = pin!(drive);
        let mut next = results.next();
        poll_fn(|cx| {
            if let Poll::Ready(result) = next.poll_unpin(cx) {
                return Poll::Ready(result);
            }
            drive.as_mut().poll(cx).map(|()| None)
        })
        .await
    }

    fn drive_lock(&self) -> Arc<AsyncMutex<()>> {
        self.catch_up_with_fork();
        lock(&self.shared.drive).clone()
    }

    fn io(&self) -> Arc<AsyncMutex<Io>> {
        lock(&self.shared.io).clone()
    }

    /// In the child of a `fork()` ([`after_fork_in_child`]): the parent's loop,
    /// its calls and its request do not exist here, though their locks and
    /// flags were copied. Forget them, so that this driver says it is not
    /// running and works when started again. The registrar's state (its
    /// registration, credentials) is kept.
    fn catch_up_with_fork(&self) {
        // No process forks under WebAssembly.
        if cfg!(target_arch = "wasm32") {
            return;
        }
        let generation = FORK_GENERATION.load(Ordering::Acquire);
        if self.shared.generation.swap(generation, Ordering::AcqRel) == generation {
            return;
        }
        *lock(&self.shared.drive) = Arc::default();
        *lock(&self.shared.io) = Arc::default();
        lock(&self.shared.stashed).clear();
        self.shared.run_active.store(false, Ordering::Release);
        let now = self.shared.runtime.now();
        let mut registrar = lock(&self.shared.registrar);
        registrar.set_looping(false);
        // The parent's request is answered in the parent; a lock it holds is the parent's.
        registrar.cancel_request(now);
    }

    fn stopped_since(&self, stops: u64) -> bool {
        self.shared.stops.load(Ordering::Acquire) != stops
    }

    fn next_wake(&self) -> UnixTime {
        // Drained with the last flush; if a caller changed the registrar since,
        // the wake signal makes the loop come round again anyway.
        self.io()
            .try_lock()
            .and_then(|io| io.next_wake)
            .unwrap_or_else(|| self.shared.runtime.now())
    }

    /// The loop: carry out outputs, send at most one request, sleep until the
    /// next deadline, an answer, or a wake-up. Ends when stopped.
    async fn drive(&self, stops: u64) {
        // If this future is dropped mid-request, tell the registrar (or it
        // would wait out the timeout for an answer nobody reports) and finish
        // the outputs that leaves, such as releasing the lock.
        let _abandon = AbandonOnDrop(self.clone());
        // The registration's request and the session's, side by side.
        let mut in_flight: Vec<InFlight<'_>> = Vec::new();
        loop {
            if self.stopped_since(stops) {
                // What the registrar learned before the stop (a callback's
                // credentials, say) is saved before `run` returns: waits for
                // a save another caller has under way. Requests wait for the
                // next drive.
                let pending = self.flush().await;
                lock(&self.shared.stashed).extend(pending);
                return;
            }
            let pending = self.awaited(self.flush().await, &mut in_flight);
            in_flight.extend(pending.into_iter().map(|pending| self.start(pending)));
            let mut sleep = self.shared.runtime.sleep_until(self.next_wake());
            let mut woken = pin!(self.shared.wake.notified());
            enum Next {
                Answer(usize, Answer),
                Timer,
                Woken,
            }
            let next = poll_fn(|cx| {
                if let Poll::Ready((index, answer)) = first_answer(&mut in_flight, cx) {
                    return Poll::Ready(Next::Answer(index, answer));
                }
                if woken.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Next::Woken);
                }
                if sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Next::Timer);
                }
                Poll::Pending
            })
            .await;
            let now = self.shared.runtime.now();
            match next {
                Next::Answer(index, answer) => {
                    let (id, _) = in_flight.swap_remove(index);
                    self.answer(id, answer, now);
                }
                Next::Timer => lock(&self.shared.registrar).handle_timeout(now),
                Next::Woken => {}
            }
        }
    }

    /// Of the requests `pending` (and those a node-request handler stashed),
    /// the ones the registrar still awaits and that are not under way yet;
    /// drops from `in_flight` what it no longer awaits (timed out, replaced).
    fn awaited(
        &self,
        mut pending: Vec<Pending>,
        in_flight: &mut Vec<InFlight<'_>>,
    ) -> Vec<Pending> {
        pending.extend(lock(&self.shared.stashed).drain(..));
        let registrar = lock(&self.shared.registrar);
        in_flight.retain(|(id, _)| registrar.awaits(*id));
        pending.retain(|pending| {
            let id = pending.id();
            registrar.awaits(id) && !in_flight.iter().any(|(sent, _)| *sent == id)
        });
        pending
    }

    /// Sends a request or asks the signer: the answer, as a future.
    fn start(&self, pending: Pending) -> InFlight<'_> {
        match pending {
            Pending::Send(outgoing) => {
                let send = self
                    .shared
                    .transport
                    .send(outgoing.request, outgoing.timeout);
                (outgoing.id, Box::pin(send.map(Answer::Response)))
            }
            #[cfg(not(posemesh_local_signer_only))]
            Pending::Sign(request) => {
                let signature: BoxFuture<'_, Result<Vec<u8>, String>> =
                    match &self.shared.remote_signer {
                        Some(signer) => signer.personal_sign(request.message),
                        // Only a remote-signer registrar asks; never reached.
                        None => Box::pin(std::future::ready(Err("no remote signer".to_owned()))),
                    };
                (request.id, Box::pin(signature.map(Answer::Signature)))
            }
        }
    }

    /// Feeds an answer back to the registrar.
    fn answer(&self, id: RequestId, answer: Answer, now: UnixTime) {
        let mut registrar = lock(&self.shared.registrar);
        match answer {
            Answer::Response(result) => registrar.handle_response(id, result, now),
            #[cfg(not(posemesh_local_signer_only))]
            Answer::Signature(result) => registrar.handle_signature(id, result, now),
        }
    }

    /// Carries out the registrar's outputs in order, outside its mutex:
    /// persists, lock actions, events. Returns the requests to send and the
    /// signatures to ask for.
    async fn flush(&self) -> Vec<Pending> {
        let io = self.io();
        let mut io = io.lock().await;
        let mut transmits = Vec::new();
        let mut results = Vec::new();
        let mut sessions = Vec::new();
        loop {
            if io.queue.is_empty() {
                let mut registrar = lock(&self.shared.registrar);
                loop {
                    match registrar.poll_output() {
                        Output::Wait(at) => {
                            io.next_wake = Some(at);
                            self.publish_status(registrar.status());
                            break;
                        }
                        output => io.queue.push_back(output),
                    }
                }
            }
            // Carried out before it leaves the queue: a future dropped halfway
            // leaves it for the next flush (saves and unlocks are idempotent).
            // Borrowed, not cloned: only a request to send is copied out.
            let Some(output) = io.queue.front() else {
                break;
            };
            match output {
                Output::Transmit(outgoing) => transmits.push(Pending::Send(outgoing.clone())),
                // Only a remote signer's registrar asks (compiled out without one).
                #[cfg(not(posemesh_local_signer_only))]
                Output::Sign(request) => transmits.push(Pending::Sign(request.clone())),
                Output::Persist(snapshot) => {
                    if let Err(err) = self.save(snapshot.encode()).await {
                        self.report_save_failed(&err);
                    }
                }
                // Only with a process lock (`use_lock`); compiled out without one.
                #[cfg(not(posemesh_no_process_lock))]
                Output::AcquireLock => {
                    let outcome = self.try_lock().await;
                    let now = self.shared.runtime.now();
                    lock(&self.shared.registrar).handle_lock(outcome, now);
                }
                #[cfg(not(posemesh_no_process_lock))]
                Output::ReleaseLock => self.shared.store.unlock().await,
                #[cfg(not(posemesh_no_process_lock))]
                Output::ShareState => self.share_state().await,
                #[cfg(not(posemesh_no_process_lock))]
                Output::LoadShared => {
                    let stored = self.load_stored().await;
                    let now = self.shared.runtime.now();
                    lock(&self.shared.registrar).observe_shared(stored, now);
                }
                Output::Event(event, origin) => {
                    self.report(event, origin);
                    if let Some(result) = event.attempt_result() {
                        results.push(result.map_err(Clone::clone));
                    }
                    if let Some(result) = event.session_result() {
                        let signed_in = |()| AttemptOutcome::Registered;
                        sessions.push(result.map(signed_in).map_err(Clone::clone));
                    }
                }
                // Wait is drained above; the lock's outputs are only produced
                // with a process lock (`use_lock`), Sign only for a remote signer.
                _ => {}
            }
            io.queue.pop_front();
        }
        drop(io);
        // Attempt results go out once everything before them is done (the
        // snapshot saved, the lock released), so a caller that stops on one
        // leaves nothing half-done.
        for result in results {
            self.shared.results.send(result);
        }
        for result in sessions {
            self.shared.sessions.send(result);
        }
        transmits
    }

    #[cfg_attr(posemesh_no_process_lock, allow(dead_code))]
    async fn try_lock(&self) -> LockOutcome {
        match self.shared.store.try_lock().await {
            Ok(true) => {
                // Read under the lock: another process may have registered meanwhile.
                let fresh = self.load_stored().await;
                LockOutcome::Acquired { fresh }
            }
            Ok(false) => LockOutcome::Busy,
            Err(err) => LockOutcome::Failed(err.to_string()),
        }
    }

    /// Saves `bytes`, failing once the request timeout has passed.
    async fn save(&self, bytes: Vec<u8>) -> Result<(), StoreError> {
        let shared = &self.shared;
        bounded(
            &*shared.runtime,
            shared.store_limit,
            "save",
            shared.store.save(bytes),
        )
        .await
    }

    /// The stored snapshot, if there is a usable one.
    #[cfg_attr(posemesh_no_process_lock, allow(dead_code))]
    async fn load_stored(&self) -> Option<Snapshot> {
        let shared = &self.shared;
        match bounded(
            &*shared.runtime,
            shared.store_limit,
            "load",
            shared.store.load(),
        )
        .await
        {
            Ok(Some(bytes)) => Snapshot::decode(&bytes).ok(),
            _ => None,
        }
    }

    /// Merges what this process learned into the shared snapshot, under the lock.
    #[cfg_attr(posemesh_no_process_lock, allow(dead_code))]
    async fn share_state(&self) {
        let now = self.shared.runtime.now();
        // Holding the lock for its own attempt (taken after this output was
        // queued), this process must not release it: the merge waits.
        if lock(&self.shared.registrar).holds_lock() {
            lock(&self.shared.registrar).share_busy(now);
            return;
        }
        if !matches!(self.shared.store.try_lock().await, Ok(true)) {
            lock(&self.shared.registrar).share_busy(now);
            return;
        }
        let stored = self.load_stored().await;
        let merged = lock(&self.shared.registrar).merge_shared(stored, now);
        if let Some(snapshot) = merged {
            if let Err(err) = self.save(snapshot.encode()).await {
                self.report_save_failed(&err);
            }
        }
        self.shared.store.unlock().await;
    }

    /// A failed save, as the registrar words it: the store's text redacted and
    /// on one line.
    #[track_caller]
    fn report_save_failed(&self, err: &StoreError) {
        let event = lock(&self.shared.registrar).save_failed_event(&err.to_string());
        if let Event::StateSaveFailed { error } = &event {
            *lock(&self.shared.last_save_error) = Some(error.clone());
        }
        self.report(&event, Location::caller());
    }

    fn report(&self, event: &Event, origin: Origin) {
        let now = self.shared.runtime.now();
        lock(&self.shared.metrics).record(event, now);
        if let Some(sink) = &self.shared.sink {
            sink.event_at(event, origin);
        }
    }

    /// Ends the stop-bound status streams if a stop asked for it.
    fn end_streams_if_stopped(&self) {
        if self.shared.stream_end_pending.swap(false, Ordering::AcqRel) {
            self.shared.status_changes.end_at_stop();
        }
    }

    fn publish_status(&self, status: Status) {
        let mut current = lock(&self.shared.status);
        if *current != status {
            *current = status;
            self.shared.status_changes.send(status);
        }
    }
}

mod builder;
mod guards;
mod session;
mod tick;
pub use builder::DriverBuilder;
use guards::{AbandonOnDrop, RunGuard};
pub use tick::TickReport;
