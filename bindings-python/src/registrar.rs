//! `Registrar` (blocking) and `AsyncRegistrar` (asyncio) over the native
//! driver. Every rule (joining attempts, "already running", stop, adoption,
//! configuration) is the driver's or the core's; this adds the Python glue.

use crate::bridge::{self, PyCall};
use crate::convert::{
    bytes_arg, headers_arg, optional_string_list_arg, pyrepr, pyrepr_opt, string_list_arg,
    type_name,
};
use crate::credentials::PyDdsCredentials;
use crate::errors::Error;
use crate::keys::PyPrivateKey;
use crate::logbridge;
use crate::runtime::{inside_runtime, refuse_inside_runtime, runtime, wait, wait_ended};
use crate::session::{refused_token, PyAccessToken};
use crate::store::PyStore;
use futures_util::stream::{BoxStream, StreamExt};
use posemesh_registration::core::registrar::{
    count_option, duration_option, ConfigError, Options, TimeUnit::Seconds,
};
use posemesh_registration::transport::ReqwestTransport;
use posemesh_registration::{
    spawn_loop, AttemptOutcome, Background, Driver, FileStore, MemoryStore, RegistrarConfig,
    Secret, SnapshotStore, Status, TokioRuntime,
};
use pyo3::exceptions::{PyTimeoutError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long `stop()` waits for the loop to wind down when no timeout is given.
pub(crate) const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Loops started from Python: stopped by the `atexit` hook. A started loop
/// runs on without the Python object, like a started thread.
static STARTED: Mutex<Vec<(Driver, Background)>> = Mutex::new(Vec::new());

fn started() -> std::sync::MutexGuard<'static, Vec<(Driver, Background)>> {
    STARTED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Stops every loop started from Python (the `atexit` hook); returns how many ran.
pub(crate) fn stop_all(py: Python<'_>) -> usize {
    let loops = std::mem::take(&mut *started());
    let count = loops.iter().filter(|(d, _)| d.is_running()).count();
    for (driver, _) in &loops {
        driver.stop();
    }
    for (_, done) in loops {
        // Never holds up exit for long.
        let _ = wait_ended(py, &done, Some(Duration::from_secs(2)));
    }
    count
}

/// In the child of `os.fork()`: the parent's loops do not run here. Every
/// registrar inherited from the parent then says it is not running, and
/// registers when started or asked again (the driver's fork generation).
pub(crate) fn forget_after_fork() {
    posemesh_registration::shared_driver::after_fork_in_child();
    started().clear();
}

/// Everything a Python registrar object holds.
pub(crate) struct Inner {
    driver: Driver,
    /// Where state is kept, for `repr()`.
    state: String,
    /// This registrar's loop task, once started.
    running: Mutex<Option<Background>>,
}

impl Inner {
    /// Starts the driver's loop on the runtime (`spawn_loop`: "already running"
    /// is this call's error).
    fn start(self: &Arc<Self>, py: Python<'_>) -> Result<Background, Error> {
        let (driver, runtime) = (self.driver.clone(), runtime().handle());
        // The first step may log or call a Python store: the GIL is released.
        let done = crate::logbridge::detach(py, move || spawn_loop(&driver, runtime))?;
        let mut loops = started();
        loops.retain(|(_, done)| done.is_active());
        loops.push((self.driver.clone(), done.clone()));
        *self.running.lock().unwrap_or_else(|e| e.into_inner()) = Some(done.clone());
        Ok(done)
    }

    /// Stops the loop and any waiting `register_once` (the driver's `stop`);
    /// returns what closes when this registrar's loop task has ended.
    fn stop(&self) -> Option<Background> {
        self.driver.stop();
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// The status (the core's rule: `disconnected` once nothing is trying).
    fn status(&self) -> Status {
        self.driver.status()
    }

    /// `driver.register_once()`, as a task's future.
    async fn register_once(self: Arc<Self>) -> Result<AttemptOutcome, Error> {
        Ok(self.driver.register_once().await?)
    }

    async fn access_token(self: Arc<Self>) -> Result<PyAccessToken, Error> {
        let token = self.driver.access_token().await?;
        Ok(PyAccessToken { token })
    }

    fn repr(&self, class: &str) -> String {
        let config = self.driver.config();
        format!(
            "{class}(flow={}, dds_url={}, node_url={}, eth_address={}, status={}, state={})",
            pyrepr(config.flow.name()),
            pyrepr(config.dds_url.as_str()),
            pyrepr_opt(config.flow.node_url()),
            pyrepr(&self.driver.address()),
            pyrepr(self.status().as_str()),
            pyrepr(&self.state)
        )
    }
}

/// Converts the constructor's arguments and builds the driver; the core
/// checks the configuration.
#[allow(clippy::too_many_arguments)]
fn build(
    py: Python<'_>,
    dds_url: &str,
    node_version: &str,
    capabilities: &Bound<'_, PyAny>,
    registration_secret: &Bound<'_, PyAny>,
    private_key: &Bound<'_, PyAny>,
    node_url: Option<&str>,
    flow: Option<&str>,
    interval: f64,
    max_retry: Option<i64>,
    request_timeout: f64,
    state: Option<&Bound<'_, PyAny>>,
    seed: Option<u64>,
    mut access: DdsAccess,
    allow_plaintext_dds: bool,
) -> PyResult<PyBaseRegistrar> {
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
    let siwe_domains = std::mem::take(&mut access.siwe_domains);
    let options = || -> Result<RegistrarConfig, ConfigError> {
        Options {
            dds_url: dds_url.to_owned(),
            flow: flow.map(str::to_owned),
            node_url: node_url.map(str::to_owned),
            version: node_version.to_owned(),
            capabilities,
            credentials: secret,
            register_interval: Some(duration_option("interval", interval, Seconds)?),
            request_timeout: Some(duration_option(
                "request_timeout",
                request_timeout,
                Seconds,
            )?),
            max_retry: max_retry
                .map(|n| count_option("max_retry", n as f64))
                .transpose()?,
            siwe_domains,
            allow_plaintext_dds,
        }
        .config()
    };
    let config = options().map_err(Error::from)?;

    let (store, state_name): (Arc<dyn SnapshotStore>, String) = match state.filter(|s| !s.is_none())
    {
        None => (Arc::new(MemoryStore::new()), "memory".into()),
        Some(obj) if obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__")? => {
            let path: PathBuf = obj.extract()?;
            let shown = path.display().to_string();
            // The driver's build checks it can ever work (after the configuration).
            (Arc::new(FileStore::new(path)), shown)
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
            let store = PyStore::new(obj.clone().unbind());
            (Arc::new(store), "python object".into())
        }
    };

    // Records get a handler before there is anything to log.
    logbridge::prepare_logger(py)?;
    let context = logbridge::Context {
        dds_url: config.dds_url.as_str().to_owned(),
        address: key.eth_address(),
    };
    let driver = crate::logbridge::detach(py, move || -> Result<Driver, Error> {
        let transport = Arc::new(access.transport()?);
        let mut builder =
            Driver::builder(config, key, transport, store, Arc::new(TokioRuntime::new()))
                .events(Arc::new(logbridge::RecordSink(context)));
        if let Some(seed) = seed {
            builder = builder.seed(seed);
        }
        // Loads the stored state: a Python store's load() runs on this thread.
        Ok(runtime().block_on(builder.build())?)
    })?;
    Ok(PyBaseRegistrar {
        inner: Arc::new(Inner {
            driver,
            state: state_name,
            running: Mutex::new(None),
        }),
    })
}

/// How the DDS is reached: proxies, extra trusted certificates, and the
/// names it may give itself in SIWE challenges.
pub(crate) struct DdsAccess {
    proxy: Option<String>,
    env_proxy: bool,
    ca_bundle: Option<PathBuf>,
    /// Names the DDS may give itself in SIWE challenges besides its URL's host.
    siwe_domains: Vec<String>,
}

impl DdsAccess {
    fn from_args(
        proxy: Option<&str>,
        env_proxy: bool,
        ca_bundle: Option<&Bound<'_, PyAny>>,
        siwe_domains: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let siwe_domains = optional_string_list_arg(siwe_domains, "siwe_domains")?;
        let ca_bundle = match ca_bundle.filter(|c| !c.is_none()) {
            None => None,
            Some(obj) if obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__")? => {
                Some(obj.extract::<PathBuf>()?)
            }
            Some(obj) => {
                return Err(PyTypeError::new_err(format!(
                    "ca_bundle must be a path (str or os.PathLike) or None, not {}",
                    type_name(obj)
                )))
            }
        };
        Ok(DdsAccess {
            proxy: proxy.map(str::to_owned),
            env_proxy,
            ca_bundle,
            siwe_domains,
        })
    }

    /// The transport; what is wrong with the settings is a `ConfigError`
    /// (never showing the proxy URL, which may hold credentials).
    fn transport(self) -> Result<ReqwestTransport, Error> {
        let mut builder = ReqwestTransport::builder().use_env_proxy(self.env_proxy);
        if let Some(proxy) = self.proxy {
            builder = builder.proxy(proxy);
        }
        if let Some(path) = self.ca_bundle {
            builder = builder.ca_bundle_file(path);
        }
        builder
            .build()
            .map_err(|err| Error::Config(err.to_string()))
    }
}

