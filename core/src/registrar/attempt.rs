//! One registration attempt: the lock, the requests of either flow, the
//! remote signer's answer, success and failure (backoff, Retry-After, conflicts).

use super::*;

impl Registrar {
    /// Reports the result of [`Output::AcquireLock`].
    pub fn handle_lock(&mut self, outcome: LockOutcome, now: UnixTime) {
        self.observe_time(now);
        if !matches!(self.phase, Phase::AwaitingLock) {
            // An answer nobody asked for: hand a taken lock straight back.
            if matches!(outcome, LockOutcome::Acquired { .. }) && !self.holding_lock {
                self.outputs.push_back(Output::ReleaseLock);
            }
            return;
        }
        self.phase = Phase::Idle;
        match outcome {
            LockOutcome::Acquired { fresh } => {
                self.holding_lock = true;
                self.emit(Event::LockAcquired);
                let busy_since = self.busy_since.take();
                if let Some(fresh) = fresh {
                    // This attempt's slot replaces the stored one: keep what was taken in it.
                    let taken = fresh.latest_taken();
                    if !self.rearm && self.adopt_if_registered(fresh, busy_since, now) {
                        self.release_lock();
                        self.next_check = now;
                        self.check(now);
                        return;
                    }
                    if let Some(taken) = taken {
                        self.earlier_callback = Some(Box::new(taken));
                    }
                }
                if self.status == Status::Registered && !matches!(self.config.flow, Flow::Wallet) {
                    // A lapsed health check, not confirmed by a sibling either
                    // (a wallet registration is renewed while it stands).
                    let since_last = self.last_health_check.map(|t| now.saturating_since(t));
                    self.emit(Event::HealthCheckExpired { since_last });
                    self.set_status(Status::Registering);
                }
                self.start_attempt(now);
            }
            LockOutcome::Busy => {
                self.emit(Event::LockBusy);
                self.busy_since.get_or_insert(now);
                let stale_after = self.config.lock_stale_after();
                match self.once_since {
                    Some(since) if now.saturating_since(since) >= stale_after => {
                        let message = format!(
                            "the registration lock stayed held by another process for {}s; gave up",
                            stale_after.as_secs()
                        );
                        self.fail_before_attempt(message, now);
                    }
                    // A waiting register_now looks again soon: the holder's
                    // attempt ends within its request timeout.
                    Some(_) => self.next_check = now + SHORT_DELAY,
                    None => self.next_check = now + self.config.ttl(),
                }
            }
            LockOutcome::Failed(error) => {
                let error = redact::sanitize(&error);
                self.emit(Event::LockError {
                    error: error.clone(),
                });
                self.fail_before_attempt(
                    format!("could not take the registration lock: {error}"),
                    now,
                );
            }
        }
    }

    /// A failure that happened before any request was sent (the lock): the
    /// attempt's result, waiting a full TTL. Persists nothing, as this
    /// registrar does not hold the lock.
    pub(super) fn fail_before_attempt(&mut self, message: String, now: UnixTime) {
        let wait = self.config.ttl();
        self.once_since = None;
        self.busy_since = None;
        self.emit(Event::RegistrationFailed {
            failure: Failure {
                class: FailureClass::RetryLater,
                status: None,
                retry_after: None,
                clock_offset_secs: None,
                message,
            },
            attempt: self.attempt,
            retry_in: wait,
            retrying: self.looping,
            warn: true,
        });
        self.settle_if_not_looping();
        self.next_check = now + wait;
    }

