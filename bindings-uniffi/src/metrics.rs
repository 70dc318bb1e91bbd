//! Operator metrics for Kotlin and Swift: `registrar.metrics()`, the numbers
//! every runtime gives (core's `MetricsSnapshot`).

use crate::registrar::{Registrar, RegistrationStatus};
use posemesh_registration::core::MetricsSnapshot;
use std::collections::HashMap;

/// What `metrics()` returns: the same numbers in every runtime.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RegistrarMetrics {
    /// The registrar's status.
    pub status: RegistrationStatus,
    /// Attempts the DDS accepted.
    pub attempts_registered: u64,
    /// Registrations taken over without a request.
    pub attempts_adopted: u64,
    /// Failed attempts retried soon (no answer, 5xx, 429).
    pub attempts_retry_fast: u64,
    /// Attempts refused until the next interval (4xx).
    pub attempts_retry_later: u64,
    /// Attempts answered 409.
    pub attempts_conflict: u64,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// Since the last success, if there was one.
    pub since_last_success_ms: Option<u64>,
    /// From the start to the first success, once there was one.
    pub time_to_registered_ms: Option<u64>,
    /// Health checks the DDS made.
    pub health_checks: u64,
    /// DDS callbacks accepted.
    pub callbacks_accepted: u64,
    /// Refused DDS callbacks by the status answered.
    pub callbacks_refused: HashMap<u16, u64>,
    /// Times another process held the registration lock.
    pub lock_busy: u64,
    /// Successful sign-ins to the DDS.
    pub sign_ins: u64,
    /// Failed sign-ins.
    pub sign_in_failures: u64,
}

impl From<MetricsSnapshot> for RegistrarMetrics {
    fn from(m: MetricsSnapshot) -> Self {
        let c = m.counts;
        RegistrarMetrics {
            status: m.status.into(),
            attempts_registered: c.registered,
            attempts_adopted: c.adopted,
            attempts_retry_fast: c.failed_retry_fast,
            attempts_retry_later: c.failed_retry_later,
            attempts_conflict: c.failed_conflict,
            consecutive_failures: m.consecutive_failures,
            since_last_success_ms: m.since_last_success_ms,
            time_to_registered_ms: m.time_to_registered_ms,
            health_checks: c.health_checks,
            callbacks_accepted: c.callbacks_accepted,
            callbacks_refused: m.callbacks_refused.into_iter().collect(),
            lock_busy: c.lock_busy,
            sign_ins: c.sign_ins,
            sign_in_failures: c.sign_in_failures,
        }
    }
}

#[uniffi::export]
impl Registrar {
    /// The operator metrics: status, attempts by result, consecutive
    /// failures, time since the last success and to the first, health
    /// checks, callbacks accepted and refused (by status), lock contention
    /// and sign-ins.
    pub fn metrics(&self) -> RegistrarMetrics {
        self.driver.metrics().into()
    }
}
