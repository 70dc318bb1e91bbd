//! Reading JavaScript values: options objects, times, byte sources, headers.
//! Errors name the option and the expected type, never the value (it may be a secret).

use crate::error::{Error, Result};
use js_sys::{Array, ArrayBuffer, Date, Function, Object, Reflect, Uint8Array};
use posemesh_registration_core::registrar::{count_option, duration_option, TimeUnit};
use posemesh_registration_core::UnixTime;
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};

/// The status a redirect that `fetch` did not follow is classified with: browsers report
/// it as status 0 (`type: "opaqueredirect"`) and name no location.
pub(crate) const OPAQUE_REDIRECT_STATUS: u16 = 307;

/// An options object (`undefined` and `null` read as empty).
pub(crate) struct Options<'a> {
    value: &'a JsValue,
    what: &'static str,
}

impl<'a> Options<'a> {
    /// `what` names the object in error messages (e.g. `options`).
    pub(crate) fn new(value: &'a JsValue, what: &'static str) -> Result<Self> {
        if !value.is_undefined() && !value.is_null() && !value.is_object() {
            return Err(Error::option(format!("{what} must be an object")));
        }
        Ok(Options { value, what })
    }

    /// The property, `None` when absent, `undefined` or `null`.
    pub(crate) fn get(&self, name: &str) -> Result<Option<JsValue>> {
        if self.value.is_undefined() || self.value.is_null() {
            return Ok(None);
        }
        let value = Reflect::get(self.value, &JsValue::from_str(name))
            .map_err(|_| Error::option(format!("{}.{name} cannot be read", self.what)))?;
        Ok((!value.is_undefined() && !value.is_null()).then_some(value))
    }

    fn invalid(&self, name: &str, expected: &str) -> Error {
        Error::option(format!("{}.{name} must be {expected}", self.what))
    }

    pub(crate) fn string(&self, name: &str) -> Result<Option<String>> {
        match self.get(name)? {
            None => Ok(None),
            Some(value) => value
                .as_string()
                .map(Some)
                .ok_or_else(|| self.invalid(name, "a string")),
        }
    }

    pub(crate) fn required_string(&self, name: &str) -> Result<String> {
        self.string(name)?
            .ok_or_else(|| self.invalid(name, "a string (required)"))
    }

    /// An array of strings; empty when absent.
    pub(crate) fn strings(&self, name: &str) -> Result<Vec<String>> {
        let Some(value) = self.get(name)? else {
            return Ok(Vec::new());
        };
        if !Array::is_array(&value) {
            return Err(self.invalid(name, "an array of strings"));
        }
        Array::from(&value)
            .iter()
            .map(|item| {
                item.as_string()
                    .ok_or_else(|| self.invalid(name, "an array of strings"))
            })
            .collect()
    }

    /// A number, any (NaN too: what it may be is the option's rule).
    fn number(&self, name: &str) -> Result<Option<f64>> {
        match self.get(name)? {
            None => Ok(None),
            Some(value) => value
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.invalid(name, "a number")),
        }
    }

    /// A duration in whole milliseconds, by the core's rule for every binding's
    /// durations (`0.5`, NaN and `Infinity` are refused, naming the option).
    pub(crate) fn millis(&self, name: &str) -> Result<Option<Duration>> {
        let option = format!("{}.{name}", self.what);
        let millis = |n| duration_option(&option, n, TimeUnit::Millis);
        Ok(self.number(name)?.map(millis).transpose()?)
    }

    /// A boolean; `false` when absent.
    pub(crate) fn flag(&self, name: &str) -> Result<bool> {
        match self.get(name)? {
            None => Ok(false),
            Some(value) => value
                .as_bool()
                .ok_or_else(|| self.invalid(name, "a boolean")),
        }
    }

    /// A count (0 to 2³² − 1), by the core's rule.
    pub(crate) fn count(&self, name: &str) -> Result<Option<u32>> {
        let option = format!("{}.{name}", self.what);
        Ok(self
            .number(name)?
            .map(|n| count_option(&option, n))
            .transpose()?)
    }

    pub(crate) fn function(&self, name: &str) -> Result<Option<Function>> {
        match self.get(name)? {
            None => Ok(None),
            Some(value) => value
                .dyn_into::<Function>()
                .map(Some)
                .map_err(|_| self.invalid(name, "a function")),
        }
    }

    /// An object (not a primitive).
    pub(crate) fn object(&self, name: &str) -> Result<Option<JsValue>> {
        match self.get(name)? {
            None => Ok(None),
            Some(value) if value.is_object() || value.is_function() => Ok(Some(value)),
            Some(_) => Err(self.invalid(name, "an object")),
        }
    }

    /// An `AbortSignal` (anything with a boolean `aborted` and `addEventListener`).
    pub(crate) fn signal(&self, name: &str) -> Result<Option<JsValue>> {
        let Some(value) = self.get(name)? else {
            return Ok(None);
        };
        let has = |property: &str| Reflect::get(&value, &property.into()).unwrap_or_default();
        if value.is_object()
            && has("aborted").as_bool().is_some()
            && has("addEventListener").is_function()
        {
            Ok(Some(value))
        } else {
            Err(self.invalid(name, "an AbortSignal"))
        }
    }

    /// A jitter seed: a number (its integer part) or a bigint (its low 64 bits).
    pub(crate) fn seed(&self, name: &str) -> Result<Option<u64>> {
        let Some(value) = self.get(name)? else {
            return Ok(None);
        };
        if let Some(n) = value.as_f64() {
            if n.is_finite() {
                return Ok(Some(n.abs() as u64));
            }
        }
        if value.is_bigint() {
            let big = js_sys::BigInt::from(value);
            let masked = js_sys::BigInt::as_uint_n(64.0, &big);
            if let Ok(text) = masked.to_string(10) {
                if let Some(n) = text.as_string().and_then(|t| t.parse::<u64>().ok()) {
                    return Ok(Some(n));
                }
            }
        }
        Err(self.invalid(name, "a number or a bigint"))
    }
}

