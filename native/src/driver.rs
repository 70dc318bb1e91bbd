//! The native runtime for the shared driver
//! ([`posemesh_registration_driver`]): tokio timers and tasks, reqwest, a
//! blocking [`Store`] run off the async executor, OS randomness, and `tracing`
//! (plus an optional callback) for events. The loop itself is the shared one.

use crate::clock::{Clock, SystemClock};
use crate::store::{MemoryStore, Store};
use crate::transport::{ReqwestTransport, Transport};
use posemesh_registration_core::{
    AttemptOutcome, Event, Level, NodeResponse, PrivateKey, RegistrarConfig, Snapshot,
    SnapshotError, Status, UnixTime,
};
use posemesh_registration_driver as shared;
use posemesh_registration_driver::{BoxFuture, SnapshotStore, StoreError as SharedStoreError};
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};

pub use posemesh_registration_driver::{DriverError, RegisterOnceError, TickReport};

/// A callback that receives every event (never a secret).
pub type EventHandler = Arc<dyn Fn(&Event) + Send + Sync>;

/// Who signs for the node.
enum NodeKey {
    Local(PrivateKey),
    Remote(String, Arc<dyn shared::RemoteSigner>),
}

/// Configures and builds a [`Driver`].
pub struct DriverBuilder {
    config: RegistrarConfig,
    key: NodeKey,
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

    /// Checks the configuration, loads the stored snapshot and builds the
    /// driver. A corrupt or too new snapshot is set aside and reported (see
    /// [`Driver::recovered_from`]); the node then registers afresh. An
    /// unreadable store or a configuration the core refuses is an error.
    pub fn build(self) -> Result<Driver, DriverError> {
        let transport = match self.transport {
            Some(transport) => transport,
            None => {
                Arc::new(ReqwestTransport::new().map_err(|e| DriverError::Http(e.to_string()))?)
            }
        };
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let runtime = Arc::new(TokioRuntime {
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
        });
        let sink = Arc::new(TracingSink {
            handler: self.on_event,
        });
        let store = Arc::new(BlockingStore(store));
        let builder = match self.key {
            NodeKey::Local(key) => {
                shared::Driver::builder(self.config, key, transport, store, runtime)
            }
            NodeKey::Remote(address, signer) => shared::Driver::builder_with_remote_signer(
                self.config,
                address,
                signer,
                transport,
                store,
                runtime,
            ),
        };
        let mut builder = builder.events(sink);
        if let Some(seed) = self.seed {
            builder = builder.seed(seed);
        }
        // A blocking store answers at once: building takes one poll.
        let built = futures_util::FutureExt::now_or_never(builder.build())
            .expect("a blocking store completes without waiting")?;
        Ok(Driver { inner: built })
    }
}

/// Drives one node's registration. Cheap to clone; clones share the state.
/// See [`posemesh_registration_driver::Driver`] for the rules every runtime shares.
#[derive(Clone)]
pub struct Driver {
    inner: shared::Driver,
}

impl Driver {
    /// Starts configuring a driver for `config`, signing with `key`.
    pub fn builder(config: RegistrarConfig, key: PrivateKey) -> DriverBuilder {
        Self::builder_for(config, NodeKey::Local(key))
    }

    /// Starts configuring a wallet-flow driver for a node whose key the
    /// host keeps: `signer` signs each attempt's SIWE message for `address`
    /// (see [`shared::Driver::builder_with_remote_signer`]).
    pub fn builder_with_remote_signer(
        config: RegistrarConfig,
        address: String,
        signer: Arc<dyn shared::RemoteSigner>,
    ) -> DriverBuilder {
        Self::builder_for(config, NodeKey::Remote(address, signer))
    }

