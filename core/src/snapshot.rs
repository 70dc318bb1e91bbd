//! The registration state a host persists between runs.
//!
//! Stored as small JSON. Version 1 is written; version 0 (the reference crate's
//! `{"status": …, "last_healthcheck": <unix seconds>}`) still loads. A newer
//! version or a damaged snapshot is an error the host reports before starting
//! afresh. Errors never quote the stored bytes: they may hold the secret.

use crate::json::{self, Reader};
use crate::registrar::Status;
use crate::secret::Secret;
use crate::time::UnixTime;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The snapshot version this library writes.
pub const SNAPSHOT_VERSION: u32 = 1;
/// Larger stored snapshots are refused as corrupt.
///
/// It must exceed anything [`Snapshot::encode`] writes after an accepted
/// callback: the credentials re-encode to no more bytes than the callback body
/// carried them in (at most [`crate::callback::MAX_CALLBACK_BODY`]), plus the
/// snapshot's own small fields.
pub const MAX_SNAPSHOT_BYTES: usize = 2 * crate::callback::MAX_CALLBACK_BODY;

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

/// What a registration was made for. A stored registration is taken over
/// only when this matches the running configuration: a node restarted with a
/// new version, capabilities, URL, key or DDS registers again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredAs {
    /// The DDS base URL.
    pub dds_url: String,
    /// `legacy` or `wallet`.
    pub flow: String,
    /// The node's Ethereum address.
    pub address: String,
    /// The node URL (legacy flow only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_url: Option<String>,
    /// The version announced.
    pub version: String,
    /// The capabilities announced.
    pub capabilities: Vec<String>,
}

impl DdsCredentials {
    /// Reads the fields of an object that carries credentials (a stored
    /// snapshot's, the DDS's callback body), each as given: `id`, `secret`
    /// and `organization_id` (`null` as absent).
    pub(crate) fn read_fields(
        r: &mut Reader<'_>,
    ) -> json::Result<(Option<String>, Option<String>, Option<String>)> {
        let (mut id, mut secret, mut organization_id) = (None, None, None);
        r.object(&mut |r, key| match key {
            "id" => r.once(&mut id, Reader::string),
            "secret" => r.once(&mut secret, Reader::string),
            "organization_id" => r.once(&mut organization_id, |r| r.nullable(Reader::string)),
            _ => Ok(false),
        })?;
        Ok((id, secret, organization_id.flatten()))
    }

    /// Reads the credentials object of a stored snapshot.
    fn read(r: &mut Reader<'_>) -> json::Result<Self> {
        let (id, secret, organization_id) = Self::read_fields(r)?;
        Ok(DdsCredentials {
            id: id.ok_or_else(|| r.invalid())?,
            secret: Secret::new(secret.ok_or_else(|| r.invalid())?),
            organization_id,
        })
    }
}

impl RegisteredAs {
    /// Reads the `registered_as` object of a stored snapshot.
    fn read(r: &mut Reader<'_>) -> json::Result<Self> {
        let (mut dds_url, mut flow, mut address, mut node_url) = (None, None, None, None);
        let (mut version, mut capabilities) = (None, None);
        r.object(&mut |r, key| match key {
            "dds_url" => r.once(&mut dds_url, Reader::string),
            "flow" => r.once(&mut flow, Reader::string),
            "address" => r.once(&mut address, Reader::string),
            "node_url" => r.once(&mut node_url, |r| r.nullable(Reader::string)),
            "version" => r.once(&mut version, Reader::string),
            "capabilities" => r.once(&mut capabilities, Reader::strings),
            _ => Ok(false),
        })?;
        let missing = || r.invalid();
        Ok(RegisteredAs {
            dds_url: dds_url.ok_or_else(missing)?,
            flow: flow.ok_or_else(missing)?,
            address: address.ok_or_else(missing)?,
            node_url: node_url.flatten(),
            version: version.ok_or_else(missing)?,
            capabilities: capabilities.ok_or_else(missing)?,
        })
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
    /// What the registration was made for; `None` in snapshots written before
    /// this was recorded, which therefore lead to a fresh registration.
    pub registered_as: Option<RegisteredAs>,
    /// The lock holder's legacy attempt's callback window (written while it
    /// is open): a sibling process that receives the DDS's callback checks it
    /// against this slot before answering.
    pub callback: Option<CallbackSlot>,
    /// The callback accepted in an earlier attempt, kept when a newer
    /// attempt's slot replaced that attempt's: a sibling whose merge of a
    /// different callback for it comes late still reports the conflict.
    pub earlier_callback: Option<EarlierCallback>,
}

/// A callback accepted in an attempt whose slot a newer attempt replaced:
/// which attempt, and the callback's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierCallback {
    /// The attempt's id.
    pub attempt: u64,
    /// The fingerprint of the callback accepted in it.
    pub taken: String,
}

