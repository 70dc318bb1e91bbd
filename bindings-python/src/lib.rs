//! # posemesh-registration-python
//!
//! The `posemesh_registration._native` extension module: pyo3 bindings of the
//! posemesh-registration core (keys, signed requests, response classes) and of
//! the native driver (HTTP through reqwest, file state store with its lock).
//!
//! Thin by design: it converts types, maps errors to the Python exception
//! classes of `posemesh_registration._errors`, forwards events to the standard
//! `logging` module, and releases the GIL whenever it waits. Every protocol and
//! configuration rule lives in `posemesh-registration-core`, every concurrency
//! rule in the shared driver (`posemesh-registration-driver`).

#![forbid(unsafe_code)]

mod bridge;
mod convert;
mod credentials;
mod errors;
mod keys;
mod logbridge;
mod lowlevel;
mod metrics;
mod registrar;
mod runtime;
mod session;
mod store;

use pyo3::prelude::*;

/// Stops every running loop and silences Python callbacks: called from an
/// `atexit` hook so no Rust thread touches the interpreter while it finalizes.
#[pyfunction]
fn _shutdown(py: Python<'_>) {
    // Flag first: a daemon thread released by its stopped loop must not
    // re-attach while the interpreter may already be finalizing.
    logbridge::begin_shutdown();
    registrar::stop_all(py);
    logbridge::wait_for_callers(py, std::time::Duration::from_secs(5));
}

/// Forgets the parent's runtime, loops and threads in the child of
/// `os.fork()` (an `os.register_at_fork` hook): the child builds its own.
#[pyfunction]
fn _after_fork_in_child() {
    logbridge::after_fork_in_child();
    registrar::forget_after_fork();
}

/// Stops every background registration loop; returns how many were running.
#[pyfunction]
fn _stop_all(py: Python<'_>) -> usize {
    registrar::stop_all(py)
}

/// Native part of the `posemesh_registration` package; import that package instead.
#[pymodule]
#[pyo3(name = "_native")]
fn native_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // The event schema, as record attributes: {event name: (field, ...)}.
    let schema = pyo3::types::PyDict::new(m.py());
    for (event, fields) in posemesh_registration::core::EVENT_FIELDS {
        let names = fields.iter().map(|name| logbridge::python_name(name));
        schema.set_item(event, pyo3::types::PyTuple::new(m.py(), names)?)?;
    }
    m.add("EVENT_FIELDS", schema)?;
    m.add_class::<keys::PyPrivateKey>()?;
    m.add_class::<lowlevel::PyHttpRequest>()?;
    m.add_class::<lowlevel::PyFailure>()?;
    m.add_class::<credentials::PyDdsCredentials>()?;
    m.add_class::<session::PyAccessToken>()?;
    m.add_class::<registrar::PyBaseRegistrar>()?;
    m.add_class::<registrar::PyRegistrar>()?;
    m.add_class::<registrar::PyAsyncRegistrar>()?;
    m.add_class::<registrar::PyStatusStream>()?;
    m.add_class::<bridge::PyCall>()?;
    m.add_function(wrap_pyfunction!(lowlevel::build_registration_request, m)?)?;
    m.add_function(wrap_pyfunction!(lowlevel::build_siwe_nonce_request, m)?)?;
    m.add_function(wrap_pyfunction!(
        lowlevel::build_wallet_registration_request,
        m
    )?)?;
    m.add_function(wrap_pyfunction!(lowlevel::classify_response, m)?)?;
    m.add_function(wrap_pyfunction!(lowlevel::format_timestamp, m)?)?;
    m.add_function(wrap_pyfunction!(_shutdown, m)?)?;
    m.add_function(wrap_pyfunction!(_stop_all, m)?)?;
    m.add_function(wrap_pyfunction!(_after_fork_in_child, m)?)?;
    Ok(())
}
