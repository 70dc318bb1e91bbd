//! `Registrar` (blocking) and `AsyncRegistrar` (asyncio): the native driver
//! running the registration loop, with HTTP in Rust and the GIL released while
//! it waits.

use crate::convert::{
    bytes_arg, headers_arg, pyrepr, pyrepr_opt, seconds_arg, string_list_arg, type_name,
};
use crate::errors::Error;
use crate::job::{runtime, Job, Waited};
use crate::keys::PyPrivateKey;
use crate::logbridge::{self, Extra};
use crate::store::{LoggedStore, PyStore, StoreKind};
use posemesh_registration::core::DdsCredentials;
use posemesh_registration::driver::DriverError;
use posemesh_registration::{Driver, FileStore, Flow, RegistrarConfig, Secret, Status};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What an awaitable without a result resolves to (`()` would become `()` in Python).
const NONE: Option<()> = None;

/// How long `stop()` waits for the loop to wind down when no timeout is given.
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

type LoopJob = Job<Result<(), DriverError>>;

/// Everything a Python registrar object holds.
pub(crate) struct Inner {
    driver: Driver,
    flow: &'static str,
    dds_url: String,
    node_url: Option<String>,
    address: String,
    public_key_hex: String,
    state: String,
    state_error: Option<String>,
    /// The background loop, while `start()`ed.
    background: Mutex<Option<Arc<LoopJob>>>,
    /// Held by a running `register_once`: calls made meanwhile wait their turn,
    /// so one made right after cancelling another waits for its cleanup.
    once: tokio::sync::Mutex<()>,
}

/// Registrars whose loop runs in the background: kept alive (like a started
/// thread) until `stop()` or interpreter exit, even if the Python object is dropped.
static STARTED: Mutex<Vec<Arc<Inner>>> = Mutex::new(Vec::new());

/// Stops every background loop (the `atexit` hook); returns how many ran.
pub(crate) fn stop_all(py: Python<'_>) -> usize {
    let started = std::mem::take(&mut *STARTED.lock().unwrap_or_else(|e| e.into_inner()));
    let jobs: Vec<Arc<LoopJob>> = started
        .iter()
        .filter_map(|inner| inner.take_loop())
        .collect();
    let count = jobs.iter().filter(|job| job.is_running()).count();
    for job in &jobs {
        job.cancel();
    }
    for job in jobs {
        // Never blocks exit for long; the GIL is released so a worker that is
        // logging right now can finish.
        let _ = job.wait_blocking(py, Some(Duration::from_secs(2)));
    }
    count
}

fn loop_running_error() -> Error {
    Error::State(
        "the registration loop is already running (start()/run_forever()); stop() it first".into(),
    )
}

impl Inner {
    fn lock_background(&self) -> std::sync::MutexGuard<'_, Option<Arc<LoopJob>>> {
        self.background.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One registration attempt, after any other one on this registrar ended.
    /// Refused while the loop runs.
    async fn register_once(self: Arc<Self>) -> Result<(), Error> {
        let turn = self.once.lock().await;
        if self.is_running() {
            return Err(loop_running_error());
        }
        // Fields drop in order: if this is cancelled, the attempt (and its
        // report of the abandoned request) is gone before the next caller's turn.
        struct Attempt<F, G> {
            future: std::pin::Pin<Box<F>>,
            _turn: G,
        }
        let mut attempt = Attempt {
            future: Box::pin(self.driver.register_once()),
            _turn: turn,
        };
        attempt.future.as_mut().await?;
        Ok(())
    }

    /// Fails at once (before anything is spawned) if the loop runs.
    fn check_not_looping(&self) -> Result<(), Error> {
        if self.is_running() {
            return Err(loop_running_error());
        }
        Ok(())
    }