/// The callback window of one legacy attempt, as siblings sharing the
/// snapshot see it: which attempt, until when, and which callback (if any)
/// was accepted for it. One slot per attempt: a second, different callback
/// for it is refused whichever process receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackSlot {
    /// The attempt's id, drawn by the lock holder when it started (0 for a
    /// window stored before attempts had ids).
    pub attempt: u64,
    /// When the window closes.
    pub until: UnixTime,
    /// The fingerprint of the callback accepted in it ([`DdsCredentials::fingerprint`]).
    pub taken: Option<String>,
}

impl DdsCredentials {
    /// Tells callbacks apart without storing or showing them: the first 16
    /// bytes of SHA-256 over id and secret, in hex. The DDS repeating a
    /// callback sends the same pair; a different pair is a different callback.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for part in [self.id.as_bytes(), self.secret.expose().as_bytes()] {
            // Length-prefixed, so no two different triples hash the same bytes.
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        hex::encode(&hash.finalize()[..16])
    }
}

impl Snapshot {
    /// The latest attempt with an accepted callback: the current slot's if
    /// taken, else the one kept from before. What a new attempt's holder
    /// keeps as [`Snapshot::earlier_callback`] when it replaces the slot.
    pub fn latest_taken(&self) -> Option<EarlierCallback> {
        self.callback
            .as_ref()
            .and_then(|slot| {
                Some(EarlierCallback {
                    attempt: slot.attempt,
                    taken: slot.taken.clone()?,
                })
            })
            .or_else(|| self.earlier_callback.clone())
    }

