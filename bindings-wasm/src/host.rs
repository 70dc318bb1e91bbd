//! The runtime's I/O, the same in Node, browsers, Deno and workerd: the clock
//! (`Date.now`), timers (`setTimeout`), randomness (`crypto.getRandomValues`) and
//! HTTP (the global `fetch`, cancelled with an `AbortController`).

use js_sys::{Array, Date, Function, Promise, Uint8Array};
use posemesh_registration_core::{
    HttpRequest, HttpResponse, TransportError, TransportErrorKind, UnixTime,
};
use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, Headers, ReadableStream, ReadableStreamDefaultReader,
    ReadableStreamReadResult, RequestInit, RequestRedirect, ResponseType,
};

#[wasm_bindgen]
extern "C" {
    /// The global `fetch`: the same function in Node, browsers, Deno and workerd.
    #[wasm_bindgen(js_name = fetch)]
    fn fetch_with_request(request: &web_sys::Request) -> Promise;
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(handle: &JsValue);
}

#[wasm_bindgen(module = "/js/support.js")]
extern "C" {
    #[wasm_bindgen(js_name = randomBytes, catch)]
    fn random_bytes(n: u32) -> Result<Vec<u8>, JsValue>;
    #[wasm_bindgen(js_name = abortWait)]
    fn abort_wait(signal: &JsValue) -> Array;
    #[wasm_bindgen(js_name = abortReason)]
    fn abort_reason(signal: &JsValue) -> JsValue;
}

/// An `AbortSignal`'s abort, as a future of its reason. The listener is removed when
/// dropped.
pub(crate) struct AbortWait {
    done: JsFuture,
    cancel: Function,
}

impl AbortWait {
    pub(crate) fn new(signal: &JsValue) -> AbortWait {
        let pair = abort_wait(signal);
        AbortWait {
            done: JsFuture::from(Promise::from(pair.get(0))),
            cancel: pair.get(1).unchecked_into(),
        }
    }
}

impl Future for AbortWait {
    type Output = JsValue;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<JsValue> {
        Pin::new(&mut self.done)
            .poll(cx)
            .map(|reason| reason.unwrap_or_else(|reason| reason))
    }
}

impl Drop for AbortWait {
    fn drop(&mut self) {
        let _ = self.cancel.call0(&JsValue::UNDEFINED);
    }
}

/// The signal's reason if it is aborted already.
pub(crate) fn aborted(signal: &JsValue) -> Option<JsValue> {
    let aborted = js_sys::Reflect::get(signal, &"aborted".into()).ok()?;
    aborted.is_truthy().then(|| abort_reason(signal))
}

/// A call's work, boxed: [`abortable`] is compiled once for every call that takes a signal.
pub(crate) type Call = Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>;

/// The promise of `call`. Every call's future goes through this one instance of
/// `future_to_promise` (boxed), rather than one copy per future type.
pub(crate) fn promise(call: Call) -> Promise {
    wasm_bindgen_futures::future_to_promise(call)
}

/// The promise of `call`, unless `signal` aborts first: then `call` is dropped (which
/// cancels what it was doing) and the promise rejects with the signal's reason.
pub(crate) fn abortable(signal: Option<JsValue>, mut call: Call) -> Promise {
    promise(Box::pin(async move {
        let Some(signal) = signal else {
            return call.await;
        };
        if let Some(reason) = aborted(&signal) {
            return Err(reason);
        }
        let mut abort = AbortWait::new(&signal);
        poll_fn(|cx| {
            if let Poll::Ready(result) = call.as_mut().poll(cx) {
                return Poll::Ready(result);
            }
            Pin::new(&mut abort).poll(cx).map(Err)
        })
        .await
    }))
}

/// Where `send` leaves the JavaScript error of a `fetch` that rejected (for the
/// registration error's `cause`).
pub(crate) type CauseSlot = Rc<RefCell<Option<JsValue>>>;

/// `setTimeout` cannot wait longer than this (about 24.8 days); longer waits wake early
/// and wait again.
const MAX_TIMER_MS: f64 = 2_147_483_647.0;

/// Wall-clock time from `Date.now()`.
pub(crate) fn now() -> UnixTime {
    // `as` saturates: a clock before 1970 reads as the epoch.
    UnixTime::from_millis(Date::now() as u64)
}

/// A time source: the system clock, optionally shifted (for `tick(now)` with a given `now`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    /// The caller's time when `base` was read from the system clock.
    origin: Option<(UnixTime, UnixTime)>,
}

impl Clock {
    pub(crate) fn system() -> Self {
        Clock { origin: None }
    }

    /// A clock that reads `start` now and advances with the system clock.
    pub(crate) fn starting_at(start: UnixTime) -> Self {
        Clock {
            origin: Some((start, now())),
        }
    }

    pub(crate) fn now(&self) -> UnixTime {
        match self.origin {
            None => now(),
            Some((start, base)) => start + now().saturating_since(base),
        }
    }
}

/// A jitter seed from the runtime's CSPRNG (or the clock, where there is none).
pub(crate) fn random_seed() -> u64 {
    match random_bytes(8) {
        Ok(bytes) if bytes.len() == 8 => u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8])),
        _ => Date::now().to_bits(),
    }
}

/// A `setTimeout`, cleared when dropped (so a stopped registrar leaves no timer behind
/// to keep Node alive).
pub(crate) struct Sleep {
    handle: JsValue,
    done: JsFuture,
}