    pub(super) fn start_attempt(&mut self, now: UnixTime) {
        if self.status == Status::Disconnected {
            self.set_status(Status::Registering);
            self.persist();
        }
        self.rearm = false;
        self.callback = None;
        let first_path = match self.config.flow {
            Flow::Legacy { .. } => request::LEGACY_REGISTER_PATH,
            Flow::Wallet => request::SIWE_REQUEST_PATH,
        };
        self.emit(Event::AttemptStarted {
            attempt: self.attempt.saturating_add(1),
            endpoint: self.config.dds_url.endpoint(first_path),
        });
        match self.config.flow.clone() {
            Flow::Legacy { node_url } => {
                let NodeSigner::Local(key) = &self.key else {
                    // `with_remote_signer` refuses the legacy flow: not reached.
                    let failure = response::signer_failure("the legacy flow needs the node's key");
                    self.failed(failure, now);
                    return;
                };
                let key = Arc::clone(key);
                self.callback = Some(Box::new(CallbackWindow {
                    attempt: self.attempt_ids.next_u64(),
                    closes_at: now + CALLBACK_WINDOW,
                    attempt_succeeded: false,
                    received: None,
                }));
                if self.shares_snapshot() {
                    // Siblings behind the same port may receive the callback:
                    // they read the window from the shared snapshot.
                    self.persist();
                }
                let request = request::legacy_registration_request(
                    &self.config.dds_url,
                    &node_url,
                    &self.config.node,
                    &*key,
                    now,
                );
                self.transmit(request, Step::Register, now, now);
            }
            Flow::Wallet => {
                let request = request::siwe_nonce_request(&self.config.dds_url, &self.address());
                self.transmit(request, Step::SiweNonce, now, now);
            }
        }
    }

    pub(super) fn transmit(
        &mut self,
        request: HttpRequest,
        step: Step,
        attempt_started: UnixTime,
        now: UnixTime,
    ) {
        let id = self.next_id();
        let timeout = self.config.request_timeout;
        self.phase = Phase::InFlight(Box::new(InFlight {
            id,
            step,
            endpoint: request.url.clone(),
            attempt_started,
            deadline: now + timeout,
        }));
        self.outputs.push_back(Output::Transmit(OutgoingRequest {
            id,
            request,
            timeout,
        }));
    }

    pub(super) fn next_id(&mut self) -> RequestId {
        let id = RequestId(self.next_request_id);
        self.next_request_id += 1;
        id
    }

    /// The host gave up on the request in flight without an answer (its task
    /// was cancelled). Nothing is counted as a failure: the registrar becomes
    /// idle, releases the lock, and checks again at once when next driven. A
    /// late answer to the abandoned request is ignored.
    pub fn cancel_request(&mut self, now: UnixTime) {
        self.observe_time(now);
        self.cancel_session_request(now);
        if let Phase::InFlight(flight) = &self.phase {
            let id = flight.id;
            self.phase = Phase::Idle;
            self.callback = None;
            self.once_since = None;
            self.emit(Event::RequestCancelled { id });
            self.settle_if_not_looping();
            self.release_lock();
            self.next_check = now;
        }
    }

