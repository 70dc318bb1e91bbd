//! Making text from the outside world safe to show.
//!
//! Error bodies, transport errors, callback ids and SIWE fields come from the
//! DDS or whoever answers in its place. A validator that echoes the request
//! (as pydantic-style 422 answers do) would put the registration credentials
//! into a log line; an ANSI escape or a newline would let it forge log lines.
//! Every such text passes through here before it leaves the core.

use crate::secret::REDACTED;
use zeroize::Zeroizing;

/// Secrets to cut out of text: the registration credentials, DDS-issued
/// secrets and the private key. Holds copies that are zeroised on drop; its
/// `Debug` shows only how many it holds.
#[derive(Clone, Default)]
pub struct Redactor {
    needles: Vec<Needle>,
}

#[derive(Clone)]
struct Needle {
    text: Zeroizing<String>,
    /// Hex keys are matched in any letter case.
    ignore_ascii_case: bool,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.needles.len())
    }
}

impl Redactor {
    /// A redactor that knows no secret yet (it still neutralises control characters).
    pub fn new() -> Self {
        Self::default()
    }

    /// Cuts out `secret` as it is and as the JSON encoders of servers that may
    /// echo it write it inside a string: `"`, `\` and control characters escaped
    /// (every encoder), every non-ASCII character as `\uXXXX` (Python's default),
    /// `<`, `>` and `&` as `\u003c`, `\u003e`, `\u0026` (Go's), with the hex in
    /// either case.
    pub fn add_secret(&mut self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        self.push(secret.to_owned(), false);
        let json = serde_json::to_string(secret).unwrap_or_default();
        // The string's own quotes only: a secret may begin or end with an escaped one.
        let escaped = json
            .strip_prefix('"')
            .and_then(|j| j.strip_suffix('"'))
            .unwrap_or_default()
            .to_owned();
        let python: fn(char) -> bool = |c| !c.is_ascii();
        let go: fn(char) -> bool = |c| matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}');
        for pick in [python, go] {
            for digits in [b"0123456789abcdef", b"0123456789ABCDEF"] {
                let variant = escape_as_unicode(&escaped, pick, digits);
                if variant != escaped {
                    self.push(variant, false);
                }
            }
        }
        if escaped != secret && !escaped.is_empty() {
            self.push(escaped, false);
        }
    }

    /// Cuts out a hex-encoded key in any letter case, with or without `0x`.
    pub fn add_hex_key(&mut self, hex: &str) {
        let hex = hex.trim_start_matches("0x");
        if !hex.is_empty() {
            self.push(hex.to_owned(), true);
        }
    }

    fn push(&mut self, text: String, ignore_ascii_case: bool) {
        if self.needles.iter().any(|n| *n.text == text) {
            return;
        }
        self.needles.push(Needle {
            text: Zeroizing::new(text),
            ignore_ascii_case,
        });
        // Longest first, so a secret containing another is cut out whole.
        self.needles
            .sort_by_key(|needle| std::cmp::Reverse(needle.text.len()));
        // Most registrars know one or two secrets for their whole life.
        self.needles.shrink_to_fit();
    }

    /// `text` with every known secret and the value of every secret-bearing
    /// JSON field (`registration_credentials`, `secret`, a validator's `input`)
    /// replaced by `<redacted>`, and control characters neutralised (see
    /// [`sanitize`]). A marker, once written or already in `text`, is never
    /// rewritten, however short a secret is.
    pub fn redact(&self, text: &str) -> String {
        sanitize(&cut_secret_fields(&self.cut_known(text)))
    }

    /// `text` with every known secret replaced by the marker, in one pass over
    /// `text` (longest secret first at each place): what was written is never
    /// searched again, and markers already there are kept whole.
    fn cut_known(&self, text: &str) -> String {
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let (mut copied, mut at) = (0, 0);
        while at < bytes.len() {
            if bytes[at..].starts_with(REDACTED.as_bytes()) {
                at += REDACTED.len();
                continue;
            }
            // A needle is whole UTF-8 and an ASCII or lead byte never matches a
            // continuation byte, so a match starts and ends on character boundaries.
            match self
                .needles
                .iter()
                .find(|needle| needle.matches_at(bytes, at))
            {
                Some(needle) => {
                    out.push_str(&text[copied..at]);
                    out.push_str(REDACTED);
                    at += needle.text.len();
                    copied = at;
                }
                None => at += 1,
            }
        }
        out.push_str(&text[copied..]);
        out
    }
}