/// Status changes of one registrar, one at a time.
#[pyclass(
    frozen,
    name = "_StatusStream",
    module = "posemesh_registration._native"
)]
pub(crate) struct PyStatusStream {
    /// The driver's status stream (it ends at `stop()`).
    receiver: Arc<tokio::sync::Mutex<BoxStream<'static, Status>>>,
}

#[pymethods]
impl PyStatusStream {
    /// The next status goes to `done` (`None` once the registrar stopped).
    fn _next(&self, done: Py<PyAny>) -> PyCall {
        let receiver = self.receiver.clone();
        bridge::spawn(
            done,
            async move {
                let next = receiver.lock().await.next().await;
                Ok(next.map(|status| status.as_str()))
            },
            None,
        )
    }
}

/// What `Registrar` and `AsyncRegistrar` share: configuration, status,
/// `start()`, the DDS callbacks and `register_again()`. Not created directly.
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
        self.inner.status().as_str()
    }

    /// Whether the registration loop runs (`start()`, `run_forever()`).
    #[getter]
    fn is_running(&self) -> bool {
        self.inner.driver.is_running()
    }

    /// `"wallet"` or `"legacy"`.
    #[getter]
    fn flow(&self) -> &'static str {
        self.inner.driver.config().flow.name()
    }

    /// The DDS base URL (normalised: no trailing `/`).
    #[getter]
    fn dds_url(&self) -> String {
        self.inner.driver.config().dds_url.as_str().to_owned()
    }

    /// The node's public URL (legacy flow), else `None`.
    #[getter]
    fn node_url(&self) -> Option<String> {
        self.inner
            .driver
            .config()
            .flow
            .node_url()
            .map(str::to_owned)
    }

    /// The node's Ethereum address.
    #[getter]
    fn eth_address(&self) -> String {
        self.inner.driver.address()
    }

    /// The node's uncompressed public key, 130 lowercase hex digits.
    #[getter]
    fn public_key_hex(&self) -> String {
        self.inner.driver.public_key_hex().unwrap_or_default()
    }

    /// Why the stored state was set aside at start (corrupt or too new), else `None`.
    #[getter]
    fn state_error(&self) -> Option<String> {
        self.inner.driver.recovered_from().map(ToString::to_string)
    }

    /// The id, organisation and secret from the DDS callback, once received.
    #[getter]
    fn credentials(&self) -> Option<PyDdsCredentials> {
        let credentials = self.inner.driver.snapshot().credentials?;
        Some(PyDdsCredentials { credentials })
    }

    /// The current status, then every change, until `stop()` (the package's
    /// `statuses()` iterates over it).
    fn _statuses(&self) -> PyStatusStream {
        let statuses = self.inner.driver.status_stream().boxed();
        PyStatusStream {
            receiver: Arc::new(tokio::sync::Mutex::new(statuses)),
        }
    }

    /// Starts the registration loop in the background and returns at once.
    /// Raises `StateError` if it already runs.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        self.inner.start(py)?;
        Ok(())
    }

    /// Registers again now, whatever is stored (after the DDS answered a later
    /// call with 403 or 404, say). A running loop carries it out without
    /// stopping; otherwise the next `register_once()` or loop does.
    fn register_again(&self) {
        self.inner.driver.register_again();
    }

    /// Reports that the DDS refused `token` (a 401 to one of the node's own
    /// calls): the next `token()` signs in anew, once however many report it.
    fn token_refused(&self, token: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner
            .driver
            .access_token_refused(&refused_token(token)?);
        Ok(())
    }

    /// The operator metrics, the same numbers in every runtime: a dict with
    /// `status`, `attempts` (by result), `consecutive_failures`,
    /// `since_last_success_ms`, `time_to_registered_ms`, `health_checks`,
    /// `callbacks_accepted`, `callbacks_refused` (by status), `lock_busy`,
    /// `sign_ins` and `sign_in_failures`.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::metrics::metrics_dict(py, &self.inner.driver.metrics())
    }

    /// The metrics in the Prometheus text format (what `PrometheusCollector` reads).
    fn prometheus_text(&self) -> String {
        self.inner.driver.metrics().to_prometheus()
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
        let headers = headers_arg(headers)?;
        let body = match body.filter(|b| !b.is_none()) {
            Some(body) => bytes_arg(body, "body", true)?,
            None => Vec::new(),
        };
        if inside_runtime() {
            return Err(refuse_inside_runtime("handle_node_request()"));
        }
        let (method, path) = (method.to_owned(), path.to_owned());
        let driver = self.inner.driver.clone();
        let runtime = runtime(); // taken attached (see `runtime`)
        let response = crate::logbridge::detach(py, move || {
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

    /// An ASGI application serving the DDS callbacks through this registrar
    /// (see `posemesh_registration.asgi.app`).
    #[pyo3(signature = (*, manage_registrar=false))]
    fn asgi_app<'py>(
        slf: &Bound<'py, Self>,
        manage_registrar: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let kwargs = PyDict::new(py);
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

/// A number of seconds, or a `TypeError` that names the argument (pyo3's own
/// names it only in a note the message does not show).
fn seconds_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<f64> {
    obj.extract::<f64>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name} must be a number of seconds (int or float), not {}",
            type_name(obj)
        ))
    })
}

