//! `Registrar`: the core state machine driven with `fetch`, `setTimeout` and a storage
//! object, the way `native/src/driver.rs` drives it with tokio and reqwest.

use crate::convert::{self, Options};
use crate::error::{Error, FailureDetail, Result};
use crate::host::{self, Clock, Exchange, Sleep};
use crate::key::PrivateKey;
use js_sys::{Function, Object, Promise, Reflect};
use posemesh_registration_core::callback::MAX_CALLBACK_BODY;
use posemesh_registration_core::registrar::SHORT_DELAY;
use posemesh_registration_core::response::MAX_RESPONSE_BODY;
use posemesh_registration_core::secret::REDACTED;
use posemesh_registration_core::{
    Event, Failure, Flow, Level, LockOutcome, OutgoingRequest, Output, PrivateKey as CoreKey,
    Registrar as CoreRegistrar, RegistrarConfig, RequestId, Secret, Snapshot, Status, UnixTime,
};
use std::cell::{Cell, RefCell, RefMut};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
import type { RegistrationError } from "./support.js";

/** Where the registration stands. */
export type RegistrationStatus = "disconnected" | "registering" | "registered";

/**
 * Where the registrar keeps its snapshot (a few hundred bytes of JSON, including the
 * DDS-issued node secret). `MemoryStorage`, `WebStorage` (localStorage) and `KvStorage`
 * (Workers KV) are ready-made; any object with these two methods works.
 */
export interface SnapshotStorage {
  /** The stored snapshot, or `null`/`undefined` if there is none. */
  load(): Promise<Uint8Array | ArrayBuffer | string | null | undefined> | Uint8Array | ArrayBuffer | string | null | undefined;
  /** Stores the snapshot, replacing the previous one (atomically, if the store can). */
  save(bytes: Uint8Array): Promise<void> | void;
}

/** Receives one line per event (`console` fits). */
export interface RegistrarLogger {
  debug?(line: string): void;
  info?(line: string): void;
  warn?(line: string): void;
}

/** How the registrar is configured. */
export interface RegistrarOptions {
  /** The DDS base URL (`https://dds.example.com`). */
  ddsUrl: string;
  /**
   * `legacy` (default): `nodes/register` signed over `nodeUrl`; the DDS calls the node back
   * (serve them with `handleCallback`) and probes its health. `wallet`: SIWE + EIP-191 on
   * `nodes/register-wallet`; no callbacks, the simplest choice for edge workers.
   */
  flow?: "legacy" | "wallet";
  /** The node's public URL (legacy flow). */
  nodeUrl?: string;
  /** The node's software version. */
  version: string;
  /** Capability paths; the wallet flow needs at least one. */
  capabilities?: string[];
  /** The registration credentials (a secret, never logged). */
  registrationCredentials: string;
  /** Health-check TTL and interval between checks, in ms (default 60 000; at least 1 s is used). */
  registerIntervalMs?: number;
  /** Consecutive fast failures before pausing a full interval; default: never pause. */
  maxRetry?: number | null;
  /** How long a request may take, in ms (default 30 000). */
  requestTimeoutMs?: number;
  /** Where to keep the snapshot; default: memory only. */
  storage?: SnapshotStorage;
  /** Called with every event. Exceptions it throws are ignored. */
  onEvent?: (event: RegistrarEvent) => void;
  /** Logs every event as one line (pass `console`); default: silent. */
  logger?: RegistrarLogger;
  /** Seeds the retry jitter (tests, simulations); default: `crypto.getRandomValues`. */
  seed?: number | bigint;
}

/** The name of a registrar event (the reference crate's log event names). */
export type RegistrarEventName =
  | "registration.loop.start" | "lock.acquired" | "lock.busy" | "lock.error"
  | "status.transition" | "registration.success" | "registration.error"
  | "registration.conflict" | "registration.max_retry_reached" | "healthcheck.expired"
  | "status.unknown" | "healthcheck.touch" | "registration.callback"
  | "registration.callback.rejected" | "request.cancelled" | "response.ignored"
  | "state.corrupt" | "state.save.error";

