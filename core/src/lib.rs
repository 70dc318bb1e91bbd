//! # posemesh-registration-core
//!
//! How a posemesh node registers with the Domain Discovery Service (DDS) and
//! stays registered, with no I/O: no clock, no randomness source, no sockets,
//! no files. Hosts (the native driver, the Python, JavaScript, Kotlin and Swift
//! bindings) supply those and drive a [`Registrar`].
//!
//! - [`keys`]: secp256k1 keys and the protocol's three signature formats.
//! - [`request`]: the exact HTTP requests of the legacy and SIWE flows.
//! - [`response`]: classification of the DDS's answers, safe error texts.
//! - [`callback`]: the DDS's calls to the node (`/internal/v1/registrations`, `/health`).
//! - [`snapshot`]: the versioned state a host persists.
//! - [`registrar`]: the registration loop as a sans-IO state machine.
//! - [`metrics`]: operator counters and gauges kept from its events.
//!
//! ```
//! use posemesh_registration_core::{Flow, Output, PrivateKey, Registrar, RegistrarConfig, UnixTime};
//!
//! let key = PrivateKey::from_hex("4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90")?;
//! let config = RegistrarConfig::new(
//!     "http://127.0.0.1:8080",
//!     Flow::Legacy { node_url: "http://127.0.0.1:9090".into() },
//!     "1.2.3",
//!     vec!["/reconstruction/global-refinement/v1".into()],
//!     "registration-secret".into(),
//! )?;
//! let start = UnixTime::from_secs_nanos(1_700_000_000, 0);
//! let mut registrar = Registrar::new(config, key, None, start, 42);
//! // Drain what the registrar wants until it asks to wait.
//! let wake = loop {
//!     match registrar.poll_output() {
//!         Output::Wait(at) => break at,
//!         _other => {}
//!     }
//! };
//! registrar.handle_timeout(wake);
//! assert!(registrar.has_request_in_flight());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod callback;
mod json;
pub mod keys;
pub mod metrics;
pub mod redact;
pub mod registrar;
pub mod request;
pub mod response;
mod rng;
pub mod secret;
pub mod snapshot;
pub mod time;
pub mod url;

pub use callback::{NodeResponse, RegistrationCallback};
pub use keys::{KeyError, PrivateKey, SignatureError, Signer};
pub use metrics::{Metrics, MetricsSnapshot};
pub use redact::Redactor;
pub use registrar::{
    AccessToken, AttemptOutcome, ConfigError, Event, FieldValue, Flow, Level, LockOutcome, Origin,
    OutgoingRequest, Output, Registrar, RegistrarConfig, RequestId, SignRequest, StaleReason,
    Status, EVENT_FIELDS, SIGN_IN_RETRIES, SIWE_VERIFY_PATH,
};
pub use request::{HttpRequest, Method, NodeDescription, SiweChallenge};
pub use response::{Failure, FailureClass, HttpResponse, TransportError, TransportErrorKind};
pub use secret::Secret;
pub use snapshot::{
    CallbackSlot, DdsCredentials, EarlierCallback, RegisteredAs, Snapshot, SnapshotError,
};
pub use time::UnixTime;
pub use url::{BaseUrl, UrlError};