    /// Starts the loop in the background.
    fn start_loop(self: &Arc<Self>) -> Result<Arc<LoopJob>, Error> {
        let mut background = self.lock_background();
        if background.as_ref().is_some_and(|job| job.is_running()) {
            return Err(loop_running_error());
        }
        let Ok(_no_once) = self.once.try_lock() else {
            return Err(Error::State(
                "a register_once() is in progress on this registrar; start() after it ends".into(),
            ));
        };
        let driver = self.driver.clone();
        let job = Arc::new(Job::spawn(async move { driver.run().await })?);
        *background = Some(job.clone());
        drop(background);
        STARTED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(self.clone());
        Ok(job)
    }

    /// Takes the background loop's job (if any), forgetting the registrar in `STARTED`.
    fn take_loop(self: &Arc<Self>) -> Option<Arc<LoopJob>> {
        let job = self.lock_background().take();
        STARTED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|inner| !Arc::ptr_eq(inner, self));
        job
    }

    /// Forgets `job` if it is still the registered loop (it ended by itself).
    fn forget_loop(self: &Arc<Self>, job: &Arc<LoopJob>) {
        let is_current = self
            .lock_background()
            .as_ref()
            .is_some_and(|j| Arc::ptr_eq(j, job));
        if is_current {
            self.take_loop();
        }
    }

    fn is_running(&self) -> bool {
        self.lock_background()
            .as_ref()
            .is_some_and(|job| job.is_running())
    }

    fn status(&self) -> &'static str {
        self.driver.status().as_str()
    }

    fn repr(&self, class: &str) -> String {
        format!(
            "{class}(flow={}, dds_url={}, node_url={}, eth_address={}, status={}, state={})",
            pyrepr(self.flow),
            pyrepr(&self.dds_url),
            pyrepr_opt(self.node_url.as_deref()),
            pyrepr(&self.address),
            pyrepr(self.status()),
            pyrepr(&self.state)
        )
    }

    fn handle_node_request(
        &self,
        py: Python<'_>,
        method: &str,
        path: &str,
        headers: Option<&Bound<'_, PyAny>>,
        body: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let headers = headers_arg(headers)?;
        let body = match body.filter(|b| !b.is_none()) {
            Some(body) => bytes_arg(body, "body", true)?,
            None => Vec::new(),
        };
        let (method, path) = (method.to_owned(), path.to_owned());
        let driver = self.driver.clone();
        let runtime = runtime()?;
        let response = py.detach(move || {
            runtime.block_on(driver.handle_node_request(&method, &path, &headers, &body))
        });
        let header_list = response
            .headers
            .iter()
            .map(|(name, value)| PyTuple::new(py, [name.as_str(), value.as_str()]))
            .collect::<PyResult<Vec<_>>>()?;
        let result = PyTuple::new(
            py,
            [
                response.status.into_pyobject(py)?.into_any(),
                PyList::new(py, header_list)?.into_any(),
                PyBytes::new(py, &response.body).into_any(),
            ],
        )?;
        Ok(result.into_any().unbind())
    }

    fn credentials(&self, py: Python<'_>) -> Option<PyDdsCredentials> {
        let driver = self.driver.clone();
        py.detach(move || driver.snapshot().credentials)
            .map(|credentials| PyDdsCredentials { credentials })
    }
}