/** Something that happened. Never carries a key or a secret. */
export interface RegistrarEvent {
  name: RegistrarEventName;
  level: "debug" | "info" | "warn";
  /** A human-readable line. */
  message: string;
  /** The status after the event. */
  status: RegistrationStatus;
  /** `status.transition`: the old and new status. */
  from?: RegistrationStatus;
  to?: RegistrationStatus;
  /** `registration.loop.start`: the health-check TTL. */
  ttlMs?: number;
  /** `registration.success`: how long the attempt took. */
  elapsedMs?: number;
  /** `registration.error`, `registration.conflict`: the classified failure. */
  failure?: FailureInfo;
  /** `registration.error`: consecutive fast failures so far. */
  attempt?: number;
  /** `registration.error`: when the next attempt is due. */
  retryInMs?: number;
  /** `registration.conflict`: how long the conflict has lasted. */
  blockedForMs?: number;
  /** `registration.max_retry_reached`: the configured cap. */
  maxRetry?: number;
  /** `healthcheck.expired`: time since the last health check (absent: never checked). */
  sinceLastMs?: number;
  /** `status.unknown`: the stored status text. */
  storedStatus?: string;
  /** `registration.callback`: the node's id, its organisation, the secret's length. */
  nodeId?: string;
  organizationId?: string;
  secretLength?: number;
  /** `registration.callback.rejected`: the status answered and why. */
  httpStatus?: number;
  reason?: string;
  /** `request.cancelled`, `response.ignored`: the request id. */
  requestId?: number;
  /** `lock.error`, `state.corrupt`, `state.save.error`: what failed. */
  error?: string;
}

/** What `tick()` did. */
export interface TickResult {
  /** The status after the tick. */
  status: RegistrationStatus;
  /** Whether a registration was attempted. */
  attempted: boolean;
  /** The failed attempt's error, if the attempt failed. */
  error: RegistrationError | null;
  /** When the registrar would check again (ms since 1970): schedule the next tick by then. */
  nextCheckAt: number;
}
"#;

#[wasm_bindgen(module = "/js/support.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeEventTarget)]
    fn make_event_target() -> JsValue;
    #[wasm_bindgen(js_name = makeEvent)]
    fn make_event(name: &str, detail: &JsValue) -> JsValue;
}

#[wasm_bindgen]
extern "C" {
    type JsEventTarget;
    #[wasm_bindgen(method, catch, js_name = addEventListener)]
    fn add_event_listener(
        this: &JsEventTarget,
        kind: &str,
        listener: &JsValue,
        options: &JsValue,
    ) -> std::result::Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = removeEventListener)]
    fn remove_event_listener(
        this: &JsEventTarget,
        kind: &str,
        listener: &JsValue,
        options: &JsValue,
    ) -> std::result::Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = dispatchEvent)]
    fn dispatch_event(this: &JsEventTarget, event: &JsValue) -> std::result::Result<bool, JsValue>;
}

/// Registers a node with the DDS and keeps it registered.
///
/// Long-lived runtimes (Node, browsers, Deno) call `start()` and later `stop()`; the
/// registrar then sends requests with `fetch` and waits with `setTimeout`. Runtimes without
/// long-lived timers (a Worker's cron trigger) call `tick()` on each trigger. `registerOnce()`
/// makes a single attempt. Legacy-flow nodes route the DDS's calls
/// (`POST /internal/v1/registrations`, `GET /health`) to `handleCallback(request)`.
///
/// Events reach `options.onEvent`, `options.logger`, and listeners added with
/// `addEventListener(name, listener)` (a `CustomEvent` whose `detail` is the event).
#[wasm_bindgen]
pub struct Registrar {
    inner: Rc<Inner>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Idle,
    Loop,
    Once,
    Tick,
}

struct Inner {
    config: RegistrarConfig,
    key: CoreKey,
    seed: Option<u64>,
    core: RefCell<CoreRegistrar>,
    storage: Option<JsValue>,
    on_event: Option<Function>,
    logger: Option<JsValue>,
    target: JsEventTarget,
    /// Whether `core` was built from the stored snapshot.
    loaded: Cell<bool>,
    mode: Cell<Mode>,
    stop: Cell<bool>,
    wake: Signal,
    idle: Waiters,
    saver: Saver,
}

/// Wakes the drive loop (a node request changed the state, or `stop()` was called).
#[derive(Default)]
struct Signal {
    resolve: RefCell<Option<Function>>,
    pending: Cell<bool>,
}

impl Signal {
    fn notify(&self) {
        let resolve = self.resolve.borrow_mut().take();
        match resolve {
            Some(resolve) => {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
            None => self.pending.set(true),
        }
    }

    /// A future that completes at the next `notify` (or now, if one is pending).
    fn wait(&self) -> JsFuture {
        if self.pending.replace(false) {
            return JsFuture::from(Promise::resolve(&JsValue::UNDEFINED));
        }
        let promise = Promise::new(&mut |resolve, _reject| {
            *self.resolve.borrow_mut() = Some(resolve);
        });
        JsFuture::from(promise)
    }

    /// Forgets the waiting future's resolver: later notifications are kept as pending.
    fn reset(&self) {
        self.resolve.borrow_mut().take();
    }
}

/// Promises resolved together.
#[derive(Default)]
struct Waiters(RefCell<Vec<Function>>);

impl Waiters {
    fn wait(&self) -> JsFuture {
        let promise = Promise::new(&mut |resolve, _reject| self.0.borrow_mut().push(resolve));
        JsFuture::from(promise)
    }

