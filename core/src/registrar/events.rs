//! What a registrar reports: events with their names, levels and fields
//! (the same in every binding), and how attempts end.

use super::*;

/// How loud an event is; hosts map it to their logger's levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Diagnostic detail.
    Debug,
    /// Normal progress.
    Info,
    /// Something failed.
    Warn,
}

/// The event schema: each event's name and the fields [`Event::fields`] may
/// give it, in that order (a field is left out when it does not apply: no
/// HTTP status without a response, no `retry_in_ms` when nothing retries).
/// Every binding carries these names and units (milliseconds, counts, text):
/// the CLI's JSON log, Python's log records (`from_` for the keyword
/// `from`), JS event details (camelCase) and Kotlin/Swift `LogEvent.fields`.
pub const EVENT_FIELDS: &[(&str, &[&str])] = &[
    ("registration.attempt", &["attempt", "endpoint"]),
    ("registration.loop.start", &["ttl_ms"]),
    ("lock.acquired", &[]),
    ("lock.busy", &[]),
    ("lock.error", &["error"]),
    ("status.transition", &["from", "to"]),
    ("registration.success", &["elapsed_ms"]),
    (
        "registration.error",
        &[
            "attempt",
            "error",
            "failure_class",
            "retry_in_ms",
            "status",
            "hint",
        ],
    ),
    (
        "registration.conflict",
        &["error", "blocked_ms", "status", "hint"],
    ),
    ("registration.max_retry_reached", &["max_retry"]),
    ("healthcheck.expired", &["since_last_ms"]),
    ("status.unknown", &["stored"]),
    ("healthcheck.touch", &[]),
    (
        "registration.callback",
        &["id", "organization_id", "secret_len"],
    ),
    (
        "registration.callback.rejected",
        &["status", "error", "suppressed"],
    ),
    ("request.cancelled", &["request_id"]),
    ("response.ignored", &["request_id"]),
    ("registration.adopted", &["age_ms"]),
    ("registration.stale", &["reason"]),
    ("registration.callback.conflict", &["id"]),
    ("registration.rearm", &[]),
    ("state.corrupt", &["error", "moved_to"]),
    ("state.save.error", &["error"]),
    ("session.signed_in", &["expires_in_ms"]),
    (
        "session.error",
        &["attempt", "error", "failure_class", "retry_in_ms", "status"],
    ),
];

/// The fields that are there: one function for every event's optional
/// fields (each array length would be its own copy of the iterator code).
fn present(fields: Vec<Option<(&'static str, FieldValue)>>) -> Vec<(&'static str, FieldValue)> {
    fields.into_iter().flatten().collect()
}

/// A value in [`Event::fields`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum FieldValue {
    /// A count or a number of milliseconds.
    Int(u64),
    /// Text (sanitised: no control characters).
    Text(String),
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Int(n) => write!(f, "{n}"),
            FieldValue::Text(text) => f.write_str(text),
        }
    }
}

/// How an attempt that succeeded came to: see [`Event::attempt_result`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptOutcome {
    /// The DDS accepted a registration just now.
    Registered,
    /// A fresh registration for this exact configuration was already stored
    /// (by this node before a restart, or by a sibling worker): taken over
    /// without asking the DDS again.
    Adopted,
}

impl AttemptOutcome {
    /// `registered` or `adopted`: what every binding's `register_once` returns.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Registered => "registered",
            AttemptOutcome::Adopted => "adopted",
        }
    }
}

/// Why a stored registration was not taken over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaleReason {
    /// Stored before this library recorded what a registration was for.
    NotRecorded,
    /// Made for another DDS, flow, key, node URL, version or capabilities.
    Changed {
        /// The fields that differ, e.g. `version, capabilities`.
        fields: String,
    },
    /// Not confirmed (registered or health-checked) within one TTL.
    Expired {
        /// Time since the last confirmation (None: never confirmed).
        since_last: Option<Duration>,
    },
}

impl fmt::Display for StaleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StaleReason::NotRecorded => f.write_str("it does not record what was registered"),
            StaleReason::Changed { fields } => write!(f, "{fields} changed"),
            StaleReason::Expired {
                since_last: Some(d),
            } => write!(f, "last confirmed {}s ago, more than one TTL", d.as_secs()),
            StaleReason::Expired { since_last: None } => f.write_str("never confirmed"),
        }
    }
}

