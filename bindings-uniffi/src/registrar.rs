//! The [`Registrar`] object: native's tokio [`Driver`] behind an API that
//! Kotlin sees as `suspend fun`s and Swift as `async throws`, with HTTP,
//! storage and logging from the app (or built in).
//!
//! Every driver operation runs as a task on one library-owned tokio runtime.
//! The exported async functions only await that task, so they work on any
//! coroutine dispatcher or Swift executor; dropping them (a cancelled
//! coroutine or `Task`) aborts the task, which drops the in-flight request
//! (and with it the app's HTTP call).
//!
//! An aborted task's driver future tells the state machine that its request
//! was abandoned when it is dropped; the next operation waits for aborted
//! tasks to wind down, then drives the same driver.

use crate::error::RegistrationError;
use crate::host::{ForeignStore, LogEvent, Logger, SnapshotStore};
use crate::http::{ForeignTransport, HttpClient, HttpHeader};
use crate::keys::NodeKey;
use crate::protocol::system_time;
use posemesh_registration::core::{Event, Flow, Secret, Status};
use posemesh_registration::{
    Driver, EventHandler, FileStore, MemoryStore, RegisterOnceError, ReqwestTransport, Store,
    Transport,
};
use posemesh_registration_core as core;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, SystemTime};
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Which registration protocol to speak.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum RegistrationFlow {
    /// `POST /internal/v1/nodes/register`, signed over the node's URL. The DDS
    /// then calls the node back (`POST /internal/v1/registrations`) and probes
    /// `GET /health`: serve both and pass them to `Registrar.handleNodeRequest`.
    Legacy {
        /// The node's public URL, signed and sent verbatim.
        node_url: String,
    },
    /// Sign-In with Ethereum: a nonce, an EIP-191 signature,
    /// `POST /internal/v1/nodes/register-wallet`. Needs no server on the
    /// device: the natural flow for phones and scanners.
    Wallet,
}

/// What the registrar needs to know. The registration credentials are not
/// part of it (records print their fields): pass them to the constructor.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RegistrarConfig {
    /// The DDS base URL (`https://…`; trailing `/` ignored).
    pub dds_url: String,
    /// Which protocol.
    pub flow: RegistrationFlow,
    /// The node's software version (not blank).
    pub node_version: String,
    /// Capability paths, e.g. `/reconstruction/global-refinement/v1`
    /// (at least one for the wallet flow).
    pub capabilities: Vec<String>,
    /// Health-check TTL and interval between checks (default 60 s, at least 1 s).
    #[uniffi(default = None)]
    pub register_interval: Option<Duration>,
    /// Consecutive fast failures before pausing a full interval (default: never pause).
    #[uniffi(default = None)]
    pub max_retry: Option<u32>,
    /// How long one request may take (default 30 s; must be positive).
    #[uniffi(default = None)]
    pub request_timeout: Option<Duration>,
}

impl RegistrarConfig {
    fn to_core(&self, credentials: String) -> Result<core::RegistrarConfig, RegistrationError> {
        let flow = match &self.flow {
            RegistrationFlow::Legacy { node_url } => Flow::Legacy {
                node_url: node_url.clone(),
            },
            RegistrationFlow::Wallet => Flow::Wallet,
        };
        let mut config = core::RegistrarConfig::new(
            &self.dds_url,
            flow,
            &self.node_version,
            self.capabilities.clone(),
            Secret::new(credentials),
        )?;
        if let Some(interval) = self.register_interval {
            config.register_interval = interval;
        }
        config.max_retry = self.max_retry;
        if let Some(timeout) = self.request_timeout {
            if timeout.is_zero() {
                return Err(RegistrationError::InvalidConfig {
                    reason: "request timeout must be positive".into(),
                });
            }
            config.request_timeout = timeout;
        }
        Ok(config)
    }
}

/// Where the registration stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum RegistrationStatus {
    /// Not registered, not trying yet.
    Disconnected,
    /// Trying to register.
    Registering,
    /// Registered with the DDS.
    Registered,
}