    fn wake_all(&self) {
        let waiters = std::mem::take(&mut *self.0.borrow_mut());
        for resolve in waiters {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    }
}

/// Serialises snapshot writes: one `save()` at a time, in order, the latest snapshot winning.
#[derive(Default)]
struct Saver {
    busy: Cell<bool>,
    pending: RefCell<Option<Vec<u8>>>,
    done: Waiters,
    /// The last failure, for `tick()` to report.
    error: RefCell<Option<String>>,
}

/// What one pass over the core's outputs leaves for the async side.
struct Pumped {
    events: Vec<Event>,
    persist: Option<Vec<u8>>,
    transmits: Vec<OutgoingRequest>,
    wait_until: UnixTime,
}

/// When a drive ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    /// Only on `stop()`.
    Stopped,
    /// At the first attempt's result.
    AttemptResult,
    /// Once what is due now is done (see `idle_enough`); the rest is for a later tick.
    Idle,
}

struct Outcome {
    result: Option<std::result::Result<(), Failure>>,
    attempted: bool,
    wait_until: UnixTime,
}

enum Woke {
    Response(
        RequestId,
        std::result::Result<
            posemesh_registration_core::HttpResponse,
            posemesh_registration_core::TransportError,
        >,
    ),
    Timer,
    Notified,
}

#[wasm_bindgen]
impl Registrar {
    /// A registrar for the node with `key`. Validates the options: throws a `ConfigError`
    /// (`invalid_dds_url`, `invalid_node_url`, `no_capabilities`, `empty_version`,
    /// `invalid_option`). Nothing is loaded or sent until `start()`, `registerOnce()` or
    /// `tick()`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        key: &PrivateKey,
        #[wasm_bindgen(unchecked_param_type = "RegistrarOptions")] options: JsValue,
    ) -> std::result::Result<Registrar, JsValue> {
        Ok(Registrar {
            inner: Rc::new(Inner::new(key, &options)?),
        })
    }

    /// The registration status (as of the last load of the snapshot).
    #[wasm_bindgen(getter, unchecked_return_type = "RegistrationStatus")]
    pub fn status(&self) -> String {
        self.inner.core.borrow().status().as_str().to_owned()
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
        self.inner.core.borrow().credentials().map(|c| c.id.clone())
    }

    /// Whether `start()`, `registerOnce()` or `tick()` is in progress.
    #[wasm_bindgen(getter)]
    pub fn running(&self) -> bool {
        self.inner.mode.get() != Mode::Idle
    }

    /// The `EventTarget` the events are dispatched on, as `CustomEvent`s named after the
    /// event (`status.transition`, `registration.success`, …) with the event as `detail`.
    #[wasm_bindgen(getter, unchecked_return_type = "EventTarget")]
    pub fn events(&self) -> JsValue {
        (*self.inner.target).clone()
    }

