//! The node's DDS session: a bearer token for the node's later DDS calls,
//! got by signing in with the node's key (the wallet flow's SIWE challenge,
//! signed EIP-191, then `POST {dds}/internal/v1/auth/siwe/verify` with
//! `{address, message, signature}`), and kept fresh while anyone wants one.
//!
//! The rules, as Auki's compute node keeps them:
//! - sign in only while registered, and only once someone asked for a token
//!   ([`Registrar::access_token`]); from then on the token is kept fresh;
//! - refresh at 75 % of the token's lifetime plus up to 500 ms of jitter;
//! - retry a failed sign-in up to [`SIGN_IN_RETRIES`] times (backoff as for
//!   registering, a `Retry-After` as its floor); then the round has failed
//!   (whoever waits learns why) and the next starts [`SIGN_IN_PAUSE`] later,
//!   or at once when asked again;
//! - a token the DDS refused (a caller's 401) is replaced at once, by one
//!   sign-in however many callers report it;
//! - `403` or `404` from verify: the DDS no longer knows the node; register
//!   again, then sign in.
//!
//! The token is a secret: never persisted, never in an event or a message.

use super::*;
use crate::json::{self, Reader};

/// Where a signed SIWE message is exchanged for an access token.
pub const SIWE_VERIFY_PATH: &str = "/internal/v1/auth/siwe/verify";
/// Retries of a failed sign-in before the round counts as failed.
pub const SIGN_IN_RETRIES: u32 = 3;
/// The most jitter added to a refresh (never more than an eighth of the
/// token's lifetime, so that a short-lived token is still refreshed in time).
pub const REFRESH_JITTER: Duration = Duration::from_millis(500);
/// After a failed round, the next one starts this much later (sooner if a
/// caller asks).
pub const SIGN_IN_PAUSE: Duration = MAX_BACKOFF;

/// A bearer token for the node's DDS calls, and when it expires. `Debug`
/// redacts the token; [`AccessToken::expose`] is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    token: Secret,
    expires_at: UnixTime,
}

impl AccessToken {
    /// The token itself, for an `Authorization: Bearer` header.
    pub fn expose(&self) -> &str {
        self.token.expose()
    }

    /// When the DDS said it expires.
    pub fn expires_at(&self) -> UnixTime {
        self.expires_at
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &self.token)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// `AccessToken(<redacted>, expires …)`: what a binding's `toString()` shows,
/// never the token.
impl fmt::Display for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessToken(<redacted>, expires {})", self.expires_at)
    }
}

/// The verify request: `POST {dds}/internal/v1/auth/siwe/verify` with the
/// signed SIWE message (`signature` as [`Signer::sign_eip191`] writes it).
pub fn siwe_verify_request(
    dds: &BaseUrl,
    address: &str,
    message: &str,
    signature: &str,
) -> HttpRequest {
    // A typed body, not `serde_json::json!`: no `serde_json::Value` in the WebAssembly build.
    #[derive(serde::Serialize)]
    struct Body<'a> {
        address: &'a str,
        message: &'a str,
        signature: &'a str,
    }
    let body = Body {
        address,
        message,
        signature,
    };
    request::json_post(dds.endpoint(SIWE_VERIFY_PATH), &body)
}

/// Reads verify's answer: `access_token` and its expiry, `access_expires_at`
/// (RFC 3339; older servers call it `expires_at`). The error never holds the
/// body: it carries the token.
pub fn parse_verify_answer(body: &[u8]) -> Result<AccessToken, String> {
    let (mut token, mut access_expires_at, mut expires_at) = (None, None, None);
    let read = |r: &mut Reader<'_>| {
        r.object(&mut |r, key| match key {
            "access_token" => r.once(&mut token, |r| r.nullable(Reader::string)),
            "access_expires_at" => r.once(&mut access_expires_at, |r| r.nullable(Reader::string)),
            "expires_at" => r.once(&mut expires_at, |r| r.nullable(Reader::string)),
            _ => Ok(false),
        })
    };
    json::read(body, read).map_err(|err| format!("verify answer: {err}"))?;
    let token = Secret::new(token.flatten().unwrap_or_default());
    if token.is_empty() {
        return Err("verify answer has no access_token".into());
    }
    let expiry = access_expires_at
        .flatten()
        .or(expires_at.flatten())
        .ok_or("verify answer has no access_expires_at")?;
    let expires_at = UnixTime::parse_rfc3339(&expiry)
        .ok_or("verify answer's access_expires_at is not an RFC 3339 time")?;
    Ok(AccessToken { token, expires_at })
}

