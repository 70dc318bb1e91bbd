//! The two requests a DDS makes to a node, handled without any web framework:
//! `POST /internal/v1/registrations` (the DDS hands over the node's id and
//! secret) and `GET /health` (a probe that keeps the registration alive).
//!
//! These functions only parse and decide; the registrar applies the result
//! (see [`crate::Registrar::handle_node_request`]).

use crate::json::{self, Reader};
use crate::secret::Secret;
use crate::snapshot::DdsCredentials;
use serde::Serialize;
use std::fmt;

/// Path of the DDS registration callback.
pub const CALLBACK_PATH: &str = "/internal/v1/registrations";
/// Path of the health probe.
pub const HEALTH_PATH: &str = "/health";
/// Largest callback body accepted (bigger: 413): 2 MiB, axum's default limit,
/// which the reference node serves its callback under. A large organisation's
/// `lighthouses_in_domains` and `domains` (read by nobody here) must fit.
pub const MAX_CALLBACK_BODY: usize = 2 * 1024 * 1024;
/// Largest secret accepted (bigger: 403, as the reference).
pub const MAX_SECRET_BYTES: usize = 4096;
/// Largest `id` or `organization_id` accepted (bigger: 422). They are stored in
/// the snapshot, which must always fit `MAX_SNAPSHOT_BYTES`; a DDS's ids are
/// UUIDs.
pub const MAX_ID_BYTES: usize = 1024;
// Two ids and a secret at their limits fit a snapshot many times over.
const _: () =
    assert!(2 * MAX_ID_BYTES + MAX_SECRET_BYTES < crate::snapshot::MAX_SNAPSHOT_BYTES / 100);

/// What the DDS sends to the callback.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistrationCallback {
    /// The node's id at the DDS.
    pub id: String,
    /// The node's secret; never shown.
    pub secret: Secret,
    /// The organisation the node belongs to, if any.
    pub organization_id: Option<String>,
}

impl fmt::Debug for RegistrationCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistrationCallback")
            .field("id", &self.id)
            .field("secret", &self.secret)
            .field("organization_id", &self.organization_id)
            .finish()
    }
}

/// Why a callback was refused, with the status to answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackRejection {
    /// 413: the body is larger than [`MAX_CALLBACK_BODY`].
    #[error("callback body too large")]
    TooLarge,
    /// 400: not a JSON object of the expected shape.
    #[error("callback body is malformed: {0}")]
    Malformed(String),
    /// 422: `id` missing or blank.
    #[error("missing id")]
    MissingId,
    /// 422: `secret` missing or blank.
    #[error("missing secret")]
    MissingSecret,
    /// 403: `secret` longer than [`MAX_SECRET_BYTES`].
    #[error("secret too large")]
    SecretTooLarge,
    /// 422: `id` or `organization_id` longer than [`MAX_ID_BYTES`].
    #[error("{0} too large")]
    IdTooLarge(&'static str),
    /// 409: no registration of this node is pending, so no DDS should be calling.
    #[error("no registration pending")]
    NotPending,
    /// 409: a different callback was already accepted for this attempt.
    #[error("a different callback was already accepted for this registration")]
    Conflicting,
}

impl CallbackRejection {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            CallbackRejection::TooLarge => 413,
            CallbackRejection::Malformed(_) => 400,
            CallbackRejection::MissingId
            | CallbackRejection::MissingSecret
            | CallbackRejection::IdTooLarge(_) => 422,
            CallbackRejection::SecretTooLarge => 403,
            CallbackRejection::NotPending | CallbackRejection::Conflicting => 409,
        }
    }
}

struct CallbackBody {
    id: String,
    secret: Secret,
    organization_id: Option<String>,
}

impl CallbackBody {
    fn read(r: &mut Reader<'_>) -> json::Result<Self> {
        let (id, secret, organization_id) = DdsCredentials::read_fields(r)?;
        // Missing and blank are the same mistake: both answer 422.
        Ok(CallbackBody {
            id: id.unwrap_or_default(),
            secret: Secret::new(secret.unwrap_or_default()),
            organization_id,
        })
    }
}