    /// Listens to events named `name` (see `RegistrarEventName`).
    #[wasm_bindgen(js_name = addEventListener)]
    pub fn add_listener(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RegistrarEventName")] name: &str,
        #[wasm_bindgen(unchecked_param_type = "(event: CustomEvent<RegistrarEvent>) => void")]
        listener: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "AddEventListenerOptions | boolean")]
        options: JsValue,
    ) -> std::result::Result<(), JsValue> {
        self.inner
            .target
            .add_event_listener(name, &listener, &options)
    }

    /// Stops listening.
    #[wasm_bindgen(js_name = removeEventListener)]
    pub fn remove_listener(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RegistrarEventName")] name: &str,
        #[wasm_bindgen(unchecked_param_type = "(event: CustomEvent<RegistrarEvent>) => void")]
        listener: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "EventListenerOptions | boolean")]
        options: JsValue,
    ) -> std::result::Result<(), JsValue> {
        self.inner
            .target
            .remove_event_listener(name, &listener, &options)
    }

    /// Loads the snapshot and starts the registration loop; resolves once it runs. The
    /// first check follows one second after the first start, as in the reference. Rejects
    /// with a `StorageError` if the snapshot cannot be loaded, a `StateError`
    /// (`already_running`) if busy.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn start(&self) -> Promise {
        let inner = self.inner.clone();
        if let Err(err) = inner.claim(Mode::Loop) {
            return Promise::reject(&err.into());
        }
        future_to_promise(async move {
            if let Err(err) = inner.prepare(None).await {
                inner.release();
                return Err(err.into());
            }
            let looping = inner.clone();
            wasm_bindgen_futures::spawn_local(async move {
                drive(&looping, Clock::system(), Until::Stopped).await;
                looping.release();
            });
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Stops whatever runs (the loop, `registerOnce()`, `tick()`): aborts an outstanding
    /// request, clears the timer, and resolves once pending snapshot writes are done.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn stop(&self) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            if inner.mode.get() != Mode::Idle {
                inner.stop.set(true);
                let idle = inner.idle.wait();
                inner.wake.notify();
                let _ = idle.await;
            }
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Makes one registration attempt now (all steps of the flow, no retry) and resolves
    /// once it succeeded. Rejects with a `RegistrationError` (`registration_conflict`,
    /// `registration_rejected`, `registration_unavailable`; with `failureClass`, `status`,
    /// `retryAfterMs`), a `StorageError`, or a `StateError` (`already_running`, `stopped`).
    #[wasm_bindgen(js_name = registerOnce, unchecked_return_type = "Promise<void>")]
    pub fn register_once(&self) -> Promise {
        let inner = self.inner.clone();
        if let Err(err) = inner.claim(Mode::Once) {
            return Promise::reject(&err.into());
        }
        future_to_promise(async move {
            let result = inner.register_once().await;
            inner.release();
            result.map(|()| JsValue::UNDEFINED).map_err(JsValue::from)
        })
    }

    /// One step for runtimes without long-lived timers (a Worker's cron trigger): loads the
    /// snapshot from storage, runs what is due at `now` (default: now) — an attempt if the
    /// node is not registered or its health check lapsed — waits for that attempt, saves the
    /// snapshot, and resolves with what happened. A failed attempt does not reject: it is in
    /// `result.error`, and the next tick retries. Rejects with a `StorageError` if the
    /// snapshot cannot be loaded or saved, a `StateError` if busy.
    #[wasm_bindgen(unchecked_return_type = "Promise<TickResult>")]
    pub fn tick(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "TimeInput")] now: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        let start = match convert::time(&now, host::now) {
            Ok(start) => start,
            Err(err) => return Promise::reject(&err.into()),
        };
        if let Err(err) = inner.claim(Mode::Tick) {
            return Promise::reject(&err.into());
        }
        future_to_promise(async move {
            let result = inner.tick(start).await;
            inner.release();
            result.map_err(JsValue::from)
        })
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
        future_to_promise(async move { inner.handle_callback(request).await })
    }

    /// `Registrar(0x…, status)`: never a key or secret.
    #[wasm_bindgen(js_name = toString)]
    #[allow(clippy::inherent_to_string)]
    pub fn to_string_js(&self) -> String {
        format!(
            "Registrar({}, {})",
            self.inner.key.eth_address(),
            self.inner.core.borrow().status()
        )
    }

    /// What `JSON.stringify` shows: the same as `toString()`.
    #[wasm_bindgen(js_name = toJSON)]
    pub fn to_json(&self) -> String {
        self.to_string_js()
    }
}

impl Inner {
    fn new(key: &PrivateKey, options: &JsValue) -> Result<Inner> {
        let options = Options::new(options, "options")?;
        let dds_url = options.required_string("ddsUrl")?;
        let flow = match options.string("flow")?.as_deref() {
            None | Some("legacy") => Flow::Legacy {
                node_url: options.string("nodeUrl")?.ok_or_else(|| {
                    Error::option("options.nodeUrl is required for the legacy flow")
                })?,
            },
            Some("wallet") => Flow::Wallet,
            Some(_) => {
                return Err(Error::option(
                    "options.flow must be \"legacy\" or \"wallet\"",
                ))
            }
        };
        let version = options.required_string("version")?;
        let capabilities = options.strings("capabilities")?;
        let credentials = Secret::new(options.required_string("registrationCredentials")?);
        let mut config = RegistrarConfig::new(&dds_url, flow, &version, capabilities, credentials)?;
        if let Some(interval) = options.duration_ms("registerIntervalMs")? {
            config.register_interval = interval;
        }
        if let Some(timeout) = options.duration_ms("requestTimeoutMs")? {
            config.request_timeout = timeout;
        }
        config.max_retry = options.count("maxRetry")?;
        config.use_lock = false;
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
        let on_event = options.function("onEvent")?;
        let logger = options.object("logger")?;
        let seed = options.seed("seed")?;
        let key = key.inner.clone();
        // Replaced when the snapshot is loaded; only `status` and `toString` see this one.
        let core = CoreRegistrar::new(config.clone(), key.clone(), None, UnixTime::EPOCH, 0);
        Ok(Inner {
            config,
            key,
            seed,
            core: RefCell::new(core),
            storage,
            on_event,
            logger,
            target: make_event_target().unchecked_into(),
            loaded: Cell::new(false),
            mode: Cell::new(Mode::Idle),
            stop: Cell::new(false),
            wake: Signal::default(),
            idle: Waiters::default(),
            saver: Saver::default(),
        })
    }

