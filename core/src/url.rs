//! Validation of the URLs the protocol carries: the DDS base URL (endpoints are
//! appended to it) and the node's own public URL (signed and sent verbatim).
//!
//! Errors describe the problem and never echo the URL: it may carry credentials.

use std::fmt;

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Nothing given.
    #[error("URL is empty")]
    Empty,
    /// Not `http://` or `https://`.
    #[error("URL must start with http:// or https://")]
    UnsupportedScheme,
    /// No host after the scheme.
    #[error("URL has no host")]
    MissingHost,
    /// `user:password@` in the authority: it would leak into logs and errors.
    #[error("URL must not contain user credentials (user:password@)")]
    HasCredentials,
    /// Whitespace or control characters.
    #[error("URL contains whitespace or control characters")]
    InvalidCharacter,
    /// A `?query` or `#fragment` on a base URL that paths are appended to.
    #[error("DDS base URL must not contain a query or fragment")]
    HasQueryOrFragment,
    /// A port that is not a number from 1 to 65535.
    #[error("URL port must be a number from 1 to 65535")]
    InvalidPort,
    /// An IPv6 literal that is not closed by `]` or holds other characters.
    #[error("URL has a malformed IPv6 address (expected [hex:digits])")]
    InvalidIpv6,
}

/// A validated DDS base URL, normalised without trailing `/`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BaseUrl(String);

impl BaseUrl {
    /// Validates and normalises a DDS base URL (surrounding whitespace and trailing
    /// slashes removed; `https://dds.example.com/` → `https://dds.example.com`).
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let text = text.trim();
        check_http_url(text)?;
        if text.contains(['?', '#']) {
            return Err(UrlError::HasQueryOrFragment);
        }
        Ok(BaseUrl(text.trim_end_matches('/').to_owned()))
    }

    /// The base URL followed by `path` (which starts with `/`).
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.0, path)
    }

    /// The normalised base URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Host and port as written (`dds.example.com`, `127.0.0.1:8080`,
    /// `[::1]:8080`), in lower case: what a SIWE challenge's domain must be.
    pub fn authority(&self) -> String {
        url_authority(&self.0).unwrap_or("").to_ascii_lowercase()
    }

    /// The scheme's default port: 443 for `https`, 80 for `http`.
    pub fn default_port(&self) -> u16 {
        if self
            .0
            .get(..5)
            .is_some_and(|s| s.eq_ignore_ascii_case("https"))
        {
            443
        } else {
            80
        }
    }

    /// Whether the scheme is `https` (in any case): requests to it are encrypted.
    pub fn is_https(&self) -> bool {
        self.default_port() == 443
    }

    /// Whether the host is this machine's loopback: `localhost` and
    /// `*.localhost` (RFC 6761), `127.0.0.0/8` in plain dotted decimal, `::1`.
    /// Plaintext to it never leaves the machine. Other spellings (`127.1`,
    /// octal, IPv4-mapped) are not recognised: they count as remote.
    pub fn is_loopback(&self) -> bool {
        is_loopback_host(url_host(&self.0).unwrap_or(""))
    }

    /// The port requests go to: the one written, else the scheme's default.
    pub fn port(&self) -> u16 {
        port_of_authority(&self.authority())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| self.default_port())
    }

    /// The host alone, in lower case (IPv6 in brackets, as in the authority).
    pub fn host(&self) -> String {
        let authority = self.authority();
        if authority.starts_with('[') {
            return authority
                .split_inclusive(']')
                .next()
                .unwrap_or("")
                .to_owned();
        }
        host_of_authority(&authority).to_owned()
    }
}

/// Whether `host` (IPv6 without brackets) is this machine's loopback, as
/// [`BaseUrl::is_loopback`] reads it.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    // `localhost`, or a name ending in `.localhost`, in any case.
    let tail = host.len().checked_sub(9).and_then(|at| host.get(at..));
    let localhost = tail.is_some_and(|tail| tail.eq_ignore_ascii_case("localhost"))
        && (host.len() == 9 || host.as_bytes()[host.len() - 10] == b'.');
    localhost
        || if host.contains(':') {
            is_ipv6_loopback(host)
        } else {
            is_ipv4_loopback(host)
        }
}