    fn builder_for(config: RegistrarConfig, key: NodeKey) -> DriverBuilder {
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

    /// The shared driver underneath (for hosts that need all of it).
    pub fn shared(&self) -> &shared::Driver {
        &self.inner
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.inner.status()
    }

    /// Every status from now on, starting with the current one (a `Stream`).
    pub fn status_stream(&self) -> futures_channel::mpsc::UnboundedReceiver<Status> {
        self.inner.status_stream()
    }

    /// Waits until the status is `wanted` (returns at once if it is).
    pub async fn wait_for_status(&self, wanted: Status) {
        use futures_util::StreamExt;
        let mut stream = self.inner.status_stream();
        while let Some(status) = stream.next().await {
            if status == wanted {
                return;
            }
        }
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.inner.snapshot()
    }

    /// Why the stored snapshot was set aside at start, if it was.
    pub fn recovered_from(&self) -> Option<&SnapshotError> {
        self.inner.recovered_from()
    }

    /// The node's Ethereum address.
    pub fn address(&self) -> String {
        self.inner.address()
    }

    /// Whether the loop runs.
    pub fn is_running(&self) -> bool {
        self.inner.is_running()
    }

    /// Runs the registration loop until `shutdown` completes or [`Driver::stop`]
    /// is called. Cancel-safe: dropping the future abandons an in-flight
    /// request, and its late answer is ignored.
    pub async fn run_until(&self, shutdown: impl Future<Output = ()>) -> Result<(), DriverError> {
        tokio::select! {
            result = self.inner.run() => result,
            _ = shutdown => Ok(()),
        }
    }

    /// Runs the registration loop until [`Driver::stop`] (or the future is dropped).
    pub async fn run(&self) -> Result<(), DriverError> {
        self.inner.run().await
    }

    /// Runs the loop in the background on `runtime` and returns its handle.
    ///
    /// The loop's first step runs before this returns, on the calling thread,
    /// so that "already running" is this call's error and
    /// [`Driver::is_running`] holds once it returns. Stop it with
    /// [`Driver::stop`]; dropping the handle leaves it running, like a thread.
    pub fn start_on(&self, runtime: &tokio::runtime::Handle) -> Result<Background, DriverError> {
        let driver = self.clone();
        let mut run: BoxFuture<'static, Result<(), DriverError>> =
            Box::pin(async move { driver.run().await });
        let (alive, ended) = tokio::sync::watch::channel(());
        let first = {
            let _entered = runtime.enter();
            let waker = futures_util::task::noop_waker();
            run.as_mut().poll(&mut Context::from_waker(&waker))
        };
        match first {
            // Stopped before it began: an ended handle (`alive` drops here).
            Poll::Ready(result) => result?,
            Poll::Pending => {
                runtime.spawn(async move {
                    let _alive = alive;
                    let _ = run.await;
                });
            }
        }
        Ok(Background { ended })
    }

    /// Ends [`Driver::run`] and any `register_once` waiting for its result.
    pub fn stop(&self) {
        self.inner.stop()
    }

    /// Makes sure the node is registered now: adopts a fresh registration for
    /// this exact configuration, or makes one attempt. Always ends.
    pub async fn register_once(&self) -> Result<AttemptOutcome, RegisterOnceError> {
        self.inner.register_once().await
    }

    /// Registers again now, whatever is stored (after the DDS answered a later
    /// call with 403 or 404, say), without stopping a running loop.
    pub fn register_again(&self) {
        self.inner.register_again()
    }

    /// Does what is due now and returns (for cron-style hosts).
    pub async fn tick(&self) -> TickReport {
        self.inner.tick().await
    }

    /// Serves a request the DDS made to the node (`POST
    /// /internal/v1/registrations`, `GET /health`); anything else is 404.
    pub async fn handle_node_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> NodeResponse {
        self.inner
            .handle_node_request(method, path, headers, body)
            .await
    }
}

/// A loop started by [`Driver::start_on`]. Cheap to clone.
#[derive(Clone)]
pub struct Background {
    /// Closed when the loop's task has ended.
    ended: tokio::sync::watch::Receiver<()>,
}

impl Background {
    /// Whether the loop's task is still running.
    pub fn is_active(&self) -> bool {
        self.ended.has_changed().is_ok()
    }

    /// Resolves once the loop's task has ended.
    pub async fn ended(&self) {
        let mut ended = self.ended.clone();
        while ended.changed().await.is_ok() {}
    }