impl From<Status> for RegistrationStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Disconnected => RegistrationStatus::Disconnected,
            Status::Registering => RegistrationStatus::Registering,
            Status::Registered => RegistrationStatus::Registered,
        }
    }
}

/// A snapshot of the registrar's state, free of secrets.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RegistrarInfo {
    /// Where the registration stands.
    pub status: RegistrationStatus,
    /// The node's Ethereum address.
    pub address: String,
    /// When the DDS last showed it knows the node (a registration, callback or probe).
    pub last_health_check: Option<SystemTime>,
    /// Consecutive failed attempts.
    pub attempt: u32,
    /// The node's id at the DDS, once its callback arrived (legacy flow).
    pub node_id: Option<String>,
    /// The node's organisation at the DDS, if it said.
    pub organization_id: Option<String>,
    /// Why the stored snapshot was unusable at start (it was set aside and the
    /// node registers afresh), if it was.
    pub recovered_from: Option<String>,
}

/// The answer to a request the DDS made to the node, for the app's server to send.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NodeResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers to set.
    pub headers: Vec<HttpHeader>,
    /// Body bytes (small JSON).
    pub body: Vec<u8>,
}

/// The one runtime all registrars' tasks run on (two worker threads, started
/// on first use).
fn runtime() -> Result<&'static Runtime, RegistrationError> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("posemesh-registration")
                .enable_all()
                .build()
                .map_err(|err| err.to_string())
        })
        .as_ref()
        .map_err(|err| RegistrationError::Unexpected {
            detail: format!("cannot start the async runtime: {err}"),
        })
}

type Task = JoinHandle<Result<(), RegistrationError>>;

/// Which operation owns the driver, and what is left of cancelled ones.
#[derive(Default)]
struct Ops {
    /// The operation allowed to drive now.
    active: Option<u64>,
    next_id: u64,
    /// The loop started by `start()`, to abort on `stop()`.
    started_loop: Option<(u64, Task)>,
    /// The id of the active operation if it is a loop (`start()` or `run()`).
    loop_id: Option<u64>,
    /// Aborted tasks the next operation waits for before driving.
    winding_down: Vec<Task>,
}

struct Inner {
    config: core::RegistrarConfig,
    key: core::PrivateKey,
    status: watch::Sender<Status>,
    driver: Driver,
    recovered_from: Option<String>,
    ops: Mutex<Ops>,
}

impl Inner {
    fn ops(&self) -> MutexGuard<'_, Ops> {
        self.ops.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn driver(&self) -> Driver {
        self.driver.clone()
    }

    /// Claims the driver for a new operation.
    fn begin(&self, is_loop: bool) -> Result<u64, RegistrationError> {
        let mut ops = self.ops();
        if ops.active.is_some() {
            return Err(RegistrationError::AlreadyRunning);
        }
        ops.next_id += 1;
        let id = ops.next_id;
        ops.active = Some(id);
        if is_loop {
            ops.loop_id = Some(id);
        }
        Ok(id)
    }

    /// Releases the claim of operation `id` (if it still holds it).
    fn end(&self, id: u64) {
        let mut ops = self.ops();
        if ops.active == Some(id) {
            ops.active = None;
        }
        if ops.loop_id == Some(id) {
            ops.loop_id = None;
        }
        if matches!(&ops.started_loop, Some((loop_id, _)) if *loop_id == id) {
            ops.started_loop = None;
        }
    }

    /// Operation `id` was cancelled: abort its task and free the driver for the next.
    fn cancel(&self, id: u64, task: Task) {
        task.abort();
        let mut ops = self.ops();
        ops.winding_down.push(task);
        drop(ops);
        self.end(id);
    }

    /// Inside an operation's task: waits for cancelled tasks to wind down
    /// (their driver futures release the driver when dropped), then returns
    /// the driver to use.
    async fn settled_driver(&self) -> Result<Driver, RegistrationError> {
        let winding_down = std::mem::take(&mut self.ops().winding_down);
        for task in winding_down {
            task.abort();
            let _ = task.await;
        }
        Ok(self.driver())
    }