impl fmt::Debug for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BaseUrl({:?})", self.0)
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `text` as a number of 1 to `max_digits` digits in `radix` (no sign).
fn number(text: &str, radix: u32, max_digits: usize) -> Option<u32> {
    if text.is_empty() || text.len() > max_digits {
        return None;
    }
    text.chars()
        .try_fold(0, |n, c| Some(n * radix + c.to_digit(radix)?))
}

/// `127.a.b.c`, each part decimal 0 to 255 without leading zeros (which some
/// parsers read as octal: `0127.0.0.1` is not loopback to them).
fn is_ipv4_loopback(host: &str) -> bool {
    let mut parts = 0;
    for part in host.split('.') {
        parts += 1;
        let decimal = number(part, 10, 3).is_some_and(|n| n <= 255)
            && (part.len() == 1 || !part.starts_with('0'));
        if !decimal || (parts == 1 && part != "127") {
            return false;
        }
    }
    parts == 4
}

/// `::1` in any of its spellings (`0:0:0:0:0:0:0:1`, `0::1`, `::0:1`): every
/// group but the last zero or left out, the last one 1.
fn is_ipv6_loopback(address: &str) -> bool {
    let (mut groups, mut compressed, mut previous) = (0, false, Some(0));
    for group in address.split(':') {
        if previous != Some(0) {
            return false;
        }
        groups += 1;
        compressed |= group.is_empty();
        previous = if group.is_empty() {
            Some(0)
        } else {
            number(group, 16, 4)
        };
    }
    previous == Some(1) && (groups == 8 || (compressed && groups <= 8))
}

/// Checks the node's public URL. It is signed and sent exactly as given, so it
/// is validated but not rewritten.
pub fn validate_node_url(text: &str) -> Result<(), UrlError> {
    check_http_url(text)
}

fn check_http_url(text: &str) -> Result<(), UrlError> {
    if text.is_empty() {
        return Err(UrlError::Empty);
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(UrlError::InvalidCharacter);
    }
    let rest = strip_scheme(text).ok_or(UrlError::UnsupportedScheme)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(UrlError::HasCredentials);
    }
    check_authority(authority)
}

fn check_authority(authority: &str) -> Result<(), UrlError> {
    let port = if let Some(v6) = authority.strip_prefix('[') {
        let (address, after) = v6.split_once(']').ok_or(UrlError::InvalidIpv6)?;
        if address.is_empty() {
            return Err(UrlError::MissingHost);
        }
        let valid = address.contains(':')
            && address
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        if !valid {
            return Err(UrlError::InvalidIpv6);
        }
        match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(UrlError::InvalidPort)?),
        }
    } else {
        if authority.contains(['[', ']']) {
            return Err(UrlError::InvalidIpv6);
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if host.is_empty() {
            return Err(UrlError::MissingHost);
        }
        if host.contains(':') {
            // More than one colon outside brackets: an IPv6 address without them.
            return Err(UrlError::InvalidIpv6);
        }
        port
    };
    match port {
        None => Ok(()),
        // `http://host:` means the default port (RFC 3986 allows an empty port).
        Some("") => Ok(()),
        Some(port) => match port.parse::<u16>() {
            Ok(n) if n > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
            _ => Err(UrlError::InvalidPort),
        },
    }
}

fn strip_scheme(text: &str) -> Option<&str> {
    let (scheme, rest) = text.split_once("://")?;
    (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")).then_some(rest)
}

/// The authority (host and port, after any `user@`) of an `http(s)` URL.
pub fn url_authority(text: &str) -> Option<&str> {
    let rest = strip_scheme(text)?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    (!authority.is_empty()).then_some(authority)
}

/// The host of an authority (IPv6 without brackets).
pub(crate) fn host_of_authority(authority: &str) -> &str {
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _port)| host)
}

/// The port an authority names, if it names one (`dds.test:8080` → `8080`).
pub(crate) fn port_of_authority(authority: &str) -> Option<&str> {
    let after_host = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or("", |(_, rest)| rest),
        None => authority,
    };
    after_host
        .rsplit_once(':')
        .map(|(_, port)| port)
        .filter(|port| !port.is_empty())
}