fn interval_arg(obj: &Bound<'_, PyAny>) -> PyResult<f64> {
    seconds_arg(obj, "interval")
}

fn request_timeout_arg(obj: &Bound<'_, PyAny>) -> PyResult<f64> {
    seconds_arg(obj, "request_timeout")
}

/// A wait's `timeout` in seconds: `None` waits for ever, zero and below not at all.
fn wait_timeout(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    let seconds = |t| duration_option("timeout", t, Seconds).map_err(Error::from);
    Ok(timeout.map(seconds).transpose()?)
}

/// Registers a posemesh node with a Domain Discovery Service and keeps it
/// registered, with a blocking API.
///
/// `register_once()` makes sure the node is registered and returns
/// `"registered"` or `"adopted"`, raising on failure; `run_forever()` runs the
/// registration loop in the calling thread; `start()`/`stop()` run it in the
/// background (also `with Registrar(...) as registrar:`). HTTP goes through
/// Rust (reqwest), and the GIL is released while waiting. Events are logged to
/// the `posemesh_registration` logger.
///
/// The flow is the wallet (SIWE) flow unless `flow="legacy"` (which needs
/// `node_url`). `state` is where registration state persists: a file path
/// (written atomically, with a lock so only one process of a node registers at
/// a time), an object with `load() -> bytes | None` and `save(data: bytes)`,
/// or `None` (memory only).
///
/// HTTP settings: `proxy` sends every request through that proxy URL;
/// `env_proxy` (default `True`) takes proxies from `http_proxy`, `https_proxy`,
/// `all_proxy` and `no_proxy` as curl does; `ca_bundle` is a PEM file of extra
/// trusted root certificates (as is `SSL_CERT_FILE`). A bad one is a `ConfigError`.
/// `siwe_domains` names domains besides the DDS URL's host whose SIWE
/// challenges may be signed (a DDS reached by a private URL).
///
/// The DDS URL is `https://`, or `http://` to a loopback host (`localhost`,
/// `127.0.0.0/8`, `::1`); any other `http://` DDS raises `InvalidUrlError`
/// unless `allow_plaintext_dds=True`, which lets the signed request and the
/// registration secret travel unencrypted. Each capability is a path such as
/// `/reconstruction/global-refinement/v1`, at least one.
#[pyclass(frozen, extends = PyBaseRegistrar, name = "Registrar", module = "posemesh_registration")]
pub(crate) struct PyRegistrar {}

