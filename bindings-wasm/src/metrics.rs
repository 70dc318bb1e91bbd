//! Operator metrics in JavaScript: `registrar.metrics()`, the numbers every
//! runtime gives (core's `MetricsSnapshot`), with camelCase names.

use crate::convert::Obj;
use crate::registrar::Registrar;
use js_sys::Promise;
use posemesh_registration_core::MetricsSnapshot;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
impl Registrar {
    /// The operator metrics: status, attempts by result, consecutive failures, time since
    /// the last success and to the first, health checks, callbacks accepted and refused (by
    /// status), lock contention and sign-ins. Loads the snapshot on first use.
    #[wasm_bindgen(unchecked_return_type = "Promise<RegistrarMetrics>")]
    pub fn metrics(&self) -> Promise {
        self.with_driver(|driver| Ok(metrics_object(&driver.metrics())))
    }
}

fn metrics_object(metrics: &MetricsSnapshot) -> JsValue {
    let c = &metrics.counts;
    let n = |count: u64| count as f64;
    let attempts = Obj::new();
    attempts
        .set("registered", n(c.registered))
        .set("adopted", n(c.adopted))
        .set("retryFast", n(c.failed_retry_fast))
        .set("retryLater", n(c.failed_retry_later))
        .set("conflict", n(c.failed_conflict));
    let refused = Obj::new();
    for (status, count) in &metrics.callbacks_refused {
        refused.set(&status.to_string(), n(*count));
    }
    let obj = Obj::new();
    obj.set("status", metrics.status.as_str())
        .set("attempts", attempts.into_js())
        .set("consecutiveFailures", metrics.consecutive_failures)
        .set_some("sinceLastSuccessMs", metrics.since_last_success_ms.map(n))
        .set_some("timeToRegisteredMs", metrics.time_to_registered_ms.map(n))
        .set("healthChecks", n(c.health_checks))
        .set("callbacksAccepted", n(c.callbacks_accepted))
        .set("callbacksRefused", refused.into_js())
        .set("lockBusy", n(c.lock_busy))
        .set("signIns", n(c.sign_ins))
        .set("signInFailures", n(c.sign_in_failures));
    obj.into_js()
}
