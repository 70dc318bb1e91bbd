//! Operator metrics: counters and gauges kept from a registrar's events, so
//! that every runtime has the same numbers (no I/O: the host passes the
//! time), and their Prometheus text.
//!
//! A host keeps one [`Metrics`] beside its registrar (the shared driver
//! does), feeds it every event ([`Metrics::record`]) and reads a
//! [`MetricsSnapshot`] when asked. The registrar itself stays small.

use crate::registrar::{Event, Status};
use crate::response::FailureClass;
use crate::time::{millis, UnixTime};
use std::fmt::Write;

/// What the events of one registrar added up to since it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    started_at: UnixTime,
    counts: Counts,
    consecutive_failures: u32,
    last_success_at: Option<UnixTime>,
    first_registered_at: Option<UnixTime>,
    /// Refused callbacks by the status answered (a handful of codes at most).
    callbacks_refused: Vec<(u16, u64)>,
}

/// The counters of a [`MetricsSnapshot`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Attempts the DDS accepted.
    pub registered: u64,
    /// Registrations taken over without a request (a restart, a sibling).
    pub adopted: u64,
    /// Attempts that failed and are retried soon (no answer, 5xx, 429).
    pub failed_retry_fast: u64,
    /// Attempts refused until the next interval (4xx).
    pub failed_retry_later: u64,
    /// Attempts answered 409: registered elsewhere.
    pub failed_conflict: u64,
    /// Health checks the DDS made (`GET /health`).
    pub health_checks: u64,
    /// DDS callbacks accepted (id and secret stored).
    pub callbacks_accepted: u64,
    /// Times the registration lock was held by another process.
    pub lock_busy: u64,
    /// Successful sign-ins to the DDS (access tokens).
    pub sign_ins: u64,
    /// Failed sign-ins.
    pub sign_in_failures: u64,
}

/// The metrics at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// The registrar's status.
    pub status: Status,
    /// The counters.
    pub counts: Counts,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// Since the last success (registered or adopted), if there was one.
    pub since_last_success_ms: Option<u64>,
    /// From the start to the first success, once there was one.
    pub time_to_registered_ms: Option<u64>,
    /// Refused DDS callbacks by the status answered, in ascending order.
    pub callbacks_refused: Vec<(u16, u64)>,
}

impl Metrics {
    /// Metrics of a registrar started at `now`.
    pub fn new(now: UnixTime) -> Metrics {
        Metrics {
            started_at: now,
            counts: Counts::default(),
            consecutive_failures: 0,
            last_success_at: None,
            first_registered_at: None,
            callbacks_refused: Vec::new(),
        }
    }

    /// Counts what `event`, reported at `now`, says happened.
    pub fn record(&mut self, event: &Event, now: UnixTime) {
        let counts = &mut self.counts;
        match event {
            Event::Registered { .. } | Event::Adopted { .. } => {
                if matches!(event, Event::Registered { .. }) {
                    counts.registered += 1;
                } else {
                    counts.adopted += 1;
                }
                self.consecutive_failures = 0;
                self.last_success_at = Some(now);
                self.first_registered_at.get_or_insert(now);
            }
            Event::RegistrationFailed { failure, .. } | Event::Conflict { failure, .. } => {
                match failure.class {
                    FailureClass::RetryFast => counts.failed_retry_fast += 1,
                    FailureClass::RetryLater => counts.failed_retry_later += 1,
                    FailureClass::Conflict => counts.failed_conflict += 1,
                }
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            }
            Event::HealthCheckReceived => counts.health_checks += 1,
            Event::CallbackAccepted { .. } => counts.callbacks_accepted += 1,
            Event::CallbackRejected { status, .. } => {
                match self.callbacks_refused.iter_mut().find(|(s, _)| s == status) {
                    Some((_, n)) => *n += 1,
                    None => {
                        self.callbacks_refused.push((*status, 1));
                        self.callbacks_refused.sort_unstable();
                    }
                }
            }
            Event::LockBusy => counts.lock_busy += 1,
            Event::SessionSignedIn { .. } => counts.sign_ins += 1,
            Event::SessionFailed { .. } => counts.sign_in_failures += 1,
            _ => {}
        }
    }