/// Parses the constructor's arguments and builds the driver.
#[allow(clippy::too_many_arguments)]
fn build(
    py: Python<'_>,
    dds_url: &str,
    node_version: &str,
    capabilities: &Bound<'_, PyAny>,
    registration_secret: &Bound<'_, PyAny>,
    private_key: &Bound<'_, PyAny>,
    node_url: Option<&str>,
    flow: &str,
    interval: f64,
    max_retry: Option<i64>,
    request_timeout: f64,
    state: Option<&Bound<'_, PyAny>>,
    seed: Option<u64>,
) -> PyResult<Arc<Inner>> {
    let secret = Secret::new(
        registration_secret
            .cast::<PyString>()
            .map_err(|_| {
                PyTypeError::new_err(format!(
                    "registration_secret must be a str, not {}",
                    type_name(registration_secret)
                ))
            })?
            .to_cow()?,
    );
    let capabilities = string_list_arg(capabilities, "capabilities")?;
    let key = PyPrivateKey::from_any(private_key)?;
    let (flow, flow_name) = match (flow, node_url) {
        ("legacy", Some(url)) => (
            Flow::Legacy {
                node_url: url.to_owned(),
            },
            "legacy",
        ),
        ("legacy", None) => {
            return Err(Error::Config(
                "the legacy flow needs node_url (the node's public URL the DDS calls back)".into(),
            )
            .into())
        }
        ("wallet", None) => (Flow::Wallet, "wallet"),
        ("wallet", Some(_)) => {
            return Err(Error::Config(
                "node_url is only used by the legacy flow; leave it out with flow=\"wallet\""
                    .into(),
            )
            .into())
        }
        _ => {
            return Err(Error::Config(format!(
                "flow must be \"legacy\" or \"wallet\", got {flow:?}"
            ))
            .into())
        }
    };
    let interval = seconds_arg(interval, "interval", false)?;
    let request_timeout = seconds_arg(request_timeout, "request_timeout", false)?;
    let max_retry = match max_retry {
        None => None,
        Some(n) => Some(u32::try_from(n).map_err(|_| {
            Error::Config(format!(
                "max_retry must be None (never pause) or 0 or more, got {n}"
            ))
        })?),
    };

    let (store, kind) = match state.filter(|s| !s.is_none()) {
        None => (LoggedStore::memory(), StoreKind::Memory),
        Some(obj) if obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__")? => {
            let path: PathBuf = obj.extract()?;
            let shown = path.display().to_string();
            (
                LoggedStore::file(FileStore::new(path)),
                StoreKind::File(shown),
            )
        }
        Some(obj) => {
            let callable = |name: &str| -> PyResult<bool> {
                Ok(obj.hasattr(name)? && obj.getattr(name)?.is_callable())
            };
            if !callable("load")? || !callable("save")? {
                return Err(PyTypeError::new_err(format!(
                    "state must be a path (str or os.PathLike) or an object with load() and \
                     save(data) methods, not {}",
                    type_name(obj)
                )));
            }
            (
                LoggedStore::python(PyStore::new(obj.clone().unbind())),
                StoreKind::Python,
            )
        }
    };

    let mut config = RegistrarConfig::new(dds_url, flow, node_version, capabilities, secret)
        .map_err(Error::from)?;
    config.register_interval = interval;
    config.max_retry = max_retry;
    config.request_timeout = request_timeout;
    let dds_url = config.dds_url.as_str().to_owned();
    let node_url = match &config.flow {
        Flow::Legacy { node_url } => Some(node_url.clone()),
        Flow::Wallet => None,
    };
    let address = key.eth_address();
    let public_key_hex = key.public_key_hex();

    let mut builder = Driver::builder(config, key)
        .store(store)
        .on_event(Arc::new(logbridge::log_event));
    if let Some(seed) = seed {
        builder = builder.seed(seed);
    }
    // Make sure the runtime exists before anything needs it.
    runtime()?;
    let driver = py.detach(move || builder.build()).map_err(Error::from)?;

    let (state_name, state_error) = describe_state(&kind, &driver);
    Ok(Arc::new(Inner {
        driver,
        flow: flow_name,
        dds_url,
        node_url,
        address,
        public_key_hex,
        state: state_name,
        state_error,
        background: Mutex::new(None),
        once: tokio::sync::Mutex::new(()),
    }))
}

