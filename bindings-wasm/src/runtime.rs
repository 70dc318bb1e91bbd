//! The four traits of the shared driver ([`posemesh_registration_driver`]) for a
//! JavaScript runtime: `Date.now` and `setTimeout` ([`JsRuntime`]), `fetch`
//! ([`FetchTransport`]), the package's storage objects ([`JsStore`]) and the
//! registrar's events as `CustomEvent`s ([`JsSink`]). The loop is the driver's.

use crate::convert;
use crate::host::{self, Clock, Sleep};
use js_sys::{Function, Promise, Reflect};
use posemesh_registration_core::response::MAX_RESPONSE_BODY;
use posemesh_registration_core::{
    Event, FieldValue, HttpRequest, HttpResponse, Level, Status, TransportError, UnixTime,
};
use posemesh_registration_driver::{
    BoxFuture, EventSink, Runtime, SnapshotStore, StoreError, Transport,
};
use std::cell::Cell;
use std::time::Duration;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

/// Wall-clock time from `Date.now()` (shifted for `tick(now)`), `setTimeout`,
/// `spawn_local` and `crypto.getRandomValues`.
#[derive(Default)]
pub(crate) struct JsRuntime {
    clock: Cell<Option<Clock>>,
}

impl JsRuntime {
    /// From now on, time reads `start` and advances with the system clock.
    pub(crate) fn set_now(&self, start: UnixTime) {
        self.clock.set(Some(Clock::starting_at(start)));
    }
}

impl Runtime for JsRuntime {
    fn now(&self) -> UnixTime {
        self.clock.get().unwrap_or_else(Clock::system).now()
    }

    fn sleep_until(&self, deadline: UnixTime) -> BoxFuture<'static, ()> {
        Box::pin(Sleep::new(deadline.saturating_since(self.now())))
    }

    fn spawn(&self, task: BoxFuture<'static, ()>) {
        wasm_bindgen_futures::spawn_local(task);
    }

    fn random_seed(&self) -> u64 {
        host::random_seed()
    }
}

/// The global `fetch`, redirects never followed, bodies read up to 64 KiB;
/// aborted when the driver drops the exchange (the request timeout is the
/// driver's).
#[derive(Default)]
pub(crate) struct FetchTransport {
    /// The last request's `fetch` rejection, if it had one.
    pub(crate) cause: host::CauseSlot,
}

impl Transport for FetchTransport {
    fn send(
        &self,
        request: HttpRequest,
        _timeout: Duration,
    ) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        self.cause.borrow_mut().take();
        Box::pin(host::send(request, MAX_RESPONSE_BODY, self.cause.clone()))
    }
}

/// The package's storage object (`MemoryStorage`, `WebStorage`, `KvStorage`, or
/// any object with `load()` and `save(bytes)`); none: nothing is kept.
pub(crate) struct JsStore {
    storage: Option<JsValue>,
}

impl JsStore {
    pub(crate) fn new(storage: Option<JsValue>) -> Self {
        JsStore { storage }
    }

    async fn call(
        storage: &JsValue,
        method: &str,
        arg: Option<&JsValue>,
    ) -> Result<JsValue, JsValue> {
        let f: Function = Reflect::get(storage, &method.into())?.unchecked_into();
        let returned = match arg {
            Some(arg) => f.call1(storage, arg)?,
            None => f.call0(storage)?,
        };
        JsFuture::from(Promise::resolve(&returned)).await
    }
}

impl SnapshotStore for JsStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let Some(storage) = &self.storage else {
                return Ok(None);
            };
            let value = Self::call(storage, "load", None)
                .await
                .map_err(|err| StoreError(host::describe(&err)))?;
            if value.is_undefined() || value.is_null() {
                return Ok(None);
            }
            convert::bytes(&value, "").map(Some).map_err(|_| {
                StoreError(
                    "storage.load() must resolve to a Uint8Array, an ArrayBuffer, a string or null"
                        .to_owned(),
                )
            })
        })
    }

    fn save(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let Some(storage) = &self.storage else {
                return Ok(());
            };
            let bytes = js_sys::Uint8Array::from(bytes.as_slice());
            Self::call(storage, "save", Some(&bytes))
                .await
                .map(drop)
                .map_err(|err| StoreError(host::describe(&err)))
        })
    }
}

