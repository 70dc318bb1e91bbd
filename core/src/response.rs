//! Reading the DDS's answers: which class a response falls in, when to retry,
//! and an error text that is safe to log.

use crate::redact::{self, Redactor};
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
///
/// One hour: long enough for a DDS to book every node of a large fleet into a
/// slot after an outage (1 M nodes at 500 registrations/s is a 33-minute
/// backlog; a shorter cap makes the later nodes ask again), short enough that
/// a misconfigured DDS cannot park nodes for long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

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

/// What a `409` from the DDS usually means, as Auki's domain-server
/// troubleshooting explains it: [`Failure::hint`].
pub const CONFLICT_HINT: &str = "another instance is usually registered with the same wallet \
    (the same key): stop it, or give each instance its own key";

/// What a `402` from the DDS means, as Auki's Hagall client reports it:
/// [`Failure::hint`].
pub const PAYMENT_REQUIRED_HINT: &str =
    "the wallet lacks the stake the network requires: stake to the node's wallet, then register again";

/// What a refused legacy registration usually means when the DDS's clock (its
/// `Date` header) and this machine's differ by more than
/// [`CLOCK_OFFSET_HINT_AFTER`]: [`Failure::hint`].
pub const CLOCK_HINT: &str = "this machine's clock differs from the DDS's, and a legacy \
    registration signs the time: set the clock (NTP), then register again";

/// A `Date` header this far from the node's clock makes a refused legacy
/// registration carry [`CLOCK_HINT`] (the header counts whole seconds, the
/// answer took a moment: a closer one says nothing).
pub const CLOCK_OFFSET_HINT_AFTER: Duration = Duration::from_secs(10);

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
    /// The DDS's clock minus this machine's, in whole seconds, when a legacy
    /// registration was refused (4xx) by a DDS whose `Date` header differed
    /// by more than [`CLOCK_OFFSET_HINT_AFTER`].
    pub clock_offset_secs: Option<i64>,
}

impl Failure {
    /// What to do, for the answers whose usual cause is known: `409`
    /// ([`CONFLICT_HINT`]), `402` ([`PAYMENT_REQUIRED_HINT`]) and a legacy
    /// registration refused while the clocks differ ([`CLOCK_HINT`]). Kept
    /// apart from [`Failure::message`], whose format is the reference's;
    /// derived from the answer, so every failure carries it wherever it was
    /// classified.
    pub fn hint(&self) -> Option<&'static str> {
        match self.status? {
            409 => Some(CONFLICT_HINT),
            402 => Some(PAYMENT_REQUIRED_HINT),
            _ if self.clock_offset_secs.is_some() => Some(CLOCK_HINT),
            _ => None,
        }
    }
}