/// Names the store and reports a stored state that had to be set aside.
fn describe_state(kind: &StoreKind, driver: &Driver) -> (String, Option<String>) {
    let name = match kind {
        StoreKind::Memory => "memory".to_owned(),
        StoreKind::File(path) => path.clone(),
        StoreKind::Python => "python object".to_owned(),
    };
    let Some(err) = driver.recovered_from() else {
        return (name, None);
    };
    let where_ = match kind {
        StoreKind::File(path) => {
            format!("state file {path} is unusable ({err}); it was moved aside to {path}.corrupt")
        }
        _ => format!("stored registration state is unusable ({err}); it is ignored"),
    };
    logbridge::log(
        logbridge::WARNING,
        "state.corrupt",
        &format!("{where_} and the node registers afresh"),
        vec![("error", Extra::Str(err.to_string()))],
    );
    (name, Some(err.to_string()))
}

/// What the DDS handed the node in its callback: `id`, `organization_id` and
/// `secret`. `repr()` never shows the secret.
#[pyclass(frozen, name = "DdsCredentials", module = "posemesh_registration")]
pub(crate) struct PyDdsCredentials {
    credentials: DdsCredentials,
}

#[pymethods]
impl PyDdsCredentials {
    /// The node's id at the DDS.
    #[getter]
    fn id(&self) -> &str {
        &self.credentials.id
    }

    /// The node's organisation, if the DDS said.
    #[getter]
    fn organization_id(&self) -> Option<&str> {
        self.credentials.organization_id.as_deref()
    }

    /// The secret the DDS issued to the node. Keep it out of logs.
    #[getter]
    fn secret(&self) -> &str {
        self.credentials.secret.expose()
    }

    fn __repr__(&self) -> String {
        format!(
            "DdsCredentials(id={}, organization_id={}, secret=<redacted>)",
            pyrepr(&self.credentials.id),
            pyrepr_opt(self.credentials.organization_id.as_deref())
        )
    }

    fn __str__(&self) -> String {
        self.__repr__()
    }

    /// Not picklable: a pickle would carry the secret in clear.
    fn __reduce__(&self) -> PyResult<()> {
        Err(PyTypeError::new_err(
            "DdsCredentials cannot be pickled (it would write the secret in clear)",
        ))
    }
}

/// What `Registrar` and `AsyncRegistrar` share: configuration, status, and the
/// DDS callbacks. Not created directly.
#[pyclass(
    frozen,
    subclass,
    name = "BaseRegistrar",
    module = "posemesh_registration"
)]
pub(crate) struct PyBaseRegistrar {
    inner: Arc<Inner>,
}

#[pymethods]
impl PyBaseRegistrar {
    /// `"disconnected"`, `"registering"` or `"registered"`.
    #[getter]
    fn status(&self) -> &'static str {
        self.inner.status()
    }

    /// Whether the registration loop runs (`start()`, `run_forever()`).
    #[getter]
    fn is_running(&self) -> bool {
        self.inner.is_running()
    }

    /// `"legacy"` or `"wallet"`.
    #[getter]
    fn flow(&self) -> &'static str {
        self.inner.flow
    }

    /// The DDS base URL (normalised: no trailing `/`).
    #[getter]
    fn dds_url(&self) -> &str {
        &self.inner.dds_url
    }

    /// The node's public URL (legacy flow), else `None`.
    #[getter]
    fn node_url(&self) -> Option<&str> {
        self.inner.node_url.as_deref()
    }

    /// The node's Ethereum address.
    #[getter]
    fn eth_address(&self) -> &str {
        &self.inner.address
    }

    /// The node's uncompressed public key, 130 lowercase hex digits.
    #[getter]
    fn public_key_hex(&self) -> &str {
        &self.inner.public_key_hex
    }

    /// Why the stored state was set aside at start (corrupt or too new), else `None`.
    #[getter]
    fn state_error(&self) -> Option<&str> {
        self.inner.state_error.as_deref()
    }

    /// The id, organisation and secret from the DDS callback, once received.
    #[getter]
    fn credentials(&self, py: Python<'_>) -> Option<PyDdsCredentials> {
        self.inner.credentials(py)
    }

    /// Serves a request the DDS made to the node, framework-free:
    /// `POST /internal/v1/registrations` (the DDS hands over id and secret) and
    /// `GET /health` (its probe); anything else is 404. `headers` is a mapping or
    /// `(name, value)` pairs (`str` or `bytes`); returns `(status, headers, body)`.
    #[pyo3(signature = (method, path, headers=None, body=None))]
    fn handle_node_request(
        &self,
        py: Python<'_>,
        method: &str,
        path: &str,
        headers: Option<&Bound<'_, PyAny>>,
        body: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.inner
            .handle_node_request(py, method, path, headers, body)
    }

    /// An ASGI application serving the DDS callbacks through this registrar
    /// (see `posemesh_registration.asgi.app`).
    #[pyo3(signature = (*, manage_registrar=false))]
    fn asgi_app<'py>(
        slf: &Bound<'py, Self>,
        manage_registrar: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let kwargs = pyo3::types::PyDict::new(py);
        kwargs.set_item("manage_registrar", manage_registrar)?;
        py.import("posemesh_registration.asgi")?
            .getattr("app")?
            .call((slf,), Some(&kwargs))
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let class = slf.get_type().name()?.to_string();
        Ok(slf.get().inner.repr(&class))
    }

    fn __str__(slf: &Bound<'_, Self>) -> PyResult<String> {
        Self::__repr__(slf)
    }
}

