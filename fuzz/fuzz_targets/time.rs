//! `UnixTime`'s hand-written RFC 3339 code against chrono, which it replaced
//! and claims to match byte for byte: any text parses the same way
//! (`parse_rfc3339`), any instant formats the same way (`to_rfc3339_nanos`)
//! and reads back; `parse_http_date` never panics.
#![no_main]

use arbitrary::Arbitrary;
use chrono::{DateTime, SecondsFormat, Utc};
use libfuzzer_sys::fuzz_target;
use posemesh_registration_core::UnixTime;

#[derive(Arbitrary, Debug)]
struct Input {
    secs: u64,
    nanos: u32,
    /// Small years matter most: also try `secs` modulo 10 000 years.
    wrap: bool,
    text: String,
}

/// What chrono makes of `text`, in `parse_rfc3339`'s terms.
fn chrono_parse(text: &str) -> Option<UnixTime> {
    let dt = DateTime::parse_from_rfc3339(text).ok()?;
    let secs = u64::try_from(dt.timestamp()).ok()?;
    Some(UnixTime::from_secs_nanos(secs, dt.timestamp_subsec_nanos()))
}

fn chrono_format(time: UnixTime) -> String {
    let since = time.since_epoch();
    let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    match DateTime::<Utc>::from_timestamp(secs, since.subsec_nanos()) {
        Some(dt) => dt.to_rfc3339_opts(SecondsFormat::Nanos, true),
        None => DateTime::<Utc>::MAX_UTC.to_rfc3339_opts(SecondsFormat::Nanos, true),
    }
}

fuzz_target!(|input: Input| {
    // Parsing: the same answer as chrono for any text.
    let ours = UnixTime::parse_rfc3339(&input.text);
    assert_eq!(ours, chrono_parse(&input.text), "{:?}", input.text);
    if let Some(time) = ours {
        let text = time.to_rfc3339_nanos();
        if !text.starts_with('+') {
            assert_eq!(UnixTime::parse_rfc3339(&text), Some(time), "{text}");
        }
    }

    // Formatting: the same text as chrono for any instant, and it reads back.
    let secs = if input.wrap {
        input.secs % (10_000 * 366 * 86_400)
    } else {
        input.secs
    };
    let time = UnixTime::from_secs_nanos(secs, input.nanos % 1_000_000_000);
    let text = time.to_rfc3339_nanos();
    assert_eq!(text, chrono_format(time), "{secs} s {} ns", input.nanos);
    if !text.starts_with('+') {
        assert_eq!(UnixTime::parse_rfc3339(&text), Some(time), "{text}");
    }

    // HTTP dates: no panic, and never before the epoch.
    if let Some(time) = UnixTime::parse_http_date(&input.text) {
        assert!(time >= UnixTime::EPOCH);
    }
});