/// The message, then ` (hint: …)` when there is a [`Failure::hint`]: the text
/// an error shown to a person carries.
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match self.hint() {
            Some(hint) => write!(f, " (hint: {hint})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for Failure {}

/// Classifies a response to the request sent to `endpoint`. `Ok(())` for 2xx.
/// The error text is sanitised but knows no secret: the registrar uses
/// [`classify_response_redacted`] with its own.
pub fn classify_response(
    endpoint: &str,
    response: &HttpResponse,
    now: UnixTime,
) -> Result<(), Failure> {
    classify_response_redacted(endpoint, response, now, &Redactor::new())
}

/// [`classify_response`], with every secret `redactor` knows cut out of the
/// body snippet before it is shortened (so no prefix of a secret survives).
pub fn classify_response_redacted(
    endpoint: &str,
    response: &HttpResponse,
    now: UnixTime,
    redactor: &Redactor,
) -> Result<(), Failure> {
    let status = response.status;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let class = match status {
        409 => FailureClass::Conflict,
        408 | 429 | 500..=599 => FailureClass::RetryFast,
        // A redirect is never followed (it would carry the signed body, with the
        // credentials, elsewhere): the DDS URL is wrong, and retrying soon will
        // not change that.
        300..=399 => FailureClass::RetryLater,
        // 1xx is not a final answer a DDS gives; treat it as transient.
        100..=199 => FailureClass::RetryFast,
        _ => FailureClass::RetryLater,
    };
    let message = if (300..400).contains(&status) {
        let target = response
            .header("location")
            .map(|location| match crate::url::url_host(location.trim()) {
                Some(host) => format!("host {}", redact::short_text(host, 128)),
                None => "the same host".to_owned(),
            })
            .unwrap_or_else(|| "an unnamed location".to_owned());
        format!(
            "registration failed: status {status}, endpoint {endpoint}: redirect to {target} not followed (check the DDS URL)"
        )
    } else {
        format!(
            "registration failed: status {status}, endpoint {endpoint}, body_snippet: {}",
            body_snippet_redacted(&response.body, redactor)
        )
    };
    Err(Failure {
        class,
        status: Some(status),
        retry_after: response
            .header("retry-after")
            .and_then(|value| parse_retry_after(value, now)),
        message,
        clock_offset_secs: clock_offset(endpoint, response, now),
    })
}

/// The DDS's clock minus the node's ([`Failure::clock_offset_secs`]): read
/// only for a legacy registration refused with a 4xx, the one request that
/// signs the node's own time.
fn clock_offset(endpoint: &str, response: &HttpResponse, now: UnixTime) -> Option<i64> {
    let legacy = endpoint.ends_with(crate::request::LEGACY_REGISTER_PATH);
    if !legacy || !(400..500).contains(&response.status) {
        return None;
    }
    let dds = UnixTime::parse_http_date(response.header("date")?.trim())?;
    let (ahead, behind) = (dds.saturating_since(now), now.saturating_since(dds));
    if ahead.max(behind) <= CLOCK_OFFSET_HINT_AFTER {
        return None;
    }
    Some(ahead.as_secs() as i64 - behind.as_secs() as i64)
}

/// `503 Service Unavailable`: the code and its reason phrase (RFC 9110), or
/// the code alone when it has none.
pub fn status_line(code: u16) -> String {
    let reason = match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => return code.to_string(),
    };
    format!("{code} {reason}")
}

/// Classifies a request that got no response.
pub fn classify_transport_error(endpoint: &str, error: &TransportError) -> Failure {
    classify_transport_error_redacted(endpoint, error, &Redactor::new())
}

/// [`classify_transport_error`], with every secret `redactor` knows cut out of
/// the error's text before it is shortened (so no prefix of a secret survives).
pub fn classify_transport_error_redacted(
    endpoint: &str,
    error: &TransportError,
    redactor: &Redactor,
) -> Failure {
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
        clock_offset_secs: None,
        message: format!(
            "POST {endpoint} {kind}: {}",
            body_snippet_redacted(error.detail.as_bytes(), redactor)
        ),
    }
}

/// A failure to use a 2xx answer (e.g. a malformed SIWE challenge): transient.
pub fn unusable_response(endpoint: &str, reason: &str) -> Failure {
    Failure {
        class: FailureClass::RetryFast,
        status: None,
        retry_after: None,
        clock_offset_secs: None,
        message: format!(
            "unusable response from {endpoint}: {}",
            redact::sanitize(reason)
        ),
    }
}

/// A remote signer that refused, failed, ran out of time, or answered with a
/// signature that is not its own: back off and retry, like a transport error.
pub fn signer_failure(reason: &str) -> Failure {
    Failure {
        class: FailureClass::RetryFast,
        status: None,
        retry_after: None,
        clock_offset_secs: None,
        message: format!(
            "the remote signer did not sign: {}",
            redact::sanitize(reason)
        ),
    }
}

/// At most [`SNIPPET_MAX_BYTES`] bytes of `body` as text: invalid UTF-8 replaced,
/// cut on a character boundary (the reference panics there), line breaks as
/// spaces, other control characters neutralised.
pub fn body_snippet(body: &[u8]) -> String {
    body_snippet_redacted(body, &Redactor::new())
}