    fn core(&self) -> RefMut<'_, CoreRegistrar> {
        self.core.borrow_mut()
    }

    fn claim(&self, mode: Mode) -> Result<()> {
        if self.mode.get() != Mode::Idle {
            return Err(Error::state(
                "already_running",
                "the registrar is already running (start, registerOnce or tick)",
            ));
        }
        self.mode.set(mode);
        self.stop.set(false);
        self.wake.pending.set(false);
        Ok(())
    }

    fn release(&self) {
        self.mode.set(Mode::Idle);
        self.stop.set(false);
        self.idle.wake_all();
    }

    /// Makes `core` current: built from the stored snapshot on first use. `fresh_at`:
    /// reload and rebuild, as of that time (for `tick`).
    async fn prepare(self: &Rc<Self>, fresh_at: Option<UnixTime>) -> Result<()> {
        if fresh_at.is_none() && self.loaded.get() {
            return Ok(());
        }
        let snapshot = match &self.storage {
            Some(storage) if fresh_at.is_some() || !self.loaded.get() => {
                self.load_snapshot(storage).await?
            }
            _ if self.loaded.get() => Some(self.core.borrow().snapshot()),
            _ => None,
        };
        let start = fresh_at.unwrap_or_else(host::now);
        let seed = self.seed.unwrap_or_else(host::random_seed);
        *self.core() =
            CoreRegistrar::new(self.config.clone(), self.key.clone(), snapshot, start, seed);
        self.loaded.set(true);
        Ok(())
    }

    async fn load_snapshot(&self, storage: &JsValue) -> Result<Option<Snapshot>> {
        let failed = |err: &JsValue| {
            Error::storage(
                "storage_load_failed",
                format!(
                    "could not load the registration snapshot: {}",
                    host::describe(err)
                ),
            )
        };
        let load: Function = Reflect::get(storage, &"load".into())
            .map_err(|e| failed(&e))?
            .unchecked_into();
        let returned = load.call0(storage).map_err(|e| failed(&e))?;
        let value = JsFuture::from(Promise::resolve(&returned))
            .await
            .map_err(|e| failed(&e))?;
        if value.is_undefined() || value.is_null() {
            return Ok(None);
        }
        let bytes =
            convert::bytes(&value, "the value storage.load() resolves to").map_err(|_| {
                Error::storage(
                    "storage_load_failed",
                    "storage.load() must resolve to a Uint8Array, an ArrayBuffer, a string or null",
                )
            })?;
        match Snapshot::decode(&bytes) {
            Ok(snapshot) => Ok(Some(snapshot)),
            Err(err) => {
                self.host_event(
                    "state.corrupt",
                    Level::Warn,
                    "stored registration state unusable; registering afresh".to_owned(),
                    Some(err.to_string()),
                );
                Ok(None)
            }
        }
    }

    /// Writes `bytes` (if any) through the storage; concurrent callers are served in order
    /// by whichever call is already writing. Failures become `state.save.error` events.
    async fn persist(&self, bytes: Option<Vec<u8>>) {
        let (Some(storage), Some(bytes)) = (&self.storage, bytes) else {
            return;
        };
        *self.saver.pending.borrow_mut() = Some(bytes);
        if self.saver.busy.get() {
            let _ = self.saver.done.wait().await;
            return;
        }
        self.saver.busy.set(true);
        loop {
            let next = self.saver.pending.borrow_mut().take();
            let Some(bytes) = next else { break };
            if let Err(err) = save(storage, &bytes).await {
                let error = host::describe(&err);
                *self.saver.error.borrow_mut() = Some(error.clone());
                self.host_event(
                    "state.save.error",
                    Level::Warn,
                    "could not persist registration state".to_owned(),
                    Some(error),
                );
            }
        }
        self.saver.busy.set(false);
        self.saver.done.wake_all();
    }

    /// Carries out every output except transmits and the final wait.
    fn pump(&self, clock: &Clock) -> Pumped {
        let mut core = self.core();
        let mut pumped = Pumped {
            events: Vec::new(),
            persist: None,
            transmits: Vec::new(),
            wait_until: UnixTime::EPOCH,
        };
        loop {
            match core.poll_output() {
                Output::Transmit(request) => pumped.transmits.push(request),
                // Each snapshot is complete: the latest one is all that needs writing.
                Output::Persist(snapshot) => pumped.persist = Some(snapshot.encode()),
                // Not asked for (use_lock is off); answer anyway so the core never stalls.
                Output::AcquireLock => {
                    core.handle_lock(LockOutcome::Acquired { fresh: None }, clock.now())
                }
                Output::ReleaseLock => {}
                Output::Event(event) => pumped.events.push(event),
                Output::Wait(at) => {
                    pumped.wait_until = at;
                    return pumped;
                }
            }
        }
    }

    /// Secrets that must not reach a log line even if a DDS echoes them back.
    fn secrets(&self) -> Vec<Secret> {
        let mut secrets = vec![self.config.node.credentials.clone()];
        if let Some(credentials) = self.core.borrow().credentials() {
            secrets.push(credentials.secret.clone());
        }
        secrets.retain(|s| s.len() >= 4);
        secrets
    }

    fn dispatch(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let secrets = self.secrets();
        let status = self.core.borrow().status();
        let redact = |text: String| redact(text, &secrets);
        for event in events {
            let detail = EventDetail::from_event(&event, status, &redact);
            self.emit(detail);
        }
    }

    fn host_event(&self, name: &'static str, level: Level, message: String, error: Option<String>) {
        let secrets = self.secrets();
        let detail = EventDetail {
            name,
            level: level_name(level),
            message: redact(message, &secrets),
            status: self.core.borrow().status().as_str(),
            error: error.map(|e| redact(e, &secrets)),
            ..EventDetail::default()
        };
        self.emit(detail);
    }

    /// Hands one event to the logger, `onEvent` and the listeners. JavaScript runs here:
    /// no borrow of `core` may be held.
    fn emit(&self, detail: EventDetail) {
        if let Some(logger) = &self.logger {
            if let Ok(log) = Reflect::get(logger, &detail.level.into()) {
                if let Some(log) = log.dyn_ref::<Function>() {
                    let line = format!("posemesh-registration {}: {}", detail.name, detail.message);
                    let _ = log.call1(logger, &line.into());
                }
            }
        }
        let value = detail.to_js();
        if let Some(on_event) = &self.on_event {
            let _ = on_event.call1(&JsValue::UNDEFINED, &value);
        }
        let _ = self.target.dispatch_event(&make_event(detail.name, &value));
    }

    async fn register_once(self: &Rc<Self>) -> Result<()> {
        self.prepare(None).await?;
        let clock = Clock::system();
        self.core().register_now(clock.now());
        let outcome = drive(self, clock, Until::AttemptResult).await;
        match outcome.result {
            Some(Ok(())) => Ok(()),
            Some(Err(failure)) => Err(self.registration_error(&failure)),
            None => Err(Error::state(
                "stopped",
                "stopped before the attempt finished",
            )),
        }
    }

    async fn tick(self: &Rc<Self>, start: UnixTime) -> std::result::Result<JsValue, Error> {
        self.saver.error.borrow_mut().take();
        // Built as of one start delay ago, so the first check is due right now.
        self.prepare(Some(start - SHORT_DELAY)).await?;
        let clock = Clock::starting_at(start);
        self.core().handle_timeout(clock.now());
        let outcome = drive(self, clock, Until::Idle).await;
        if let Some(error) = self.saver.error.borrow_mut().take() {
            return Err(Error::storage(
                "storage_save_failed",
                format!("could not save the registration snapshot: {error}"),
            ));
        }
        let error = match &outcome.result {
            Some(Err(failure)) => self.registration_error(failure).into_js(),
            _ => JsValue::NULL,
        };
        let result = Object::new();
        let status = self.core.borrow().status().as_str();
        let _ = Reflect::set(&result, &"status".into(), &status.into());
        let _ = Reflect::set(&result, &"attempted".into(), &outcome.attempted.into());
        let _ = Reflect::set(&result, &"error".into(), &error);
        let next = outcome.wait_until.as_millis() as f64;
        let _ = Reflect::set(&result, &"nextCheckAt".into(), &next.into());
        Ok(result.into())
    }

    fn registration_error(&self, failure: &Failure) -> Error {
        let message = redact(failure.message.clone(), &self.secrets());
        Error::registration(failure, message)
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
        let clock = Clock::system();
        let answer = self
            .core()
            .handle_node_request(&method, &path, &headers, &body, clock.now());
        let pumped = self.pump(&clock);
        self.persist(pumped.persist).await;
        self.dispatch(pumped.events);
        // Let the loop re-plan (a callback can complete a registration).
        self.wake.notify();

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

async fn save(storage: &JsValue, bytes: &[u8]) -> std::result::Result<(), JsValue> {
    let save: Function = Reflect::get(storage, &"save".into())?.unchecked_into();
    let returned = save.call1(storage, &js_sys::Uint8Array::from(bytes))?;
    JsFuture::from(Promise::resolve(&returned)).await?;
    Ok(())
}

/// The loop: pump outputs, persist, report events, send at most one request, sleep until
/// the next deadline, an answer, or a notification; until `until` says so or `stop()`.
async fn drive(inner: &Rc<Inner>, clock: Clock, until: Until) -> Outcome {
    let mut in_flight: Option<(RequestId, Exchange)> = None;
    let mut outcome = Outcome {
        result: None,
        attempted: false,
        wait_until: UnixTime::EPOCH,
    };
    loop {
        let pumped = inner.pump(&clock);
        inner.persist(pumped.persist).await;
        let mut finished = false;
        for event in &pumped.events {
            if let Some(result) = event.attempt_result() {
                outcome.result = Some(result.map(|_| ()).map_err(Clone::clone));
                finished |= until == Until::AttemptResult;
            }
        }
        inner.dispatch(pumped.events);
        outcome.wait_until = pumped.wait_until;
        for outgoing in pumped.transmits {
            outcome.attempted = true;
            // A new request replaces (and aborts) one the core gave up on.
            in_flight = Some((outgoing.id, host::send(outgoing.request, MAX_RESPONSE_BODY)));
        }
        if finished || inner.stop.get() {
            break;
        }
        if until == Until::Idle && idle_enough(&inner.core.borrow(), &outcome, &clock) {
            break;
        }
        let sleep = Sleep::new(pumped.wait_until.saturating_since(clock.now()));
        let woke = wait(&mut in_flight, sleep, inner.wake.wait()).await;
        inner.wake.reset();
        match woke {
            Woke::Response(id, result) => {
                in_flight = None;
                inner.core().handle_response(id, result, clock.now());
            }
            Woke::Timer => {
                let outstanding = {
                    let mut core = inner.core();
                    core.handle_timeout(clock.now());
                    core.has_request_in_flight()
                };
                if !outstanding {
                    // The core gave up on it (timeout): abort it.
                    in_flight = None;
                }
            }
            Woke::Notified => {}
        }
    }
    if in_flight.take().is_some() {
        // Abandoned (stop, or the attempt's result is in): the core forgets it, and a late
        // answer is ignored. Dropping the exchange aborted the fetch.
        inner.core().cancel_request(clock.now());
        let pumped = inner.pump(&clock);
        inner.persist(pumped.persist).await;
        inner.dispatch(pumped.events);
    }
    outcome
}

/// Whether a tick is done: nothing in flight, and either an attempt ended, the node is
/// registered, or the next check is further away than the core's short delay. Short delays
/// (the step from an expired health check to the attempt) are waited out, so one tick does
/// what is due.
fn idle_enough(core: &CoreRegistrar, outcome: &Outcome, clock: &Clock) -> bool {
    !core.has_request_in_flight()
        && (outcome.result.is_some()
            || core.status() == Status::Registered
            || outcome.wait_until > clock.now() + SHORT_DELAY)
}

/// Whichever comes first: the response, the timer, or a notification.
async fn wait(
    in_flight: &mut Option<(RequestId, Exchange)>,
    mut sleep: Sleep,
    mut notified: JsFuture,
) -> Woke {
    poll_fn(|cx| {
        if let Some((id, exchange)) = in_flight.as_mut() {
            if let Poll::Ready(result) = Pin::new(exchange).poll(cx) {
                return Poll::Ready(Woke::Response(*id, result));
            }
        }
        if Pin::new(&mut sleep).poll(cx).is_ready() {
            return Poll::Ready(Woke::Timer);
        }
        if Pin::new(&mut notified).poll(cx).is_ready() {
            return Poll::Ready(Woke::Notified);
        }
        Poll::Pending
    })
    .await
}

fn redact(mut text: String, secrets: &[Secret]) -> String {
    for secret in secrets {
        if text.contains(secret.expose()) {
            text = text.replace(secret.expose(), REDACTED);
        }
    }
    text
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
    }
}

