//! # posemesh-registration-wasm
//!
//! The npm package `posemesh-registration`: [`posemesh_registration_core`] compiled to
//! WebAssembly with wasm-bindgen, for Node, browsers, Deno and Cloudflare Workers.
//!
//! This crate is thin. It converts JavaScript values, maps core errors to JavaScript
//! `Error` subclasses with a `code`, and supplies the shared driver
//! ([`posemesh_registration_driver`]) with the runtime's I/O: the global `fetch`,
//! `setTimeout`, `Date.now`, `crypto.getRandomValues`, and a storage object with async
//! `load()`/`save(bytes)`. Every rule about when to register, what to sign and how to read
//! the DDS's answers lives in core; the loop that drives it lives in the driver.
//!
//! - [`key`]: `PrivateKey` and the three signatures.
//! - [`requests`]: building requests, classifying responses, formatting timestamps.
//! - `registrar` (wasm32 only): `Registrar` (`start`/`stop`, `registerOnce`,
//!   `registerAgain`, `tick`, `handleCallback`), each a call into the driver.
//! - `session` (wasm32 only): `accessToken()` and its `AccessToken`.
//! - `metrics` (wasm32 only): `metrics()`.
//!
//! The JavaScript half (error classes, the request object, storage adapters) is
//! `js/support.js`; `build.sh` packages both.

// Off wasm32 (`cargo clippy --workspace`) the registrar is left out, and with it the only
// users of some helpers.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

pub(crate) mod convert;
pub(crate) mod error;
pub(crate) mod host;
pub mod key;
#[cfg(target_arch = "wasm32")]
pub mod metrics;
// The driver's traits want `Send` futures except on wasm32; JavaScript's are not.
#[cfg(target_arch = "wasm32")]
pub mod registrar;
pub mod requests;
#[cfg(target_arch = "wasm32")]
pub(crate) mod runtime;
#[cfg(target_arch = "wasm32")]
pub mod session;

pub use key::PrivateKey;
#[cfg(target_arch = "wasm32")]
pub use registrar::Registrar;
