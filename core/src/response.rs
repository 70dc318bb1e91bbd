//! Reading the DDS's answers: which class a response falls in, when to retry,
//! and an error text that is safe to log.

use crate::time::UnixTime;
use std::fmt;
use std::time::Duration;

/// Hosts should read at most this many bytes of any response body and pass
/// only those in: the classifier never needs more, and a hostile or broken DDS
/// could otherwise send an unbounded body.
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// Error texts carry at most this many bytes of the response body.
pub const SNIPPET_MAX_BYTES: usize = 512;

/// The longest `Retry-After` that is honoured; longer values are capped to it.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// A response as the host received it (body cut to [`MAX_RESPONSE_BODY`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Header names and values (any case).
    pub headers: Vec<(String, String)>,
    /// The body, or its first [`MAX_RESPONSE_BODY`] bytes.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// How a request failed to produce a response at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportErrorKind {
    /// No answer within the host's timeout.
    Timeout,
    /// The connection could not be made (refused, DNS, TLS).
    Connect,
    /// The connection broke while sending or receiving.
    Io,
    /// Anything else the host's client reports.
    Other,
}

/// A failed exchange as the host reports it. `detail` must be free of secrets
/// (HTTP client errors name the URL and the cause, which is fine).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// What kind of failure.
    pub kind: TransportErrorKind,
    /// The client's description.
    pub detail: String,
}

impl TransportError {
    /// A transport error of `kind` with the client's description.
    pub fn new(kind: TransportErrorKind, detail: impl Into<String>) -> Self {
        TransportError {
            kind,
            detail: detail.into(),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// 409: the node is registered elsewhere; try again after the full interval.
    Conflict,
    /// 408, 429, 5xx, transport errors, unusable 2xx bodies: back off and retry soon.
    RetryFast,
    /// Any other 4xx: the request itself is refused; retry after the full interval.
    RetryLater,
}

impl FailureClass {
    /// A stable name: `conflict`, `retry_fast` or `retry_later`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Conflict => "conflict",
            FailureClass::RetryFast => "retry_fast",
            FailureClass::RetryLater => "retry_later",
        }
    }
}

/// A classified failure, with a message safe to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What to do about it.
    pub class: FailureClass,
    /// The HTTP status, when there was a response.
    pub status: Option<u16>,
    /// The server's `Retry-After`, capped to [`MAX_RETRY_AFTER`].
    pub retry_after: Option<Duration>,
    /// `…: status S, endpoint E, body_snippet: B` or the transport error.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Classifies a response to the request sent to `endpoint`. `Ok(())` for 2xx.
pub fn classify_response(
    endpoint: &str,
    response: &HttpResponse,
    now: UnixTime,
) -> Result<(), Failure> {
    let status = response.status;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let class = match status {
        409 => FailureClass::Conflict,
        408 | 429 | 500..=599 => FailureClass::RetryFast,
        // 1xx and 3xx are not final answers a DDS gives; treat them as transient.
        100..=199 | 300..=399 => FailureClass::RetryFast,
        _ => FailureClass::RetryLater,
    };
    Err(Failure {
        class,
        status: Some(status),
        retry_after: response
            .header("retry-after")
            .and_then(|value| parse_retry_after(value, now)),
        message: format!(
            "registration failed: status {status}, endpoint {endpoint}, body_snippet: {}",
            body_snippet(&response.body)
        ),
    })
}

/// Classifies a request that got no response.
pub fn classify_transport_error(endpoint: &str, error: &TransportError) -> Failure {
    let kind = match error.kind {
        TransportErrorKind::Timeout => "timed out",
        TransportErrorKind::Connect => "could not connect",
        TransportErrorKind::Io => "connection failed",
        TransportErrorKind::Other => "failed",
    };
    Failure {
        class: FailureClass::RetryFast,
        status: None,
        retry_after: None,
        message: format!(
            "POST {endpoint} {kind}: {}",
            one_line(&truncate_utf8(&error.detail, SNIPPET_MAX_BYTES))
        ),
    }
}

/// A failure to use a 2xx answer (e.g. a malformed SIWE challenge): transient.
pub fn unusable_response(endpoint: &str, reason: &str) -> Failure {
    Failure {
        class: FailureClass::RetryFast,
        status: None,
        retry_after: None,
        message: format!("unusable response from {endpoint}: {reason}"),
    }
}

/// At most [`SNIPPET_MAX_BYTES`] bytes of `body` as text: invalid UTF-8 replaced,
/// cut on a character boundary (the reference panics there), line breaks as spaces.
pub fn body_snippet(body: &[u8]) -> String {
    // Every byte past this prefix would be cut anyway; a partial character at
    // its end decodes to U+FFFD and is then cut by the byte limit.
    let prefix = &body[..body.len().min(SNIPPET_MAX_BYTES + 4)];
    one_line(&truncate_utf8(
        &String::from_utf8_lossy(prefix),
        SNIPPET_MAX_BYTES,
    ))
}

fn truncate_utf8(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

/// Reads a `Retry-After` value: delta-seconds or an HTTP-date (relative to
/// `now`). Capped to [`MAX_RETRY_AFTER`]; `None` if unreadable.
pub fn parse_retry_after(value: &str, now: UnixTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Saturate absurdly long digit strings instead of rejecting them.
        Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        UnixTime::parse_http_date(value)?.saturating_since(now)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}
