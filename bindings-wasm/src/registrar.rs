//! `Registrar`: the shared driver ([`posemesh_registration_driver::Driver`]) with
//! `fetch`, `setTimeout` and a storage object ([`crate::runtime`]). Each method
//! converts its arguments, delegates, and maps the result to JavaScript.

use crate::convert::{self, Options};
use crate::error::{Error, Result};
use crate::host;
use crate::key::PrivateKey;
use crate::runtime::{FetchTransport, JsRuntime, JsSink, JsStore};
use js_sys::{Object, Promise, Reflect};
use posemesh_registration_core::callback::MAX_CALLBACK_BODY;
use posemesh_registration_core::registrar::Options as CoreOptions;
use posemesh_registration_core::{
    Failure, PrivateKey as CoreKey, RegistrarConfig, Secret, Status, UnixTime,
};
use posemesh_registration_driver::{Driver, DriverError, RegisterOnceError};
use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
// The option, result and event types are declared in types.d.ts; these are the names that
// wasm-bindgen's signatures below use.
export * from "./types.js";
import type {
  CallOptions, Classification, RegisterOutcome, RegistrarEvent, RegistrarEventName,
  RegistrarEventTarget, RegistrarMetrics, RegistrarOptions, RegistrationRequestOptions,
  RegistrationStatus, ResponseLike, SiweChallenge, SiweNonceRequestOptions, TickResult,
  TimeInput, WalletRequestOptions,
} from "./types.js";
import type { AddEventListenerOptions, BufferSource, EventListenerOptions, RequestInfo, WebAssembly } from "./platform.js";
import type { HttpRequest } from "./support.js";
"#;

/// Registers a node with the DDS and keeps it registered.
///
/// Long-lived runtimes (Node, browsers, Deno) call `start()` and later `stop()`; the
/// registrar then sends requests with `fetch` and waits with `setTimeout`. Runtimes without
/// long-lived timers (a Worker's cron trigger) call `tick()` on each trigger. `registerOnce()`
/// makes sure the node is registered now. Legacy-flow nodes route the DDS's calls
/// (`POST /internal/v1/registrations`, `GET /health`) to `handleCallback(request)`.
///
/// Events reach `options.onEvent`, `options.logger`, and listeners added with
/// `addEventListener(name, listener)` (a `CustomEvent` whose `detail` is the event).
///
/// `free()` and `Symbol.dispose` stop the loop, its timer and its request before freeing
/// (`using`); `Symbol.asyncDispose` awaits `stop()` first (`await using`). A disposed
/// registrar rejects every call with a `StateError` (`disposed`).
#[wasm_bindgen]
pub struct Registrar {
    inner: Rc<Inner>,
}

struct Inner {
    config: RegistrarConfig,
    key: CoreKey,
    seed: Option<u64>,
    runtime: Arc<JsRuntime>,
    transport: Arc<FetchTransport>,
    store: Arc<JsStore>,
    sink: Arc<JsSink>,
    /// Built (the snapshot loaded) on first use.
    driver: RefCell<Option<Driver>>,
    /// The build in progress, for concurrent first uses to share.
    building: RefCell<Option<Promise>>,
    /// `start()`'s loop: (built, ended); `stop()` sets `stopping`.
    run: RefCell<Option<(Promise, Promise)>>,
    stopping: Cell<bool>,
    /// Freed (`free()`, `Symbol.dispose`): nothing starts any more.
    disposed: Cell<bool>,
    /// `registerOnce()` and `tick()` calls in progress.
    busy: Cell<u32>,
}

/// Counts a call as in progress while it lives (however it ends: resolved, rejected, or
/// dropped after an abort).
struct Busy(Rc<Inner>);

