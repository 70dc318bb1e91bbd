//! The DDS's calls to the node: health checks and the registration callback,
//! accepted only in an attempt's window (this process's, or a sibling's as
//! the shared snapshot shows it), and the node's HTTP routing.

use super::*;

impl Registrar {
    /// The DDS probed `/health` with this `User-Agent`. Returns whether it
    /// counted as a health check (`DDS v…`).
    ///
    /// Probes cannot be authenticated (the protocol signs nothing towards the
    /// node), so one costs little: the snapshot is persisted at most once per
    /// quarter TTL for probes, and only by a registrar that is registered and
    /// idle, so a worker that is not the one registering never writes its
    /// stale view over the shared state.
    pub fn handle_health_check(&mut self, user_agent: &str, now: UnixTime) -> bool {
        self.observe_time(now);
        if !callback::is_dds_user_agent(user_agent) {
            return false;
        }
        self.last_health_check = Some(now);
        self.emit(Event::HealthCheckReceived);
        let idle_registered =
            self.status == Status::Registered && matches!(self.phase, Phase::Idle);
        // Under a shared snapshot any worker's probe counts for all (merged
        // into a registration of this configuration only); alone, only a
        // registered registrar's.
        let shared = self.shares_snapshot() && !self.holding_lock;
        if idle_registered || shared {
            let every = (self.config.ttl() / 4).max(Duration::from_secs(1));
            if self
                .last_probe_persisted
                .is_none_or(|at| now.saturating_since(at) >= every)
            {
                self.last_probe_persisted = Some(now);
                self.persist();
            }
        }
        if idle_registered {
            self.next_check = now;
            self.check(now);
        }
        true
    }

    /// The DDS called `POST /internal/v1/registrations` with `body`.
    ///
    /// Unlike the reference, which stores any callback, this accepts one only
    /// in the window of a legacy attempt: from the attempt's start until it
    /// fails, or until [`CALLBACK_GRACE`] after it succeeded. The credentials
    /// are committed only once the attempt has succeeded; a failed attempt
    /// drops them, and a callback never marks the node registered. A second,
    /// different callback in one window is refused (409) and reported as
    /// possibly forged; the same callback again is answered 200.
    pub fn handle_registration_callback(
        &mut self,
        body: &[u8],
        now: UnixTime,
    ) -> Result<(), CallbackRejection> {
        self.observe_time(now);
        self.handle_registration_callback_shared(body, None, now)
    }

    /// [`Registrar::handle_registration_callback`] for a process that shares
    /// its snapshot ([`RegistrarConfig::use_lock`]): `stored` is the shared
    /// snapshot as read now (without the lock). When this process has no open
    /// window but the stored one shows the lock holder's, the callback is the
    /// holder's: it is accepted and merged into the shared snapshot through
    /// [`Output::ShareState`], committed only if the holder's attempt succeeded.
    pub fn handle_registration_callback_shared(
        &mut self,
        body: &[u8],
        stored: Option<&Snapshot>,
        now: UnixTime,
    ) -> Result<(), CallbackRejection> {
        self.observe_time(now);
        match self.accept_callback(body, stored, now) {
            Ok(()) => Ok(()),
            Err(rejection) => {
                let (warn, suppressed) = self.warnings.get_or_insert_default().rejection(now);
                self.emit(Event::CallbackRejected {
                    status: rejection.status(),
                    reason: rejection.to_string(),
                    suppressed,
                    warn,
                });
                Err(rejection)
            }
        }
    }

    pub(super) fn accept_callback(
        &mut self,
        body: &[u8],
        stored: Option<&Snapshot>,
        now: UnixTime,
    ) -> Result<(), CallbackRejection> {
        let credentials = credentials_of(callback::parse_registration_callback(body)?);
        // Behind one port the shared snapshot holds the window's slot: what a
        // sibling accepted for it, or the lock holder's window itself.
        let shared_slot = stored
            .filter(|_| self.shares_snapshot())
            .and_then(|stored| stored.callback.clone());
        let own_attempt = match &self.callback {
            Some(window) if now <= window.closes_at => window.attempt,
            _ => {
                return match shared_slot.filter(|slot| now <= slot.until) {
                    Some(slot) => {
                        let stored = stored.expect("the slot came from it");
                        self.accept_for_sibling(credentials, slot, stored, now)
                    }
                    None => Err(CallbackRejection::NotPending),
                };
            }
        };
        let taken_by_sibling = shared_slot
            .filter(|slot| slot.attempt == own_attempt)
            .and_then(|slot| slot.taken);
        let window = self.callback.as_mut().expect("checked above");
        if let Some(earlier) = &window.received {
            let same = same_callback(earlier, &credentials);
            return self.second_callback(same, &credentials);
        }
        if let Some(taken) = taken_by_sibling {
            let same = taken == credentials.fingerprint();
            return self.second_callback(same, &credentials);
        }
        window.received = Some(credentials.clone());
        let (commit_now, attempt, closes_at) =
            (window.attempt_succeeded, window.attempt, window.closes_at);
        self.note_accepted(&credentials);
        if !commit_now {
            if self.shares_snapshot() {
                // Under the lock of this attempt: the slot is taken for every sibling.
                self.persist();
            }
            return Ok(());
        }
        if self.shares_snapshot() && !self.holding_lock {
            // The lock went with the success: merge under it again.
            self.delivery = Some(Box::new(Delivery {
                attempt,
                credentials: credentials.clone(),
                received_at: now,
                until: closes_at,
                late_tries: 0,
            }));
        }
        self.credentials = Some(Box::new(credentials));
        // The DDS reaching the node is as good as a health check.
        self.last_health_check = Some(now);
        self.persist();
        if matches!(self.phase, Phase::Idle) {
            self.next_check = now;
            self.check(now);
        }
        Ok(())
    }