#[pymethods]
impl PyRegistrar {
    #[new]
    #[pyo3(signature = (*, dds_url, node_version, capabilities, registration_secret, private_key, node_url=None, flow=None, interval=60.0, max_retry=None, request_timeout=30.0, state=None, seed=None, proxy=None, env_proxy=true, ca_bundle=None, siwe_domains=None, allow_plaintext_dds=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        dds_url: &str,
        node_version: &str,
        capabilities: &Bound<'_, PyAny>,
        registration_secret: &Bound<'_, PyAny>,
        private_key: &Bound<'_, PyAny>,
        node_url: Option<&str>,
        flow: Option<&str>,
        #[pyo3(from_py_with = interval_arg)] interval: f64,
        max_retry: Option<i64>,
        #[pyo3(from_py_with = request_timeout_arg)] request_timeout: f64,
        state: Option<&Bound<'_, PyAny>>,
        seed: Option<u64>,
        proxy: Option<&str>,
        env_proxy: bool,
        ca_bundle: Option<&Bound<'_, PyAny>>,
        siwe_domains: Option<&Bound<'_, PyAny>>,
        allow_plaintext_dds: bool,
    ) -> PyResult<PyClassInitializer<Self>> {
        let access = DdsAccess::from_args(proxy, env_proxy, ca_bundle, siwe_domains)?;
        let base = build(
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
            access,
            allow_plaintext_dds,
        )?;
        Ok(PyClassInitializer::from(base).add_subclass(PyRegistrar {}))
    }

    /// Makes sure the node is registered now: returns `"adopted"` (a fresh
    /// registration for this configuration was stored) or `"registered"` (one
    /// attempt, never retried). Joins an attempt already in progress. Raises
    /// `ConflictError` (409), `DdsRejectedError` (another error status),
    /// `TransportError` (no usable answer) or `StateError` (stopped).
    fn register_once(slf: &Bound<'_, Self>) -> PyResult<&'static str> {
        let result = wait(slf.py(), inner_of(slf).register_once(), None)?.expect("no timeout");
        Ok(result?.as_str())
    }

    /// Runs the registration loop in the calling thread until `stop()` is called
    /// from another thread or Ctrl-C (which is re-raised).
    fn run_forever(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let inner = inner_of(slf);
        let done = inner.start(py)?;
        if let Err(interrupted) = wait_ended(py, &done, None) {
            inner.stop();
            wait_ended(py, &done, Some(DEFAULT_STOP_TIMEOUT))?;
            return Err(interrupted);
        }
        Ok(())
    }

    /// Stops the loop (an in-flight request is abandoned; a waiting
    /// `register_once()` raises `StateError`) and waits up to `timeout` seconds
    /// (default 10) for it to wind down. Called from a logging handler of this
    /// package's logger, it asks the loop to stop and returns at once.
    #[pyo3(signature = (timeout=None))]
    fn stop(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<()> {
        let timeout = wait_timeout(timeout)?.unwrap_or(DEFAULT_STOP_TIMEOUT);
        if let Some(done) = inner_of(slf).stop() {
            // From a logging handler the loop is the caller: asking is all it can do.
            if !inside_runtime() {
                wait_ended(slf.py(), &done, Some(timeout))?;
            }
        }
        Ok(())
    }

    /// A valid access token for the node's own DDS calls: registers first
    /// when no loop runs, signs in when no token is at hand (one sign-in
    /// however many threads ask), and keeps it fresh from then on. Raises as
    /// `register_once()` does, or builtin `TimeoutError` after `timeout` seconds.
    #[pyo3(signature = (timeout=None))]
    fn token(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<PyAccessToken> {
        match wait(
            slf.py(),
            inner_of(slf).access_token(),
            wait_timeout(timeout)?,
        )? {
            Some(token) => Ok(token?),
            None => Err(PyTimeoutError::new_err(
                "no access token within the timeout",
            )),
        }
    }

    /// Blocks until the status is `"registered"`, `timeout` seconds pass
    /// (default: no limit) or `stop()` is called. Returns whether it is registered.
    #[pyo3(signature = (timeout=None))]
    fn wait_until_registered(slf: &Bound<'_, Self>, timeout: Option<f64>) -> PyResult<bool> {
        let limit = wait_timeout(timeout)?;
        let driver = inner_of(slf).driver.clone();
        if driver.status() == Status::Registered {
            return Ok(true); // also with timeout=0, which may end before the task first runs
        }
        let waiting = async move { driver.wait_for_status(Status::Registered, limit).await };
        Ok(wait(slf.py(), waiting, None)?.unwrap_or(false))
    }

    /// Starts the background loop (`with Registrar(...) as registrar:`).
    fn __enter__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
        inner_of(slf).start(slf.py())?;
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
/// Same arguments as `Registrar`. `await register_once()` makes sure the node
/// is registered (`"registered"` or `"adopted"`); `await run_forever()` runs
/// the loop until cancelled; `start()` and `await stop()` run it in the
/// background, as does `async with AsyncRegistrar(...) as registrar:`.
/// Cancelling an awaitable abandons its in-flight request cleanly.
#[pyclass(frozen, subclass, extends = PyBaseRegistrar, name = "AsyncRegistrar", module = "posemesh_registration")]
pub(crate) struct PyAsyncRegistrar {}

#[pymethods]
impl PyAsyncRegistrar {
    #[new]
    #[pyo3(signature = (*, dds_url, node_version, capabilities, registration_secret, private_key, node_url=None, flow=None, interval=60.0, max_retry=None, request_timeout=30.0, state=None, seed=None, proxy=None, env_proxy=true, ca_bundle=None, siwe_domains=None, allow_plaintext_dds=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        dds_url: &str,
        node_version: &str,
        capabilities: &Bound<'_, PyAny>,
        registration_secret: &Bound<'_, PyAny>,
        private_key: &Bound<'_, PyAny>,
        node_url: Option<&str>,
        flow: Option<&str>,
        #[pyo3(from_py_with = interval_arg)] interval: f64,
        max_retry: Option<i64>,
        #[pyo3(from_py_with = request_timeout_arg)] request_timeout: f64,
        state: Option<&Bound<'_, PyAny>>,
        seed: Option<u64>,
        proxy: Option<&str>,
        env_proxy: bool,
        ca_bundle: Option<&Bound<'_, PyAny>>,
        siwe_domains: Option<&Bound<'_, PyAny>>,
        allow_plaintext_dds: bool,
    ) -> PyResult<PyClassInitializer<Self>> {
        let access = DdsAccess::from_args(proxy, env_proxy, ca_bundle, siwe_domains)?;
        let base = build(
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
            access,
            allow_plaintext_dds,
        )?;
        Ok(PyClassInitializer::from(base).add_subclass(PyAsyncRegistrar {}))
    }

    /// Starts `token()`; the token goes to `done(failed, value)`.
    fn _token(slf: &Bound<'_, Self>, done: Py<PyAny>) -> PyCall {
        bridge::spawn(done, inner_of(slf).access_token(), None)
    }

    /// Starts `register_once()`; its outcome goes to `done(failed, value)`.
    fn _register_once(slf: &Bound<'_, Self>, done: Py<PyAny>) -> PyCall {
        let registering = inner_of(slf).register_once();
        bridge::spawn(
            done,
            async move {
                let outcome = registering.await?;
                Ok(outcome.as_str())
            },
            None,
        )
    }

    /// Starts the loop (raising `StateError` if it runs); `done` is called when
    /// it has ended. Cancelling the call stops the loop and waits for its end.
    fn _run_forever(slf: &Bound<'_, Self>, done: Py<PyAny>) -> PyResult<PyCall> {
        let inner = inner_of(slf);
        let ended_rx = inner.start(slf.py())?;
        let waiting = ended_rx.clone();
        let cleanup: bridge::Cleanup = Box::new(move || {
            let done = inner.stop();
            Box::pin(async move {
                if let Some(done) = done {
                    done.ended().await;
                }
                ended_rx.ended().await;
            })
        });
        Ok(bridge::spawn(
            done,
            async move {
                waiting.ended().await;
                Ok(None::<()>)
            },
            Some(cleanup),
        ))
    }

    /// Stops the loop at once; `done` is called when it has wound down.
    fn _stop(slf: &Bound<'_, Self>, done: Py<PyAny>) -> PyCall {
        let stopped = inner_of(slf).stop();
        bridge::spawn(
            done,
            async move {
                if let Some(stopped) = stopped {
                    let _ = tokio::time::timeout(DEFAULT_STOP_TIMEOUT, stopped.ended()).await;
                }
                Ok(None::<()>)
            },
            None,
        )
    }

    /// Waits until registered or `timeout` seconds pass; whether registered
    /// goes to `done`.
    #[pyo3(signature = (done, timeout=None))]
    fn _wait_until_registered(
        slf: &Bound<'_, Self>,
        done: Py<PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<PyCall> {
        let timeout = wait_timeout(timeout)?;
        let driver = inner_of(slf).driver.clone();
        Ok(bridge::spawn(
            done,
            async move { Ok(driver.wait_for_status(Status::Registered, timeout).await) },
            None,
        ))
    }
}