/// Something that happened, for logs and callbacks. Never carries a secret:
/// `Display` gives a human line, [`Event::name`] the reference's event name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `registration.attempt`: upstream's "Registering node with DDS", once
    /// per attempt.
    AttemptStarted {
        /// Consecutive failed attempts before this one, plus one.
        attempt: u32,
        /// The first endpoint the attempt calls.
        endpoint: String,
    },
    /// `registration.loop.start`
    LoopStarted {
        /// The health-check TTL.
        ttl: Duration,
    },
    /// `lock.acquired`
    LockAcquired,
    /// `lock.busy`: another process is registering; check again after a TTL.
    LockBusy,
    /// `lock.error`
    LockError {
        /// What the host reported.
        error: String,
    },
    /// `status.transition`
    StatusChanged {
        /// Old status.
        from: Status,
        /// New status.
        to: Status,
    },
    /// `registration.success`
    Registered {
        /// How long the attempt took.
        elapsed: Duration,
    },
    /// `registration.error` (also the rate-limited warning for 4xx answers)
    RegistrationFailed {
        /// The classified failure.
        failure: Failure,
        /// Consecutive fast failures so far (0 after a slow-retry answer).
        attempt: u32,
        /// When the next attempt is due.
        retry_in: Duration,
        /// Whether a loop will make that attempt: false when the host drives
        /// no loop ([`Registrar::set_looping`]), e.g. a `register_once` alone;
        /// the text and fields then promise no retry.
        retrying: bool,
        /// Whether this deserves a warning (repeats are rate-limited to debug).
        warn: bool,
    },
    /// `registration.conflict`: the DDS says the node is registered elsewhere.
    Conflict {
        /// The classified failure.
        failure: Failure,
        /// How long the conflict has lasted.
        blocked_for: Duration,
        /// Whether this deserves a warning (at most every 180 s).
        warn: bool,
    },
    /// `registration.max_retry_reached`
    MaxRetryReached {
        /// The configured cap.
        max_retry: u32,
    },
    /// `healthcheck.expired`
    HealthCheckExpired {
        /// Time since the last health check (None: never checked).
        since_last: Option<Duration>,
    },
    /// `status.unknown`: a stored status was none of the known ones.
    UnknownStatus {
        /// The stored text (at most 64 characters of it).
        stored: String,
    },
    /// `healthcheck.touch`: the DDS probed `/health`.
    HealthCheckReceived,
    /// `registration.callback`: the DDS handed over id and secret.
    CallbackAccepted {
        /// The node's id.
        id: String,
        /// Its organisation, if given.
        organization_id: Option<String>,
        /// Length of the secret in bytes (never the secret).
        secret_len: usize,
    },
    /// `registration.callback.rejected`
    CallbackRejected {
        /// The status answered.
        status: u16,
        /// Why.
        reason: String,
        /// Rejected since the last one reported at warning level, not counting
        /// this one.
        suppressed: u32,
        /// A warning, at most one per `WARN_INTERVAL`; the rest are debug lines:
        /// anyone who reaches the node's port can post as often as they like.
        warn: bool,
    },
    /// `request.cancelled`: the host abandoned the request in flight.
    RequestCancelled {
        /// Its id.
        id: RequestId,
    },
    /// `response.ignored`: a response for a request that is no longer awaited.
    StaleResponse {
        /// Its id.
        id: RequestId,
    },
    /// `registration.adopted`: a fresh stored registration for this exact
    /// configuration was taken over instead of registering again: a
    /// sibling's, read under the lock, or the one a restarted registrar
    /// loaded (reported by its first check, or as a `register_now`'s result).
    Adopted {
        /// Time since that registration was last confirmed.
        age: Duration,
    },
    /// `registration.stale`: the stored registration is not reused; the node
    /// registers again.
    StoredRegistrationStale {
        /// Why.
        reason: StaleReason,
    },
    /// `registration.callback.conflict`: a second, different callback in one
    /// window, refused; one of the two may be forged.
    CallbackConflict {
        /// The refused callback's id (sanitised, shortened).
        id: String,
    },
    /// `registration.rearm`: the host asked to register again now.
    RegisterAgain,
    /// `state.corrupt`: the stored snapshot was unusable and set aside (hosts
    /// report it; the registrar itself never reads storage).
    StateCorrupt {
        /// What was wrong (never the stored bytes).
        error: String,
        /// Where the store moved the unusable bytes, if it says (a file
        /// store: the state file's path with `.corrupt` appended).
        moved_to: Option<String>,
    },
    /// `state.save.error`: a snapshot could not be stored (reported by hosts).
    StateSaveFailed {
        /// The store's error.
        error: String,
    },
    /// `session.signed_in`: a new access token (never shown).
    SessionSignedIn {
        /// How long it is valid for.
        expires_in: Duration,
    },
    /// `session.error`: a sign-in to the DDS failed.
    SessionFailed {
        /// The classified failure.
        failure: Failure,
        /// Failed sign-ins in this round, this one included.
        attempt: u32,
        /// When the next sign-in is due (None: after the registration the
        /// DDS lost, or never when the round ended and no loop runs).
        retry_in: Option<Duration>,
        /// Whether the round has failed: whoever waits for a token gets this
        /// failure.
        ends_round: bool,
    },
}

