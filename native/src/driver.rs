//! Runs the core [`Registrar`] with real I/O: a [`Transport`] for HTTP, a
//! [`Store`] for the snapshot and the lock, a [`Clock`], tokio timers, and
//! `tracing` (plus an optional callback) for events.

use crate::clock::{Clock, SystemClock};
use crate::store::{MemoryStore, Store, StoreError};
use crate::transport::{ReqwestTransport, Transport};
use futures_util::future::BoxFuture;
use posemesh_registration_core::{
    Event, Failure, HttpResponse, Level, LockOutcome, NodeResponse, OutgoingRequest, Output,
    PrivateKey, Registrar, RegistrarConfig, RequestId, Snapshot, SnapshotError, Status,
    TransportError, UnixTime,
};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{watch, Notify};

/// A callback that receives every event (never a secret).
pub type EventHandler = Arc<dyn Fn(&Event) + Send + Sync>;

/// Why the driver could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The stored snapshot could not be read at all (permissions, I/O).
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The HTTP client could not be built.
    #[error("cannot build HTTP client: {0}")]
    Http(String),
    /// `register_once` was called while `run` is active on the same driver.
    #[error("the registration loop is already running on this driver")]
    AlreadyRunning,
    /// The attempt ended without a result (the driver was shut down).
    #[error("stopped before the attempt finished")]
    Stopped,
}

/// Configures and builds a [`Driver`].
pub struct DriverBuilder {
    config: RegistrarConfig,
    key: PrivateKey,
    store: Option<Arc<dyn Store>>,
    transport: Option<Arc<dyn Transport>>,
    clock: Option<Arc<dyn Clock>>,
    on_event: Option<EventHandler>,
    seed: Option<u64>,
}