#[wasm_bindgen(module = "/js/support.js")]
extern "C" {
    #[wasm_bindgen(js_name = makeEventTarget)]
    fn make_event_target() -> JsValue;
    #[wasm_bindgen(js_name = makeEvent)]
    fn make_event(name: &str, detail: &JsValue) -> JsValue;
    #[wasm_bindgen(js_name = callHostHook)]
    fn call_host_hook(hook: &JsValue, this: &JsValue, argument: &JsValue);
}

#[wasm_bindgen]
extern "C" {
    /// An `EventTarget`.
    pub(crate) type JsEventTarget;
    #[wasm_bindgen(method, catch, js_name = addEventListener)]
    pub(crate) fn add_event_listener(
        this: &JsEventTarget,
        kind: &JsValue,
        listener: &JsValue,
        options: &JsValue,
    ) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = removeEventListener)]
    pub(crate) fn remove_event_listener(
        this: &JsEventTarget,
        kind: &JsValue,
        listener: &JsValue,
        options: &JsValue,
    ) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = dispatchEvent)]
    fn dispatch_event(this: &JsEventTarget, event: &JsValue) -> Result<bool, JsValue>;
}

/// Hands every event to the logger, `onEvent` and the `EventTarget`'s listeners.
/// Remembers the status (for each event's `status`).
pub(crate) struct JsSink {
    on_event: Option<Function>,
    logger: Option<JsValue>,
    pub(crate) target: JsEventTarget,
    pub(crate) status: Cell<Status>,
}

impl JsSink {
    pub(crate) fn new(on_event: Option<Function>, logger: Option<JsValue>) -> Self {
        JsSink {
            on_event,
            logger,
            target: make_event_target().unchecked_into(),
            status: Cell::new(Status::Disconnected),
        }
    }
}

impl EventSink for JsSink {
    fn event(&self, event: &Event) {
        if let Event::StatusChanged { to, .. } = event {
            self.status.set(*to);
        }
        let name = event.name();
        let level = level_name(event.level());
        // The core's text: already free of secrets (core/src/redact.rs), and it promises a
        // retry only when one is coming (the loop's).
        let message = event.to_string();
        if let Some(logger) = &self.logger {
            if let Ok(log) = Reflect::get(logger, &level.into()) {
                let line = format!("posemesh-registration {name}: {message}");
                call_host_hook(&log, logger, &line.into());
            }
        }
        let detail = event_detail(event, level, message, self.status.get());
        if let Some(on_event) = &self.on_event {
            call_host_hook(on_event, &JsValue::UNDEFINED, &detail);
        }
        let _ = self.target.dispatch_event(&make_event(name, &detail));
    }
}

pub(crate) fn level_name(level: Level) -> &'static str {
    match level {
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
    }
}

/// An event as JavaScript sees it (`RegistrarEvent` in the declarations): its name,
/// level, message and the registrar's status, then the core's fields ([`Event::fields`],
/// the schema of every runtime) with camelCase names.
fn event_detail(event: &Event, level: &str, message: String, status: Status) -> JsValue {
    let obj = convert::Obj::new();
    obj.set("name", event.name())
        .set("level", level)
        .set("message", message)
        .set("registrarStatus", status.as_str());
    for (field, value) in event.fields() {
        let key = camel_case(field);
        match value {
            FieldValue::Int(n) => obj.set(&key, n as f64),
            FieldValue::Text(text) => obj.set(&key, text),
        };
    }
    obj.into_js()
}

/// `retry_in_ms` → `retryInMs`.
fn camel_case(snake: &str) -> String {
    let mut parts = snake.split('_');
    let mut camel = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        // ASCII names: `char::to_uppercase` would pull Unicode's case tables in.
        let mut chars = part.chars();
        camel.extend(chars.next().map(|c| c.to_ascii_uppercase()));
        camel.push_str(chars.as_str());
    }
    camel
}