/// Parses and checks a callback body. Never panics, whatever the bytes.
pub fn parse_registration_callback(body: &[u8]) -> Result<RegistrationCallback, CallbackRejection> {
    if body.len() > MAX_CALLBACK_BODY {
        return Err(CallbackRejection::TooLarge);
    }
    let parsed = json::read(body, CallbackBody::read)
        .map_err(|err| CallbackRejection::Malformed(err.to_string()))?;
    if parsed.id.trim().is_empty() {
        return Err(CallbackRejection::MissingId);
    }
    if parsed.secret.expose().trim().is_empty() {
        return Err(CallbackRejection::MissingSecret);
    }
    if parsed.secret.len() > MAX_SECRET_BYTES {
        return Err(CallbackRejection::SecretTooLarge);
    }
    if parsed.id.len() > MAX_ID_BYTES {
        return Err(CallbackRejection::IdTooLarge("id"));
    }
    if parsed
        .organization_id
        .as_ref()
        .is_some_and(|org| org.len() > MAX_ID_BYTES)
    {
        return Err(CallbackRejection::IdTooLarge("organization_id"));
    }
    Ok(RegistrationCallback {
        id: parsed.id,
        secret: parsed.secret,
        organization_id: parsed.organization_id,
    })
}

/// Whether a `User-Agent` is the DDS's health probe (`DDS v…`).
pub fn is_dds_user_agent(user_agent: &str) -> bool {
    user_agent.starts_with("DDS v")
}

/// A response for the host's web framework to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers to set.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl NodeResponse {
    // Typed bodies rather than `serde_json::json!`: the same bytes, without
    // `serde_json::Value` and its map in the WebAssembly build.
    fn json(status: u16, body: &impl Serialize) -> Self {
        NodeResponse {
            status,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: serde_json::to_vec(body).expect("a plain struct always serialises"),
        }
    }

    /// `200 {"ok":true}`.
    pub(crate) fn ok() -> Self {
        #[derive(Serialize)]
        struct Ok {
            ok: bool,
        }
        Self::json(200, &Ok { ok: true })
    }

    /// `{"error": message}` with `status` (also for hosts that cannot serve a request).
    pub fn error(status: u16, message: &str) -> Self {
        #[derive(Serialize)]
        struct Error<'a> {
            error: &'a str,
        }
        Self::json(status, &Error { error: message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_too_large_for_the_snapshot_is_refused() {
        let callback = |id: &str, org: &str| {
            serde_json::json!({ "id": id, "secret": "s3cret-value", "organization_id": org })
                .to_string()
        };
        let big = "x".repeat(MAX_ID_BYTES + 1);
        let fits = "x".repeat(MAX_ID_BYTES);
        for (body, field) in [
            (callback(&big, "org"), "id"),
            (callback("node-1", &big), "organization_id"),
        ] {
            let rejection = parse_registration_callback(body.as_bytes()).unwrap_err();
            assert_eq!(rejection, CallbackRejection::IdTooLarge(field));
            assert_eq!(rejection.status(), 422);
        }
        let accepted = parse_registration_callback(callback(&fits, &fits).as_bytes()).unwrap();
        assert_eq!(accepted.id.len(), MAX_ID_BYTES);
    }

    #[test]
    fn response_bodies_are_the_json_they_always_were() {
        let ok = NodeResponse::ok();
        assert_eq!(ok.status, 200);
        assert_eq!(ok.body, br#"{"ok":true}"#);
        assert_eq!(
            ok.body,
            serde_json::json!({ "ok": true }).to_string().into_bytes()
        );
        let message = "quote \" backslash \\ newline \n é \u{1}";
        let error = NodeResponse::error(409, message);
        assert_eq!(error.status, 409);
        assert_eq!(
            error.body,
            serde_json::json!({ "error": message })
                .to_string()
                .into_bytes()
        );
        for response in [ok, error] {
            assert_eq!(
                response.headers,
                vec![("content-type".to_owned(), "application/json".to_owned())]
            );
        }
    }
}
