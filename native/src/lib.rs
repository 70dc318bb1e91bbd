//! # posemesh-registration
//!
//! Registers a posemesh node with the Domain Discovery Service (DDS) and keeps
//! it registered. This crate runs the sans-IO
//! [`posemesh_registration_core::Registrar`] with tokio, reqwest (rustls), the
//! system clock, OS randomness for jitter, and a [`FileStore`] whose lock lets
//! only one process of a multi-worker node register at a time.
//!
//! ```no_run
//! use posemesh_registration::{FileStore, Flow, PrivateKey, RegistrarConfig};
//! use std::sync::Arc;
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
//! let driver = posemesh_registration::builder(config, key)?
//!     .store(Arc::new(FileStore::new("/var/lib/node/registration.json")))
//!     .build()
//!     .await?;
//! // Serve driver.handle_node_request(..) from your web server (or the `axum`
//! // feature's router), then:
//! driver.run().await?;
//! # Ok(()) }
//! ```
//!
//! The [`Driver`] is the one every runtime shares
//! ([`posemesh_registration_driver`]); this crate supplies its native I/O:
//! [`ReqwestTransport`], [`FileStore`] and [`MemoryStore`], [`TokioRuntime`],
//! and [`TracingSink`] for events.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod log;
pub mod runtime;
#[cfg(feature = "axum")]
pub mod server;
pub mod store;
pub mod transport;

pub use log::{log_event, TracingSink};
pub use posemesh_registration_core as core;
pub use posemesh_registration_core::{
    AccessToken, AttemptOutcome, Event, Failure, FailureClass, Flow, Level, PrivateKey,
    RegistrarConfig, Secret, Snapshot, Status, UnixTime,
};
pub use posemesh_registration_driver as shared_driver;
pub use posemesh_registration_driver::{
    after_fork_in_child, BoxFuture, Driver, DriverBuilder, DriverError, EventSink,
    RegisterOnceError, RemoteSigner, Runtime, SnapshotStore, StoreError, TickReport,
};
pub use runtime::{
    off_async_workers, shared_runtime, spawn_loop, system_time, unix_time, Background, Call,
    CallEnded, TokioRuntime, ABANDON_WAIT,
};
pub use store::{FileStore, FileStoreError, MemoryStore};
pub use transport::{ReqwestTransport, Transport};

use std::sync::Arc;

/// A [`DriverBuilder`] with the native defaults: [`ReqwestTransport`]
/// (rustls, no redirects), an in-memory store ([`DriverBuilder::store`] to
/// keep state across restarts), the system clock with tokio timers, and
/// events logged through `tracing` ([`DriverBuilder::events`] with
/// [`TracingSink::with_handler`] to see them too). An error only if the
/// HTTP client cannot be built.
pub fn builder(config: RegistrarConfig, key: PrivateKey) -> Result<DriverBuilder, DriverError> {
    let (transport, store, runtime) = native_io()?;
    Ok(
        Driver::builder(config, key, transport, store, runtime)
            .events(Arc::new(TracingSink::new())),
    )
}

/// Like [`builder`], for the wallet flow with a node key the host keeps:
/// `signer` signs each attempt's SIWE message for `address`
/// (see [`Driver::builder_with_remote_signer`]).
pub fn builder_with_remote_signer(
    config: RegistrarConfig,
    address: String,
    signer: Arc<dyn RemoteSigner>,
) -> Result<DriverBuilder, DriverError> {
    let (transport, store, runtime) = native_io()?;
    let builder =
        Driver::builder_with_remote_signer(config, address, signer, transport, store, runtime);
    Ok(builder.events(Arc::new(TracingSink::new())))
}

type NativeIo = (Arc<dyn Transport>, Arc<dyn SnapshotStore>, Arc<dyn Runtime>);

fn native_io() -> Result<NativeIo, DriverError> {
    let transport = ReqwestTransport::new().map_err(|e| DriverError::Http(e.to_string()))?;
    Ok((
        Arc::new(transport),
        Arc::new(MemoryStore::new()),
        Arc::new(TokioRuntime::new()),
    ))
}

/// A new private key from the operating system's randomness.
pub fn generate_key() -> Result<PrivateKey, getrandom::Error> {
    loop {
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut bytes[..])?;
        // Out of range (zero or ≥ the curve order) has probability ~2⁻¹²⁸: draw again.
        if let Ok(key) = PrivateKey::from_random_bytes(*bytes) {
            return Ok(key);
        }
    }
}
