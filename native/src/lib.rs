//! # posemesh-registration
//!
//! Registers a posemesh node with the Domain Discovery Service (DDS) and keeps
//! it registered. This crate runs the sans-IO
//! [`posemesh_registration_core::Registrar`] with tokio, reqwest (rustls), the
//! system clock, OS randomness for jitter, and a [`FileStore`] whose lock lets
//! only one process of a multi-worker node register at a time.
//!
//! ```no_run
//! use posemesh_registration::{Driver, FileStore, Flow, PrivateKey, RegistrarConfig};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let key = PrivateKey::from_hex(&std::env::var("POSEMESH_PRIVATE_KEY")?)?;
//! let config = RegistrarConfig::new(
//!     "https://dds.example.com",
//!     Flow::Legacy { node_url: "https://node.example.com".into() },
//!     "1.2.3",
//!     vec!["/reconstruction/global-refinement/v1".into()],
//!     std::env::var("POSEMESH_REGISTRATION_SECRET")?.into(),
//! )?;
//! let driver = Driver::builder(config, key)
//!     .store(FileStore::new("/var/lib/node/registration.json"))
//!     .build()?;
//! // Serve driver.handle_node_request(..) from your web server (or the `axum`
//! // feature's router), then:
//! driver.run().await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod driver;
pub mod runtime;
#[cfg(feature = "axum")]
pub mod server;
pub mod store;
pub mod transport;

pub use clock::{Clock, SystemClock, TokioClock};
pub use driver::{
    Background, Driver, DriverBuilder, DriverError, EventHandler, RegisterOnceError, TickReport,
};
pub use posemesh_registration_core as core;
pub use posemesh_registration_core::{
    AttemptOutcome, Event, Failure, FailureClass, Flow, Level, PrivateKey, RegistrarConfig, Secret,
    Snapshot, Status, UnixTime,
};
pub use posemesh_registration_driver as shared_driver;
pub use posemesh_registration_driver::RemoteSigner;
pub use runtime::shared_runtime;
pub use store::{FileStore, MemoryStore, Store, StoreError};
pub use transport::{ReqwestTransport, Transport};

/// A new private key from the operating system's randomness.
pub fn generate_key() -> Result<PrivateKey, getrandom::Error> {
    loop {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        // Out of range (zero or ≥ the curve order) has probability ~2⁻¹²⁸: draw again.
        if let Ok(key) = PrivateKey::from_random_bytes(bytes) {
            return Ok(key);
        }
    }
}