impl Busy {
    fn new(inner: &Rc<Inner>) -> Busy {
        inner.busy.set(inner.busy.get() + 1);
        Busy(inner.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.set(self.0.busy.get() - 1);
    }
}

impl Registrar {
    /// A call into the driver that may make an attempt (`registerOnce()`,
    /// `accessToken()`): counted as in progress, refused once disposed,
    /// abandoned on `options.signal`'s abort, and a failed attempt rejected as
    /// a `RegistrationError`.
    pub(crate) fn driver_call<F, Fut>(&self, options: &JsValue, call: F) -> Promise
    where
        F: FnOnce(Driver) -> Fut + 'static,
        Fut:
            std::future::Future<Output = std::result::Result<JsValue, RegisterOnceError>> + 'static,
    {
        let inner = self.inner.clone();
        abortable(
            options,
            Box::pin(async move {
                let _busy = Busy::new(&inner);
                let driver = inner.driver().await?;
                if inner.disposed.get() {
                    return Err(disposed().into());
                }
                call(driver).await.map_err(|err| match err {
                    RegisterOnceError::Failed(failure) => attempt_error(&inner, &failure).into(),
                    RegisterOnceError::Driver(err) => driver_error(err).into(),
                })
            }),
        )
    }
}

impl Registrar {
    /// `f` with the driver, once it is built (the snapshot loaded), as a promise.
    pub(crate) fn with_driver(
        &self,
        f: impl FnOnce(&Driver) -> std::result::Result<JsValue, JsValue> + 'static,
    ) -> Promise {
        let inner = self.inner.clone();
        host::promise(Box::pin(async move { f(&inner.driver().await?) }))
    }
}

/// `options.signal` of a call taking `{ signal }`.
fn call_signal(options: &JsValue) -> Result<Option<JsValue>> {
    Options::new(options, "options")?.signal("signal")
}

/// `call`'s promise, abandoned when `options.signal` aborts ([`host::abortable`]);
/// rejected at once if `options` is not a `CallOptions`.
fn abortable(options: &JsValue, call: host::Call) -> Promise {
    match call_signal(options) {
        Ok(signal) => host::abortable(signal, call),
        Err(err) => Promise::reject(&err.into()),
    }
}

fn disposed() -> Error {
    Error::state("disposed", "the registrar was disposed")
}

/// The error of a failed attempt; a network failure keeps `fetch`'s error as `cause`.
fn attempt_error(inner: &Inner, failure: &Failure) -> Error {
    let cause = match failure.status {
        None => inner.transport.cause.borrow_mut().take(),
        Some(_) => None,
    };
    Error::registration(failure).with_cause(cause)
}

fn already_running() -> Error {
    Error::state(
        "already_running",
        "the registration loop is already running",
    )
}

fn driver_error(error: DriverError) -> Error {
    match error {
        DriverError::Config(err) => err.into(),
        DriverError::Store(err) => Error::storage(
            "storage_load_failed",
            format!("could not load the registration snapshot: {err}"),
        ),
        DriverError::Stopped => Error::state("stopped", error.to_string()),
        DriverError::AlreadyRunning => already_running(),
        DriverError::Http(_) => Error::state("internal", error.to_string()),
    }
}

#[wasm_bindgen]
impl Registrar {
    /// A registrar for the node with `key`. Checks the options with the core's rules: throws
    /// a `ConfigError` with the core's code (`invalid_dds_url`, `missing_node_url`,
    /// `node_url_with_wallet`, `zero_request_timeout`, …) or `invalid_option` for a value of
    /// the wrong type. Nothing is loaded or sent until `start()`, `registerOnce()`, `tick()`
    /// or `handleCallback()`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        key: &PrivateKey,
        #[wasm_bindgen(unchecked_param_type = "RegistrarOptions")] options: JsValue,
    ) -> std::result::Result<Registrar, JsValue> {
        Ok(Registrar {
            inner: Rc::new(Inner::new(key, &options)?),
        })
    }

    /// The registration status.
    #[wasm_bindgen(getter, unchecked_return_type = "RegistrationStatus")]
    pub fn status(&self) -> String {
        self.inner.status().as_str().to_owned()
    }

    /// The node's Ethereum address.
    #[wasm_bindgen(getter)]
    pub fn address(&self) -> String {
        self.inner.key.eth_address()
    }