    /// The metrics at `now`, with the registrar's `status`.
    pub fn snapshot(&self, status: Status, now: UnixTime) -> MetricsSnapshot {
        MetricsSnapshot {
            status,
            counts: self.counts,
            consecutive_failures: self.consecutive_failures,
            since_last_success_ms: self
                .last_success_at
                .map(|at| millis(now.saturating_since(at))),
            time_to_registered_ms: self
                .first_registered_at
                .map(|at| millis(at.saturating_since(self.started_at))),
            callbacks_refused: self.callbacks_refused.clone(),
        }
    }
}

/// The prefix of every metric name.
pub const PROMETHEUS_PREFIX: &str = "posemesh_registration_";

impl MetricsSnapshot {
    /// The Prometheus text exposition format (version 0.0.4): `# HELP`,
    /// `# TYPE` and samples, durations in seconds. A gauge with no value yet
    /// (no success so far) is left out.
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
            let _ = writeln!(out, "# HELP {PROMETHEUS_PREFIX}{name} {help}");
            let _ = writeln!(out, "# TYPE {PROMETHEUS_PREFIX}{name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{PROMETHEUS_PREFIX}{name}{labels} {value}");
            }
        };
        let seconds = |ms: u64| format!("{}.{:03}", ms / 1000, ms % 1000);
        let c = &self.counts;
        let statuses = [
            Status::Disconnected,
            Status::Registering,
            Status::Registered,
        ]
        .map(|s| {
            let on = u8::from(s == self.status);
            (format!("{{status=\"{s}\"}}"), on.to_string())
        });
        family(
            "status",
            "gauge",
            "1 for the registrar's current status.",
            &statuses,
        );
        let results = [
            ("registered", c.registered),
            ("adopted", c.adopted),
            ("retry_fast", c.failed_retry_fast),
            ("retry_later", c.failed_retry_later),
            ("conflict", c.failed_conflict),
        ]
        .map(|(result, n)| (format!("{{result=\"{result}\"}}"), n.to_string()));
        family(
            "attempts_total",
            "counter",
            "Registration attempts by how they ended.",
            &results,
        );
        let one = |value: String| [(String::new(), value)];
        family(
            "consecutive_failures",
            "gauge",
            "Failed attempts since the last success.",
            &one(self.consecutive_failures.to_string()),
        );
        if let Some(ms) = self.since_last_success_ms {
            family(
                "seconds_since_last_success",
                "gauge",
                "Seconds since the last successful registration.",
                &one(seconds(ms)),
            );
        }
        if let Some(ms) = self.time_to_registered_ms {
            family(
                "time_to_registered_seconds",
                "gauge",
                "Seconds from the start to the first successful registration.",
                &one(seconds(ms)),
            );
        }
        let counters = [
            (
                "health_checks_total",
                "Health checks received from the DDS.",
                c.health_checks,
            ),
            (
                "callbacks_accepted_total",
                "DDS callbacks accepted.",
                c.callbacks_accepted,
            ),
            (
                "lock_busy_total",
                "Times another process held the registration lock.",
                c.lock_busy,
            ),
            (
                "sign_ins_total",
                "Successful sign-ins to the DDS.",
                c.sign_ins,
            ),
            (
                "sign_in_failures_total",
                "Failed sign-ins to the DDS.",
                c.sign_in_failures,
            ),
        ];
        for (name, help, n) in counters {
            family(name, "counter", help, &one(n.to_string()));
        }
        let refused: Vec<(String, String)> = self
            .callbacks_refused
            .iter()
            .map(|(status, n)| (format!("{{status=\"{status}\"}}"), n.to_string()))
            .collect();
        family(
            "callbacks_refused_total",
            "counter",
            "DDS callbacks refused, by the status answered.",
            &refused,
        );
        out
    }
}