/// [`body_snippet`] with the secrets `redactor` knows cut out first.
pub fn body_snippet_redacted(body: &[u8], redactor: &Redactor) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_RESPONSE_BODY)]);
    truncate_utf8(&redactor.redact(&text), SNIPPET_MAX_BYTES)
}

/// At most `max_bytes` of `text`, cut on a character boundary.
pub fn truncate_utf8(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
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

#[cfg(test)]
mod tests {
    use super::*;

    const ENDPOINT: &str = "https://dds.example.com/internal/v1/nodes/register";

    fn response(status: u16, body: &[u8]) -> HttpResponse {
        HttpResponse {
            status,
            headers: Vec::new(),
            body: body.to_vec(),
        }
    }

    fn snippet_of_failure(body: &[u8]) -> String {
        let failure = classify_response(ENDPOINT, &response(500, body), UnixTime::EPOCH)
            .expect_err("500 is a failure");
        let prefix =
            format!("registration failed: status 500, endpoint {ENDPOINT}, body_snippet: ");
        assert!(failure.message.starts_with(&prefix), "{}", failure.message);
        failure.message[prefix.len()..].to_owned()
    }

    // The reference does `text.truncate(512)` on the body, which panics when byte
    // 512 falls inside a multi-byte character. These must cut before it instead.
    #[test]
    fn snippet_cuts_before_a_character_straddling_byte_512() {
        for tail in ["é", "😀", "€"] {
            for pad in [509, 510, 511] {
                let body = format!("{}{tail}rest of the body", "a".repeat(pad));
                let snippet = snippet_of_failure(body.as_bytes());
                assert!(snippet.len() <= SNIPPET_MAX_BYTES);
                let fits = pad + tail.len() <= SNIPPET_MAX_BYTES;
                let expected = if fits {
                    format!(
                        "{}{tail}{}",
                        "a".repeat(pad),
                        &"rest"[..SNIPPET_MAX_BYTES - pad - tail.len()]
                    )
                } else {
                    "a".repeat(pad)
                };
                assert_eq!(snippet, expected, "pad {pad}, tail {tail:?}");
            }
        }
    }

    #[test]
    fn an_echoed_request_loses_its_credentials_even_unredacted() {
        // classify_response knows no secret (the low-level API's), yet a 422
        // echoing the request must not put the credentials into its message.
        let body = br#"{"detail":[{"type":"missing","input":{"url":"http://127.0.0.1:8","registration_credentials":"S3CRET-creds"}}]}"#;
        let snippet = snippet_of_failure(body);
        assert!(!snippet.contains("S3CRET"), "{snippet}");
        assert!(
            snippet.contains(r#""url":"http://127.0.0.1:8""#),
            "{snippet}"
        );
    }

    #[test]
    fn snippet_keeps_exactly_512_ascii_bytes() {
        let body = "b".repeat(2000);
        assert_eq!(snippet_of_failure(body.as_bytes()), "b".repeat(512));
        assert_eq!(snippet_of_failure(b"short"), "short");
        assert_eq!(snippet_of_failure(b""), "");
    }

    #[test]
    fn snippet_replaces_line_breaks() {
        assert_eq!(
            snippet_of_failure(b"line one\nline two\r\nline three\r"),
            "line one line two  line three "
        );
    }

    #[test]
    fn snippet_of_non_utf8_body() {
        assert_eq!(
            snippet_of_failure(b"ok \xff\xfe end"),
            "ok \u{fffd}\u{fffd} end"
        );
        // A body of invalid bytes grows threefold as text; still capped.
        let snippet = snippet_of_failure(&[0xff; 600]);
        assert!(snippet.len() <= SNIPPET_MAX_BYTES);
        assert_eq!(snippet, "\u{fffd}".repeat(SNIPPET_MAX_BYTES / 3));
        // A character cut by the body itself (truncated by the host).
        assert_eq!(snippet_of_failure(&"ab€".as_bytes()[..4]), "ab\u{fffd}");
    }

    #[test]
    fn class_table() {
        use FailureClass::*;
        let table: [(u16, Option<FailureClass>); 15] = [
            (200, None),
            (204, None),
            (400, Some(RetryLater)),
            (401, Some(RetryLater)),
            (403, Some(RetryLater)),
            (404, Some(RetryLater)),
            (408, Some(RetryFast)),
            (409, Some(Conflict)),
            (422, Some(RetryLater)),
            (429, Some(RetryFast)),
            (500, Some(RetryFast)),
            (502, Some(RetryFast)),
            (503, Some(RetryFast)),
            (504, Some(RetryFast)),
            (599, Some(RetryFast)),
        ];
        for (status, class) in table {
            let result = classify_response(ENDPOINT, &response(status, b""), UnixTime::EPOCH);
            assert_eq!(result.as_ref().err().map(|f| f.class), class, "{status}");
            if let Err(failure) = result {
                assert_eq!(failure.status, Some(status));
                assert!(failure.message.contains(&format!("status {status},")));
            }
        }
        assert_eq!(FailureClass::Conflict.as_str(), "conflict");
        assert_eq!(FailureClass::RetryFast.as_str(), "retry_fast");
        assert_eq!(FailureClass::RetryLater.as_str(), "retry_later");
    }

    #[test]
    fn conflict_and_payment_required_say_what_to_do_apart_from_the_message() {
        let body = b"already registered";
        for (status, hint) in [(409, CONFLICT_HINT), (402, PAYMENT_REQUIRED_HINT)] {
            let failure =
                classify_response(ENDPOINT, &response(status, body), UnixTime::EPOCH).unwrap_err();
            assert_eq!(failure.hint(), Some(hint), "{status}");
            // The message keeps the reference's format; the text shown adds the hint.
            let message = format!(
                "registration failed: status {status}, endpoint {ENDPOINT}, body_snippet: already registered"
            );
            assert_eq!(failure.message, message);
            assert_eq!(failure.to_string(), format!("{message} (hint: {hint})"));
        }
        assert!(CONFLICT_HINT.contains("same wallet"));
        assert!(PAYMENT_REQUIRED_HINT.contains("stake"));
        assert_eq!(
            classify_response(ENDPOINT, &response(402, b""), UnixTime::EPOCH)
                .unwrap_err()
                .class,
            FailureClass::RetryLater
        );
        for status in [400, 401, 403, 404, 429, 500, 503] {
            let failure =
                classify_response(ENDPOINT, &response(status, b""), UnixTime::EPOCH).unwrap_err();
            assert_eq!(failure.hint(), None, "{status}");
            assert_eq!(failure.to_string(), failure.message, "{status}");
        }
        let error = TransportError::new(TransportErrorKind::Connect, "refused");
        assert_eq!(classify_transport_error(ENDPOINT, &error).hint(), None);
    }

    #[test]
    fn a_refused_legacy_registration_says_when_the_clocks_differ() {
        // Wed, 21 Oct 2015 07:28:00 GMT = 1445412480 s.
        let dds = UnixTime::from_secs_nanos(1_445_412_480, 0);
        let refused = |endpoint: &str, status: u16, now: UnixTime| {
            let mut answer = response(status, b"timestamp too old");
            answer
                .headers
                .push(("Date".into(), "Wed, 21 Oct 2015 07:28:00 GMT".into()));
            classify_response(endpoint, &answer, now).unwrap_err()
        };
        let minutes = |n: u64| Duration::from_secs(60 * n);
        let behind = refused(ENDPOINT, 401, dds - minutes(10));
        assert_eq!(behind.clock_offset_secs, Some(600));
        assert_eq!(behind.hint(), Some(CLOCK_HINT));
        assert!(behind.message.ends_with("body_snippet: timestamp too old"));
        assert_eq!(
            behind.to_string(),
            format!("{} (hint: {CLOCK_HINT})", behind.message)
        );
        let ahead = refused(ENDPOINT, 400, dds + minutes(60));
        assert_eq!(ahead.clock_offset_secs, Some(-3600));
        assert_eq!(ahead.hint(), Some(CLOCK_HINT));
        // Within the header's whole seconds and the answer's time: nothing said.
        for off in [0, 5, 10] {
            let off = Duration::from_secs(off);
            assert_eq!(refused(ENDPOINT, 401, dds + off).clock_offset_secs, None);
            assert_eq!(refused(ENDPOINT, 401, dds - off).hint(), None);
        }
        // The wallet flow signs the DDS's own time; a 5xx is no refusal; a
        // 409 has its own, known cause.
        let wallet = "https://dds.example.com/internal/v1/nodes/register-wallet";
        assert_eq!(refused(wallet, 401, dds - minutes(10)).hint(), None);
        assert_eq!(refused(ENDPOINT, 503, dds - minutes(10)).hint(), None);
        assert_eq!(
            refused(ENDPOINT, 409, dds - minutes(10)).hint(),
            Some(CONFLICT_HINT)
        );
    }

    #[test]
    fn retry_after_header_is_read_case_insensitively() {
        let mut r = response(503, b"");
        r.headers.push(("RETRY-AFTER".into(), "12".into()));
        let failure = classify_response(ENDPOINT, &r, UnixTime::EPOCH).unwrap_err();
        assert_eq!(failure.retry_after, Some(Duration::from_secs(12)));
    }

    #[test]
    fn retry_after_values() {
        // Wed, 21 Oct 2015 07:28:00 GMT = 1445412480 s; "now" is 100 s earlier.
        let now = UnixTime::from_secs_nanos(1_445_412_380, 0);
        let cases: [(&str, Option<u64>); 11] = [
            ("0", Some(0)),
            ("120", Some(120)),
            (" 5 ", Some(5)),
            ("Wed, 21 Oct 2015 07:28:00 GMT", Some(100)),
            ("Wed, 21 Oct 2015 07:00:00 GMT", Some(0)),
            ("-1", None),
            ("abc", None),
            ("", None),
            ("99999999999999999999999", Some(3600)),
            ("3601", Some(3600)),
            ("601", Some(601)),
        ];
        for (value, expected) in cases {
            assert_eq!(
                parse_retry_after(value, now),
                expected.map(Duration::from_secs),
                "{value:?}"
            );
        }
    }

    #[test]
    fn a_secret_across_the_transport_errors_cut_leaves_no_prefix() {
        let secret = "0123456789abcdefghijklmnopqrstuv";
        let mut redactor = Redactor::new();
        redactor.add_secret(secret);
        // The secret spans byte 512, where the text is shortened.
        let detail = format!("{}{secret} and more", "x".repeat(500));
        let error = TransportError::new(TransportErrorKind::Io, detail);
        let failure = classify_transport_error_redacted(ENDPOINT, &error, &redactor);
        assert!(!failure.message.contains("0123456"), "{}", failure.message);
        assert!(
            failure.message.contains(crate::secret::REDACTED),
            "{}",
            failure.message
        );
    }

    #[test]
    fn transport_errors_are_fast_one_line_and_bounded() {
        let error = TransportError::new(TransportErrorKind::Connect, "refused\nsecond line");
        let failure = classify_transport_error(ENDPOINT, &error);
        assert_eq!(failure.class, FailureClass::RetryFast);
        assert_eq!(failure.status, None);
        assert_eq!(
            failure.message,
            format!("POST {ENDPOINT} could not connect: refused second line")
        );
        let long = TransportError::new(TransportErrorKind::Other, "é".repeat(400));
        let failure = classify_transport_error(ENDPOINT, &long);
        assert!(failure.message.ends_with(&"é".repeat(256)));
        assert!(!failure.message.ends_with(&"é".repeat(257)));
    }
}
