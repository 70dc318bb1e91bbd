//! Several processes sharing one snapshot: merging what this one learnt
//! under the lock, reading what siblings stored, and never releasing the
//! lock in the middle of this process's own attempt.

use super::*;

impl Registrar {
    /// Answers [`Output::ShareState`]: given the shared snapshot as stored now
    /// (read under the lock), returns the snapshot to store, or `None` to
    /// leave it as it is. Only what this process learned is merged, into a
    /// stored registration made for this configuration: its latest health
    /// check, and a callback it accepted, into the slot of the attempt it was
    /// accepted for, if that attempt succeeded and the slot is free (a
    /// different callback already there, or kept from a replaced slot, is
    /// reported as a conflict). Nothing stored (or unreadable) means nothing to merge into:
    /// this process never writes its whole view without the attempt's lock.
    /// This process's view takes the stored credentials.
    pub fn merge_shared(&mut self, stored: Option<Snapshot>, now: UnixTime) -> Option<Snapshot> {
        self.observe_time(now);
        self.share_retry_at = None;
        let delivery = self.delivery.take();
        let mut merged = stored?;
        let current = self.config.registered_as(&self.address());
        let registered_here =
            merged.status == Status::Registered && merged.registered_as.as_ref() == Some(&current);
        if let Some(delivery) = delivery {
            if !self.reports_conflict(&delivery, &merged) {
                // Accepted in the window: merged however late (the clock may
                // have jumped), as one process commits what its window took.
                let slot = merged.callback.as_mut().filter(|slot| {
                    slot.attempt == delivery.attempt
                        && slot.taken.is_none()
                        && delivery.received_at <= slot.until
                });
                // Otherwise already in, or the attempt failed or a newer
                // attempt replaced it: dropped, as in one process.
                if let Some(slot) = slot.filter(|_| registered_here) {
                    slot.taken = Some(delivery.credentials.fingerprint());
                    merged.credentials = Some(delivery.credentials);
                    merged.last_health_check =
                        merged.last_health_check.max(Some(delivery.received_at));
                }
            }
        }
        if !registered_here {
            return None;
        }
        merged.last_health_check =
            clock::stored_confirmation(merged.last_health_check, now).max(self.last_health_check);
        if let Some(credentials) = &merged.credentials {
            self.redactor.add_secret(credentials.secret.expose());
            self.credentials = Some(Box::new(credentials.clone()));
        }
        Some(merged)
    }

    /// Reports a callback this worker accepted as a conflict when `stored`
    /// shows a different one taken for its attempt (in the attempt's slot, or
    /// kept after a newer attempt replaced it).
    pub(super) fn reports_conflict(&mut self, delivery: &Delivery, stored: &Snapshot) -> bool {
        let conflict = stored
            .callback_taken_in(delivery.attempt)
            .is_some_and(|taken| taken != delivery.credentials.fingerprint());
        if conflict {
            self.report_conflict(&delivery.credentials);
        }
        conflict
    }

    /// Whether reading the shared snapshot can teach this registrar anything:
    /// always, but while it holds the lock (it writes the snapshot then). A
    /// registered worker learns newer credentials and health checks from it;
    /// the others, a sibling's registration. Every worker sees what is stored
    /// within a second.
    pub(super) fn learns_from_shared(&self) -> bool {
        self.shares_snapshot() && !self.holding_lock
    }

    /// Answers [`Output::LoadShared`] with the shared snapshot as stored now
    /// (`None` if missing or unreadable). A registration stored for this exact
    /// configuration is taken over as when found under the lock: fresh, or
    /// made since this process found the lock busy. So a worker that lost the
    /// race for the lock is registered within a second of the winner, with
    /// its credentials and health checks, instead of waiting an interval.
    /// Nothing happens while this process is in an attempt or waits for the
    /// lock (the lock's answer decides then), or after
    /// [`Registrar::register_again`] (the stored registration is what is gone).
    pub fn observe_shared(&mut self, stored: Option<Snapshot>, now: UnixTime) {
        self.observe_time(now);
        let Some(stored) = stored else {
            return;
        };
        if self.holding_lock || self.rearm || !matches!(self.phase, Phase::Idle) {
            return;
        }
        let nothing_new = self.status == Status::Registered
            && stored.last_health_check <= self.last_health_check
            && (stored.credentials.is_none()
                || stored.credentials.as_ref() == self.credentials.as_deref());
        if nothing_new {
            return;
        }
        if self.adopt_if_registered(stored, self.busy_since, now) {
            self.busy_since = None;
            self.next_check = now;
            self.check(now);
        }
    }

    /// Answers [`Output::ShareState`] when the lock was busy (or failed): a
    /// callback still to merge is tried again in a second; a health check
    /// alone is not worth waiting for. Past its window (the clock may jump)
    /// it is tried 60 more times (`LATE_MERGE_TRIES`).
    pub fn share_busy(&mut self, now: UnixTime) {
        self.observe_time(now);
        match &mut self.delivery {
            Some(delivery) if now < delivery.until || delivery.late_tries < LATE_MERGE_TRIES => {
                if now >= delivery.until {
                    delivery.late_tries += 1;
                }
                self.share_retry_at = Some(now + SHORT_DELAY);
            }
            _ => self.delivery = None,
        }
    }

    /// Asks for [`Output::ShareState`], which takes the lock, merges and
    /// releases it: never while this registrar holds the lock for its own
    /// attempt (the release would end the attempt's exclusion); then it
    /// waits for the release.
    pub(super) fn queue_share(&mut self, now: UnixTime) {
        if self.holding_lock {
            self.share_retry_at = Some(now + SHORT_DELAY);
        } else {
            self.push_share();
        }
    }

    pub(super) fn push_share(&mut self) {
        if !matches!(self.outputs.back(), Some(Output::ShareState)) {
            self.outputs.push_back(Output::ShareState);
        }
    }

    /// Whether this registrar holds the cross-process lock (for its own
    /// attempt, or to read a sibling's registration). A host must not take
    /// and release the lock for [`Output::ShareState`] meanwhile: it calls
    /// [`Registrar::share_busy`] instead.
    pub fn holds_lock(&self) -> bool {
        self.holding_lock
    }
}