/// Where the session stands (inside [`Registrar`], boxed: most registrars
/// never sign in).
#[derive(Debug, Clone)]
pub(super) struct Session {
    token: Option<AccessToken>,
    /// When to sign in again while the token is still valid.
    refresh_at: UnixTime,
    phase: SessionPhase,
    /// Failed sign-ins in the current round.
    failures: u32,
    /// No sign-in starts before this.
    next_try: UnixTime,
}

#[derive(Debug, Clone)]
enum SessionPhase {
    Idle,
    InFlight {
        id: RequestId,
        step: SessionStep,
        endpoint: String,
        deadline: UnixTime,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SessionStep {
    Challenge,
    /// Waiting for a remote signer's signature of this message.
    Sign(String),
    Verify,
}

impl Session {
    /// The wall clock was set back `by` (see `clock.rs`). The token's expiry
    /// is the DDS's time, not the node's: it stays.
    pub(super) fn move_times_back(&mut self, by: Duration) {
        for time in [&mut self.refresh_at, &mut self.next_try] {
            *time = *time - by;
        }
        if let SessionPhase::InFlight { deadline, .. } = &mut self.phase {
            *deadline = *deadline - by;
        }
    }
}

impl Registrar {
    /// A valid access token for the node's DDS calls, if one is at hand;
    /// otherwise `None`, and a sign-in is under way or due as soon as the
    /// node is registered (a [`Event::SessionSignedIn`] or a round's last
    /// [`Event::SessionFailed`] follows). From the first call on, the token
    /// is kept fresh. A host that runs no loop gets `None` once the refresh
    /// is due, and drives the sign-in.
    pub fn access_token(&mut self, now: UnixTime) -> Option<AccessToken> {
        self.observe_time(now);
        let looping = self.looping;
        let session = self.session.get_or_insert_with(|| {
            Box::new(Session {
                token: None,
                refresh_at: now,
                phase: SessionPhase::Idle,
                failures: 0,
                next_try: now,
            })
        });
        if let Some(token) = &session.token {
            if now < session.refresh_at || (looping && now < token.expires_at) {
                return Some(token.clone());
            }
        }
        if matches!(session.phase, SessionPhase::Idle) {
            // Asked again after a failed round: try now rather than after the pause.
            session.next_try = session.next_try.min(now);
        }
        None
    }

    /// The DDS refused `token` (a 401 to one of the node's calls): a new one
    /// is signed in for at once. A token already replaced is ignored, so that
    /// many callers reporting the same refusal cause one sign-in.
    pub fn access_token_refused(&mut self, token: &str, now: UnixTime) {
        self.observe_time(now);
        let Some(session) = self.session.as_deref_mut() else {
            return;
        };
        if session.token.as_ref().is_some_and(|t| t.expose() == token) {
            session.token = None;
            session.failures = 0;
            session.next_try = now;
        }
    }

    /// The session's request (or signature) in flight.
    pub(super) fn session_in_flight(&self) -> Option<RequestId> {
        match self.session.as_deref().map(|s| &s.phase) {
            Some(SessionPhase::InFlight { id, .. }) => Some(*id),
            _ => None,
        }
    }

    /// Whether the session awaits the answer `id`: a signature (`signature`)
    /// or a response.
    pub(super) fn session_awaits(&self, id: RequestId, signature: bool) -> bool {
        matches!(
            self.session.as_deref().map(|s| &s.phase),
            Some(SessionPhase::InFlight { id: awaited, step, .. })
                if *awaited == id && matches!(step, SessionStep::Sign(_)) == signature
        )
    }

    /// The host abandoned the session's request: nothing counts as failed;
    /// the sign-in starts again when next due.
    pub(super) fn cancel_session_request(&mut self, now: UnixTime) {
        if let Some(id) = self.session_in_flight() {
            if let Some(session) = self.session.as_deref_mut() {
                session.phase = SessionPhase::Idle;
                session.next_try = now;
            }
            self.emit(Event::RequestCancelled { id });
        }
    }

    /// When the session next needs the host: its request's deadline, or the
    /// refresh or retry it has due while the node is registered.
    pub(super) fn session_wake(&self) -> Option<UnixTime> {
        let session = self.session.as_deref()?;
        match &session.phase {
            SessionPhase::InFlight { deadline, .. } => Some(*deadline),
            SessionPhase::Idle if self.status == Status::Registered => Some(match session.token {
                Some(_) => session.refresh_at.max(session.next_try),
                None => session.next_try,
            }),
            SessionPhase::Idle => None,
        }
    }

    /// Starts a sign-in when one is due: wanted, registered, idle, and the
    /// token missing or due for refresh.
    pub(super) fn session_step(&mut self, now: UnixTime) {
        let registered = self.status == Status::Registered;
        let Some(session) = self.session.as_deref_mut() else {
            return;
        };
        if let SessionPhase::InFlight {
            deadline, id, step, ..
        } = &session.phase
        {
            if now >= *deadline {
                let (id, signing) = (*id, matches!(step, SessionStep::Sign(_)));
                self.time_out(id, signing, now);
            }
            return;
        }
        let due = session
            .token
            .as_ref()
            .is_none_or(|_| now >= session.refresh_at);
        if registered && due && now >= session.next_try {
            let request = request::siwe_nonce_request(&self.config.dds_url, &self.address());
            self.session_transmit(request, SessionStep::Challenge, now);
        }
    }

    fn session_transmit(&mut self, request: HttpRequest, step: SessionStep, now: UnixTime) {
        let id = self.next_id();
        let timeout = self.config.request_timeout;
        if let Some(session) = self.session.as_deref_mut() {
            session.phase = SessionPhase::InFlight {
                id,
                step,
                endpoint: request.url.clone(),
                deadline: now + timeout,
            };
        }
        self.outputs.push_back(Output::Transmit(OutgoingRequest {
            id,
            request,
            timeout,
        }));
    }

    /// The answer to one of the session's requests.
    pub(super) fn session_response(
        &mut self,
        id: RequestId,
        result: Result<HttpResponse, TransportError>,
        now: UnixTime,
    ) {
        if !self.session_awaits(id, false) {
            return;
        }
        let Some(session) = self.session.as_deref_mut() else {
            return;
        };
        let SessionPhase::InFlight { step, endpoint, .. } =
            std::mem::replace(&mut session.phase, SessionPhase::Idle)
        else {
            return;
        };
        let checked = match &result {
            Ok(response) => {
                response::classify_response_redacted(&endpoint, response, now, &self.redactor)
            }
            Err(error) => Err(response::classify_transport_error_redacted(
                &endpoint,
                error,
                &self.redactor,
            )),
        };
        if let Err(failure) = checked {
            return self.sign_in_failed(failure, now);
        }
        let body = result.map(|r| r.body).unwrap_or_default();
        match step {
            SessionStep::Challenge => {
                let challenge = SiweChallenge::parse(&body).and_then(|challenge| {
                    challenge
                        .validate(&self.config.dds_url, &self.config.siwe_domains)
                        .map(|()| challenge)
                });
                let challenge = match challenge {
                    Ok(challenge) => challenge,
                    Err(err) => {
                        let failure = response::unusable_response(&endpoint, &err.to_string());
                        return self.sign_in_failed(failure, now);
                    }
                };
                match &self.key {
                    NodeSigner::Local(key) => {
                        let message = challenge.message(&key.eth_address());
                        let signature = key.sign_eip191(message.as_bytes());
                        self.transmit_verify(&message, &signature, now);
                    }
                    NodeSigner::Remote { address, .. } => {
                        let message = challenge.message(address);
                        let id = self.next_id();
                        let timeout = self.config.request_timeout;
                        if let Some(session) = self.session.as_deref_mut() {
                            session.phase = SessionPhase::InFlight {
                                id,
                                step: SessionStep::Sign(message.clone()),
                                endpoint,
                                deadline: now + timeout,
                            };
                        }
                        self.outputs.push_back(Output::Sign(SignRequest {
                            id,
                            message,
                            timeout,
                        }));
                    }
                }
            }
            SessionStep::Verify => match parse_verify_answer(&body) {
                Ok(token) if token.expires_at > now => self.signed_in(token, now),
                Ok(_) => {
                    let reason = "the token had already expired (are the clocks apart?)";
                    self.sign_in_failed(response::unusable_response(&endpoint, reason), now);
                }
                Err(reason) => {
                    self.sign_in_failed(response::unusable_response(&endpoint, &reason), now);
                }
            },
            SessionStep::Sign(_) => {}
        }
    }

    /// A remote signer's answer for the session's sign-in.
    pub(super) fn session_signature(
        &mut self,
        id: RequestId,
        result: Result<Vec<u8>, String>,
        now: UnixTime,
    ) {
        let Some(session) = self.session.as_deref_mut() else {
            return;
        };
        let message = match &session.phase {
            SessionPhase::InFlight {
                id: awaited,
                step: SessionStep::Sign(message),
                ..
            } if *awaited == id => message.clone(),
            _ => return,
        };
        session.phase = SessionPhase::Idle;
        let checked = result
            .and_then(|signature| check_remote_signature(&message, &signature, &self.address()));
        match checked {
            Ok(signature) => self.transmit_verify(&message, &signature, now),
            Err(reason) => {
                let failure = response::signer_failure(&self.redactor.redact(&reason));
                self.sign_in_failed(failure, now);
            }
        }
    }

    fn transmit_verify(&mut self, message: &str, signature: &str, now: UnixTime) {
        let request =
            siwe_verify_request(&self.config.dds_url, &self.address(), message, signature);
        self.session_transmit(request, SessionStep::Verify, now);
    }

    fn signed_in(&mut self, token: AccessToken, now: UnixTime) {
        let lifetime = token.expires_at.saturating_since(now);
        let jitter = self.rng.duration_below(
            REFRESH_JITTER
                .min(lifetime / 8)
                .max(Duration::from_millis(1)),
        );
        if let Some(session) = self.session.as_deref_mut() {
            session.refresh_at = now + lifetime.mul_f64(0.75) + jitter;
            session.token = Some(token);
            session.failures = 0;
            session.next_try = now;
        }
        self.emit(Event::SessionSignedIn {
            expires_in: lifetime,
        });
    }

    fn sign_in_failed(&mut self, mut failure: Failure, now: UnixTime) {
        failure.message = self.redactor.redact(&failure.message);
        let gone = matches!(failure.status, Some(403 | 404));
        let Some(session) = self.session.as_deref_mut() else {
            return;
        };
        let session_attempt = session.failures + 1;
        if gone {
            // The DDS no longer knows the node: register again; the sign-in
            // follows the new registration.
            session.token = None;
            session.failures = 0;
            session.next_try = now;
            self.emit(Event::SessionFailed {
                failure,
                attempt: session_attempt,
                retry_in: None,
                ends_round: false,
            });
            self.register_again(now);
            return;
        }
        session.failures += 1;
        let attempt = session.failures;
        let ends_round = attempt > SIGN_IN_RETRIES;
        let wait = if ends_round {
            session.failures = 0;
            SIGN_IN_PAUSE
        } else {
            // 1 s, 2 s, 4 s (before jitter).
            (backoff(attempt) / 2).mul_f64(self.rng.jitter_factor())
        };
        let wait = failure.retry_after.map_or(wait, |floor| wait.max(floor));
        session.next_try = now + wait;
        let looping = self.looping;
        self.emit(Event::SessionFailed {
            failure,
            attempt,
            retry_in: (looping || !ends_round).then_some(wait),
            ends_round,
        });
    }
}
