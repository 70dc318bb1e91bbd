//! # posemesh-registration-wasm
//!
//! The npm package `posemesh-registration`: [`posemesh_registration_core`] compiled to
//! WebAssembly with wasm-bindgen, for Node, browsers, Deno and Cloudflare Workers.
//!
//! This crate is thin. It converts JavaScript values, maps core errors to JavaScript
//! `Error` subclasses with a `code`, and supplies the runtime's I/O: the global `fetch`,
//! `setTimeout`, `Date.now`, `crypto.getRandomValues`, and a storage object with
//! async `load()`/`save(bytes)`. Every rule about when to register, what to sign and how to
//! read the DDS's answers lives in core.
//!
//! - [`key`]: `PrivateKey` and the three signatures.
//! - [`requests`]: building requests, classifying responses, formatting timestamps.
//! - [`registrar`]: `Registrar` (`start`/`stop`, `registerOnce`, `tick`, `handleCallback`).
//!
//! The JavaScript half (error classes, the request object, storage adapters) is
//! `js/support.js`; `build.sh` packages both.

pub(crate) mod convert;
pub(crate) mod error;
pub(crate) mod host;
pub mod key;
pub mod registrar;
pub mod requests;

pub use key::PrivateKey;
pub use registrar::Registrar;
