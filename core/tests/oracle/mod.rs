//! serde_json's reading of the JSON documents core reads: the structs core
//! read them into, with derived `Deserialize`, before it had its own reader
//! (`core/src/json.rs`). One copy for `core/tests/json_reading.rs`,
//! `benches/benches/reading.rs` and `fuzz/fuzz_targets/json_reading.rs`.
#![allow(dead_code)] // each user reads some of the fields

use posemesh_registration_core::{DdsCredentials, RegisteredAs};
use serde::Deserialize;

/// A stored snapshot.
#[derive(Deserialize)]
pub struct Stored {
    #[serde(default)]
    pub version: u32,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub last_health_check_ms: Option<u64>,
    #[serde(default)]
    pub last_healthcheck: Option<i64>,
    #[serde(default)]
    pub attempt: u32,
    #[serde(default)]
    pub credentials: Option<DdsCredentials>,
    #[serde(default)]
    pub registered_as: Option<RegisteredAs>,
    #[serde(default)]
    pub callback_until_ms: Option<u64>,
    #[serde(default)]
    pub callback_attempt: Option<u64>,
    #[serde(default)]
    pub callback_taken: Option<String>,
    #[serde(default)]
    pub earlier_callback_attempt: Option<u64>,
    #[serde(default)]
    pub earlier_callback_taken: Option<String>,
}

/// The DDS's callback body.
#[derive(Deserialize)]
pub struct CallbackBody {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub secret: String,
    #[serde(default)]
    pub organization_id: Option<String>,
}

/// The DDS's answer to a sign-in.
#[derive(Deserialize)]
pub struct SignInAnswer {
    pub access_token: Option<String>,
    pub access_expires_at: Option<String>,
    pub expires_at: Option<String>,
}