/// An event as JavaScript sees it (`RegistrarEvent`): the fields that are set, in this order.
#[derive(Debug, Default)]
struct EventDetail {
    name: &'static str,
    level: &'static str,
    message: String,
    status: &'static str,
    from: Option<&'static str>,
    to: Option<&'static str>,
    ttl_ms: Option<f64>,
    elapsed_ms: Option<f64>,
    failure: Option<FailureDetail>,
    attempt: Option<u32>,
    retry_in_ms: Option<f64>,
    blocked_for_ms: Option<f64>,
    max_retry: Option<u32>,
    since_last_ms: Option<f64>,
    stored_status: Option<String>,
    node_id: Option<String>,
    organization_id: Option<String>,
    secret_length: Option<f64>,
    http_status: Option<u16>,
    reason: Option<String>,
    request_id: Option<f64>,
    error: Option<String>,
}

impl EventDetail {
    fn to_js(&self) -> JsValue {
        let obj = convert::Obj::new();
        obj.set("name", self.name)
            .set("level", self.level)
            .set("message", self.message.as_str())
            .set("status", self.status)
            .set_some("from", self.from)
            .set_some("to", self.to)
            .set_some("ttlMs", self.ttl_ms)
            .set_some("elapsedMs", self.elapsed_ms);
        if let Some(failure) = &self.failure {
            obj.set("failure", failure.fill(convert::Obj::new()).into_js());
        }
        obj.set_some("attempt", self.attempt)
            .set_some("retryInMs", self.retry_in_ms)
            .set_some("blockedForMs", self.blocked_for_ms)
            .set_some("maxRetry", self.max_retry)
            .set_some("sinceLastMs", self.since_last_ms)
            .set_some("storedStatus", self.stored_status.as_deref())
            .set_some("nodeId", self.node_id.as_deref())
            .set_some("organizationId", self.organization_id.as_deref())
            .set_some("secretLength", self.secret_length)
            .set_some("httpStatus", self.http_status)
            .set_some("reason", self.reason.as_deref())
            .set_some("requestId", self.request_id)
            .set_some("error", self.error.as_deref());
        obj.into_js()
    }

