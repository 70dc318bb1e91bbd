//! The [`Registrar`] object: the shared [`Driver`] on tokio behind an API that
//! Kotlin sees as `suspend fun`s and Swift as `async throws`, with HTTP,
//! storage and logging from the app (or built in).
//!
//! Every rule (joining attempts, "already running", stopping, adoption,
//! upgrades, configuration checks) is the shared driver's or the core's. This
//! file converts types and errors and adds the async glue: each driver
//! operation runs as a task on the library's one tokio runtime, and the
//! exported function awaits it, so it works on any coroutine dispatcher or
//! Swift executor. Dropping the call (a cancelled coroutine or `Task`) aborts
//! the task, which drops the in-flight request (and the app's HTTP call with
//! it), and returns once the task has wound down.

use crate::error::RegistrationError;
use crate::host::{ForeignStore, LogEvent, Logger, SnapshotStore};
use crate::http::{headers_of, ForeignTransport, HttpClient, HttpHeader};
use crate::keys::{NodeKey, Signer};
use crate::tasks::{
    block_on, joined, on_runtime, runtime, unless_cancelled, CancelToken, RegistrationLoop,
    StatusWatch,
};
use posemesh_registration::core::{Event, Secret, Status};
use posemesh_registration::shared_driver::BoxFuture;
use posemesh_registration::{
    spawn_loop, system_time, Background, Call, Driver, FileStore, MemoryStore, RemoteSigner,
    ReqwestTransport, SnapshotStore as DriverStore, TokioRuntime, Transport, ABANDON_WAIT,
};
use posemesh_registration_core as core;
use posemesh_registration_core::registrar::{duration_option, Options, TimeUnit};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use zeroize::Zeroizing;

/// Which registration protocol to speak.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum RegistrationFlow {
    /// Sign-In with Ethereum: a nonce, an EIP-191 signature,
    /// `POST /internal/v1/nodes/register-wallet`. Needs no server on the
    /// device: the natural flow for phones and scanners, and the default.
    Wallet,
    /// `POST /internal/v1/nodes/register`, signed over the node's URL. The DDS
    /// then calls the node back (`POST /internal/v1/registrations`) and probes
    /// `GET /health`: serve both and pass them to `Registrar.handleNodeRequest`.
    Legacy {
        /// The node's public URL, signed and sent verbatim.
        node_url: String,
    },
}

/// What the registrar needs to know. The registration credentials are not
/// part of it (records print their fields): pass them to the constructor.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RegistrarConfig {
    /// The DDS base URL: `https://…`, or `http://` to a loopback host
    /// (`localhost`, `*.localhost`, `127.0.0.0/8`, `::1`); trailing `/` ignored.
    pub dds_url: String,
    /// Which protocol; `null`/`nil` is the wallet flow. Legacy is chosen
    /// explicitly, with the node's URL.
    #[uniffi(default = None)]
    pub flow: Option<RegistrationFlow>,
    /// The node's software version (not blank).
    pub node_version: String,
    /// Capability paths, e.g. `/reconstruction/global-refinement/v1`: at
    /// least one, each with a leading `/` and no whitespace or control characters.
    pub capabilities: Vec<String>,
    /// Health-check TTL and interval between checks, in seconds (default 60,
    /// at least 1).
    #[uniffi(default = None)]
    pub register_interval_seconds: Option<f64>,
    /// Consecutive fast failures before pausing a full interval (default: never pause).
    #[uniffi(default = None)]
    pub max_retry: Option<u32>,
    /// How long one request may take, in seconds (default 30; must be
    /// greater than zero).
    #[uniffi(default = None)]
    pub request_timeout_seconds: Option<f64>,
    /// Domains (`host` or `host:port`) besides the DDS URL's host whose SIWE
    /// challenges may be signed: for a DDS reached by a private URL that
    /// names its public domain.
    #[uniffi(default = [])]
    pub siwe_domains: Vec<String>,
    /// Allow an `http://` DDS whose host is not loopback (default `false`):
    /// the signed request and the registration credentials then travel
    /// unencrypted.
    #[uniffi(default = false)]
    pub allow_plaintext_dds: bool,
}

