//! Python argument conversions shared by the module's functions.

use posemesh_registration::UnixTime;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString, PyTuple};
use std::time::SystemTime;

/// Bytes from `bytes`, `bytearray` or `memoryview`; also `str` (as UTF-8)
/// when `allow_str`.
pub(crate) fn bytes_arg(obj: &Bound<'_, PyAny>, what: &str, allow_str: bool) -> PyResult<Vec<u8>> {
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        return Ok(bytes.as_bytes().to_vec());
    }
    if let Ok(array) = obj.cast::<PyByteArray>() {
        return Ok(array.to_vec());
    }
    if allow_str {
        if let Ok(text) = obj.cast::<PyString>() {
            return Ok(text.to_cow()?.as_bytes().to_vec());
        }
    }
    let py = obj.py();
    let memoryview = py.import("builtins")?.getattr("memoryview")?;
    if obj.is_instance(&memoryview)? {
        let bytes = obj.call_method0("tobytes")?;
        return Ok(bytes.cast::<PyBytes>()?.as_bytes().to_vec());
    }
    let expected = if allow_str {
        "bytes or str"
    } else {
        "bytes, bytearray or memoryview"
    };
    Err(PyTypeError::new_err(format!(
        "{what} must be {expected}, not {}",
        type_name(obj)
    )))
}

/// A header name or value: `str`, or `bytes` decoded as Latin-1 (what ASGI
/// servers hand over).
fn header_part(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(text) = obj.cast::<PyString>() {
        return Ok(text.to_cow()?.into_owned());
    }
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        return Ok(bytes.as_bytes().iter().map(|&b| char::from(b)).collect());
    }
    Err(PyTypeError::new_err(format!(
        "header names and values must be str or bytes, not {}",
        type_name(obj)
    )))
}

/// Headers from a mapping (`dict`, `httpx.Headers`, ...) or an iterable of
/// `(name, value)` pairs (ASGI's list of byte pairs); `None` is no headers.
pub(crate) fn headers_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, String)>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Vec::new());
    };
    let pairs = if obj.hasattr("items")? {
        obj.call_method0("items")?
    } else {
        obj.clone()
    };
    let mut headers = Vec::new();
    for pair in pairs.try_iter()? {
        let pair = pair?;
        let (name, value) = if let Ok(tuple) = pair.cast::<PyTuple>() {
            if tuple.len() != 2 {
                return Err(PyValueError::new_err(
                    "each header must be a (name, value) pair",
                ));
            }
            (tuple.get_item(0)?, tuple.get_item(1)?)
        } else if let Ok(list) = pair.cast::<PyList>() {
            if list.len() != 2 {
                return Err(PyValueError::new_err(
                    "each header must be a (name, value) pair",
                ));
            }
            (list.get_item(0)?, list.get_item(1)?)
        } else {
            return Err(PyTypeError::new_err(format!(
                "headers must be a mapping or (name, value) pairs, got an item of type {}",
                type_name(&pair)
            )));
        };
        headers.push((header_part(&name)?, header_part(&value)?));
    }
    Ok(headers)
}

/// An optional list of `str`: `None` (or absent) is an empty list.
pub(crate) fn optional_string_list_arg(
    obj: Option<&Bound<'_, PyAny>>,
    what: &str,
) -> PyResult<Vec<String>> {
    match obj.filter(|obj| !obj.is_none()) {
        Some(obj) => string_list_arg(obj, what),
        None => Ok(Vec::new()),
    }
}

/// A list of `str` (a lone `str` is refused: it would iterate as characters).
pub(crate) fn string_list_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<String>> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a list of str, not a single {}",
            type_name(obj)
        )));
    }
    let mut out = Vec::new();
    for item in obj.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} must be a list of str, not {}",
            type_name(obj)
        ))
    })? {
        let item = item?;
        let text = item.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!(
                "{what} must contain only str, found {}",
                type_name(&item)
            ))
        })?;
        out.push(text.to_cow()?.into_owned());
    }
    Ok(out)
}

/// "Now" from optional nanoseconds since the Unix epoch (`time.time_ns()`).
pub(crate) fn time_arg(timestamp_ns: Option<u128>) -> PyResult<UnixTime> {
    let Some(ns) = timestamp_ns else {
        return Ok(posemesh_registration::unix_time(SystemTime::now()));
    };
    let secs = u64::try_from(ns / 1_000_000_000)
        .map_err(|_| PyValueError::new_err("timestamp_ns is too large"))?;
    let nanos = u32::try_from(ns % 1_000_000_000).expect("below 10^9");
    Ok(UnixTime::from_secs_nanos(secs, nanos))
}

/// The name of an object's type, for error messages (never its value).
pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}

/// A `str` the way Python's `repr()` writes it (single quotes unless the text
/// holds one and no double quote), for `__repr__` methods.
pub(crate) fn pyrepr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `pyrepr` of an optional string (`None` when absent).
pub(crate) fn pyrepr_opt(text: Option<&str>) -> String {
    text.map_or_else(|| "None".to_owned(), pyrepr)
}