impl Sleep {
    pub(crate) fn new(duration: Duration) -> Sleep {
        let ms = crate::convert::millis(duration).min(MAX_TIMER_MS);
        let mut handle = JsValue::UNDEFINED;
        let promise = Promise::new(&mut |resolve, _reject| {
            handle = set_timeout(&resolve, ms);
        });
        Sleep {
            handle,
            done: JsFuture::from(promise),
        }
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.done).poll(cx).map(|_| ())
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        clear_timeout(&self.handle);
    }
}

type Exchanging = Pin<Box<dyn Future<Output = Result<HttpResponse, TransportError>>>>;

/// One request on its way, aborted if dropped before it completes.
pub(crate) struct Exchange {
    controller: Option<AbortController>,
    future: Exchanging,
}

impl Future for Exchange {
    type Output = Result<HttpResponse, TransportError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let poll = self.future.as_mut().poll(cx);
        if poll.is_ready() {
            self.controller = None;
        }
        poll
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if let Some(controller) = self.controller.take() {
            controller.abort();
        }
    }
}

/// Starts sending `request` with `fetch`. The body read is capped to `max_body` bytes; the
/// timeout is the registrar's business (it drops the exchange, which aborts it).
pub(crate) fn send(request: HttpRequest, max_body: usize, cause: CauseSlot) -> Exchange {
    let controller = AbortController::new().ok();
    let signal = controller.as_ref().map(AbortController::signal);
    let future = Box::pin(async move {
        let other = |err: JsValue| transport_error(TransportErrorKind::Other, &err);
        let init = RequestInit::new();
        init.set_method(request.method.as_str());
        // Never follow a redirect: it would carry the signed body, credentials included, to
        // whatever host it names. The 3xx goes back to the core, which reports it.
        init.set_redirect(RequestRedirect::Manual);
        init.set_signal(signal.as_ref());
        let headers = Headers::new().map_err(other)?;
        for (name, value) in &request.headers {
            headers.set(name, value).map_err(other)?;
        }
        init.set_headers(&headers);
        if !request.body.is_empty() {
            init.set_body(&Uint8Array::from(request.body.as_slice()));
        }
        let fetch_request =
            web_sys::Request::new_with_str_and_init(&request.url, &init).map_err(other)?;
        let response: web_sys::Response = JsFuture::from(fetch_with_request(&fetch_request))
            .await
            .map_err(|err| {
                let error = transport_error(TransportErrorKind::Connect, &err);
                *cause.borrow_mut() = Some(err);
                error
            })?
            .unchecked_into();
        if response.type_() == ResponseType::Opaqueredirect {
            // What browsers give for a redirect not followed: status 0, no headers. To the
            // core it is a redirect to a location it cannot name.
            return Ok(HttpResponse {
                status: crate::convert::OPAQUE_REDIRECT_STATUS,
                headers: Vec::new(),
                body: Vec::new(),
            });
        }
        let headers = header_pairs(&response.headers());
        let body = match response.body() {
            Some(stream) => read_capped(&stream, max_body)
                .await
                .map_err(|err| TransportError::new(TransportErrorKind::Io, describe(&err)))?,
            None => Vec::new(),
        };
        Ok(HttpResponse {
            status: response.status(),
            headers,
            body,
        })
    });
    Exchange { controller, future }
}

/// A `Headers` object's (name, value) pairs.
fn header_pairs(headers: &Headers) -> Vec<(String, String)> {
    let Ok(Some(entries)) = js_sys::try_iter(headers) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let entry: Array = entry.ok()?.unchecked_into();
            Some((entry.get(0).as_string()?, entry.get(1).as_string()?))
        })
        .collect()
}

fn transport_error(kind: TransportErrorKind, err: &JsValue) -> TransportError {
    // fetch's errors say little ("TypeError: fetch failed", "Failed to fetch"); Node's carry
    // the reason in `cause` ("connect ECONNREFUSED 127.0.0.1:1"). Never the body.
    let mut detail = describe(err);
    if let Ok(cause) = js_sys::Reflect::get(err, &"cause".into()) {
        if !cause.is_undefined() && !cause.is_null() {
            detail = format!("{detail} ({})", describe(&cause));
        }
    }
    TransportError::new(kind, detail)
}

/// Reads a stream up to `max` bytes, then cancels it: a huge or endless body costs no
/// more than a small one.
pub(crate) async fn read_capped(stream: &ReadableStream, max: usize) -> Result<Vec<u8>, JsValue> {
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let mut body = Vec::new();
    loop {
        let chunk: ReadableStreamReadResult = JsFuture::from(reader.read()).await?.unchecked_into();
        if chunk.get_done().unwrap_or(true) {
            break;
        }
        let value = chunk.get_value();
        let Some(bytes) = value.dyn_ref::<Uint8Array>() else {
            return Err(JsValue::from_str("stream chunk is not a Uint8Array"));
        };
        let room = max - body.len();
        let take = (bytes.length() as usize).min(room);
        body.extend_from_slice(&bytes.subarray(0, take as u32).to_vec());
        if body.len() == max {
            // Nothing more is needed; the rest is discarded.
            let _ = reader.cancel();
            break;
        }
    }
    Ok(body)
}

/// A JavaScript exception as one line: `name: message`, or its string form.
pub(crate) fn describe(error: &JsValue) -> String {
    if let Some(error) = error.dyn_ref::<js_sys::Error>() {
        let name: String = error.name().into();
        let message: String = error.message().into();
        return format!("{name}: {message}");
    }
    error
        .as_string()
        .unwrap_or_else(|| "unknown JavaScript error".to_owned())
}