impl Needle {
    fn matches_at(&self, haystack: &[u8], at: usize) -> bool {
        let pattern = self.text.as_bytes();
        haystack
            .get(at..at + pattern.len())
            .is_some_and(|window| match self.ignore_ascii_case {
                true => window.eq_ignore_ascii_case(pattern),
                false => window == pattern,
            })
    }
}

/// `escaped` (the inside of a JSON string) with every character `pick` chooses
/// written as `\uXXXX` UTF-16 escapes, hex digits from `digits` (lower- or
/// upper-case: Python and Go write lower, Java and .NET upper). No `format!`:
/// this is in every runtime, the WebAssembly one counted in bytes.
fn escape_as_unicode(escaped: &str, pick: fn(char) -> bool, digits: &[u8; 16]) -> String {
    let mut out = String::with_capacity(escaped.len());
    let mut units = [0u16; 2];
    for c in escaped.chars() {
        if !pick(c) {
            out.push(c);
            continue;
        }
        for &mut unit in c.encode_utf16(&mut units) {
            out.push_str("\\u");
            for shift in [12, 8, 4, 0] {
                out.push(char::from(digits[usize::from((unit >> shift) & 0xf)]));
            }
        }
    }
    out
}

/// The JSON fields whose string value may be a secret: the protocol's own
/// (what a validator echoes of a request, or a relay of a callback), and
/// `input`, where pydantic (FastAPI) echoes the value of the field it refused,
/// `{"loc":["body","registration_credentials"],"input":"…"}`. Cut out even when
/// the secret itself is not known (the low-level classification).
const SECRET_FIELDS: [&str; 5] = [
    "\"registration_credentials\"",
    "\"secret\"",
    "\"input\"",
    "\"access_token\"",
    "\"refresh_token\"",
];

/// `text` with the string value of every [`SECRET_FIELDS`] field replaced by
/// `<redacted>` (up to its closing quote, or to the end when it is cut short).
fn cut_secret_fields(text: &str) -> String {
    let bytes = text.as_bytes();
    let skip_space = |mut at: usize| {
        while bytes.get(at).is_some_and(|b| b.is_ascii_whitespace()) {
            at += 1;
        }
        at
    };
    let mut out = String::with_capacity(text.len());
    let (mut copied, mut at) = (0, 0);
    while at < bytes.len() {
        let Some(field) = SECRET_FIELDS
            .iter()
            .find(|field| bytes[at..].starts_with(field.as_bytes()))
        else {
            at += 1;
            continue;
        };
        let colon = skip_space(at + field.len());
        let quote = skip_space(colon + 1);
        if bytes.get(colon) != Some(&b':') || bytes.get(quote) != Some(&b'"') {
            at += field.len();
            continue;
        }
        // Every stop is at an ASCII quote or the end: a character boundary.
        let mut end = quote + 1;
        while end < bytes.len() && bytes[end] != b'"' {
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        let end = end.min(bytes.len());
        out.push_str(&text[copied..=quote]);
        out.push_str(REDACTED);
        (copied, at) = (end, end);
    }
    out.push_str(&text[copied..]);
    out
}

/// `text` on one line with nothing a terminal or log viewer would interpret:
/// line breaks and tabs become spaces; other control characters (ANSI escapes
/// included) and Unicode direction overrides become `U+FFFD`.
pub fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() || is_direction_control(c) => '\u{FFFD}',
            c => c,
        })
        .collect()
}