    /// Blocks the calling thread (never a runtime worker) until the loop's task
    /// has ended or `timeout` has passed; returns whether it ended.
    pub fn wait_ended(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while self.is_active() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        !self.is_active()
    }
}

/// A blocking [`Store`] for the shared driver. Saves (two fsyncs) run on
/// tokio's blocking pool when there is one, never on an async worker; the
/// rest is quick and runs in place.
struct BlockingStore(Arc<dyn Store>);

fn store_error(err: crate::store::StoreError) -> SharedStoreError {
    SharedStoreError(err.to_string())
}

impl SnapshotStore for BlockingStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, SharedStoreError>> {
        Box::pin(std::future::ready(self.0.load().map_err(store_error)))
    }

    fn save(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<(), SharedStoreError>> {
        let store = self.0.clone();
        Box::pin(async move {
            match tokio::runtime::Handle::try_current() {
                Ok(handle)
                    if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::CurrentThread =>
                {
                    handle
                        .spawn_blocking(move || store.save(&bytes))
                        .await
                        .unwrap_or_else(|_| {
                            Err(crate::store::StoreError::new(
                                "cannot save",
                                "(store)",
                                std::io::Error::other("the save task panicked"),
                            ))
                        })
                        .map_err(store_error)
                }
                _ => store.save(&bytes).map_err(store_error),
            }
        })
    }

    fn uses_lock(&self) -> bool {
        self.0.uses_lock()
    }

    fn try_lock(&self) -> BoxFuture<'_, Result<bool, SharedStoreError>> {
        Box::pin(std::future::ready(self.0.try_lock().map_err(store_error)))
    }

    fn unlock(&self) -> BoxFuture<'_, ()> {
        self.0.unlock();
        Box::pin(std::future::ready(()))
    }

    fn set_aside_corrupt(&self) -> BoxFuture<'_, ()> {
        self.0.set_aside_corrupt();
        Box::pin(std::future::ready(()))
    }
}

/// tokio's timers and tasks, with wall-clock time from a [`Clock`].
struct TokioRuntime {
    clock: Arc<dyn Clock>,
}

impl shared::Runtime for TokioRuntime {
    fn now(&self) -> UnixTime {
        self.clock.now()
    }

    fn sleep_until(&self, deadline: UnixTime) -> BoxFuture<'static, ()> {
        let wait = deadline.saturating_since(self.clock.now());
        Box::pin(tokio::time::sleep(wait))
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(task);
            }
            // Dropped outside any runtime (at exit, say): finish on a thread
            // of its own rather than leave the lock held.
            Err(_) => {
                let _ = std::thread::Builder::new()
                    .name("posemesh-registration-cleanup".into())
                    .spawn(move || {
                        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                            .enable_time()
                            .build()
                        {
                            rt.block_on(task);
                        }
                    });
            }
        }
    }

    fn random_seed(&self) -> u64 {
        getrandom::u64().unwrap_or(0x5EED)
    }
}

struct TracingSink {
    handler: Option<EventHandler>,
}

impl shared::EventSink for TracingSink {
    fn event(&self, event: &Event) {
        log_event(event);
        if let Some(handler) = &self.handler {
            handler(event);
        }
    }
}

/// Logs an event through `tracing` with the reference's event name and the
/// core's fields ([`Event::fields`]) as structured fields.
pub fn log_event(event: &Event) {
    use posemesh_registration_core::FieldValue;
    let fields = event.fields();
    let int = |name: &str| {
        fields.iter().find_map(|(n, v)| match v {
            FieldValue::Int(i) if *n == name => Some(*i),
            _ => None,
        })
    };
    let text = |name: &str| {
        fields.iter().find_map(|(n, v)| match v {
            FieldValue::Text(t) if *n == name => Some(t.as_str()),
            _ => None,
        })
    };
    macro_rules! log_at {
        ($level:expr) => {
            tracing::event!(
                $level,
                event = event.name(),
                attempt = int("attempt"),
                elapsed_ms = int("elapsed_ms"),
                blocked_ms = int("blocked_ms"),
                retry_in_ms = int("retry_in_ms"),
                status = text("status"),
                error = text("error"),
                "{event}"
            )
        };
    }
    match event.level() {
        Level::Debug => log_at!(tracing::Level::DEBUG),
        Level::Info => log_at!(tracing::Level::INFO),
        Level::Warn => log_at!(tracing::Level::WARN),
    }
}