impl Event {
    /// The reference's event name, e.g. `status.transition`.
    pub fn name(&self) -> &'static str {
        match self {
            Event::AttemptStarted { .. } => "registration.attempt",
            Event::LoopStarted { .. } => "registration.loop.start",
            Event::LockAcquired => "lock.acquired",
            Event::LockBusy => "lock.busy",
            Event::LockError { .. } => "lock.error",
            Event::StatusChanged { .. } => "status.transition",
            Event::Registered { .. } => "registration.success",
            Event::RegistrationFailed { .. } => "registration.error",
            Event::Conflict { .. } => "registration.conflict",
            Event::MaxRetryReached { .. } => "registration.max_retry_reached",
            Event::HealthCheckExpired { .. } => "healthcheck.expired",
            Event::UnknownStatus { .. } => "status.unknown",
            Event::HealthCheckReceived => "healthcheck.touch",
            Event::CallbackAccepted { .. } => "registration.callback",
            Event::CallbackRejected { .. } => "registration.callback.rejected",
            Event::RequestCancelled { .. } => "request.cancelled",
            Event::StaleResponse { .. } => "response.ignored",
            Event::Adopted { .. } => "registration.adopted",
            Event::StoredRegistrationStale { .. } => "registration.stale",
            Event::CallbackConflict { .. } => "registration.callback.conflict",
            Event::RegisterAgain => "registration.rearm",
            Event::StateCorrupt { .. } => "state.corrupt",
            Event::StateSaveFailed { .. } => "state.save.error",
            Event::SessionSignedIn { .. } => "session.signed_in",
            Event::SessionFailed { .. } => "session.error",
        }
    }

    /// How loud the event is.
    pub fn level(&self) -> Level {
        match self {
            Event::LockBusy
            | Event::HealthCheckReceived
            | Event::StaleResponse { .. }
            | Event::RequestCancelled { .. } => Level::Debug,
            Event::LockError { .. }
            | Event::MaxRetryReached { .. }
            | Event::UnknownStatus { .. }
            | Event::CallbackConflict { .. }
            | Event::StateCorrupt { .. }
            | Event::StateSaveFailed { .. }
            | Event::SessionFailed { .. } => Level::Warn,
            Event::RegistrationFailed { warn, .. }
            | Event::Conflict { warn, .. }
            | Event::CallbackRejected { warn, .. } => {
                if *warn {
                    Level::Warn
                } else {
                    Level::Debug
                }
            }
            _ => Level::Info,
        }
    }

    /// The event's data as named fields (never a secret), the same in every
    /// binding: upstream's `attempt`, `elapsed_ms`, `error`, `blocked_ms` and
    /// `status` (as `503 Service Unavailable`) among them.
    pub fn fields(&self) -> Vec<(&'static str, FieldValue)> {
        use FieldValue::{Int, Text};
        let ms = |d: &Duration| Int(millis(*d));
        let status = |failure: &Failure| {
            failure
                .status
                .map(|code| ("status", Text(response::status_line(code))))
        };
        let hint = |failure: &Failure| failure.hint().map(|hint| ("hint", Text(hint.into())));
        match self {
            Event::AttemptStarted { attempt, endpoint } => vec![
                ("attempt", Int(u64::from(*attempt))),
                ("endpoint", Text(endpoint.clone())),
            ],
            Event::LoopStarted { ttl } => vec![("ttl_ms", ms(ttl))],
            Event::LockError { error } => vec![("error", Text(error.clone()))],
            Event::StatusChanged { from, to } => vec![
                ("from", Text(from.as_str().into())),
                ("to", Text(to.as_str().into())),
            ],
            Event::Registered { elapsed } => vec![("elapsed_ms", ms(elapsed))],
            Event::RegistrationFailed {
                failure,
                attempt,
                retry_in,
                retrying,
                ..
            } => present(vec![
                Some(("attempt", Int(u64::from(*attempt)))),
                Some(("error", Text(failure.message.clone()))),
                Some(("failure_class", Text(failure.class.as_str().into()))),
                retrying.then(|| ("retry_in_ms", ms(retry_in))),
                status(failure),
                hint(failure),
            ]),
            Event::Conflict {
                failure,
                blocked_for,
                ..
            } => present(vec![
                Some(("error", Text(failure.message.clone()))),
                Some(("blocked_ms", ms(blocked_for))),
                status(failure),
                hint(failure),
            ]),
            Event::MaxRetryReached { max_retry } => {
                vec![("max_retry", Int(u64::from(*max_retry)))]
            }
            Event::HealthCheckExpired { since_last } => since_last
                .iter()
                .map(|d| ("since_last_ms", ms(d)))
                .collect(),
            Event::UnknownStatus { stored } => vec![("stored", Text(stored.clone()))],
            Event::HealthCheckReceived | Event::LockAcquired | Event::LockBusy => Vec::new(),
            Event::RegisterAgain => Vec::new(),
            Event::CallbackAccepted {
                id,
                organization_id,
                secret_len,
            } => present(vec![
                Some(("id", Text(id.clone()))),
                organization_id
                    .as_ref()
                    .map(|org| ("organization_id", Text(org.clone()))),
                Some(("secret_len", Int(*secret_len as u64))),
            ]),
            Event::CallbackRejected {
                status,
                reason,
                suppressed,
                ..
            } => vec![
                ("status", Text(response::status_line(*status))),
                ("error", Text(reason.clone())),
                ("suppressed", Int(u64::from(*suppressed))),
            ],
            Event::RequestCancelled { id } | Event::StaleResponse { id } => {
                vec![("request_id", Int(id.0))]
            }
            Event::Adopted { age } => vec![("age_ms", ms(age))],
            Event::StoredRegistrationStale { reason } => {
                vec![("reason", Text(reason.to_string()))]
            }
            Event::CallbackConflict { id } => vec![("id", Text(id.clone()))],
            Event::StateCorrupt { error, moved_to } => present(vec![
                Some(("error", Text(error.clone()))),
                moved_to
                    .as_ref()
                    .map(|path| ("moved_to", Text(path.clone()))),
            ]),
            Event::StateSaveFailed { error } => vec![("error", Text(error.clone()))],
            Event::SessionSignedIn { expires_in } => vec![("expires_in_ms", ms(expires_in))],
            Event::SessionFailed {
                failure,
                attempt,
                retry_in,
                ..
            } => present(vec![
                Some(("attempt", Int(u64::from(*attempt)))),
                Some(("error", Text(failure.message.clone()))),
                Some(("failure_class", Text(failure.class.as_str().into()))),
                retry_in.map(|d| ("retry_in_ms", ms(&d))),
                status(failure),
            ]),
        }
    }

    /// One of every event, each optional field present: for a host's test
    /// that it carries every field of [`EVENT_FIELDS`].
    pub fn examples() -> Vec<Event> {
        // A 409: the one failure that gives every optional field (its hint too).
        let failure = Failure {
            class: FailureClass::Conflict,
            status: Some(409),
            retry_after: None,
            clock_offset_secs: None,
            message: "registration failed".into(),
        };
        let secs = Duration::from_secs;
        vec![
            Event::AttemptStarted {
                attempt: 1,
                endpoint: "http://127.0.0.1:1/x".into(),
            },
            Event::LoopStarted { ttl: secs(60) },
            Event::LockAcquired,
            Event::LockBusy,
            Event::LockError { error: "e".into() },
            Event::StatusChanged {
                from: Status::Disconnected,
                to: Status::Registering,
            },
            Event::Registered { elapsed: secs(1) },
            Event::RegistrationFailed {
                failure: failure.clone(),
                attempt: 1,
                retry_in: secs(2),
                retrying: true,
                warn: true,
            },
            Event::Conflict {
                failure,
                blocked_for: secs(3),
                warn: true,
            },
            Event::MaxRetryReached { max_retry: 3 },
            Event::HealthCheckExpired {
                since_last: Some(secs(61)),
            },
            Event::UnknownStatus {
                stored: "weird".into(),
            },
            Event::HealthCheckReceived,
            Event::CallbackAccepted {
                id: "n1".into(),
                organization_id: Some("org".into()),
                secret_len: 12,
            },
            Event::CallbackRejected {
                status: 409,
                reason: "no registration pending".into(),
                suppressed: 0,
                warn: true,
            },
            Event::RequestCancelled { id: RequestId(1) },
            Event::StaleResponse { id: RequestId(2) },
            Event::Adopted { age: secs(4) },
            Event::StoredRegistrationStale {
                reason: StaleReason::NotRecorded,
            },
            Event::CallbackConflict { id: "n2".into() },
            Event::RegisterAgain,
            Event::StateCorrupt {
                error: "e".into(),
                moved_to: Some("state.json.corrupt".into()),
            },
            Event::StateSaveFailed { error: "e".into() },
            Event::SessionSignedIn {
                expires_in: secs(3600),
            },
            Event::SessionFailed {
                failure: Failure {
                    class: FailureClass::RetryFast,
                    status: Some(500),
                    retry_after: None,
                    clock_offset_secs: None,
                    message: "sign-in failed".into(),
                },
                attempt: 1,
                retry_in: Some(secs(2)),
                ends_round: false,
            },
        ]
    }

    /// For events that end an attempt (or a [`Registrar::register_now`]): its result.
    pub fn attempt_result(&self) -> Option<Result<AttemptOutcome, &Failure>> {
        match self {
            Event::Registered { .. } => Some(Ok(AttemptOutcome::Registered)),
            Event::Adopted { .. } => Some(Ok(AttemptOutcome::Adopted)),
            Event::RegistrationFailed { failure, .. } | Event::Conflict { failure, .. } => {
                Some(Err(failure))
            }
            _ => None,
        }
    }

    /// For events that end a sign-in round: `Ok` once signed in, the
    /// failure when the round failed.
    pub fn session_result(&self) -> Option<Result<(), &Failure>> {
        match self {
            Event::SessionSignedIn { .. } => Some(Ok(())),
            Event::SessionFailed {
                failure,
                ends_round: true,
                ..
            } => Some(Err(failure)),
            _ => None,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::AttemptStarted { attempt, endpoint } => {
                write!(f, "Registering node with DDS (attempt {attempt}, {endpoint})")
            }
            Event::LoopStarted { ttl } => {
                write!(f, "registration loop started (health-check TTL {}s)", ttl.as_secs())
            }
            Event::LockAcquired => f.write_str("registration lock acquired"),
            Event::LockBusy => f.write_str("another registrar is active"),
            Event::LockError { error } => write!(f, "could not acquire lock: {error}"),
            Event::StatusChanged { from, to } => write!(f, "status {from} -> {to}"),
            Event::Registered { elapsed } => {
                write!(f, "successfully registered to DDS in {} ms", millis(*elapsed))
            }
            Event::RegistrationFailed {
                failure,
                attempt,
                retrying: false,
                ..
            } => write!(
                f,
                "registration to DDS failed (attempt {attempt}, {}): {failure}",
                failure.class.as_str()
            ),
            Event::RegistrationFailed {
                failure,
                attempt,
                retry_in,
                ..
            } => {
                // Tenths of a second in integer arithmetic (rounded to nearest), rather than
                // `{:.1}` of an f64: no float formatting in the registrar's own messages.
                let tenths = millis(*retry_in).saturating_add(50) / 100;
                write!(
                    f,
                    "registration to DDS failed (attempt {attempt}, {}); retrying in {}.{}s: {failure}",
                    failure.class.as_str(),
                    tenths / 10,
                    tenths % 10
                )
            }
            Event::Conflict {
                failure,
                blocked_for,
                ..
            } => write!(
                f,
                "registration blocked by an existing online node for {}s: {failure}",
                blocked_for.as_secs()
            ),
            Event::MaxRetryReached { max_retry } => write!(
                f,
                "max retry ({max_retry}) reached; pausing until next TTL window"
            ),
            Event::HealthCheckExpired { since_last } => match since_last {
                Some(d) => write!(f, "health-check TTL exceeded ({}s since last); registering again", d.as_secs()),
                None => f.write_str("no health check recorded; registering again"),
            },
            Event::UnknownStatus { stored } => {
                write!(f, "unknown stored status {stored:?}; resetting to disconnected")
            }
            Event::HealthCheckReceived => f.write_str("health check from DDS"),
            Event::CallbackAccepted {
                id,
                organization_id,
                secret_len,
            } => write!(
                f,
                "registration callback accepted: id {id}, organization {}, secret of {secret_len} bytes",
                organization_id.as_deref().unwrap_or("-")
            ),
            Event::CallbackRejected {
                status,
                reason,
                suppressed,
                ..
            } => {
                write!(f, "registration callback rejected with {status}: {reason}")?;
                match suppressed {
                    0 => Ok(()),
                    n => write!(f, " ({n} more rejected since the last warning)"),
                }
            }
            Event::RequestCancelled { id } => write!(f, "request {} abandoned by the host", id.0),
            Event::StaleResponse { id } => write!(f, "ignored response to request {}", id.0),
            Event::Adopted { age } => write!(
                f,
                "took over the stored registration for this DDS, key, URL, version and capabilities (confirmed {}s ago)",
                age.as_secs()
            ),
            Event::StoredRegistrationStale { reason } => {
                write!(f, "stored registration not reused ({reason}); registering again")
            }
            Event::CallbackConflict { id } => write!(
                f,
                "refused a second, different registration callback (id {id}) in one window: possibly forged"
            ),
            Event::RegisterAgain => f.write_str("asked to register again now"),
            Event::StateCorrupt { error, moved_to } => {
                write!(f, "stored registration state unusable ({error}); set aside")?;
                if let Some(path) = moved_to {
                    write!(f, " to {path}")?;
                }
                f.write_str(", registering afresh")
            }
            Event::StateSaveFailed { error } => {
                write!(f, "could not persist registration state: {error}")
            }
            Event::SessionSignedIn { expires_in } => write!(
                f,
                "signed in to the DDS; access token valid for {}s",
                expires_in.as_secs()
            ),
            Event::SessionFailed {
                failure,
                attempt,
                retry_in,
                ends_round,
            } => {
                write!(f, "sign-in to the DDS failed (attempt {attempt}")?;
                if *ends_round {
                    f.write_str(", giving up for now")?;
                }
                match retry_in {
                    Some(wait) => write!(f, "; retrying in {}s", wait.as_secs())?,
                    None if failure.status.is_some_and(|s| s == 403 || s == 404) => {
                        f.write_str("; the DDS no longer knows the node: registering again")?
                    }
                    None => {}
                }
                write!(f, "): {failure}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_carries_exactly_the_fields_the_schema_names() {
        let events = Event::examples();
        assert_eq!(events.len(), EVENT_FIELDS.len(), "one sample per event");
        for event in events {
            let schema = EVENT_FIELDS
                .iter()
                .find(|(name, _)| *name == event.name())
                .unwrap_or_else(|| panic!("{} is not in EVENT_FIELDS", event.name()));
            let names: Vec<&str> = event.fields().iter().map(|(name, _)| *name).collect();
            assert_eq!(names, schema.1, "{}", event.name());
        }
    }
}