fn inner_of<T: pyo3::PyClass<BaseType = PyBaseRegistrar>>(slf: &Bound<'_, T>) -> Arc<Inner> {
    slf.as_super().get().inner.clone()
}

fn wait_timeout(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    timeout.map(|t| seconds_arg(t, "timeout", true)).transpose()
}

/// Registers a posemesh node with a Domain Discovery Service and keeps it
/// registered, with a blocking API.
///
/// `register_once()` makes one attempt and raises on failure; `run_forever()`
/// runs the registration loop in the calling thread; `start()`/`stop()` run it in
/// the background (also `with Registrar(...) as registrar:`). HTTP goes through
/// Rust (reqwest), and the GIL is released while waiting. Events are logged to
/// the `posemesh_registration` logger.
///
/// `state` is where registration state persists: a file path (written
/// atomically, with a lock so only one process of a node registers at a time),
/// an object with `load() -> bytes | None` and `save(data: bytes)`, or `None`
/// (memory only).
#[pyclass(frozen, extends = PyBaseRegistrar, name = "Registrar", module = "posemesh_registration")]
pub(crate) struct PyRegistrar {}

#[pymethods]
impl PyRegistrar {
    #[new]
    #[pyo3(signature = (*, dds_url, node_version, capabilities, registration_secret, private_key, node_url=None, flow="legacy", interval=60.0, max_retry=None, request_timeout=30.0, state=None, seed=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        dds_url: &str,
        node_version: &str,
        capabilities: &Bound<'_, PyAny>,
        registration_secret: &Bound<'_, PyAny>,
        private_key: &Bound<'_, PyAny>,
        node_url: Option<&str>,
        flow: &str,
        interval: f64,
        max_retry: Option<i64>,
        request_timeout: f64,
        state: Option<&Bound<'_, PyAny>>,
        seed: Option<u64>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let inner = build(
            py,
            dds_url,
            node_version,
            capabilities,
            registration_secret,
            private_key,
            node_url,
            flow,
            interval,
            max_retry,
            request_timeout,
            state,
            seed,
        )?;
        Ok(PyClassInitializer::from(PyBaseRegistrar { inner }).add_subclass(PyRegistrar {}))
    }

    /// Makes one registration attempt now and returns once the DDS accepted it.
    /// Raises `ConflictError` (409), `DdsRejectedError` (another error status),
    /// `TransportError` (no usable answer) or `StateError` (the loop is running).
    fn register_once(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let inner = inner_of(slf);
        inner.check_not_looping()?;
        let job = Job::spawn(inner.register_once())?;
        match job.wait_blocking(py, None)? {
            Waited::Done(result) => Ok(result?),
            Waited::Cancelled | Waited::TimedOut => {
                Err(Error::State("the registration attempt was stopped".into()).into())
            }
        }
    }

    /// Runs the registration loop in the calling thread until `stop()` is called
    /// from another thread or Ctrl-C (which is re-raised).
    fn run_forever(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let inner = inner_of(slf);
        let job = inner.start_loop()?;
        let waited = job.wait_blocking(py, None);
        inner.forget_loop(&job);
        match waited? {
            Waited::Done(result) => Ok(result.map_err(Error::from)?),
            Waited::Cancelled | Waited::TimedOut => Ok(()),
        }
    }

    /// Starts the registration loop in the background and returns at once.
    /// Raises `StateError` if it already runs.
    fn start(slf: &Bound<'_, Self>) -> PyResult<()> {
        inner_of(slf).start_loop()?;
        Ok(())
    }

    /// Stops the background loop (an in-flight request is abandoned) and waits
    /// up to `timeout` seconds (default 10) for it to wind down. Does nothing if
    /// it is not running.
    #[pyo3(signature = (timeout=None))]
    fn stop(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<()> {
        let py = slf.py();
        let timeout = wait_timeout(timeout)?.unwrap_or(DEFAULT_STOP_TIMEOUT);
        if let Some(job) = inner_of(slf).take_loop() {
            job.cancel();
            job.wait_blocking(py, Some(timeout))?;
        }
        Ok(())
    }

    /// Blocks until the status is `"registered"` or `timeout` seconds pass
    /// (default: no limit). Returns whether it is registered.
    #[pyo3(signature = (timeout=None))]
    fn wait_until_registered(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<bool> {
        let py = slf.py();
        let timeout = wait_timeout(timeout)?;
        let driver = inner_of(slf).driver.clone();
        if driver.status() == Status::Registered {
            return Ok(true);
        }
        let job = Job::spawn(async move {
            driver.wait_for_status(Status::Registered).await;
            true
        })?;
        Ok(matches!(
            job.wait_blocking(py, timeout)?,
            Waited::Done(true)
        ))
    }

    /// Starts the background loop (`with Registrar(...) as registrar:`).
    fn __enter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
        Self::start(slf)?;
        Ok(slf.clone())
    }

    /// Stops the background loop.
    #[pyo3(signature = (*_exc_info))]
    fn __exit__(slf: &Bound<'_, Self>, _exc_info: &Bound<'_, PyTuple>) -> PyResult<()> {
        Self::stop(slf, None)
    }
}