    /// Spawns operation `id`'s task; the task releases its claim when it
    /// ends, however it ends.
    fn spawn<F>(
        self: &Arc<Self>,
        id: u64,
        work: impl FnOnce(Driver) -> F + Send + 'static,
    ) -> Result<Task, RegistrationError>
    where
        F: std::future::Future<Output = Result<(), RegistrationError>> + Send + 'static,
    {
        let runtime = match runtime() {
            Ok(runtime) => runtime,
            Err(err) => {
                self.end(id);
                return Err(err);
            }
        };
        let inner = Arc::downgrade(self);
        let end = EndOnDrop {
            inner: inner.clone(),
            id,
        };
        Ok(runtime.spawn(async move {
            let _end = end;
            let Some(strong) = inner.upgrade() else {
                return Err(RegistrationError::Stopped);
            };
            let driver = strong.settled_driver().await?;
            drop(strong);
            work(driver).await
        }))
    }

    /// Runs operation `id` and waits for it; dropping the returned future
    /// (cancellation) aborts it.
    async fn run_op<F>(
        self: &Arc<Self>,
        id: u64,
        work: impl FnOnce(Driver) -> F + Send + 'static,
    ) -> Result<(), RegistrationError>
    where
        F: std::future::Future<Output = Result<(), RegistrationError>> + Send + 'static,
    {
        let task = self.spawn(id, work)?;
        let mut guard = CancelOnDrop {
            inner: self.clone(),
            id,
            task: Some(task),
        };
        let result = match guard.task.as_mut() {
            Some(task) => task.await,
            None => return Err(RegistrationError::Stopped),
        };
        guard.task = None;
        joined(result)
    }
}

fn joined(
    result: Result<Result<(), RegistrationError>, tokio::task::JoinError>,
) -> Result<(), RegistrationError> {
    match result {
        Ok(result) => result,
        Err(err) if err.is_panic() => Err(RegistrationError::Unexpected {
            detail: "internal error in the registration task".into(),
        }),
        Err(_) => Err(RegistrationError::Stopped),
    }
}

/// Releases an operation's claim when its task ends or is dropped.
struct EndOnDrop {
    inner: Weak<Inner>,
    id: u64,
}

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.end(self.id);
        }
    }
}

/// Aborts an awaited operation whose caller went away.
struct CancelOnDrop {
    inner: Arc<Inner>,
    id: u64,
    task: Option<Task>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            self.inner.cancel(self.id, task);
        }
    }
}

/// Registers a node with a DDS and keeps it registered.
///
/// Build one per node key, then either call `registerOnce()` when the app
/// wants to register (say, when a capture session starts), or `start()` /
/// `run()` to keep the registration alive in the background (re-registering
/// when the health-check TTL lapses, backing off on failures). Close it when
/// done (Kotlin: `close()`/`use {}`), which stops a started loop.
#[derive(uniffi::Object)]
#[uniffi::export(Display, Debug)]
pub struct Registrar {
    inner: Arc<Inner>,
}

impl Registrar {
    fn build(
        config: RegistrarConfig,
        key: &NodeKey,
        registration_credentials: String,
        transport: Arc<dyn Transport>,
        store: Arc<dyn Store>,
        logger: Option<Arc<dyn Logger>>,
    ) -> Result<Arc<Self>, RegistrationError> {
        let config = config.to_core(registration_credentials)?;
        let (status, _) = watch::channel(Status::Disconnected);
        let status_events = status.clone();
        let on_event: EventHandler = Arc::new(move |event: &Event| {
            if let Event::StatusChanged { to, .. } = event {
                status_events.send_replace(*to);
            }
            if let Some(logger) = &logger {
                // A logger that throws must not disturb registration.
                let _ = logger.log(LogEvent::from(event));
            }
        });
        let driver = Driver::builder(config.clone(), key.inner.clone())
            .shared_store(store)
            .transport(transport)
            .on_event(on_event)
            .build()?;
        status.send_replace(driver.status());
        let recovered_from = driver.recovered_from().map(ToString::to_string);
        Ok(Arc::new(Registrar {
            inner: Arc::new(Inner {
                config,
                key: key.inner.clone(),
                status,
                driver,
                recovered_from,
                ops: Mutex::new(Ops::default()),
            }),
        }))
    }
}

