//! URL validation on any text: `BaseUrl::parse`, `url::validate_node_url` and
//! `url::url_host` never panic, and an accepted base URL is normalised.
#![no_main]

use libfuzzer_sys::fuzz_target;
use posemesh_registration_core::url::{url_host, validate_node_url};
use posemesh_registration_core::BaseUrl;

fn has_http_scheme(text: &str) -> bool {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    let node = validate_node_url(text);
    let host = url_host(text);
    if let Some(host) = host {
        assert!(!host.is_empty());
        assert!(text.contains(host), "host {host:?} not in {text:?}");
    }
    if node.is_ok() {
        assert!(has_http_scheme(text), "{text:?}");
        assert!(host.is_some(), "valid node URL without a host: {text:?}");
        assert!(!text.contains(|c: char| c.is_whitespace() || c.is_control()));
    }
    // (Errors cannot echo the URL: `UrlError` variants carry no data.)

    match BaseUrl::parse(text) {
        Ok(base) => {
            let normal = base.as_str();
            assert!(!normal.ends_with('/'), "{normal:?}");
            assert!(!normal.is_empty());
            assert!(has_http_scheme(normal), "{normal:?}");
            assert!(!normal.contains(['?', '#']), "{normal:?}");
            assert!(!normal.contains(|c: char| c.is_whitespace() || c.is_control()));
            let endpoint = base.endpoint("/x");
            assert!(endpoint.starts_with(normal));
            assert_eq!(&endpoint[normal.len()..], "/x");
            assert_eq!(base.to_string(), normal);
            // The trimmed text is a valid node URL too, and parsing is idempotent.
            assert_eq!(validate_node_url(text.trim()), Ok(()), "{text:?}");
            assert_eq!(validate_node_url(normal), Ok(()), "{normal:?}");
            assert_eq!(BaseUrl::parse(normal).as_ref(), Ok(&base), "{normal:?}");
            assert!(url_host(normal).is_some(), "{normal:?}");
        }
        Err(_) => {
            // Refused by the shared check, or for a query or fragment.
            assert!(
                validate_node_url(text.trim()).is_err() || text.contains(['?', '#']),
                "{text:?}"
            );
        }
    }
});
