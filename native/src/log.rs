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

/// Logs an event through `tracing` with the reference's event name and the
/// core's fields ([`Event::fields`]) as structured fields.
pub fn log_event(event: &Event) {
    let fields = event.fields();
    let int = |name: &str| {
        fields.iter().find_map(|(n, v)| match v {
            FieldValue::Int(i) if *n == name => Some(*i),
            _ => None,
        })
    };
    let text = |name: &str| {
        fields.iter().find_map(|(n, v)| match v {
            FieldValue::Text(t) if *n == name => Some(t.as_str()),
            _ => None,
        })
    };
    macro_rules! log_at {
        ($level:expr) => {
            tracing::event!(
                $level,
                event = event.name(),
                attempt = int("attempt"),
                elapsed_ms = int("elapsed_ms"),
                blocked_ms = int("blocked_ms"),
                retry_in_ms = int("retry_in_ms"),
                status = text("status"),
                error = text("error"),
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
