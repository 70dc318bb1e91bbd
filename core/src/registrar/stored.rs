//! What a stored registration is worth: judged against the configuration
//! and the TTL, kept (and reported) when a registrar starts on it, or taken
//! over from a sibling process that registered while this one waited.

use super::*;

impl Registrar {
    /// Judges the registration a registrar starts from: a fresh one is kept
    /// and reported by the first check ([`Registrar::report_restored`]); any
    /// other is reported stale and registered again.
    pub(super) fn restore(&mut self, now: UnixTime) {
        if self.status != Status::Registered {
            return;
        }
        // Not persisted here: under a shared store only the lock holder writes.
        match self.judge_stored(self.registered_as.as_deref(), self.last_health_check, now) {
            Ok(_) => self.restored_unreported = true,
            Err(reason) => {
                self.emit(Event::StoredRegistrationStale { reason });
                self.set_status(Status::Registering);
            }
        }
    }

    /// A restarted node says it is registered, once, as the stale case says
    /// it is not (`age`: since it was last confirmed).
    pub(super) fn report_restored(&mut self, age: Duration) {
        if std::mem::take(&mut self.restored_unreported) {
            self.emit(Event::Adopted { age });
        }
    }

    /// Whether a stored registration may be taken over: made for exactly this
    /// configuration and confirmed within one TTL. `Ok` holds its age.
    pub(super) fn judge_stored(
        &self,
        registered_as: Option<&RegisteredAs>,
        last_confirmed: Option<UnixTime>,
        now: UnixTime,
    ) -> Result<Duration, StaleReason> {
        let stored = registered_as.ok_or(StaleReason::NotRecorded)?;
        let current = self.config.registered_as(&self.address());
        let differing: Vec<&str> = [
            ("DDS URL", stored.dds_url == current.dds_url),
            ("flow", stored.flow == current.flow),
            ("address", stored.address == current.address),
            ("node URL", stored.node_url == current.node_url),
            ("version", stored.version == current.version),
            ("capabilities", stored.capabilities == current.capabilities),
        ]
        .into_iter()
        .filter_map(|(name, same)| (!same).then_some(name))
        .collect();
        if !differing.is_empty() {
            return Err(StaleReason::Changed {
                fields: differing.join(", "),
            });
        }
        match last_confirmed.map(|t| now.saturating_since(t)) {
            Some(age) if age <= self.config.ttl() => Ok(age),
            since_last => Err(StaleReason::Expired { since_last }),
        }
    }

    /// Takes over a registration another process made, if it was made for
    /// this exact configuration and is fresh, or was made while this
    /// registrar waited for the lock (`busy_since`): with a long attempt or a
    /// slow sibling that can be more than a TTL ago, and registering again
    /// would repeat what the waiting was for.
    pub(super) fn adopt_if_registered(
        &mut self,
        fresh: Snapshot,
        busy_since: Option<UnixTime>,
        now: UnixTime,
    ) -> bool {
        if fresh.status != Status::Registered {
            return false;
        }
        let confirmed = clock::stored_confirmation(fresh.last_health_check, now);
        let age = match self.judge_stored(fresh.registered_as.as_ref(), confirmed, now) {
            Ok(age) => age,
            Err(StaleReason::Expired {
                since_last: Some(age),
            }) if matches!((busy_since, confirmed), (Some(busy), Some(at)) if at >= busy) => age,
            Err(_) => return false,
        };
        self.last_health_check = self.last_health_check.max(confirmed);
        if let Some(credentials) = fresh
            .credentials
            .as_ref()
            .filter(|c| Some(*c) != self.credentials.as_deref())
        {
            self.redactor.add_secret(credentials.secret.expose());
        }
        self.credentials = fresh.credentials.map(Box::new).or(self.credentials.take());
        self.registered_as = fresh.registered_as.map(Box::new);
        self.attempt = 0;
        // Quiet when this only confirmed a registration already held, unless
        // a register_now waits for the result.
        let awaited = self.once_since.take().is_some();
        if self.status != Status::Registered || awaited {
            self.set_status(Status::Registered);
            self.emit(Event::Adopted { age });
        }
        true
    }
}
