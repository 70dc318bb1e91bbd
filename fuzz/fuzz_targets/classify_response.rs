//! `response::classify_response` on any status, headers (with `Retry-After`
//! as digits, HTTP dates and junk) and body bytes: never panics; the message
//! is one line with at most 512 bytes of body; `Retry-After` is capped.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use posemesh_registration_core::response::{
    self, body_snippet, classify_response, classify_transport_error, parse_retry_after,
    FailureClass, HttpResponse, TransportError, TransportErrorKind, MAX_RETRY_AFTER,
    SNIPPET_MAX_BYTES,
};
use posemesh_registration_core::{BaseUrl, UnixTime};
use std::time::Duration;

#[derive(Arbitrary, Debug)]
enum RetryAfter {
    /// Delta-seconds, with optional surrounding spaces.
    Seconds {
        value: u64,
        pad_left: bool,
        pad_right: bool,
    },
    /// Many digits (overflowing u64).
    LongDigits(u8),
    /// Something shaped like an IMF-fixdate, with fuzzed fields.
    Date {
        weekday: u8,
        day: u8,
        month: u8,
        year: u16,
        hour: u8,
        minute: u8,
        second: u8,
        zone: u8,
    },
    /// Anything at all.
    Text(String),
}

impl RetryAfter {
    fn render(&self) -> String {
        match self {
            RetryAfter::Seconds {
                value,
                pad_left,
                pad_right,
            } => format!(
                "{}{value}{}",
                if *pad_left { " " } else { "" },
                if *pad_right { "\t" } else { "" }
            ),
            RetryAfter::LongDigits(n) => "9".repeat(usize::from(*n)),
            RetryAfter::Date {
                weekday,
                day,
                month,
                year,
                hour,
                minute,
                second,
                zone,
            } => {
                const DAYS: [&str; 8] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Xyz"];
                const MONTHS: [&str; 13] = [
                    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                    "Dec", "Foo",
                ];
                const ZONES: [&str; 10] = [
                    "GMT", "UT", "UTC", "+0000", "-1200", "+1459", "-9959", "EST", "Z", "",
                ];
                format!(
                    "{}, {:02} {} {} {:02}:{:02}:{:02} {}",
                    DAYS[usize::from(*weekday) % DAYS.len()],
                    day,
                    MONTHS[usize::from(*month) % MONTHS.len()],
                    year,
                    hour,
                    minute,
                    second,
                    ZONES[usize::from(*zone) % ZONES.len()],
                )
            }
            RetryAfter::Text(text) => text.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum HeaderName {
    /// `retry-after` in a case chosen by the bits.
    RetryAfter(u16),
    Other(String),
}

#[derive(Arbitrary, Debug)]
struct Header {
    name: HeaderName,
    value: RetryAfter,
}

#[derive(Arbitrary, Debug)]
struct Input {
    status: u16,
    headers: Vec<Header>,
    body: Vec<u8>,
    now_secs: u64,
    now_nanos: u32,
    /// A DDS base URL to build the endpoint from (the registrar only uses validated ones).
    base: Option<String>,
    transport_kind: u8,
    transport_detail: String,
}

fn retry_after_name(bits: u16) -> String {
    "retry-after"
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if bits & (1 << i) != 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// An independent model of the core's rule: line breaks and tabs become
/// spaces, other control characters and direction overrides U+FFFD.
fn neutralised(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control()
                || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') =>
            {
                '\u{FFFD}'
            }
            c => c,
        })
        .collect()
}

fn expected_snippet(body: &[u8]) -> String {
    let full = neutralised(&String::from_utf8_lossy(body));
    let mut end = full.len().min(SNIPPET_MAX_BYTES);
    while !full.is_char_boundary(end) {
        end -= 1;
    }
    full[..end].to_owned()
}

fn check_one_line(message: &str) {
    assert!(std::str::from_utf8(message.as_bytes()).is_ok());
    assert!(
        !message.chars().any(char::is_control),
        "message is not one clean line: {message:?}"
    );
}

fuzz_target!(|input: Input| {
    let now = UnixTime::from_secs_nanos(input.now_secs, input.now_nanos);
    let endpoint = input
        .base
        .as_deref()
        .and_then(|base| BaseUrl::parse(base).ok())
        .map_or_else(
            || "https://dds.example.com/internal/v1/nodes/register".to_owned(),
            |base| base.endpoint("/internal/v1/nodes/register"),
        );
    let headers: Vec<(String, String)> = input
        .headers
        .iter()
        .map(|header| {
            let name = match &header.name {
                HeaderName::RetryAfter(bits) => retry_after_name(*bits),
                HeaderName::Other(name) => name.clone(),
            };
            (name, header.value.render())
        })
        .collect();
    let resp = HttpResponse {
        status: input.status,
        headers,
        body: input.body,
    };

    // Retry-After on its own: capped, and exact for plain digits.
    if let Some(value) = resp.header("retry-after") {
        let parsed = parse_retry_after(value, now);
        if let Some(wait) = parsed {
            assert!(wait <= MAX_RETRY_AFTER, "{value:?} -> {wait:?}");
        }
        let trimmed = value.trim();
        if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
            let secs = trimmed.parse::<u64>().unwrap_or(u64::MAX);
            assert_eq!(
                parsed,
                Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER)),
                "{value:?}"
            );
        }
    }