fn reqwest_transport() -> Result<Arc<dyn Transport>, RegistrationError> {
    let transport = ReqwestTransport::new().map_err(|err| RegistrationError::Unexpected {
        detail: format!("cannot build the HTTP client: {err}"),
    })?;
    Ok(Arc::new(transport))
}

#[uniffi::export]
impl Registrar {
    /// A registrar for the node with `key`.
    ///
    /// - `registrationCredentials`: the secret the DDS expects with each
    ///   registration. Never logged, never in an error or `toString()`.
    /// - `httpClient`: the app's HTTP client; `null`/`nil` uses the built-in
    ///   one (reqwest with rustls, system-independent roots).
    /// - `store`: where the state lives between runs; `null`/`nil` keeps it
    ///   in memory (see also `withStateFile`).
    /// - `logger`: receives events (never secrets).
    ///
    /// Throws `InvalidConfig` for a bad URL, blank version, a wallet flow
    /// without capabilities; `Store` if the store cannot be read.
    #[uniffi::constructor(default(http_client = None, store = None, logger = None))]
    pub fn new(
        config: RegistrarConfig,
        key: Arc<NodeKey>,
        registration_credentials: String,
        http_client: Option<Arc<dyn HttpClient>>,
        store: Option<Arc<dyn SnapshotStore>>,
        logger: Option<Arc<dyn Logger>>,
    ) -> Result<Arc<Self>, RegistrationError> {
        let transport: Arc<dyn Transport> = match http_client {
            Some(client) => Arc::new(ForeignTransport::new(client)),
            None => reqwest_transport()?,
        };
        let store: Arc<dyn Store> = match store {
            Some(store) => Arc::new(ForeignStore::new(store)),
            None => Arc::new(MemoryStore::new()),
        };
        Self::build(
            config,
            &key,
            registration_credentials,
            transport,
            store,
            logger,
        )
    }

    /// A registrar that needs nothing from the app: the built-in HTTP client
    /// and the state in the file `stateFilePath`, written atomically, with a
    /// lock file beside it so that of several processes sharing the file only
    /// one registers at a time (JVM and desktop use).
    #[uniffi::constructor(default(logger = None))]
    pub fn with_state_file(
        config: RegistrarConfig,
        key: Arc<NodeKey>,
        registration_credentials: String,
        state_file_path: String,
        logger: Option<Arc<dyn Logger>>,
    ) -> Result<Arc<Self>, RegistrationError> {
        if state_file_path.trim().is_empty() {
            return Err(RegistrationError::InvalidConfig {
                reason: "state file path must not be empty".into(),
            });
        }
        Self::build(
            config,
            &key,
            registration_credentials,
            reqwest_transport()?,
            Arc::new(FileStore::new(state_file_path)),
            logger,
        )
    }

    /// Makes one registration attempt now (both steps of the wallet flow;
    /// no retries) and returns when the DDS accepted it. Throws
    /// `AttemptFailed` with the DDS's answer or the transport error,
    /// `AlreadyRunning` while the loop runs. Cancelling the caller (coroutine,
    /// `Task`) cancels the attempt and its HTTP request.
    pub async fn register_once(&self) -> Result<(), RegistrationError> {
        let id = self.inner.begin(false)?;
        self.inner
            .run_op(id, |driver| async move {
                match driver.register_once().await {
                    Ok(_) => Ok(()),
                    Err(RegisterOnceError::Failed(failure)) => Err(failure.into()),
                    Err(RegisterOnceError::Driver(err)) => Err(err.into()),
                }
            })
            .await
    }

    /// Runs the registration loop until the caller is cancelled: registers,
    /// stays registered, backs off on failure. Throws only if the loop cannot
    /// start (`AlreadyRunning`, `Store`).
    pub async fn run(&self) -> Result<(), RegistrationError> {
        let id = self.inner.begin(true)?;
        self.inner
            .run_op(id, |driver| async move { Ok(driver.run().await?) })
            .await
    }