    /// The fingerprint of the callback taken for `attempt`, in its slot or
    /// kept from it after a newer attempt replaced it.
    pub(crate) fn callback_taken_in(&self, attempt: u64) -> Option<&str> {
        let slot = self
            .callback
            .as_ref()
            .filter(|slot| slot.attempt == attempt);
        match slot {
            Some(slot) => slot.taken.as_deref(),
            None => self
                .earlier_callback
                .as_ref()
                .filter(|earlier| earlier.attempt == attempt)
                .map(|earlier| earlier.taken.as_str()),
        }
    }
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

/// The stored form: written by serde_json, read by [`Stored::read`] (absent
/// fields take their default there).
#[derive(Serialize)]
struct Stored {
    // Absent in the reference's format: that is version 0.
    version: u32,
    status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_health_check_ms: Option<u64>,
    // Version 0's field: Unix seconds.
    #[serde(skip_serializing)]
    last_healthcheck: Option<i64>,
    attempt: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    credentials: Option<DdsCredentials>,
    // Added within version 1: older readers ignore it, older snapshots lack it.
    #[serde(skip_serializing_if = "Option::is_none")]
    registered_as: Option<RegisteredAs>,
    // The callback slots only sibling processes read: not in a build that
    // coordinates no processes (the npm package's), which ignores them.
    #[cfg(not(posemesh_no_process_lock))]
    #[serde(skip_serializing_if = "Option::is_none")]
    callback_until_ms: Option<u64>,
    #[cfg(not(posemesh_no_process_lock))]
    #[serde(skip_serializing_if = "Option::is_none")]
    callback_attempt: Option<u64>,
    #[cfg(not(posemesh_no_process_lock))]
    #[serde(skip_serializing_if = "Option::is_none")]
    callback_taken: Option<String>,
    #[cfg(not(posemesh_no_process_lock))]
    #[serde(skip_serializing_if = "Option::is_none")]
    earlier_callback_attempt: Option<u64>,
    #[cfg(not(posemesh_no_process_lock))]
    #[serde(skip_serializing_if = "Option::is_none")]
    earlier_callback_taken: Option<String>,
}

impl Stored {
    /// Reads a stored snapshot as serde's derive would: absent fields take
    /// their default, unknown ones are skipped, a repeated one is an error.
    fn read(r: &mut Reader<'_>) -> json::Result<Self> {
        let (mut version, mut status, mut attempt) = (None, None, None);
        let (mut last_health_check_ms, mut last_healthcheck) = (None, None);
        let (mut credentials, mut registered_as) = (None, None);
        #[cfg(not(posemesh_no_process_lock))]
        let (mut callback_until_ms, mut callback_attempt, mut callback_taken) = (None, None, None);
        #[cfg(not(posemesh_no_process_lock))]
        let (mut earlier_callback_attempt, mut earlier_callback_taken) = (None, None);
        r.object(&mut |r, key| match key {
            "version" => r.once(&mut version, |r| r.integer()),
            "status" => r.once(&mut status, |r| r.nullable(Reader::string)),
            "last_health_check_ms" => {
                r.once(&mut last_health_check_ms, |r| r.nullable(|r| r.integer()))
            }
            "last_healthcheck" => r.once(&mut last_healthcheck, |r| r.nullable(|r| r.integer())),
            "attempt" => r.once(&mut attempt, |r| r.integer()),
            "credentials" => r.once(&mut credentials, |r| r.nullable(DdsCredentials::read)),
            "registered_as" => r.once(&mut registered_as, |r| r.nullable(RegisteredAs::read)),
            #[cfg(not(posemesh_no_process_lock))]
            "callback_until_ms" => r.once(&mut callback_until_ms, |r| r.nullable(|r| r.integer())),
            #[cfg(not(posemesh_no_process_lock))]
            "callback_attempt" => r.once(&mut callback_attempt, |r| r.nullable(|r| r.integer())),
            #[cfg(not(posemesh_no_process_lock))]
            "callback_taken" => r.once(&mut callback_taken, |r| r.nullable(Reader::string)),
            #[cfg(not(posemesh_no_process_lock))]
            "earlier_callback_attempt" => r.once(&mut earlier_callback_attempt, |r| {
                r.nullable(|r| r.integer())
            }),
            #[cfg(not(posemesh_no_process_lock))]
            "earlier_callback_taken" => {
                r.once(&mut earlier_callback_taken, |r| r.nullable(Reader::string))
            }
            _ => Ok(false),
        })?;
        Ok(Stored {
            version: version.unwrap_or_default(),
            status: status.flatten(),
            last_health_check_ms: last_health_check_ms.flatten(),
            last_healthcheck: last_healthcheck.flatten(),
            attempt: attempt.unwrap_or_default(),
            credentials: credentials.flatten(),
            registered_as: registered_as.flatten(),
            #[cfg(not(posemesh_no_process_lock))]
            callback_until_ms: callback_until_ms.flatten(),
            #[cfg(not(posemesh_no_process_lock))]
            callback_attempt: callback_attempt.flatten(),
            #[cfg(not(posemesh_no_process_lock))]
            callback_taken: callback_taken.flatten(),
            #[cfg(not(posemesh_no_process_lock))]
            earlier_callback_attempt: earlier_callback_attempt.flatten(),
            #[cfg(not(posemesh_no_process_lock))]
            earlier_callback_taken: earlier_callback_taken.flatten(),
        })
    }
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
            registered_as: self.registered_as.clone(),
            #[cfg(not(posemesh_no_process_lock))]
            callback_until_ms: self.callback.as_ref().map(|slot| slot.until.as_millis()),
            #[cfg(not(posemesh_no_process_lock))]
            callback_attempt: self.callback.as_ref().map(|slot| slot.attempt),
            #[cfg(not(posemesh_no_process_lock))]
            callback_taken: self.callback.as_ref().and_then(|slot| slot.taken.clone()),
            #[cfg(not(posemesh_no_process_lock))]
            earlier_callback_attempt: self.earlier_callback.as_ref().map(|e| e.attempt),
            #[cfg(not(posemesh_no_process_lock))]
            earlier_callback_taken: self.earlier_callback.as_ref().map(|e| e.taken.clone()),
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
        let stored = json::read(bytes, Stored::read)
            .map_err(|err| SnapshotError::Corrupt(err.to_string()))?;
        if stored.version > SNAPSHOT_VERSION {
            return Err(SnapshotError::UnsupportedVersion {
                found: stored.version,
            });
        }
        let last_health_check = match (stored.last_health_check_ms, stored.last_healthcheck) {
            (Some(ms), _) => Some(UnixTime::from_millis(ms)),
            // Seconds beyond what milliseconds can hold would not survive a
            // round trip through `encode`: treat them as unknown, like negative ones.
            (None, Some(secs)) => u64::try_from(secs)
                .ok()
                .filter(|secs| *secs <= u64::MAX / 1000)
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
        #[cfg(not(posemesh_no_process_lock))]
        let (callback, earlier_callback) = (
            stored.callback_until_ms.map(|until| CallbackSlot {
                attempt: stored.callback_attempt.unwrap_or(0),
                until: UnixTime::from_millis(until),
                taken: stored.callback_taken,
            }),
            stored.earlier_callback_taken.map(|taken| EarlierCallback {
                attempt: stored.earlier_callback_attempt.unwrap_or(0),
                taken,
            }),
        );
        #[cfg(posemesh_no_process_lock)]
        let (callback, earlier_callback) = (None, None);
        Ok(Snapshot {
            status,
            last_health_check,
            attempt: stored.attempt,
            credentials: stored.credentials,
            unknown_status,
            registered_as: stored.registered_as,
            callback,
            earlier_callback,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Snapshot {
        Snapshot {
            status: Status::Registered,
            last_health_check: Some(UnixTime::from_millis(1_700_000_000_123)),
            attempt: 3,
            credentials: Some(DdsCredentials {
                id: "node-1".into(),
                secret: Secret::new("dds-secret-value"),
                organization_id: Some("org-9".into()),
            }),
            unknown_status: None,
            registered_as: Some(RegisteredAs {
                dds_url: "https://dds.example.com".into(),
                flow: "legacy".into(),
                address: "0xfdbb6caf01414300c16ea14859fec7736d95355f".into(),
                node_url: Some("https://node.example.com".into()),
                version: "1.2.3".into(),
                capabilities: vec!["/a/v1".into()],
            }),
            callback: Some(CallbackSlot {
                attempt: 77,
                until: UnixTime::from_millis(1_700_000_030_123),
                taken: Some("00112233445566778899aabbccddeeff".into()),
            }),
            earlier_callback: Some(EarlierCallback {
                attempt: 76,
                taken: "ffeeddccbbaa99887766554433221100".into(),
            }),
        }
    }

    #[test]
    fn round_trip() {
        for snapshot in [Snapshot::default(), full()] {
            assert_eq!(Snapshot::decode(&snapshot.encode()), Ok(snapshot));
        }
    }

    #[test]
    fn encoded_form() {
        let json: serde_json::Value = serde_json::from_slice(&full().encode()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "version": 1,
                "status": "registered",
                "last_health_check_ms": 1_700_000_000_123u64,
                "attempt": 3,
                "credentials": {"id": "node-1", "secret": "dds-secret-value", "organization_id": "org-9"},
                "registered_as": {
                    "dds_url": "https://dds.example.com",
                    "flow": "legacy",
                    "address": "0xfdbb6caf01414300c16ea14859fec7736d95355f",
                    "node_url": "https://node.example.com",
                    "version": "1.2.3",
                    "capabilities": ["/a/v1"],
                },
                "callback_until_ms": 1_700_000_030_123u64,
                "callback_attempt": 77,
                "callback_taken": "00112233445566778899aabbccddeeff",
                "earlier_callback_attempt": 76,
                "earlier_callback_taken": "ffeeddccbbaa99887766554433221100",
            })
        );
    }

    #[test]
    fn reference_v0_format() {
        let decoded =
            Snapshot::decode(br#"{"status":"registered","last_healthcheck":1700000000}"#).unwrap();
        assert_eq!(
            decoded,
            Snapshot {
                status: Status::Registered,
                last_health_check: Some(UnixTime::from_secs_nanos(1_700_000_000, 0)),
                ..Snapshot::default()
            }
        );
        let decoded = Snapshot::decode(br#"{"status":"disconnected"}"#).unwrap();
        assert_eq!(decoded, Snapshot::default());
        let decoded =
            Snapshot::decode(br#"{"status":"registering","last_healthcheck":-5}"#).unwrap();
        assert_eq!(decoded.status, Status::Registering);
        assert_eq!(decoded.last_health_check, None);
        assert_eq!(Snapshot::decode(b"{}").unwrap(), Snapshot::default());
        let unknown = Snapshot::decode(br#"{"status":"paused"}"#).unwrap();
        assert_eq!(unknown.status, Status::Disconnected);
        assert_eq!(unknown.unknown_status.as_deref(), Some("paused"));
    }

    #[test]
    fn snapshot_without_fingerprint_loads_without_one() {
        let decoded = Snapshot::decode(
            br#"{"version":1,"status":"registered","last_health_check_ms":5,"attempt":0}"#,
        )
        .unwrap();
        assert_eq!(decoded.status, Status::Registered);
        assert_eq!(decoded.registered_as, None);
    }

    #[test]
    fn a_window_stored_without_an_attempt_id_is_attempt_zero() {
        let decoded =
            Snapshot::decode(br#"{"version":1,"status":"registering","callback_until_ms":9}"#)
                .unwrap();
        let slot = decoded.callback.unwrap();
        assert_eq!(
            (slot.attempt, slot.until.as_millis(), slot.taken),
            (0, 9, None)
        );
    }

    #[test]
    fn fingerprints_tell_callbacks_apart() {
        let credentials = |id: &str, secret: &str, org: Option<&str>| DdsCredentials {
            id: id.into(),
            secret: Secret::new(secret),
            organization_id: org.map(Into::into),
        };
        let one = credentials("node-1", "s3cret", Some("org"));
        assert_eq!(one.fingerprint().len(), 32);
        // The organisation does not tell callbacks apart (as before fingerprints).
        assert_eq!(
            one.fingerprint(),
            credentials("node-1", "s3cret", None).fingerprint()
        );
        for other in [
            credentials("node-2", "s3cret", Some("org")),
            credentials("node-1", "s3cres", Some("org")),
            // The same bytes split differently.
            credentials("node-1s", "3cret", Some("org")),
        ] {
            assert_ne!(one.fingerprint(), other.fingerprint(), "{other:?}");
        }
        assert!(!one.fingerprint().contains("s3cret"));
    }

    #[test]
    fn newer_version_is_refused() {
        assert_eq!(
            Snapshot::decode(br#"{"version":2}"#),
            Err(SnapshotError::UnsupportedVersion { found: 2 })
        );
        assert_eq!(
            Snapshot::decode(br#"{"version":4000000000,"status":"registered"}"#),
            Err(SnapshotError::UnsupportedVersion {
                found: 4_000_000_000
            })
        );
    }

    #[test]
    fn corrupt_snapshots_do_not_quote_their_content() {
        let cases: [&[u8]; 7] = [
            br#"{"version":1,"credentials":{"id":"x","secret":12345678901}}"#,
            br#"{"version":1,"status":"registered","credentials":{"id":"x","secret":"hunter2-topsecret"#,
            br#"{"version":1,"credentials":{"id":"x","secret":["hunter2-topsecret"]}}"#,
            br#"{"version":"hunter2-topsecret"}"#,
            br#"hunter2-topsecret"#,
            br#"["hunter2-topsecret"]"#,
            br#"{"status":"registered"} hunter2-topsecret"#,
        ];
        for bytes in cases {
            let err = Snapshot::decode(bytes).unwrap_err();
            assert!(matches!(err, SnapshotError::Corrupt(_)), "{err:?}");
            for text in [err.to_string(), format!("{err:?}")] {
                assert!(!text.contains("12345678901"), "{text}");
                assert!(!text.contains("hunter2"), "{text}");
                assert!(!text.contains("topsecret"), "{text}");
            }
        }
    }

    #[test]
    fn oversized_snapshot_is_corrupt() {
        let mut big = br#"{"status":"registered","pad":""#.to_vec();
        big.resize(MAX_SNAPSHOT_BYTES - 2, b' ');
        big.extend_from_slice(br#""}"#);
        assert_eq!(big.len(), MAX_SNAPSHOT_BYTES);
        assert!(
            Snapshot::decode(&big).is_ok(),
            "the limit itself is accepted"
        );
        big.insert(1, b' ');
        assert!(matches!(
            Snapshot::decode(&big),
            Err(SnapshotError::Corrupt(_))
        ));
    }
}