    fn from_event(event: &Event, status: Status, redact: &dyn Fn(String) -> String) -> Self {
        let failure = |f: &Failure| Some(FailureDetail::new(f, redact(f.message.clone())));
        let mut detail = EventDetail {
            name: event.name(),
            level: level_name(event.level()),
            message: redact(event.to_string()),
            status: status.as_str(),
            ..EventDetail::default()
        };
        match event {
            Event::LoopStarted { ttl } => detail.ttl_ms = Some(convert::millis(*ttl)),
            Event::LockError { error } => detail.error = Some(redact(error.clone())),
            Event::StatusChanged { from, to } => {
                detail.from = Some(from.as_str());
                detail.to = Some(to.as_str());
            }
            Event::Registered { elapsed } => detail.elapsed_ms = Some(convert::millis(*elapsed)),
            Event::RegistrationFailed {
                failure: f,
                attempt,
                retry_in,
                ..
            } => {
                detail.failure = failure(f);
                detail.attempt = Some(*attempt);
                detail.retry_in_ms = Some(convert::millis(*retry_in));
            }
            Event::Conflict {
                failure: f,
                blocked_for,
                ..
            } => {
                detail.failure = failure(f);
                detail.blocked_for_ms = Some(convert::millis(*blocked_for));
            }
            Event::MaxRetryReached { max_retry } => detail.max_retry = Some(*max_retry),
            Event::HealthCheckExpired { since_last } => {
                detail.since_last_ms = since_last.map(convert::millis)
            }
            Event::UnknownStatus { stored } => detail.stored_status = Some(stored.clone()),
            Event::CallbackAccepted {
                id,
                organization_id,
                secret_len,
            } => {
                detail.node_id = Some(id.clone());
                detail.organization_id = organization_id.clone();
                detail.secret_length = Some(*secret_len as f64);
            }
            Event::CallbackRejected { status, reason } => {
                detail.http_status = Some(*status);
                detail.reason = Some(reason.clone());
            }
            Event::StaleResponse { id } | Event::RequestCancelled { id } => {
                detail.request_id = Some(id.0 as f64)
            }
            // Events whose name and message say it all.
            _ => {}
        }
        detail
    }
}
