//! [`DriverBuilder`]: what a driver is made of (the registrar's
//! configuration and key, the host's transport, store and runtime), and
//! `build`, which loads the stored state.

use super::*;

/// Who signs for the node. The npm package has no remote signer: its build sets
/// `--cfg posemesh_local_signer_only`, which compiles the remote signer's path
/// (its builder, sign requests and their answers) out of the driver as out of core.
enum NodeKey {
    Local(PrivateKey),
    #[cfg(not(posemesh_local_signer_only))]
    Remote {
        address: String,
        signer: Arc<dyn RemoteSigner>,
    },
}

/// Configures and builds a [`Driver`].
pub struct DriverBuilder {
    config: RegistrarConfig,
    key: NodeKey,
    transport: Arc<dyn Transport>,
    store: Arc<dyn SnapshotStore>,
    runtime: Arc<dyn Runtime>,
    sink: Option<Arc<dyn EventSink>>,
    seed: Option<u64>,
}

impl DriverBuilder {
    /// Sends every event to `sink` (default: nowhere).
    pub fn events(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Persists through `store` instead of the one given to the builder.
    pub fn store(mut self, store: Arc<dyn SnapshotStore>) -> Self {
        self.store = store;
        self
    }

    /// Sends HTTP through `transport` instead of the one given to the builder.
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = transport;
        self
    }

    /// Takes time, timers and tasks from `runtime` instead of the one given
    /// to the builder (a test's paused clock, say).
    pub fn runtime(mut self, runtime: Arc<dyn Runtime>) -> Self {
        self.runtime = runtime;
        self
    }

    /// Seeds the jitter generator (default: [`Runtime::random_seed`]).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Checks the configuration, then the store
    /// ([`SnapshotStore::check_usable`]), loads the stored snapshot and builds the
    /// driver. A corrupt or too new snapshot is set aside and reported
    /// ([`Event::StateCorrupt`], [`Driver::recovered_from`]); the node then
    /// registers afresh. An unreadable store is an error.
    pub async fn build(self) -> Result<Driver, DriverError> {
        let mut config = self.config;
        config.validate()?;
        let store = self.store;
        let store_limit = config.request_timeout;
        config.use_lock = PROCESS_LOCKS && store.uses_lock();
        store.check_usable()?;
        let loading = bounded(&*self.runtime, store_limit, "load", store.load());
        let (snapshot, recovered_from, moved_to) = match loading.await? {
            None => (None, None, None),
            Some(bytes) => match Snapshot::decode(&bytes) {
                Ok(snapshot) => (Some(snapshot), None, None),
                Err(err) => (None, Some(err), store.set_aside_corrupt().await),
            },
        };
        let seed = self.seed.unwrap_or_else(|| self.runtime.random_seed());
        let now = self.runtime.now();
        let (mut registrar, remote_signer) = match self.key {
            NodeKey::Local(key) => (Registrar::new(config, key, snapshot, now, seed), None),
            #[cfg(not(posemesh_local_signer_only))]
            NodeKey::Remote { address, signer } => (
                Registrar::with_remote_signer(config, &address, snapshot, now, seed)?,
                Some(signer),
            ),
        };
        // Until `run`, nothing retries a failed attempt by itself.
        registrar.set_looping(false);
        let status = registrar.status();
        let driver = Driver {
            shared: Arc::new(Shared {
                registrar: Mutex::new(registrar),
                transport: self.transport,
                remote_signer,
                store,
                store_limit,
                runtime: self.runtime,
                sink: self.sink,
                io: Mutex::new(Arc::default()),
                drive: Mutex::new(Arc::default()),
                generation: AtomicU64::new(FORK_GENERATION.load(Ordering::Acquire)),
                wake: Wake::default(),
                run_active: AtomicBool::new(false),
                stops: AtomicU64::new(0),
                stream_end_pending: AtomicBool::new(false),
                status: Mutex::new(status),
                status_changes: Broadcast::default(),
                results: Broadcast::default(),
                sessions: Broadcast::default(),
                stashed: Mutex::new(Vec::new()),
                metrics: Mutex::new(Metrics::new(now)),
                last_save_error: Mutex::new(None),
                recovered_from: recovered_from.clone(),
            }),
        };
        if let Some(err) = recovered_from {
            let event = Event::StateCorrupt {
                error: err.to_string(),
                moved_to,
            };
            driver.report(&event, Location::caller());
        }
        Ok(driver)
    }
}

impl Driver {
    /// Starts configuring a driver for `config`, signing with `key`, with the
    /// host's transport, store and runtime.
    pub fn builder(
        config: RegistrarConfig,
        key: PrivateKey,
        transport: Arc<dyn Transport>,
        store: Arc<dyn SnapshotStore>,
        runtime: Arc<dyn Runtime>,
    ) -> DriverBuilder {
        Self::builder_for(config, NodeKey::Local(key), transport, store, runtime)
    }

    /// Like [`Driver::builder`], for the wallet flow with a node key the
    /// host keeps: `signer` signs each attempt's SIWE message for `address`
    /// (`0x` and 40 hex digits). `build` refuses the legacy flow and a
    /// malformed address ([`DriverError::Config`]).
    #[cfg(not(posemesh_local_signer_only))]
    pub fn builder_with_remote_signer(
        config: RegistrarConfig,
        address: String,
        signer: Arc<dyn RemoteSigner>,
        transport: Arc<dyn Transport>,
        store: Arc<dyn SnapshotStore>,
        runtime: Arc<dyn Runtime>,
    ) -> DriverBuilder {
        let key = NodeKey::Remote { address, signer };
        Self::builder_for(config, key, transport, store, runtime)
    }

    fn builder_for(
        config: RegistrarConfig,
        key: NodeKey,
        transport: Arc<dyn Transport>,
        store: Arc<dyn SnapshotStore>,
        runtime: Arc<dyn Runtime>,
    ) -> DriverBuilder {
        DriverBuilder {
            config,
            key,
            transport,
            store,
            runtime,
            sink: None,
            seed: None,
        }
    }
}