/// Registers a posemesh node with a Domain Discovery Service and keeps it
/// registered, with an asyncio API.
///
/// Same arguments as `Registrar`. `await register_once()` makes one attempt;
/// `await run_forever()` runs the loop until cancelled; `start()` and
/// `await stop()` run it in the background, as does
/// `async with AsyncRegistrar(...) as registrar:`. Cancelling an awaitable
/// abandons its in-flight request cleanly.
#[pyclass(frozen, extends = PyBaseRegistrar, name = "AsyncRegistrar", module = "posemesh_registration")]
pub(crate) struct PyAsyncRegistrar {}

#[pymethods]
impl PyAsyncRegistrar {
    #[new]
    #[pyo3(signature = (*, dds_url, node_version, capabilities, registration_secret, private_key, node_url=None, flow="legacy", interval=60.0, max_retry=None, request_timeout=30.0, state=None, seed=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        dds_url: &str,
        node_version: &str,
        capabilities: &Bound<'_, PyAny>,
        registration_secret: &Bound<'_, PyAny>,
        private_key: &Bound<'_, PyAny>,
        node_url: Option<&str>,
        flow: &str,
        interval: f64,
        max_retry: Option<i64>,
        request_timeout: f64,
        state: Option<&Bound<'_, PyAny>>,
        seed: Option<u64>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let inner = build(
            py,
            dds_url,
            node_version,
            capabilities,
            registration_secret,
            private_key,
            node_url,
            flow,
            interval,
            max_retry,
            request_timeout,
            state,
            seed,
        )?;
        Ok(PyClassInitializer::from(PyBaseRegistrar { inner }).add_subclass(PyAsyncRegistrar {}))
    }

    /// Makes one registration attempt now (awaitable). Raises like
    /// `Registrar.register_once()`. Cancelling it abandons the request.
    fn register_once<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let inner = inner_of(slf);
        inner.check_not_looping()?;
        pyo3_async_runtimes::tokio::future_into_py(slf.py(), async move {
            inner
                .register_once()
                .await
                .map(|()| NONE)
                .map_err(PyErr::from)
        })
    }

    /// Runs the registration loop until the awaitable is cancelled (awaitable).
    fn run_forever<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let inner = inner_of(slf);
        let job = inner.start_loop()?;
        pyo3_async_runtimes::tokio::future_into_py(slf.py(), async move {
            // Cancelling this awaitable drops the guard, which stops the loop.
            let guard = StopLoopOnDrop(inner.clone(), job.clone());
            let result = job.wait().await;
            drop(guard);
            match result {
                Some(result) => result
                    .map(|()| NONE)
                    .map_err(|err| PyErr::from(Error::from(err))),
                None => Ok(NONE),
            }
        })
    }

    /// Starts the registration loop in the background and returns at once.
    /// Raises `StateError` if it already runs.
    fn start(slf: &Bound<'_, Self>) -> PyResult<()> {
        inner_of(slf).start_loop()?;
        Ok(())
    }

    /// Stops the background loop and waits until it has wound down (awaitable).
    fn stop<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let job = inner_of(slf).take_loop();
        pyo3_async_runtimes::tokio::future_into_py(slf.py(), async move {
            if let Some(job) = job {
                job.cancel();
                let _ = tokio::time::timeout(DEFAULT_STOP_TIMEOUT, job.wait()).await;
            }
            Ok(NONE)
        })
    }

    /// Waits until the status is `"registered"` or `timeout` seconds pass
    /// (awaitable; default: no limit). Returns whether it is registered.
    #[pyo3(signature = (timeout=None))]
    fn wait_until_registered<'py>(
        slf: &Bound<'py, Self>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let timeout = wait_timeout(timeout)?;
        let driver = inner_of(slf).driver.clone();
        pyo3_async_runtimes::tokio::future_into_py(slf.py(), async move {
            let wait = driver.wait_for_status(Status::Registered);
            let registered = match timeout {
                Some(limit) => tokio::time::timeout(limit, wait).await.is_ok(),
                None => {
                    wait.await;
                    true
                }
            };
            Ok(registered)
        })
    }

    /// Starts the background loop (`async with AsyncRegistrar(...) as registrar:`).
    fn __aenter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::start(slf)?;
        let me: Py<Self> = slf.clone().unbind();
        pyo3_async_runtimes::tokio::future_into_py(slf.py(), async move { Ok(me) })
    }

    /// Stops the background loop.
    #[pyo3(signature = (*_exc_info))]
    fn __aexit__<'py>(
        slf: &Bound<'py, Self>,
        _exc_info: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let job = inner_of(slf).take_loop();
        pyo3_async_runtimes::tokio::future_into_py(slf.py(), async move {
            if let Some(job) = job {
                job.cancel();
                let _ = tokio::time::timeout(DEFAULT_STOP_TIMEOUT, job.wait()).await;
            }
            Ok(NONE)
        })
    }
}

/// Stops a loop started by `AsyncRegistrar.run_forever()` when its awaitable
/// is cancelled or finishes.
struct StopLoopOnDrop(Arc<Inner>, Arc<LoopJob>);

impl Drop for StopLoopOnDrop {
    fn drop(&mut self) {
        self.1.cancel();
        self.0.forget_loop(&self.1);
    }
}