impl DriverBuilder {
    /// Persists through `store` (default: in memory only).
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Persists through a shared `store`.
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Sends HTTP through `transport` (default: [`ReqwestTransport`]).
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Reads time from `clock` (default: [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Calls `handler` with every event, besides logging it through `tracing`.
    pub fn on_event(mut self, handler: EventHandler) -> Self {
        self.on_event = Some(handler);
        self
    }

    /// Seeds the jitter generator (default: OS randomness).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Loads the stored snapshot and builds the driver. A corrupt or too new
    /// snapshot is set aside and reported (see [`Driver::recovered_from`]); the
    /// node then registers afresh. An unreadable store is an error.
    pub fn build(self) -> Result<Driver, DriverError> {
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let transport = match self.transport {
            Some(transport) => transport,
            None => {
                Arc::new(ReqwestTransport::new().map_err(|e| DriverError::Http(e.to_string()))?)
            }
        };
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let mut config = self.config;
        config.use_lock = store.uses_lock();
        let (snapshot, recovered_from) = match store.load()? {
            None => (None, None),
            Some(bytes) => match Snapshot::decode(&bytes) {
                Ok(snapshot) => (Some(snapshot), None),
                Err(err) => {
                    tracing::warn!(event = "state.corrupt", error = %err, "stored registration state unusable; set aside, registering afresh");
                    store.set_aside_corrupt();
                    (None, Some(err))
                }
            },
        };
        let seed = self
            .seed
            .unwrap_or_else(|| getrandom::u64().unwrap_or(0x5EED));
        let registrar = Registrar::new(config, self.key, snapshot, clock.now(), seed);
        let (status_tx, _) = watch::channel(registrar.status());
        Ok(Driver {
            shared: Arc::new(Shared {
                registrar: Mutex::new(registrar),
                store,
                transport,
                clock,
                on_event: self.on_event,
                wake: Notify::new(),
                status: status_tx,
                running: AtomicBool::new(false),
                recovered_from,
            }),
        })
    }
}

struct Shared {
    registrar: Mutex<Registrar>,
    store: Arc<dyn Store>,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    on_event: Option<EventHandler>,
    wake: Notify,
    status: watch::Sender<Status>,
    running: AtomicBool,
    recovered_from: Option<SnapshotError>,
}

/// Drives one node's registration. Cheap to clone; clones share the state.
#[derive(Clone)]
pub struct Driver {
    shared: Arc<Shared>,
}

/// What one pass over the registrar's outputs leaves for the async side.
struct Pumped {
    events: Vec<Event>,
    transmits: Vec<OutgoingRequest>,
    wait_until: UnixTime,
}

impl Driver {
    /// Starts configuring a driver for `config`, signing with `key`.
    pub fn builder(config: RegistrarConfig, key: PrivateKey) -> DriverBuilder {
        DriverBuilder {
            config,
            key,
            store: None,
            transport: None,
            clock: None,
            on_event: None,
            seed: None,
        }
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.registrar().status()
    }

    /// Watches status changes (for waiting until registered, say).
    pub fn watch_status(&self) -> watch::Receiver<Status> {
        self.shared.status.subscribe()
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.registrar().snapshot()
    }

    /// Why the stored snapshot was set aside at start, if it was.
    pub fn recovered_from(&self) -> Option<&SnapshotError> {
        self.shared.recovered_from.as_ref()
    }

    /// The node's Ethereum address.
    pub fn address(&self) -> String {
        self.registrar().signer().eth_address()
    }

    /// Runs the registration loop until `shutdown` completes. Cancel-safe: dropping
    /// the future abandons an in-flight request, and its late answer is ignored.
    pub async fn run_until(&self, shutdown: impl Future<Output = ()>) -> Result<(), DriverError> {
        let _running = self.claim_running()?;
        self.drive(shutdown, |_| false).await;
        Ok(())
    }

    /// Runs the registration loop forever (until the future is dropped).
    pub async fn run(&self) -> Result<(), DriverError> {
        self.run_until(std::future::pending()).await
    }

    /// Makes one registration attempt now and returns its result (following
    /// the protocol's steps; no retries).
    pub async fn register_once(&self) -> Result<(), RegisterOnceError> {
        let _running = self.claim_running().map_err(RegisterOnceError::Driver)?;
        self.registrar().register_now(self.shared.clock.now());
        let mut result = None;
        self.drive(std::future::pending(), |event| {
            if let Some(outcome) = event.attempt_result() {
                result = Some(outcome.map_err(Clone::clone));
                true
            } else {
                false
            }
        })
        .await;
        match result {
            Some(Ok(())) => Ok(()),
            Some(Err(failure)) => Err(RegisterOnceError::Failed(failure)),
            None => Err(RegisterOnceError::Driver(DriverError::Stopped)),
        }
    }

    /// Serves a request the DDS made to the node (`POST
    /// /internal/v1/registrations`, `GET /health`); anything else is 404.
    pub fn handle_node_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> NodeResponse {
        let now = self.shared.clock.now();
        let response = self
            .registrar()
            .handle_node_request(method, path, headers, body, now);
        // Persist and report what the request changed, then let the loop re-plan.
        let pumped = self.pump(&mut self.registrar());
        debug_assert!(
            pumped.transmits.is_empty(),
            "a node request never starts an attempt"
        );
        self.dispatch(pumped.events);
        self.shared.wake.notify_one();
        response
    }

    fn registrar(&self) -> MutexGuard<'_, Registrar> {
        self.shared
            .registrar
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn claim_running(&self) -> Result<RunningGuard<'_>, DriverError> {
        if self.shared.running.swap(true, Ordering::AcqRel) {
            return Err(DriverError::AlreadyRunning);
        }
        Ok(RunningGuard(&self.shared.running))
    }

    /// The loop: pump outputs, send at most one request, sleep until the next
    /// deadline, an answer, or a node request. `stop` sees each event and
    /// ends the loop by returning true.
    async fn drive(
        &self,
        shutdown: impl Future<Output = ()>,
        mut stop: impl FnMut(&Event) -> bool,
    ) {
        tokio::pin!(shutdown);
        // If this future is dropped (or shut down) mid-request, tell the
        // registrar, or it would wait for an answer nobody will report.
        let _abandon = AbandonOnDrop(self);
        let mut in_flight: Option<(
            RequestId,
            BoxFuture<'_, Result<HttpResponse, TransportError>>,
        )> = None;
        loop {
            let pumped = self.pump(&mut self.registrar());
            let finished = pumped.events.iter().any(&mut stop);
            self.dispatch(pumped.events);
            if finished {
                return;
            }
            for outgoing in pumped.transmits {
                let send = self
                    .shared
                    .transport
                    .send(outgoing.request, outgoing.timeout);
                in_flight = Some((outgoing.id, send));
            }
            let sleep_for = pumped.wait_until.saturating_since(self.shared.clock.now());
            tokio::select! {
                result = async { in_flight.as_mut().expect("guarded").1.as_mut().await }, if in_flight.is_some() => {
                    let (id, _) = in_flight.take().expect("guarded");
                    self.registrar().handle_response(id, result, self.shared.clock.now());
                }
                _ = tokio::time::sleep(sleep_for) => {
                    self.registrar().handle_timeout(self.shared.clock.now());
                }
                _ = self.shared.wake.notified() => {}
                _ = &mut shutdown => return,
            }
        }
    }

    /// Carries out every output except transmits and the final wait: persists,
    /// lock actions, events (returned, to be dispatched outside the lock).
    fn pump(&self, registrar: &mut Registrar) -> Pumped {
        let mut events = Vec::new();
        let mut transmits = Vec::new();
        loop {
            match registrar.poll_output() {
                Output::Transmit(request) => transmits.push(request),
                Output::Persist(snapshot) => {
                    if let Err(err) = self.shared.store.save(&snapshot.encode()) {
                        tracing::warn!(event = "state.save.error", error = %err, "could not persist registration state");
                    }
                }
                Output::AcquireLock => {
                    let outcome = self.try_lock();
                    registrar.handle_lock(outcome, self.shared.clock.now());
                }
                Output::ReleaseLock => self.shared.store.unlock(),
                Output::Event(event) => events.push(event),
                Output::Wait(wait_until) => {
                    self.shared.status.send_if_modified(|status| {
                        let changed = *status != registrar.status();
                        *status = registrar.status();
                        changed
                    });
                    return Pumped {
                        events,
                        transmits,
                        wait_until,
                    };
                }
            }
        }
    }

    fn try_lock(&self) -> LockOutcome {
        match self.shared.store.try_lock() {
            Ok(true) => {
                // Read under the lock: another process may have registered meanwhile.
                let fresh = match self.shared.store.load() {
                    Ok(Some(bytes)) => Snapshot::decode(&bytes).ok(),
                    _ => None,
                };
                LockOutcome::Acquired { fresh }
            }
            Ok(false) => LockOutcome::Busy,
            Err(err) => LockOutcome::Failed(err.to_string()),
        }
    }

    fn dispatch(&self, events: Vec<Event>) {
        for event in events {
            log_event(&event);
            if let Some(handler) = &self.shared.on_event {
                handler(&event);
            }
        }
    }
}

/// Why [`Driver::register_once`] did not register.
#[derive(Debug, thiserror::Error)]
pub enum RegisterOnceError {
    /// The DDS refused or could not be reached.
    #[error("{0}")]
    Failed(Failure),
    /// The driver could not run the attempt.
    #[error(transparent)]
    Driver(DriverError),
}

/// Tells the registrar when [`Driver::drive`] stops awaiting a request (its
/// future was dropped or shut down), so the next `register_once` or `run`
/// starts afresh instead of waiting out the request timeout.
struct AbandonOnDrop<'a>(&'a Driver);

impl Drop for AbandonOnDrop<'_> {
    fn drop(&mut self) {
        let driver = self.0;
        let now = driver.shared.clock.now();
        let mut registrar = driver.registrar();
        if registrar.has_request_in_flight() {
            registrar.cancel_request(now);
            let pumped = driver.pump(&mut registrar);
            drop(registrar);
            driver.dispatch(pumped.events);
        }
    }
}

struct RunningGuard<'a>(&'a AtomicBool);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Logs an event through `tracing` with the reference's event name.
pub fn log_event(event: &Event) {
    let name = event.name();
    match event.level() {
        Level::Debug => tracing::debug!(event = name, "{event}"),
        Level::Info => tracing::info!(event = name, "{event}"),
        Level::Warn => tracing::warn!(event = name, "{event}"),
    }
}