    let snippet = body_snippet(&resp.body);
    assert!(snippet.len() <= SNIPPET_MAX_BYTES);
    assert_eq!(snippet, expected_snippet(&resp.body));

    match classify_response(&endpoint, &resp, now) {
        Ok(()) => assert!(
            (200..300).contains(&resp.status),
            "{} is not 2xx",
            resp.status
        ),
        Err(failure) => {
            let status = resp.status;
            assert!(!(200..300).contains(&status));
            assert_eq!(failure.status, Some(status));
            let class = match status {
                409 => FailureClass::Conflict,
                408 | 429 | 100..=199 | 500..=599 => FailureClass::RetryFast,
                _ => FailureClass::RetryLater,
            };
            assert_eq!(failure.class, class, "status {status}");
            if let Some(wait) = failure.retry_after {
                assert!(wait <= MAX_RETRY_AFTER);
            }
            assert_eq!(
                failure.retry_after,
                resp.header("retry-after")
                    .and_then(|value| parse_retry_after(value, now))
            );
            check_one_line(&failure.message);
            // The text users see: the message, then what to do for a 409 or 402.
            let shown = match failure.hint() {
                Some(hint) => format!("{} (hint: {hint})", failure.message),
                None => failure.message.clone(),
            };
            assert_eq!(failure.to_string(), shown);
            assert_eq!(failure.hint().is_some(), matches!(status, 402 | 409), "status {status}");
            if (300..400).contains(&status) {
                // Redirects are never followed; the message names where to.
                assert!(failure.message.contains("not followed"), "{}", failure.message);
                return;
            }
            let prefix = format!(
                "registration failed: status {status}, endpoint {endpoint}, body_snippet: "
            );
            let body_part = failure
                .message
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("unexpected message {:?}", failure.message));
            assert!(body_part.len() <= SNIPPET_MAX_BYTES);
            assert_eq!(body_part, snippet);
        }
    }

    // A transport error's detail is cut and flattened the same way.
    let kind = match input.transport_kind % 4 {
        0 => TransportErrorKind::Timeout,
        1 => TransportErrorKind::Connect,
        2 => TransportErrorKind::Io,
        _ => TransportErrorKind::Other,
    };
    let error = TransportError::new(kind, input.transport_detail);
    let failure = classify_transport_error(&endpoint, &error);
    assert_eq!(failure.class, FailureClass::RetryFast);
    assert_eq!(failure.status, None);
    assert_eq!(failure.retry_after, None);
    check_one_line(&failure.message);
    let prefix = format!("POST {endpoint} ");
    let rest = failure.message.strip_prefix(&prefix).expect("POST prefix");
    let (_, detail) = rest.split_once(": ").expect("kind: detail");
    assert!(detail.len() <= SNIPPET_MAX_BYTES);
    assert!(neutralised(&error.detail).starts_with(detail));

    let unusable = response::unusable_response(&endpoint, "reason");
    check_one_line(&unusable.message);
});