    /// The node's uncompressed public key (130 hex digits).
    #[wasm_bindgen(getter = publicKeyHex)]
    pub fn public_key_hex(&self) -> String {
        self.inner.key.public_key_hex()
    }

    /// The node's id at the DDS, once the DDS called back (legacy flow).
    #[wasm_bindgen(getter = nodeId)]
    pub fn node_id(&self) -> Option<String> {
        let driver = self.inner.driver.borrow().clone()?;
        driver.snapshot().credentials.map(|c| c.id)
    }

    /// Whether `start()`'s loop, a `registerOnce()` or a `tick()` is in progress.
    #[wasm_bindgen(getter)]
    pub fn running(&self) -> bool {
        self.inner.run.borrow().is_some() || self.inner.busy.get() > 0
    }

    /// The `EventTarget` the events are dispatched on, as `CustomEvent`s named after the
    /// event (`status.transition`, `registration.success`, …) with the event as `detail`.
    #[wasm_bindgen(getter, unchecked_return_type = "RegistrarEventTarget")]
    pub fn events(&self) -> JsValue {
        (*self.inner.sink.target).clone()
    }

    /// Listens to events named `name` (see `RegistrarEventName`).
    #[wasm_bindgen(js_name = addEventListener)]
    pub fn add_listener(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RegistrarEventName")] name: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(event: CustomEvent<RegistrarEvent>) => void")]
        listener: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "AddEventListenerOptions | boolean")]
        options: JsValue,
    ) -> std::result::Result<(), JsValue> {
        let target = &self.inner.sink.target;
        target.add_event_listener(&name, &listener, &options)
    }

    /// Stops listening.
    #[wasm_bindgen(js_name = removeEventListener)]
    pub fn remove_listener(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RegistrarEventName")] name: JsValue,
        #[wasm_bindgen(unchecked_param_type = "(event: CustomEvent<RegistrarEvent>) => void")]
        listener: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "EventListenerOptions | boolean")]
        options: JsValue,
    ) -> std::result::Result<(), JsValue> {
        let target = &self.inner.sink.target;
        target.remove_event_listener(&name, &listener, &options)
    }

    /// Loads the snapshot and starts the registration loop; resolves once it runs. The
    /// first check follows one second after the start. Rejects with a `StorageError` if the
    /// snapshot cannot be loaded, a `StateError` (`already_running`) if the loop runs.
    /// `options.signal` (an `AbortSignal`) stops the loop when it aborts, as `stop()` does;
    /// aborted before the loop runs, the promise rejects with the signal's reason.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn start(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "CallOptions")] options: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        let signal = match call_signal(&options) {
            Ok(signal) => signal,
            Err(err) => return Promise::reject(&err.into()),
        };
        if let Some(reason) = signal.as_ref().and_then(host::aborted) {
            return Promise::reject(&reason);
        }
        if inner.run.borrow().is_some() {
            return Promise::reject(&already_running().into());
        }
        inner.stopping.set(false);
        let building = inner.clone();
        let built = host::promise(Box::pin(async move {
            match building.driver().await {
                Ok(_) => Ok(JsValue::UNDEFINED),
                Err(err) => {
                    building.run.borrow_mut().take();
                    Err(err)
                }
            }
        }));
        let waiting = built.clone();
        let running = inner.clone();
        let loop_signal = signal.clone();
        let ended = host::promise(Box::pin(async move {
            if JsFuture::from(waiting).await.is_ok() {
                let aborted = loop_signal
                    .as_ref()
                    .is_some_and(|signal| host::aborted(signal).is_some());
                let driver = running.driver.borrow().clone();
                if let (Some(driver), false, false) = (driver, running.stopping.get(), aborted) {
                    let mut abort = loop_signal.as_ref().map(host::AbortWait::new);
                    let mut run = pin!(driver.run());
                    poll_fn(|cx| {
                        if run.as_mut().poll(cx).is_ready() {
                            return Poll::Ready(());
                        }
                        let fired = abort
                            .as_mut()
                            .is_some_and(|wait| Pin::new(wait).poll(cx).is_ready());
                        if fired {
                            abort = None;
                            running.stopping.set(true);
                            driver.stop();
                            // The loop notices the stop when polled again.
                            cx.waker().wake_by_ref();
                        }
                        Poll::Pending
                    })
                    .await;
                }
                running.run.borrow_mut().take();
            }
            Ok(JsValue::UNDEFINED)
        }));
        *inner.run.borrow_mut() = Some((built.clone(), ended));
        match signal {
            None => built,
            Some(signal) => host::abortable(Some(signal), Box::pin(JsFuture::from(built))),
        }
    }

    /// Stops everything at once, synchronously: `free()` and `Symbol.dispose` call it
    /// before freeing, so that a disposed registrar leaves no loop, timer or request behind.
    #[wasm_bindgen(js_name = "__halt", skip_typescript)]
    pub fn halt(&self) {
        let inner = &self.inner;
        inner.disposed.set(true);
        inner.stopping.set(true);
        let driver = inner.driver.borrow().clone();
        if let Some(driver) = driver {
            driver.stop();
        }
    }

    /// Stops the loop and any `registerOnce()` waiting for its result (which rejects with a
    /// `StateError`, `stopped`): aborts an outstanding request, clears the timer, and
    /// resolves once the loop has ended.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn stop(&self) -> Promise {
        let inner = self.inner.clone();
        inner.stopping.set(true);
        let run = inner.run.borrow().clone();
        host::promise(Box::pin(async move {
            if let Some((built, _)) = &run {
                let _ = JsFuture::from(built.clone()).await;
            }
            let driver = inner.driver.borrow().clone();
            if let Some(driver) = driver {
                driver.stop();
            }
            if let Some((_, ended)) = run {
                let _ = JsFuture::from(ended).await;
            }
            // The abandoned request's cleanup (`request.cancelled`) runs as a task of its
            // own: let it finish first.
            host::Sleep::new(std::time::Duration::ZERO).await;
            Ok(JsValue::UNDEFINED)
        }))
    }

    /// Makes sure the node is registered, now: resolves with `"adopted"` when a fresh
    /// registration for this exact configuration is stored (no request), `"registered"`
    /// after one attempt (all steps of the flow, no retry). Next to a running loop or another
    /// `registerOnce()`, it joins the attempt in progress. Rejects with a
    /// `RegistrationError` (`registration_conflict`, `registration_rejected`,
    /// `registration_unavailable`; with `failureClass`, `status`, `retryAfterMs`, and for a
    /// network failure `fetch`'s error as `cause`), a `StorageError`, or a `StateError`
    /// (`stopped`). With `options.signal`, an abort rejects with the signal's reason and
    /// abandons the attempt (its request is aborted).
    #[wasm_bindgen(js_name = registerOnce, unchecked_return_type = "Promise<RegisterOutcome>")]
    pub fn register_once(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "CallOptions")] options: JsValue,
    ) -> Promise {
        self.driver_call(&options, |driver| async move {
            Ok(driver.register_once().await?.as_str().into())
        })
    }

    /// Registers again now, whatever is stored (after the DDS answered a later call with 403
    /// or 404, say): a running loop carries it out without stopping; otherwise the next
    /// `start()`, `tick()` or `registerOnce()` does. Resolves once it is asked for.
    #[wasm_bindgen(js_name = registerAgain, unchecked_return_type = "Promise<void>")]
    pub fn register_again(&self) -> Promise {
        self.with_driver(|driver| {
            driver.register_again();
            Ok(JsValue::UNDEFINED)
        })
    }

    /// One step for runtimes without long-lived timers (a Worker's cron trigger): loads the
    /// snapshot from storage on first use, does what is due at `now` (default: now) — an
    /// attempt if the node is not registered or its health check lapsed — waits for that
    /// attempt, saves the snapshot, and resolves with what happened. A failed attempt does
    /// not reject: it is in `result.error`, and the next tick retries. Rejects with a
    /// `StorageError` if the snapshot cannot be loaded or saved, a `StateError` if the loop
    /// runs (`start()`). With `options.signal`, an abort rejects with the signal's reason and
    /// abandons the attempt.
    #[wasm_bindgen(unchecked_return_type = "Promise<TickResult>")]
    pub fn tick(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "TimeInput")] now: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "CallOptions")] options: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        let start = match convert::time(&now, host::now) {
            Ok(start) => start,
            Err(err) => return Promise::reject(&err.into()),
        };
        if inner.run.borrow().is_some() {
            return Promise::reject(&already_running().into());
        }
        abortable(
            &options,
            Box::pin(async move {
                let _busy = Busy::new(&inner);
                inner.tick(start).await
            }),
        )
    }

    /// Serves a request the DDS made to the node: `POST /internal/v1/registrations` (the
    /// DDS hands over the node's id and secret; accepted only while a registration is
    /// pending) and `GET /health` (a `DDS v…` user agent counts as a health check); anything
    /// else answers 404. Route those two paths of your web server here.
    #[wasm_bindgen(js_name = handleCallback, unchecked_return_type = "Promise<Response>")]
    pub fn handle_callback(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Request")] request: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        let Ok(request) = request.dyn_into::<web_sys::Request>() else {
            let err = Error::argument("handleCallback needs a fetch Request");
            return Promise::reject(&err.into());
        };
        host::promise(Box::pin(async move {
            if inner.disposed.get() {
                return Err(disposed().into());
            }
            inner.handle_callback(request).await
        }))
    }

    /// `Registrar(0x…, status)`: never a key or secret.
    #[wasm_bindgen(js_name = toString)]
    #[allow(clippy::inherent_to_string)]
    pub fn to_string_js(&self) -> String {
        format!(
            "Registrar({}, {})",
            self.inner.key.eth_address(),
            self.inner.status()
        )
    }

    /// What `JSON.stringify` shows: the same as `toString()`.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> String {
        self.to_string_js()
    }
}

