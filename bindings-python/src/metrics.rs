//! The operator metrics as a Python dict: core's names and units.

use posemesh_registration::core::MetricsSnapshot;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The metrics as a dict, with core's names and units (milliseconds).
pub(crate) fn metrics_dict<'py>(
    py: Python<'py>,
    metrics: &MetricsSnapshot,
) -> PyResult<Bound<'py, PyDict>> {
    let c = &metrics.counts;
    let attempts = PyDict::new(py);
    attempts.set_item("registered", c.registered)?;
    attempts.set_item("adopted", c.adopted)?;
    attempts.set_item("retry_fast", c.failed_retry_fast)?;
    attempts.set_item("retry_later", c.failed_retry_later)?;
    attempts.set_item("conflict", c.failed_conflict)?;
    let refused = PyDict::new(py);
    for (status, n) in &metrics.callbacks_refused {
        refused.set_item(status, n)?;
    }
    let dict = PyDict::new(py);
    dict.set_item("status", metrics.status.as_str())?;
    dict.set_item("attempts", attempts)?;
    dict.set_item("consecutive_failures", metrics.consecutive_failures)?;
    dict.set_item("since_last_success_ms", metrics.since_last_success_ms)?;
    dict.set_item("time_to_registered_ms", metrics.time_to_registered_ms)?;
    dict.set_item("health_checks", c.health_checks)?;
    dict.set_item("callbacks_accepted", c.callbacks_accepted)?;
    dict.set_item("callbacks_refused", refused)?;
    dict.set_item("lock_busy", c.lock_busy)?;
    dict.set_item("sign_ins", c.sign_ins)?;
    dict.set_item("sign_in_failures", c.sign_in_failures)?;
    Ok(dict)
}
