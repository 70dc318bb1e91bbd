//! Events through `tracing`: the event sink native drivers get by default.

use posemesh_registration_core::{Event, FieldValue, Level};
use posemesh_registration_driver::EventSink;

/// A host's callback for every event.
type Handler = Box<dyn Fn(&Event) + Send + Sync>;

/// Logs every event through `tracing` ([`log_event`]), then hands it to an
/// optional handler of the host's.
#[derive(Default)]
pub struct TracingSink {
    handler: Option<Handler>,
}

impl TracingSink {
    /// Logs only.
    pub fn new() -> Self {
        TracingSink::default()
    }

    /// Logs, then calls `handler` with every event (never a secret).
    pub fn with_handler(handler: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        TracingSink {
            handler: Some(Box::new(handler)),
        }
    }
}

impl EventSink for TracingSink {
    fn event(&self, event: &Event) {
        log_event(event);
        if let Some(handler) = &self.handler {
            handler(event);
        }
    }
}

/// Logs an event through `tracing` with the reference's event name and every
/// field the core gives it ([`Event::fields`], named as in
/// [`posemesh_registration_core::EVENT_FIELDS`]): a field that does not apply
/// is left out.
pub fn log_event(event: &Event) {
    let fields = event.fields();
    let field = |name: &str| fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v);
    let int = |name: &str| match field(name) {
        Some(FieldValue::Int(i)) => Some(*i),
        _ => None,
    };
    let text = |name: &str| match field(name) {
        Some(FieldValue::Text(t)) => Some(t.as_str()),
        _ => None,
    };
    // `tracing` names a call site's fields when it is compiled: every field of
    // the schema is named here, and `None` ones are not recorded.
    macro_rules! log_at {
        ($level:expr) => {
            tracing::event!(
                $level,
                event = event.name(),
                attempt = int("attempt"),
                endpoint = text("endpoint"),
                ttl_ms = int("ttl_ms"),
                error = text("error"),
                from = text("from"),
                to = text("to"),
                elapsed_ms = int("elapsed_ms"),
                failure_class = text("failure_class"),
                retry_in_ms = int("retry_in_ms"),
                status = text("status"),
                blocked_ms = int("blocked_ms"),
                max_retry = int("max_retry"),
                since_last_ms = int("since_last_ms"),
                stored = text("stored"),
                id = text("id"),
                organization_id = text("organization_id"),
                secret_len = int("secret_len"),
                suppressed = int("suppressed"),
                request_id = int("request_id"),
                age_ms = int("age_ms"),
                reason = text("reason"),
                hint = text("hint"),
                expires_in_ms = int("expires_in_ms"),
                moved_to = text("moved_to"),
                "{event}"
            )
        };
    }
    match event.level() {
        Level::Debug => log_at!(tracing::Level::DEBUG),
        Level::Info => log_at!(tracing::Level::INFO),
        Level::Warn => log_at!(tracing::Level::WARN),
    }
}