impl Inner {
    /// Reads the options; every rule is the core's (`Options::config`, and
    /// `duration_option` for the whole milliseconds).
    // The driver takes `Arc`s; on wasm32 nothing is `Send` and nothing needs to be.
    #[allow(clippy::arc_with_non_send_sync)]
    fn new(key: &PrivateKey, options: &JsValue) -> Result<Inner> {
        let options = Options::new(options, "options")?;
        let config = CoreOptions {
            dds_url: options.required_string("ddsUrl")?,
            flow: options.string("flow")?,
            node_url: options.string("nodeUrl")?,
            version: options.required_string("version")?,
            capabilities: options.strings("capabilities")?,
            credentials: Secret::new(options.required_string("registrationCredentials")?),
            register_interval: options.millis("registerIntervalMs")?,
            request_timeout: options.millis("requestTimeoutMs")?,
            max_retry: options.count("maxRetry")?,
            siwe_domains: options.strings("siweDomains")?,
            allow_plaintext_dds: options.flag("allowPlaintextDds")?,
        }
        .config()?;
        let storage = options.object("storage")?;
        if let Some(storage) = &storage {
            for method in ["load", "save"] {
                let f = Reflect::get(storage, &method.into()).unwrap_or(JsValue::UNDEFINED);
                if !f.is_function() {
                    return Err(Error::option(format!(
                        "options.storage must have a {method}() method"
                    )));
                }
            }
        }
        let sink = JsSink::new(options.function("onEvent")?, options.object("logger")?);
        Ok(Inner {
            config,
            key: key.inner.clone(),
            seed: options.seed("seed")?,
            runtime: Arc::new(JsRuntime::default()),
            transport: Arc::new(FetchTransport::default()),
            store: Arc::new(JsStore::new(storage)),
            sink: Arc::new(sink),
            driver: RefCell::new(None),
            building: RefCell::new(None),
            run: RefCell::new(None),
            stopping: Cell::new(false),
            disposed: Cell::new(false),
            busy: Cell::new(0),
        })
    }