    /// Starts the registration loop in the background and returns at once;
    /// `stop()` (or closing the registrar) ends it. Throws
    /// `AlreadyRunning` if the loop or an attempt is running.
    pub fn start(&self) -> Result<(), RegistrationError> {
        let id = self.inner.begin(true)?;
        let task = self
            .inner
            .spawn(id, |driver| async move { Ok(driver.run().await?) })?;
        let mut ops = self.inner.ops();
        if ops.active == Some(id) {
            ops.started_loop = Some((id, task));
        }
        Ok(())
    }

    /// Stops a loop started with `start()` (and its in-flight
    /// request). Does nothing if none runs.
    pub fn stop(&self) {
        let started = self.inner.ops().started_loop.take();
        if let Some((id, task)) = started {
            self.inner.cancel(id, task);
        }
    }

    /// Whether the loop (`start()` or `run()`) is running.
    pub fn is_running(&self) -> bool {
        self.inner.ops().loop_id.is_some()
    }

    /// Where the registration stands.
    pub fn status(&self) -> RegistrationStatus {
        (*self.inner.status.borrow()).into()
    }

    /// Waits until the status is `status` (returns true) or `timeout` passes
    /// (returns false).
    pub async fn wait_for_status(
        &self,
        status: RegistrationStatus,
        timeout: Duration,
    ) -> Result<bool, RegistrationError> {
        let mut rx = self.inner.status.subscribe();
        let task = runtime()?.spawn(async move {
            tokio::time::timeout(
                timeout,
                rx.wait_for(|now| RegistrationStatus::from(*now) == status),
            )
            .await
            .is_ok_and(|changed| changed.is_ok())
        });
        let guard = AbortOnDrop(task);
        Ok(guard.join().await.unwrap_or(false))
    }

    /// The node's Ethereum address.
    pub fn address(&self) -> String {
        self.inner.key.eth_address()
    }

    /// The registrar's state, free of secrets.
    pub fn info(&self) -> RegistrarInfo {
        let snapshot = self.inner.driver().snapshot();
        let credentials = snapshot.credentials.as_ref();
        RegistrarInfo {
            status: (*self.inner.status.borrow()).into(),
            address: self.inner.key.eth_address(),
            last_health_check: snapshot.last_health_check.map(system_time),
            attempt: snapshot.attempt,
            node_id: credentials.map(|c| c.id.clone()),
            organization_id: credentials.and_then(|c| c.organization_id.clone()),
            recovered_from: self.inner.recovered_from.clone(),
        }
    }

    /// Serves a request the DDS made to the node (legacy flow): pass every
    /// request your server gets for `POST /internal/v1/registrations` and
    /// `GET /health` (anything else answers 404), then send the returned
    /// status, headers and body. Cap the body you read at 64 KiB + 1.
    pub fn handle_node_request(
        &self,
        method: String,
        path: String,
        headers: Vec<HttpHeader>,
        body: Vec<u8>,
    ) -> NodeResponse {
        let headers: Vec<(String, String)> =
            headers.into_iter().map(|h| (h.name, h.value)).collect();
        let driver = self.inner.driver();
        let response = match runtime() {
            Ok(runtime) => {
                runtime.block_on(driver.handle_node_request(&method, &path, &headers, &body))
            }
            Err(_) => posemesh_registration::core::NodeResponse::error(503, "no async runtime"),
        };
        NodeResponse {
            status: response.status,
            headers: response
                .headers
                .into_iter()
                .map(|(name, value)| HttpHeader { name, value })
                .collect(),
            body: response.body,
        }
    }
}

/// Aborts a helper task whose awaiting caller went away.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Drop for Registrar {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Display for Registrar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Registrar(dds {}, node {}, {})",
            self.inner.config.dds_url,
            self.inner.key.eth_address(),
            *self.inner.status.borrow()
        )
    }
}

impl fmt::Debug for Registrar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registrar")
            .field("dds_url", &self.inner.config.dds_url)
            .field("flow", &self.inner.config.flow)
            .field("address", &self.inner.key.eth_address())
            .field("status", &*self.inner.status.borrow())
            .finish_non_exhaustive()
    }
}