impl RegistrarConfig {
    /// The core's configuration, checked by every rule of the core's
    /// [`Options`] (the driver checks them again when it is built).
    fn to_core(&self, credentials: String) -> Result<core::RegistrarConfig, RegistrationError> {
        let seconds = |name, value: Option<f64>| {
            value
                .map(|value| duration_option(name, value, TimeUnit::Seconds))
                .transpose()
        };
        let (flow, node_url) = match &self.flow {
            None => (None, None),
            Some(RegistrationFlow::Wallet) => (Some("wallet".to_owned()), None),
            Some(RegistrationFlow::Legacy { node_url }) => {
                (Some("legacy".to_owned()), Some(node_url.clone()))
            }
        };
        let options = Options {
            dds_url: self.dds_url.clone(),
            flow,
            node_url,
            version: self.node_version.clone(),
            capabilities: self.capabilities.clone(),
            credentials: Secret::new(credentials),
            register_interval: seconds("registerIntervalSeconds", self.register_interval_seconds)?,
            request_timeout: seconds("requestTimeoutSeconds", self.request_timeout_seconds)?,
            max_retry: self.max_retry,
            siwe_domains: self.siwe_domains.clone(),
            allow_plaintext_dds: self.allow_plaintext_dds,
        };
        Ok(options.config()?)
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

/// How `registerOnce()` made sure the node is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, uniffi::Enum)]
pub enum AttemptOutcome {
    /// The DDS accepted a registration just now.
    Registered,
    /// A fresh registration for this exact configuration was already stored
    /// (before a restart, or by another process sharing the state): taken
    /// over without asking the DDS again.
    Adopted,
}

impl From<core::AttemptOutcome> for AttemptOutcome {
    fn from(outcome: core::AttemptOutcome) -> Self {
        match outcome {
            core::AttemptOutcome::Registered => AttemptOutcome::Registered,
            core::AttemptOutcome::Adopted => AttemptOutcome::Adopted,
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
    pub status: i32,
    /// Headers to set.
    pub headers: Vec<HttpHeader>,
    /// Body bytes (small JSON).
    pub body: Vec<u8>,
}

/// Registers a node with a DDS and keeps it registered.
///
/// Build one per node key, then either call `registerOnce()` when the app
/// wants to register (say, when a capture session starts), or `start()` /
/// `run()` to keep the registration alive in the background (re-registering
/// when the health-check TTL lapses, backing off on failures). Close it when
/// done (Kotlin: `close()`/`use {}`), which stops the loop.
#[derive(uniffi::Object)]
#[uniffi::export(Display, Debug)]
pub struct Registrar {
    pub(crate) driver: Driver,
    /// Its loop tasks (`start()`'s, `run()`'s), for `stop()` to wait on.
    loops: Mutex<Vec<Background>>,
}

impl Registrar {
    fn build(
        config: core::RegistrarConfig,
        key: Signing<'_>,
        (transport, store): Io,
        logger: Option<Arc<dyn Logger>>,
    ) -> Result<Arc<Self>, RegistrationError> {
        let runtime = Arc::new(TokioRuntime::new());
        let mut builder = match key {
            Signing::Key(key) => {
                Driver::builder(config, key.inner.clone(), transport, store, runtime)
            }
            Signing::App(signer) => {
                let address = signer.address()?;
                let signer = Arc::new(AppSigner(signer));
                Driver::builder_with_remote_signer(
                    config, address, signer, transport, store, runtime,
                )
            }
        };
        if let Some(logger) = logger {
            builder = builder.events(Arc::new(move |event: &Event| {
                // A logger that throws must not disturb registration.
                let _ = logger.log(LogEvent::from(event));
            }));
        }
        // Loads the stored state (an app's store: awaited here).
        let driver = block_on(builder.build())??;
        Ok(Arc::new(Registrar {
            driver,
            loops: Mutex::new(Vec::new()),
        }))
    }

    fn loops(&self) -> std::sync::MutexGuard<'_, Vec<Background>> {
        self.loops.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps a loop task (`start()`'s or `run()`'s) for `stop()` to wait on.
    fn track(&self, task: Background) {
        let mut loops = self.loops();
        loops.retain(Background::is_active);
        loops.push(task);
    }

    fn new_watch(&self) -> StatusWatch {
        StatusWatch::of(&self.driver)
    }

    async fn register_once_inner(&self) -> Result<AttemptOutcome, RegistrationError> {
        let driver = self.driver.clone();
        Ok(on_runtime(async move { driver.register_once().await })
            .await??
            .into())
    }

    async fn run_inner(&self) -> Result<(), RegistrationError> {
        let driver = self.driver.clone();
        let call = Call::spawn(runtime()?.handle(), async move { driver.run().await });
        self.track(call.handle());
        Ok(joined(call).await??)
    }
}

/// Who signs for the node.
enum Signing<'a> {
    /// The library holds the key.
    Key(&'a NodeKey),
    /// The app's signer signs each attempt's SIWE message.
    App(Arc<dyn Signer>),
}

/// The app's [`Signer`] as the driver's remote signer.
struct AppSigner(Arc<dyn Signer>);

impl RemoteSigner for AppSigner {
    fn personal_sign(&self, message: String) -> BoxFuture<'_, Result<Vec<u8>, String>> {
        Box::pin(async move {
            self.0
                .personal_sign(message.into_bytes())
                .await
                .map_err(|err| err.to_string())
        })
    }
}

/// Where a registrar sends and stores.
type Io = (Arc<dyn Transport>, Arc<dyn DriverStore>);

/// The app's HTTP client and store, or the built-in client and memory.
fn app_io(
    http_client: Option<Arc<dyn HttpClient>>,
    store: Option<Arc<dyn SnapshotStore>>,
) -> Result<Io, RegistrationError> {
    let transport: Arc<dyn Transport> = match http_client {
        Some(client) => Arc::new(ForeignTransport::new(client)),
        None => reqwest_transport()?,
    };
    let store: Arc<dyn DriverStore> = match store {
        Some(store) => Arc::new(ForeignStore::new(store)),
        None => Arc::new(MemoryStore::new()),
    };
    Ok((transport, store))
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
    /// Throws `InvalidConfig` with the core's message for a configuration it
    /// refuses (a bad URL, a blank version, a wallet flow without
    /// capabilities, a request timeout ≤ 0, an interval under a second);
    /// `Store` if the store cannot be read.
    #[uniffi::constructor(default(http_client = None, store = None, logger = None))]
    pub fn new(
        config: RegistrarConfig,
        key: Arc<NodeKey>,
        registration_credentials: String,
        http_client: Option<Arc<dyn HttpClient>>,
        store: Option<Arc<dyn SnapshotStore>>,
        logger: Option<Arc<dyn Logger>>,
    ) -> Result<Arc<Self>, RegistrationError> {
        let io = app_io(http_client, store)?;
        let config = config.to_core(registration_credentials)?;
        Self::build(config, Signing::Key(&key), io, logger)
    }

    /// A wallet-flow registrar whose key the app keeps: `signer` (a wallet
    /// SDK, an Android Keystore or Secure Enclave-backed key, a signing
    /// service) is asked for its address once, here, and for one EIP-191
    /// signature per registration attempt, on the library's threads and
    /// never while the registrar's state is locked; it has the request
    /// timeout to answer. A signature that does not recover to its address
    /// fails the attempt (and is never sent); so does anything `personalSign`
    /// throws, whose message is logged.
    /// Other arguments as for the main constructor. Throws `InvalidConfig`
    /// for the legacy flow (whose signature needs the node's key) or an
    /// address that is not `0x` and 40 hex digits.
    #[uniffi::constructor(default(http_client = None, store = None, logger = None))]
    pub fn with_signer(
        config: RegistrarConfig,
        signer: Arc<dyn Signer>,
        registration_credentials: String,
        http_client: Option<Arc<dyn HttpClient>>,
        store: Option<Arc<dyn SnapshotStore>>,
        logger: Option<Arc<dyn Logger>>,
    ) -> Result<Arc<Self>, RegistrationError> {
        let io = app_io(http_client, store)?;
        let config = config.to_core(registration_credentials)?;
        Self::build(config, Signing::App(signer), io, logger)
    }

    /// The constructor, suspending (Kotlin) / `async` (Swift) instead of
    /// blocking: the store's `load` and the configuration checks run on the
    /// library's threads, so it is safe on Android's main thread or the
    /// main actor. Same arguments and errors.
    #[uniffi::constructor(default(http_client = None, store = None, logger = None))]
    pub async fn create(
        config: RegistrarConfig,
        key: Arc<NodeKey>,
        registration_credentials: String,
        http_client: Option<Arc<dyn HttpClient>>,
        store: Option<Arc<dyn SnapshotStore>>,
        logger: Option<Arc<dyn Logger>>,
    ) -> Result<Arc<Self>, RegistrationError> {
        let credentials = Zeroizing::new(registration_credentials);
        let build = runtime()?.spawn_blocking(move || {
            Registrar::new(
                config,
                key,
                credentials.to_string(),
                http_client,
                store,
                logger,
            )
        });
        on_runtime(build)
            .await?
            .map_err(|_| RegistrationError::Unexpected {
                detail: "building the registrar failed".into(),
            })?
    }

    /// The constructor with the registration credentials as UTF-8 bytes
    /// (as the Keystore or Keychain hands them out); the library wipes its
    /// copy after use. Throws `InvalidConfig` if they are not UTF-8 (without
    /// echoing them).
    #[uniffi::constructor(default(http_client = None, store = None, logger = None))]
    pub fn with_credential_bytes(
        config: RegistrarConfig,
        key: Arc<NodeKey>,
        registration_credentials: Vec<u8>,
        http_client: Option<Arc<dyn HttpClient>>,
        store: Option<Arc<dyn SnapshotStore>>,
        logger: Option<Arc<dyn Logger>>,
    ) -> Result<Arc<Self>, RegistrationError> {
        let bytes = Zeroizing::new(registration_credentials);
        let text = std::str::from_utf8(&bytes).map_err(|_| RegistrationError::InvalidConfig {
            reason: "registration credentials must be UTF-8 text".into(),
        })?;
        Self::new(config, key, text.to_owned(), http_client, store, logger)
    }

    /// A registrar that needs nothing from the app: the built-in HTTP client
    /// and the state in the file `stateFilePath`, written atomically, with a
    /// lock file beside it so that of several processes sharing the file only
    /// one registers at a time (JVM and desktop use). Throws `Store` for a
    /// path that names no file, a folder, or one beside which no lock file
    /// can be made; the configuration is checked first (`InvalidConfig`).
    #[uniffi::constructor(default(logger = None))]
    pub fn with_state_file(
        config: RegistrarConfig,
        key: Arc<NodeKey>,
        registration_credentials: String,
        state_file_path: String,
        logger: Option<Arc<dyn Logger>>,
    ) -> Result<Arc<Self>, RegistrationError> {
        let config = config.to_core(registration_credentials)?;
        // The driver's build checks the file can ever work (after the configuration).
        let io: Io = (
            reqwest_transport()?,
            Arc::new(FileStore::new(state_file_path)),
        );
        Self::build(config, Signing::Key(&key), io, logger)
    }

    /// Makes sure the node is registered, now, and says how: `ADOPTED` when a
    /// fresh registration for this exact configuration is stored (no
    /// request), else `REGISTERED` after one attempt (both steps of the
    /// wallet flow; no retries). Next to a running loop or another
    /// `registerOnce()`, it joins the attempt in progress and gets its
    /// result. Throws `AttemptFailed` with the DDS's answer or the transport
    /// error, `Stopped` if `stop()` ended it. Cancelling the caller
    /// (coroutine, `Task`) cancels the attempt and its HTTP request.
    pub async fn register_once(&self) -> Result<AttemptOutcome, RegistrationError> {
        self.register_once_inner().await
    }

    /// `registerOnce()` that also ends, with `Stopped`, as soon as `cancel`
    /// is cancelled (its request dropped): for callers whose own
    /// cancellation does not reach the library (Swift `Task`s; the Swift
    /// package's `registerOnceCancellable()` uses it).
    pub async fn register_once_with(
        &self,
        cancel: Arc<CancelToken>,
    ) -> Result<AttemptOutcome, RegistrationError> {
        unless_cancelled(Some(cancel), self.register_once_inner()).await
    }

    /// Asks for a new registration now, whatever is stored (after the DDS
    /// answered a later call with 403 or 404, say). A running loop carries
    /// it out and keeps running; otherwise the next `registerOnce()`, `run()`
    /// or `start()` does.
    pub fn register_again(&self) {
        self.driver.register_again();
    }

    /// Runs the registration loop until the caller is cancelled or `stop()`:
    /// registers, stays registered, backs off on failure. Throws
    /// `AlreadyRunning` if the loop runs already (`run()` or `start()`).
    pub async fn run(&self) -> Result<(), RegistrationError> {
        self.run_inner().await
    }

    /// `run()` that also ends, with `Stopped`, as soon as `cancel` is
    /// cancelled (the Swift package's `runCancellable()` uses it).
    pub async fn run_with(&self, cancel: Arc<CancelToken>) -> Result<(), RegistrationError> {
        unless_cancelled(Some(cancel), self.run_inner()).await
    }

    /// Starts the registration loop in the background and returns at once
    /// with its handle: `cancel()` on it (Kotlin: `close()`/`use {}` too),
    /// `stop()` or closing the registrar ends it. Garbage collection never
    /// does: a handle or registrar that is collected (or released) leaves
    /// the loop running. Throws `AlreadyRunning` if the loop runs already.
    pub fn start(&self) -> Result<Arc<RegistrationLoop>, RegistrationError> {
        let task = spawn_loop(&self.driver, runtime()?.handle())?;
        self.track(task.clone());
        Ok(Arc::new(RegistrationLoop::new(self.driver.clone(), task)))
    }

    /// Ends the loop (`start()` or `run()`) and its in-flight request, and
    /// makes a waiting `registerOnce()` throw `Stopped`. Returns once the
    /// loop has ended. Does nothing if none runs.
    pub fn stop(&self) {
        self.driver.stop();
        let loops = std::mem::take(&mut *self.loops());
        for task in loops {
            task.wait_ended(ABANDON_WAIT);
        }
    }

    /// Whether the loop (`start()` or `run()`) is running.
    pub fn is_running(&self) -> bool {
        self.driver.is_running()
    }

    /// Where the registration stands, never stale (the core's rule):
    /// `REGISTERING` only while an attempt or the loop is under way; after a
    /// failed or stopped attempt with no loop to retry it, `DISCONNECTED`.
    pub fn status(&self) -> RegistrationStatus {
        self.driver.status().into()
    }

    /// A watch of the status (`status()`'s value): the current one, then each
    /// change. The Kotlin `statusFlow()`/`statusChanges()` and the Swift
    /// `statusUpdates` are built on it.
    pub fn watch_status(&self) -> Arc<StatusWatch> {
        Arc::new(self.new_watch())
    }

    /// Waits until the status is `status` (returns true), or until `timeout`
    /// passes or `stop()` ends the wait (returns false).
    pub async fn wait_for_status(
        &self,
        status: RegistrationStatus,
        timeout: Duration,
    ) -> Result<bool, RegistrationError> {
        let driver = self.driver.clone();
        let wanted = match status {
            RegistrationStatus::Disconnected => Status::Disconnected,
            RegistrationStatus::Registering => Status::Registering,
            RegistrationStatus::Registered => Status::Registered,
        };
        on_runtime(async move { driver.wait_for_status(wanted, Some(timeout)).await }).await
    }

    /// The node's Ethereum address.
    pub fn address(&self) -> String {
        self.driver.address()
    }

    /// The registrar's state, free of secrets.
    pub fn info(&self) -> RegistrarInfo {
        let snapshot = self.driver.snapshot();
        let credentials = snapshot.credentials.as_ref();
        RegistrarInfo {
            status: self.status(),
            address: self.driver.address(),
            last_health_check: snapshot.last_health_check.map(system_time),
            attempt: snapshot.attempt,
            node_id: credentials.map(|c| c.id.clone()),
            organization_id: credentials.and_then(|c| c.organization_id.clone()),
            recovered_from: self.driver.recovered_from().map(ToString::to_string),
        }
    }

    /// Serves a request the DDS made to the node (legacy flow): pass every
    /// request your server gets for `POST /internal/v1/registrations` and
    /// `GET /health` (anything else answers 404), then send the returned
    /// status, headers and body. Cap the body you read at 2 MiB + 1. Blocks
    /// the calling thread until what it changed is saved. Called from inside
    /// the registrar's own `Logger` or store, it answers 503 rather than block.
    pub fn handle_node_request(
        &self,
        method: String,
        path: String,
        headers: Vec<HttpHeader>,
        body: Vec<u8>,
    ) -> NodeResponse {
        let headers: Vec<(String, String)> =
            headers.into_iter().map(|h| (h.name, h.value)).collect();
        // On one of the runtime's threads (the app's `Logger` or store, called
        // by the registrar) blocking would panic or wait on the caller itself.
        let inside_callback = tokio::runtime::Handle::try_current().is_ok();
        let response = match runtime() {
            _ if inside_callback => {
                core::NodeResponse::error(503, "called from inside the registrar's own callback")
            }
            Ok(runtime) => runtime.block_on(
                self.driver
                    .handle_node_request(&method, &path, &headers, &body),
            ),
            Err(_) => core::NodeResponse::error(503, "no async runtime"),
        };
        NodeResponse {
            status: i32::from(response.status),
            headers: headers_of(response.headers),
            body: response.body,
        }
    }
}

// No `Drop` that stops: dropping happens when Kotlin's garbage collector (or
// Swift's last release) frees the object, and a started loop must not stop
// silently then. Kotlin's `close()` stops first (patched in by generate.sh).

impl fmt::Display for Registrar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Registrar(dds {}, node {}, {})",
            self.driver.config().dds_url,
            self.driver.address(),
            self.driver.status().as_str()
        )
    }
}

/// A registrar closed or released: its status watches end (the loop, if one
/// was started and not stopped, runs on, as a thread would).
impl Drop for Registrar {
    fn drop(&mut self) {
        self.driver.close_status_streams();
    }
}

impl fmt::Debug for Registrar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = self.driver.config();
        f.debug_struct("Registrar")
            .field("dds_url", &config.dds_url)
            .field("flow", &config.flow)
            .field("address", &self.driver.address())
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}