    fn status(&self) -> Status {
        match &*self.driver.borrow() {
            Some(driver) => driver.status(),
            None => Status::Disconnected,
        }
    }

    /// The driver, built (and the snapshot loaded) on first use; concurrent first uses
    /// share one build, and a failed build is tried again next time.
    async fn driver(self: &Rc<Self>) -> std::result::Result<Driver, JsValue> {
        loop {
            if let Some(driver) = self.driver.borrow().clone() {
                return Ok(driver);
            }
            let pending = self.building.borrow().clone();
            let building = match pending {
                Some(building) => building,
                None => {
                    let inner = self.clone();
                    let building = host::promise(Box::pin(async move {
                        let result = inner.build().await;
                        inner.building.borrow_mut().take();
                        result.map(|()| JsValue::UNDEFINED).map_err(JsValue::from)
                    }));
                    *self.building.borrow_mut() = Some(building.clone());
                    building
                }
            };
            JsFuture::from(building).await?;
        }
    }

    async fn build(&self) -> Result<()> {
        let mut builder = Driver::builder(
            self.config.clone(),
            self.key.clone(),
            self.transport.clone(),
            self.store.clone(),
            self.runtime.clone(),
        )
        .events(self.sink.clone());
        if let Some(seed) = self.seed {
            builder = builder.seed(seed);
        }
        let driver = builder.build().await.map_err(driver_error)?;
        self.sink.status.set(driver.status());
        *self.driver.borrow_mut() = Some(driver);
        Ok(())
    }