    /// Reports what became of request `id`: a response (body cut to
    /// [`response::MAX_RESPONSE_BODY`]) or a transport error. Responses to
    /// requests no longer awaited are ignored.
    pub fn handle_response(
        &mut self,
        id: RequestId,
        result: Result<HttpResponse, TransportError>,
        now: UnixTime,
    ) {
        self.observe_time(now);
        if self.session_awaits(id, false) {
            return self.session_response(id, result, now);
        }
        let flight = match &self.phase {
            Phase::InFlight(flight) if flight.id == id && !matches!(flight.step, Step::Sign(_)) => {
                flight.clone()
            }
            _ => {
                self.emit(Event::StaleResponse { id });
                return;
            }
        };
        self.phase = Phase::Idle;
        let outcome = match &result {
            Ok(response) => response::classify_response_redacted(
                &flight.endpoint,
                response,
                now,
                &self.redactor,
            ),
            Err(error) => Err(response::classify_transport_error_redacted(
                &flight.endpoint,
                error,
                &self.redactor,
            )),
        };
        match (outcome, flight.step) {
            (Ok(()), Step::Register) => self.succeeded(flight.attempt_started, now),
            (Ok(()), Step::SiweNonce) => {
                let body = result.map(|r| r.body).unwrap_or_default();
                let checked = SiweChallenge::parse(&body).and_then(|challenge| {
                    challenge
                        .validate(&self.config.dds_url, &self.config.siwe_domains)
                        .map(|()| challenge)
                });
                match (checked, &self.key) {
                    (Ok(challenge), NodeSigner::Local(key)) => {
                        let message = challenge.message(&key.eth_address());
                        let signature = key.sign_eip191(message.as_bytes());
                        self.transmit_wallet_registration(
                            &message,
                            &signature,
                            flight.attempt_started,
                            now,
                        );
                    }
                    (Ok(challenge), NodeSigner::Remote { address, .. }) => {
                        let message = challenge.message(address);
                        self.ask_signature(message, flight.attempt_started, now);
                    }
                    (Err(err), _) => {
                        let mut failure =
                            response::unusable_response(&flight.endpoint, &err.to_string());
                        if matches!(
                            err,
                            request::ChallengeError::ForeignDomain { .. }
                                | request::ChallengeError::ForeignUri(_)
                        ) {
                            // A challenge we refuse to sign will not change soon.
                            failure.class = FailureClass::RetryLater;
                        }
                        self.failed(failure, now);
                    }
                }
            }
            (Err(failure), _) => self.failed(failure, now),
            (Ok(()), Step::Sign(_)) => {}
        }
    }

    /// Reports the remote signer's answer to [`Output::Sign`] `id`: the
    /// 65-byte signature `r ‖ s ‖ v` (v in {0, 1} or {27, 28}), or why it
    /// could not sign (a refusal, say: text that is logged). A signature
    /// that does not recover to the signer's address fails the attempt like
    /// a refusal. Answers no longer awaited are ignored.
    pub fn handle_signature(
        &mut self,
        id: RequestId,
        result: Result<Vec<u8>, String>,
        now: UnixTime,
    ) {
        self.observe_time(now);
        if self.session_awaits(id, true) {
            return self.session_signature(id, result, now);
        }
        let (flight, message) = match &self.phase {
            Phase::InFlight(flight) if flight.id == id => match &flight.step {
                Step::Sign(message) => (flight.clone(), message.clone()),
                _ => {
                    self.emit(Event::StaleResponse { id });
                    return;
                }
            },
            _ => {
                self.emit(Event::StaleResponse { id });
                return;
            }
        };
        self.phase = Phase::Idle;
        let address = self.address();
        let checked =
            result.and_then(|signature| check_remote_signature(&message, &signature, &address));
        match checked {
            Ok(signature) => {
                self.transmit_wallet_registration(&message, &signature, flight.attempt_started, now)
            }
            Err(reason) => self.failed(response::signer_failure(&reason), now),
        }
    }

    pub(super) fn ask_signature(
        &mut self,
        message: String,
        attempt_started: UnixTime,
        now: UnixTime,
    ) {
        let id = self.next_id();
        let timeout = self.config.request_timeout;
        self.phase = Phase::InFlight(Box::new(InFlight {
            id,
            step: Step::Sign(message.clone()),
            endpoint: "the remote signer".to_owned(),
            attempt_started,
            deadline: now + timeout,
        }));
        self.outputs.push_back(Output::Sign(SignRequest {
            id,
            message,
            timeout,
        }));
    }

    pub(super) fn transmit_wallet_registration(
        &mut self,
        message: &str,
        signature: &str,
        attempt_started: UnixTime,
        now: UnixTime,
    ) {
        let request = request::wallet_registration_request_signed(
            &self.config.dds_url,
            message,
            signature,
            &self.config.node,
        );
        self.transmit(request, Step::Register, attempt_started, now);
    }