/// A wall-clock time given as a `Date`, milliseconds since the epoch, or
/// `{ seconds, nanos }`; `undefined` means `default`.
pub(crate) fn time(value: &JsValue, default: impl FnOnce() -> UnixTime) -> Result<UnixTime> {
    const EXPECTED: &str =
        "a time must be a Date, milliseconds since 1970 (a number), or { seconds, nanos }";
    if value.is_undefined() || value.is_null() {
        return Ok(default());
    }
    let millis = if let Some(date) = value.dyn_ref::<Date>() {
        Some(date.get_time())
    } else {
        value.as_f64()
    };
    if let Some(ms) = millis {
        // Beyond 2^53 ms, f64 has no exact integers left: refuse rather than round.
        if !(0.0..=9_007_199_254_740_991.0).contains(&ms) {
            return Err(Error::argument(EXPECTED));
        }
        // Sub-millisecond fractions become nanoseconds.
        let whole = ms.trunc();
        let nanos = ((ms - whole) * 1e6).round() as u32;
        return Ok(UnixTime::from_millis(whole as u64) + Duration::from_nanos(u64::from(nanos)));
    }
    if value.is_object() {
        let options = Options::new(value, "time")?;
        let seconds = options.number("seconds")?.unwrap_or(f64::NAN);
        let nanos = options.number("nanos")?.unwrap_or(0.0);
        let seconds_ok =
            (0.0..=9_007_199_254_740_991.0).contains(&seconds) && seconds.fract() == 0.0;
        let nanos_ok = (0.0..1e9).contains(&nanos) && nanos.fract() == 0.0;
        if seconds_ok && nanos_ok {
            return Ok(UnixTime::from_secs_nanos(seconds as u64, nanos as u32));
        }
    }
    Err(Error::argument(EXPECTED))
}

/// Bytes from a string (UTF-8), a `Uint8Array`, another typed array view or an `ArrayBuffer`.
pub(crate) fn bytes(value: &JsValue, what: &str) -> Result<Vec<u8>> {
    if let Some(text) = value.as_string() {
        return Ok(text.into_bytes());
    }
    if let Some(array) = value.dyn_ref::<Uint8Array>() {
        return Ok(array.to_vec());
    }
    if let Some(buffer) = value.dyn_ref::<ArrayBuffer>() {
        return Ok(Uint8Array::new(buffer).to_vec());
    }
    if ArrayBuffer::is_view(value) {
        let view: &js_sys::DataView = value.unchecked_ref();
        let array = Uint8Array::new_with_byte_offset_and_length(
            &view.buffer(),
            view.byte_offset() as u32,
            view.byte_length() as u32,
        );
        return Ok(array.to_vec());
    }
    Err(Error::argument(format!(
        "{what} must be a string, a Uint8Array or an ArrayBuffer"
    )))
}

/// Header pairs from a `Headers` object, an array of `[name, value]` pairs or a record.
pub(crate) fn headers(value: &JsValue) -> Result<Vec<(String, String)>> {
    const EXPECTED: &str = "headers must be a Headers object, [name, value] pairs or a record";
    if value.is_undefined() || value.is_null() {
        return Ok(Vec::new());
    }
    if !value.is_object() {
        return Err(Error::argument(EXPECTED));
    }
    let pairs: Vec<JsValue> = match js_sys::try_iter(value) {
        Ok(Some(iter)) => iter
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| Error::argument(EXPECTED))?,
        _ => Object::entries(value.unchecked_ref()).iter().collect(),
    };
    pairs
        .into_iter()
        .map(|pair| {
            let pair = Array::from(&pair);
            match (pair.get(0).as_string(), pair.get(1).as_string()) {
                (Some(name), Some(value)) => Ok((name, value)),
                _ => Err(Error::argument(EXPECTED)),
            }
        })
        .collect()
}

/// Milliseconds as a JavaScript number (exact below 2^53 ms; computed without
/// `Duration::as_millis`'s `u128`, which would pull 128-bit arithmetic into the module).
pub(crate) fn millis(duration: Duration) -> f64 {
    duration.as_secs() as f64 * 1000.0 + f64::from(duration.subsec_millis())
}

/// A plain JavaScript object built property by property, in order. (Hand-rolled rather
/// than serde + serde-wasm-bindgen: the same objects for a fraction of the code.)
pub(crate) struct Obj(Object);

impl Obj {
    pub(crate) fn new() -> Self {
        Obj(Object::new())
    }

    /// Sets `key` (numbers as JavaScript numbers, strings, booleans, objects).
    pub(crate) fn set(&self, key: &str, value: impl Into<JsValue>) -> &Self {
        // Setting a plain data property on a fresh plain object cannot fail.
        let _ = Reflect::set(&self.0, &JsValue::from_str(key), &value.into());
        self
    }

    /// Sets `key` when there is a value; absent otherwise.
    pub(crate) fn set_some(&self, key: &str, value: Option<impl Into<JsValue>>) -> &Self {
        if let Some(value) = value {
            self.set(key, value);
        }
        self
    }

    pub(crate) fn into_js(self) -> JsValue {
        self.0.into()
    }
}