    async fn tick(self: &Rc<Self>, start: UnixTime) -> std::result::Result<JsValue, JsValue> {
        self.runtime.set_now(start);
        let driver = self.driver().await?;
        if self.disposed.get() {
            return Err(disposed().into());
        }
        let report = driver.tick().await;
        if let Some(error) = report.save_error {
            return Err(Error::storage(
                "storage_save_failed",
                format!("could not save the registration snapshot: {error}"),
            )
            .into());
        }
        let error = match &report.result {
            Some(Err(failure)) => attempt_error(self, failure).into_js(),
            _ => JsValue::NULL,
        };
        let result = Object::new();
        let set = |key: &str, value: JsValue| Reflect::set(&result, &key.into(), &value);
        let _ = set("status", report.status.as_str().into());
        let _ = set("attempted", report.attempted.into());
        let _ = set("error", error);
        let _ = set("nextCheckAt", (report.next_wake.as_millis() as f64).into());
        Ok(result.into())
    }

    async fn handle_callback(
        self: &Rc<Self>,
        request: web_sys::Request,
    ) -> std::result::Result<JsValue, JsValue> {
        let method = request.method();
        let path = web_sys::Url::new(&request.url())
            .map(|url| url.pathname())
            .unwrap_or_default();
        let mut headers = Vec::new();
        if let Ok(Some(user_agent)) = request.headers().get("user-agent") {
            headers.push(("user-agent".to_owned(), user_agent));
        }
        // One byte over the limit is enough for the core to answer 413; an unreadable
        // body reads as empty (the core answers 400).
        let body = match request.body() {
            Some(stream) => host::read_capped(&stream, MAX_CALLBACK_BODY + 1)
                .await
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let driver = self.driver().await?;
        let answer = driver
            .handle_node_request(&method, &path, &headers, &body)
            .await;
        let init = web_sys::ResponseInit::new();
        init.set_status(answer.status);
        let response_headers = Object::new();
        for (name, value) in &answer.headers {
            let _ = Reflect::set(&response_headers, &name.into(), &value.into());
        }
        init.set_headers(&response_headers);
        let body = String::from_utf8_lossy(&answer.body);
        web_sys::Response::new_with_opt_str_and_init(Some(&body), &init).map(JsValue::from)
    }
}
