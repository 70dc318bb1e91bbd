//! The native event log carries every field of the core's event schema
//! (`EVENT_FIELDS`), with the core's names and values: the CLI's
//! `--log-format json` prints exactly these lines.

use posemesh_registration::core::{FieldValue, EVENT_FIELDS};
use posemesh_registration::{log_event, Event};
use serde_json::Value;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `event` logged as the CLI's JSON log would print it.
fn logged(event: &Event) -> serde_json::Map<String, Value> {
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || log_event(event));
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    match serde_json::from_str(text.trim()) {
        Ok(Value::Object(map)) => map,
        other => panic!("not one JSON object: {text} ({other:?})"),
    }
}

#[test]
fn every_event_is_logged_with_every_field_of_the_schema() {
    let examples = Event::examples();
    assert_eq!(examples.len(), EVENT_FIELDS.len());
    for event in examples {
        let line = logged(&event);
        assert_eq!(line["event"], event.name());
        let mut logged_fields: Vec<&str> = line
            .keys()
            .map(String::as_str)
            .filter(|key| !["timestamp", "level", "target", "message", "event"].contains(key))
            .collect();
        logged_fields.sort_unstable();
        let mut expected: Vec<&str> = event.fields().iter().map(|(name, _)| *name).collect();
        expected.sort_unstable();
        assert_eq!(logged_fields, expected, "{}", event.name());
        for (name, value) in event.fields() {
            let want = match value {
                FieldValue::Int(n) => Value::from(n),
                FieldValue::Text(text) => Value::from(text),
            };
            assert_eq!(line[name], want, "{}.{name}", event.name());
        }
    }
}
