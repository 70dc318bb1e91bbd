//! The registration state a host persists between runs.
//!
//! Stored as small JSON. Version 1 is written; version 0 (the reference crate's
//! `{"status": …, "last_healthcheck": <unix seconds>}`) still loads. A newer
//! version or a damaged snapshot is an error the host reports before starting
//! afresh. Errors never quote the stored bytes: they may hold the secret.

use crate::registrar::Status;
use crate::secret::Secret;
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The snapshot version this library writes.
pub const SNAPSHOT_VERSION: u32 = 1;
/// Larger stored snapshots are refused as corrupt.
pub const MAX_SNAPSHOT_BYTES: usize = 64 * 1024;

/// What the DDS handed the node through its callback.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DdsCredentials {
    /// The node's id at the DDS.
    pub id: String,
    /// The node's secret.
    pub secret: Secret,
    /// Its organisation, if the DDS said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
}

impl fmt::Debug for DdsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DdsCredentials")
            .field("id", &self.id)
            .field("secret", &self.secret)
            .field("organization_id", &self.organization_id)
            .finish()
    }
}

/// The persisted registration state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Where the registrar was.
    pub status: Status,
    /// When the DDS last showed it knows the node.
    pub last_health_check: Option<UnixTime>,
    /// Consecutive failed attempts.
    pub attempt: u32,
    /// Id and secret from the DDS callback.
    pub credentials: Option<DdsCredentials>,
    /// The stored status text when it was none of the known ones; `status` is
    /// then `Disconnected` and the registrar reports `status.unknown`.
    pub unknown_status: Option<String>,
}

/// Why stored bytes are not a usable snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Written by a newer version of this library.
    #[error("snapshot version {found} is newer than the supported version {SNAPSHOT_VERSION}")]
    UnsupportedVersion {
        /// The version found.
        found: u32,
    },
    /// Not a snapshot: bad JSON, a wrong field type, too large.
    #[error("snapshot is corrupt: {0}")]
    Corrupt(String),
}

#[derive(Serialize, Deserialize)]
struct Stored {
    // Absent in the reference's format: that is version 0.
    #[serde(default)]
    version: u32,
    #[serde(default)]
    status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_health_check_ms: Option<u64>,
    // Version 0's field: Unix seconds.
    #[serde(default, skip_serializing)]
    last_healthcheck: Option<i64>,
    #[serde(default)]
    attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    credentials: Option<DdsCredentials>,
}

impl Snapshot {
    /// Serialises the snapshot (version [`SNAPSHOT_VERSION`]).
    pub fn encode(&self) -> Vec<u8> {
        let stored = Stored {
            version: SNAPSHOT_VERSION,
            status: Some(self.status.as_str().to_owned()),
            last_health_check_ms: self.last_health_check.map(UnixTime::as_millis),
            last_healthcheck: None,
            attempt: self.attempt,
            credentials: self.credentials.clone(),
        };
        serde_json::to_vec(&stored).expect("plain fields always serialise")
    }

    /// Reads a stored snapshot of any supported version.
    pub fn decode(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        if bytes.len() > MAX_SNAPSHOT_BYTES {
            return Err(SnapshotError::Corrupt(format!(
                "{} bytes is larger than the {MAX_SNAPSHOT_BYTES}-byte limit",
                bytes.len()
            )));
        }
        let stored: Stored = serde_json::from_slice(bytes)
            .map_err(|err| SnapshotError::Corrupt(crate::json_error_summary(&err)))?;
        if stored.version > SNAPSHOT_VERSION {
            return Err(SnapshotError::UnsupportedVersion {
                found: stored.version,
            });
        }
        let last_health_check = match (stored.last_health_check_ms, stored.last_healthcheck) {
            (Some(ms), _) => Some(UnixTime::from_millis(ms)),
            (None, Some(secs)) => u64::try_from(secs)
                .ok()
                .map(|secs| UnixTime::from_secs_nanos(secs, 0)),
            (None, None) => None,
        };
        let text = stored.status.unwrap_or_default();
        let (status, unknown_status) = match Status::from_name(&text) {
            Some(status) => (status, None),
            // The reference writes "disconnected" by default; treat absence the same.
            None if text.is_empty() => (Status::Disconnected, None),
            None => (Status::Disconnected, Some(text)),
        };
        Ok(Snapshot {
            status,
            last_health_check,
            attempt: stored.attempt,
            credentials: stored.credentials,
            unknown_status,
        })
    }
}