/// The host of an `http(s)` URL (IPv6 without brackets), if it has one.
/// Lets a host decide, for example, whether a URL is loopback.
pub fn url_host(text: &str) -> Option<&str> {
    let host = host_of_authority(url_authority(text)?);
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_base_urls() {
        let cases = [
            ("http://dds.example.com", "http://dds.example.com"),
            ("https://dds.example.com", "https://dds.example.com"),
            ("HTTP://dds.example.com", "HTTP://dds.example.com"),
            ("HtTpS://dds.example.com", "HtTpS://dds.example.com"),
            ("https://dds.example.com/", "https://dds.example.com"),
            ("https://dds.example.com///", "https://dds.example.com"),
            ("  https://dds.example.com/  ", "https://dds.example.com"),
            (
                "https://dds.example.com/api/v2/",
                "https://dds.example.com/api/v2",
            ),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://[::1]:8080", "http://[::1]:8080"),
            ("http://[::1]", "http://[::1]"),
            ("http://localhost", "http://localhost"),
            ("http://localhost:65535", "http://localhost:65535"),
            ("http://[::ffff:127.0.0.1]:1", "http://[::ffff:127.0.0.1]:1"),
        ];
        for (input, normalised) in cases {
            let url = BaseUrl::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(url.as_str(), normalised, "{input:?}");
            assert_eq!(url.to_string(), normalised);
            assert_eq!(
                url.endpoint("/internal/v1/nodes/register"),
                format!("{normalised}/internal/v1/nodes/register")
            );
        }
    }

    #[test]
    fn rejected_base_urls() {
        let cases = [
            ("", UrlError::Empty),
            ("   ", UrlError::Empty),
            ("ftp://dds.example.com", UrlError::UnsupportedScheme),
            ("dds.example.com", UrlError::UnsupportedScheme),
            ("//dds.example.com", UrlError::UnsupportedScheme),
            ("httpx://dds.example.com", UrlError::UnsupportedScheme),
            ("http://", UrlError::MissingHost),
            ("http:///x", UrlError::MissingHost),
            ("http://:8080", UrlError::MissingHost),
            ("http://[]:8080", UrlError::MissingHost),
            ("http://user:pw@host", UrlError::HasCredentials),
            ("http://user@host/path", UrlError::HasCredentials),
            ("http://dds.example.com/a b", UrlError::InvalidCharacter),
            ("http://dds.exa\tmple.com", UrlError::InvalidCharacter),
            ("http://dds.example.com/\u{7f}", UrlError::InvalidCharacter),
            ("http://dds.example.com?q=1", UrlError::HasQueryOrFragment),
            ("http://dds.example.com/api?q", UrlError::HasQueryOrFragment),
            ("http://dds.example.com#f", UrlError::HasQueryOrFragment),
            ("http://h:99999", UrlError::InvalidPort),
            ("http://h:0", UrlError::InvalidPort),
            ("http://h:8o80", UrlError::InvalidPort),
            ("http://h:+80", UrlError::InvalidPort),
            ("http://[::1", UrlError::InvalidIpv6),
            ("http://[::1]x", UrlError::InvalidPort),
            ("http://[::1]:70000", UrlError::InvalidPort),
            ("http://[zz::1]:80", UrlError::InvalidIpv6),
            ("http://::1:80", UrlError::InvalidIpv6),
            ("http://h]:80", UrlError::InvalidIpv6),
        ];
        for (input, error) in cases {
            assert_eq!(BaseUrl::parse(input), Err(error.clone()), "{input:?}");
        }
    }

    #[test]
    fn errors_do_not_echo_the_url() {
        let input = "http://alice:hunter2-password@dds.example.com";
        let err = BaseUrl::parse(input).unwrap_err();
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains("hunter2"), "{text}");
            assert!(!text.contains("alice"), "{text}");
        }
    }

    #[test]
    fn node_urls() {
        // Signed verbatim: query, fragment and trailing slash are fine and kept.
        for ok in [
            "https://node.example.com",
            "https://node.example.com/",
            "http://127.0.0.1:8080/node?x=1&y=2",
            "https://node.example.com/#frag",
            "https://nöde.example.com/π",
            "http://[2001:db8::1]:9090",
        ] {
            assert_eq!(validate_node_url(ok), Ok(()), "{ok:?}");
        }
        for (bad, error) in [
            ("", UrlError::Empty),
            ("node.example.com", UrlError::UnsupportedScheme),
            ("ws://node.example.com", UrlError::UnsupportedScheme),
            ("https://", UrlError::MissingHost),
            ("https://u:p@node.example.com", UrlError::HasCredentials),
            (" https://node.example.com", UrlError::InvalidCharacter),
            ("https://node.example.com\n", UrlError::InvalidCharacter),
        ] {
            assert_eq!(validate_node_url(bad), Err(error), "{bad:?}");
        }
    }

    #[test]
    fn authorities() {
        for (url, authority, host) in [
            (
                "https://DDS.example.com/api",
                "dds.example.com",
                "dds.example.com",
            ),
            ("http://127.0.0.1:8080", "127.0.0.1:8080", "127.0.0.1"),
            ("http://[::1]:8080/x", "[::1]:8080", "[::1]"),
        ] {
            let base = BaseUrl::parse(url).unwrap();
            assert_eq!(base.authority(), authority);
            assert_eq!(base.host(), host);
        }
    }

    #[test]
    fn schemes_and_loopback_hosts() {
        // (url, is_https, is_loopback)
        let cases = [
            ("https://dds.example.com", true, false),
            ("HTTPS://dds.example.com", true, false),
            ("http://dds.example.com", false, false),
            ("http://127.0.0.1:8080", false, true),
            ("http://127.255.255.254", false, true),
            ("https://127.0.0.1", true, true),
            ("http://[::1]:8080", false, true),
            ("http://[0:0:0:0:0:0:0:1]", false, true),
            ("http://[0::1]:8080", false, true),
            ("http://localhost", false, true),
            ("http://LOCALHOST:80", false, true),
            ("http://localhost.:80", false, true),
            ("http://dds.localhost:8080/api", false, true),
            ("http://a.b.LocalHost:1", false, true),
            // Look-alikes and other private addresses are not loopback.
            ("http://localhost.example.com", false, false),
            ("http://notlocalhost", false, false),
            ("http://xlocalhost", false, false),
            ("http://localhost.x", false, false),
            ("http://ålocalhost", false, false),
            ("http://127.0.0.1.example.com", false, false),
            ("http://128.0.0.1", false, false),
            ("http://10.0.0.1", false, false),
            ("http://0.0.0.0", false, false),
            ("http://[::2]", false, false),
            ("http://[::ffff:10.0.0.1]", false, false),
            ("http://[::ffff:127.0.0.1]", false, false),
            ("http://[1::1]", false, false),
            ("http://[::1:1]", false, false),
            ("http://[0:0:0:0:0:0:1]", false, false),
            ("http://127.1", false, false),
            ("http://0127.0.0.1", false, false),
            ("http://127.0.0.01", false, false),
            ("http://127.0.0.256", false, false),
            ("http://127.0.0.1.2", false, false),
            ("http://127.+0.0.1", false, false),
            ("http://[::00001]", false, false),
        ];
        for (url, https, loopback) in cases {
            let base = BaseUrl::parse(url).unwrap_or_else(|e| panic!("{url:?}: {e}"));
            assert_eq!(base.is_https(), https, "{url:?}");
            assert_eq!(base.is_loopback(), loopback, "{url:?}");
        }
    }

    #[test]
    fn hosts() {
        let cases = [
            ("http://dds.example.com", Some("dds.example.com")),
            (
                "https://dds.example.com:8443/path?q#f",
                Some("dds.example.com"),
            ),
            ("HTTP://LOCALHOST:80", Some("LOCALHOST")),
            ("http://127.0.0.1:8080", Some("127.0.0.1")),
            ("http://[::1]:8080/x", Some("::1")),
            ("http://[::1]", Some("::1")),
            ("http://user:pw@host:1/x", Some("host")),
            ("http://host?x=a@b", Some("host")),
            ("http://", None),
            ("http://:80", None),
            ("ftp://host", None),
            ("host", None),
        ];
        for (url, host) in cases {
            assert_eq!(url_host(url), host, "{url:?}");
        }
    }
}