    /// A second callback for one window: the same one again is answered 200,
    /// a different one is refused and reported as possibly forged.
    pub(super) fn second_callback(
        &mut self,
        same: bool,
        credentials: &DdsCredentials,
    ) -> Result<(), CallbackRejection> {
        if same {
            return Ok(());
        }
        self.report_conflict(credentials);
        Err(CallbackRejection::Conflicting)
    }

    pub(super) fn report_conflict(&mut self, credentials: &DdsCredentials) {
        let id = redact::short_text(&credentials.id, 128);
        self.emit(Event::CallbackConflict { id });
    }

    /// Learns the secret (so it is redacted) and reports the accepted callback.
    pub(super) fn note_accepted(&mut self, credentials: &DdsCredentials) {
        self.redactor.add_secret(credentials.secret.expose());
        self.emit(Event::CallbackAccepted {
            id: redact::short_text(&credentials.id, 128),
            organization_id: credentials
                .organization_id
                .as_deref()
                .map(|org| redact::short_text(org, 128)),
            secret_len: credentials.secret.len(),
        });
    }

    /// The callback of a sibling's attempt, received here (several processes
    /// behind one port): refused if the attempt's slot holds a different one,
    /// otherwise answered now and merged into the shared snapshot under the
    /// lock once the sibling's attempt has ended, into that attempt only.
    pub(super) fn accept_for_sibling(
        &mut self,
        credentials: DdsCredentials,
        slot: CallbackSlot,
        stored: &Snapshot,
        now: UnixTime,
    ) -> Result<(), CallbackRejection> {
        if let Some(taken) = &slot.taken {
            let same = *taken == credentials.fingerprint();
            return self.second_callback(same, &credentials);
        }
        if let Some(earlier) = self.delivery.as_ref().filter(|d| d.attempt == slot.attempt) {
            let same = same_callback(&earlier.credentials, &credentials);
            return self.second_callback(same, &credentials);
        }
        // One still unmerged from an older attempt can no longer be stored (a
        // newer attempt holds the slot); what is left is to report its conflict.
        if let Some(older) = self.delivery.take() {
            self.reports_conflict(&older, stored);
        }
        self.note_accepted(&credentials);
        self.delivery = Some(Box::new(Delivery {
            attempt: slot.attempt,
            credentials,
            received_at: now,
            until: slot.until,
            late_tries: 0,
        }));
        self.queue_share(now);
        Ok(())
    }

    /// Routes a request the node's web server received: `POST
    /// /internal/v1/registrations` and `GET /health`, also under the node
    /// URL's own path ([`Flow::node_route`]); anything else is 404.
    /// Returns the response to send. Header names are matched case-insensitively.
    pub fn handle_node_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
        now: UnixTime,
    ) -> NodeResponse {
        self.observe_time(now);
        self.handle_node_request_shared(method, path, headers, body, None, now)
    }

    /// Whether a request is the DDS's registration callback, for which a host
    /// with a shared snapshot reads it first
    /// ([`Registrar::handle_node_request_shared`]). `path` is the route
    /// ([`Flow::node_route`] of the request's path).
    pub fn is_callback_request(method: &str, path: &str) -> bool {
        method.eq_ignore_ascii_case("POST") && path.split('?').next() == Some(CALLBACK_PATH)
    }

    /// Whether a host with a shared snapshot must read it before
    /// [`Registrar::handle_node_request_shared`]: only for a callback that could
    /// be accepted. A malformed, oversized or secretless body is refused without
    /// touching the store, so posting garbage costs the node no file read.
    pub fn needs_stored_snapshot(method: &str, path: &str, body: &[u8]) -> bool {
        Self::is_callback_request(method, path)
            && crate::callback::parse_registration_callback(body).is_ok()
    }

    /// [`Registrar::handle_node_request`] with the shared snapshot as read now
    /// (see [`Registrar::handle_registration_callback_shared`]).
    pub fn handle_node_request_shared(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
        stored: Option<&Snapshot>,
        now: UnixTime,
    ) -> NodeResponse {
        self.observe_time(now);
        let path = self.config.flow.node_route(path);
        let method = method.to_ascii_uppercase();
        match (method.as_str(), path) {
            ("POST", CALLBACK_PATH) => match self
                .handle_registration_callback_shared(body, stored, now)
            {
                Ok(()) => NodeResponse::ok(),
                Err(rejection) => NodeResponse::error(rejection.status(), &rejection.to_string()),
            },
            ("GET" | "HEAD", HEALTH_PATH) => {
                let user_agent = headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("user-agent"))
                    .map_or("", |(_, value)| value.as_str());
                self.handle_health_check(user_agent, now);
                NodeResponse::ok()
            }
            (_, CALLBACK_PATH | HEALTH_PATH) => NodeResponse::error(405, "method not allowed"),
            _ => NodeResponse::error(404, "not found"),
        }
    }
}