    pub(super) fn succeeded(&mut self, attempt_started: UnixTime, now: UnixTime) {
        self.attempt = 0;
        self.once_since = None;
        self.last_health_check = Some(now);
        let registered_as = self.config.registered_as(&self.address());
        // Credentials are the issuing DDS's name for this key: registered with
        // another DDS or key, the stored ones belong to another node.
        if self.registered_as.as_ref().is_some_and(|was| {
            was.dds_url != registered_as.dds_url || was.address != registered_as.address
        }) {
            self.credentials = None;
        }
        self.registered_as = Some(Box::new(registered_as));
        if let Some(window) = &mut self.callback {
            window.attempt_succeeded = true;
            window.closes_at = now + CALLBACK_GRACE;
            if let Some(credentials) = window.received.clone() {
                self.credentials = Some(Box::new(credentials));
            }
        }
        if let Some(warnings) = &mut self.warnings {
            warnings.registered();
        }
        self.set_status(Status::Registered);
        self.emit(Event::Registered {
            elapsed: now.saturating_since(attempt_started),
        });
        self.persist();
        self.release_lock();
        self.next_check = now;
        self.check(now);
    }

    pub(super) fn failed(&mut self, mut failure: Failure, now: UnixTime) {
        let ttl = self.config.ttl();
        // The attempt failed: a callback in its window is no longer expected,
        // and one already received is dropped.
        self.callback = None;
        self.once_since = None;
        failure.message = self.redactor.redact(&failure.message);
        // A server's Retry-After is a floor for any wait it applies to.
        let at_least = |wait: Duration| failure.retry_after.map_or(wait, |ra| wait.max(ra));
        let wait;
        match failure.class {
            FailureClass::Conflict => {
                self.attempt = 0;
                let (since, warn) = self.warnings.get_or_insert_default().conflict(now);
                wait = at_least(ttl);
                self.emit(Event::Conflict {
                    failure,
                    blocked_for: now.saturating_since(since),
                    warn,
                });
            }
            FailureClass::RetryLater => {
                // The failed attempt's number, as its `registration.attempt`
                // said; the count then starts again (no backoff to grow).
                let attempt = self.attempt.saturating_add(1);
                self.attempt = 0;
                let warn = self.warnings.get_or_insert_default().refusal(now);
                wait = at_least(ttl);
                self.emit(Event::RegistrationFailed {
                    failure,
                    attempt,
                    retry_in: wait,
                    retrying: self.looping,
                    warn,
                });
            }
            FailureClass::RetryFast => {
                if let Some(warnings) = &mut self.warnings {
                    warnings.end_conflict();
                }
                self.attempt = self.attempt.saturating_add(1);
                let attempt = self.attempt;
                let capped = self.config.max_retry.filter(|max| attempt >= *max);
                wait = match (capped, failure.retry_after) {
                    (Some(_), retry_after) => ttl.max(retry_after.unwrap_or_default()),
                    (None, retry_after) => {
                        let backoff = backoff(attempt).mul_f64(self.rng.jitter_factor());
                        // The backoff is a floor: whoever answers (a proxy's
                        // `Retry-After: 0`, or 5 s to every node after an
                        // outage) cannot make a fleet retry faster. A later
                        // second it names is kept, clients spread across it.
                        retry_after.map_or(backoff, |retry_after| {
                            backoff
                                .max(retry_after + self.rng.duration_below(Duration::from_secs(1)))
                        })
                    }
                };
                self.emit(Event::RegistrationFailed {
                    failure,
                    attempt,
                    retry_in: wait,
                    retrying: self.looping,
                    warn: true,
                });
                if let Some(max_retry) = capped {
                    self.emit(Event::MaxRetryReached { max_retry });
                    self.attempt = 0;
                }
            }
        }
        self.settle_if_not_looping();
        self.persist();
        self.release_lock();
        self.next_check = now + wait;
    }

    /// Without a loop nothing is trying to register after a failure (or once
    /// the loop ends): `registering` would be a stale status.
    pub(super) fn settle_if_not_looping(&mut self) {
        if !self.looping && self.status == Status::Registering {
            self.set_status(Status::Disconnected);
        }
    }
}