fn is_direction_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A text from outside, sanitised and cut to at most `max_chars` characters
/// (for ids and names that go into log lines).
pub fn short_text(text: &str, max_chars: usize) -> String {
    let mut out = sanitize(&text.chars().take(max_chars).collect::<String>());
    if text.chars().nth(max_chars).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_cut_out_raw_and_json_escaped() {
        let mut r = Redactor::new();
        r.add_secret("s3cr\"et\\x");
        let echoed = r#"{"registration_credentials":"s3cr\"et\\x"} and s3cr"et\x"#;
        let out = r.redact(echoed);
        assert!(!out.contains("s3cr"), "{out}");
        assert_eq!(out.matches(REDACTED).count(), 2, "{out}");
    }

    #[test]
    fn secret_fields_are_cut_out_without_knowing_the_secret() {
        let r = Redactor::new();
        // A pydantic-style 422 echoing the request, a relayed callback, spacing,
        // escapes, a value cut short by truncation, non-ASCII around it.
        let echoed = r#"{"detail":[{"input":{"url":"u","registration_credentials" : "cr\"ed\\s","version":"1"}}]}"#;
        let out = r.redact(echoed);
        assert_eq!(
            out,
            format!(
                r#"{{"detail":[{{"input":{{"url":"u","registration_credentials" : "{REDACTED}","version":"1"}}}}]}}"#
            )
        );
        let out = r.redact(r#"é{"id":"n1","secret":"abcé\u00e9"} then {"secret":"cut-sh"#);
        assert_eq!(
            out,
            format!(r#"é{{"id":"n1","secret":"{REDACTED}"}} then {{"secret":"{REDACTED}"#)
        );
        // Other fields, a non-string value and the bare word are left alone.
        for kept in [
            r#"{"secret_length":3,"secret":42}"#,
            "no secret here",
            r#""secret""#,
            r#"{"secret":"#,
        ] {
            assert_eq!(r.redact(kept), kept);
        }
    }

    #[test]
    fn a_short_secret_never_rewrites_a_marker() {
        let mut r = Redactor::new();
        r.add_secret("e");
        r.add_secret("<");
        // Every `e` of the text is cut, the marker already there is kept whole
        // (its `<` and `e`s too), and no marker written is rewritten.
        let out = r.redact("registration failed: <redacted> here");
        assert_eq!(
            out,
            "r<redacted>gistration fail<redacted>d: <redacted> h<redacted>r<redacted>"
        );
    }

    #[test]
    fn a_validators_input_echo_is_cut_without_knowing_the_secret() {
        // FastAPI/pydantic's 422 for a refused field.
        let body = r#"{"detail":[{"type":"string_too_long","loc":["body","registration_credentials"],"msg":"String should have at most 4 characters","input":"the-s3cret-value","ctx":{"max_length":4}}]}"#;
        let out = Redactor::new().redact(body);
        assert!(!out.contains("s3cret"), "{out}");
        assert!(out.contains(r#""input":"<redacted>""#), "{out}");
    }

    #[test]
    fn a_known_secret_is_cut_as_python_go_and_java_encoders_escape_it() {
        let mut r = Redactor::new();
        r.add_secret("s\u{e9}c<r>&t-\u{1f600}-\"q\"");
        // The inside of a JSON string, as each encoder writes the secret.
        for echoed in [
            // serde_json, JavaScript's JSON.stringify: `"` escaped, the rest raw
            "s\u{e9}c<r>&t-\u{1f600}-\\\"q\\\"",
            // Python's json.dumps (ensure_ascii): non-ASCII as \uXXXX, surrogate pairs
            r#"s\u00e9c<r>&t-\ud83d\ude00-\"q\""#,
            // Go's encoding/json: <, > and & escaped, non-ASCII raw
            "s\u{e9}c\\u003cr\\u003e\\u0026t-\u{1f600}-\\\"q\\\"",
            // Java's and .NET's: upper-case hex
            r#"s\u00E9c<r>&t-\uD83D\uDE00-\"q\""#,
        ] {
            let out = r.redact(&format!(r#"{{"error":"bad {echoed}"}}"#));
            assert_eq!(out, format!(r#"{{"error":"bad {REDACTED}"}}"#), "{echoed}");
        }
    }

    #[test]
    fn hex_keys_match_in_any_case_with_or_without_prefix() {
        let mut r = Redactor::new();
        r.add_hex_key("0xabcdef0123");
        let out = r.redact("a ABCDEF0123 b 0xAbCdEf0123 c");
        assert_eq!(out, format!("a {REDACTED} b 0x{REDACTED} c"));
    }

    #[test]
    fn longer_secret_containing_a_shorter_one_goes_whole() {
        let mut r = Redactor::new();
        r.add_secret("abc");
        r.add_secret("xxabcxx");
        assert_eq!(
            r.redact("-xxabcxx-abc-"),
            format!("-{REDACTED}-{REDACTED}-")
        );
    }

    #[test]
    fn control_characters_and_direction_overrides_are_neutralised() {
        let out = sanitize("a\x1b[31mred\x1b[0m\nnext\u{202E}evil\u{7f}");
        assert_eq!(out, "a\u{FFFD}[31mred\u{FFFD}[0m next\u{FFFD}evil\u{FFFD}");
        assert!(!Redactor::new().redact("x\u{1b}y").contains('\u{1b}'));
    }

    #[test]
    fn short_text_is_bounded_and_marked() {
        assert_eq!(short_text("abc", 5), "abc");
        assert_eq!(short_text("abcdef", 3), "abc…");
        assert_eq!(short_text("a\nb", 5), "a b");
    }

    #[test]
    fn debug_shows_no_secret() {
        let mut r = Redactor::new();
        r.add_secret("topsecret");
        assert_eq!(format!("{r:?}"), "Redactor(1 secrets)");
    }
}
