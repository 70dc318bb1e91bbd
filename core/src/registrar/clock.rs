//! The wall clock as the host reads it may be set back: NTP correcting a
//! device that booted with its clock ahead, a user setting the time, a VM
//! restored from a snapshot. Every time the registrar keeps (when to check
//! next, when a request times out, when the last health check came) then
//! moves back with it, so that a wait keeps its length instead of lasting as
//! long as the jump, and an age stays what it was. A clock set forward needs
//! nothing: what came due runs at once, as after a long suspend.

use super::*;

/// A time this much earlier than one a host call already named is the clock
/// set back, not two threads' readings slightly out of order.
pub const CLOCK_SET_BACK_AFTER: Duration = Duration::from_secs(1);

/// A confirmation read from storage (a restart's snapshot, a sibling's),
/// unless it is stamped later than `now`: then it was made before the clock
/// was set back, how long ago is unknown, and it confirms nothing. Taken as
/// fresh, it would keep a node "registered" until the clock caught up.
pub(super) fn stored_confirmation(time: Option<UnixTime>, now: UnixTime) -> Option<UnixTime> {
    time.filter(|time| time.saturating_since(now) <= CLOCK_SET_BACK_AFTER)
}

impl Registrar {
    /// Takes the time of a host call; see the module's documentation.
    pub(super) fn observe_time(&mut self, now: UnixTime) {
        let back = self.latest_now.saturating_since(now);
        if back > CLOCK_SET_BACK_AFTER {
            self.move_times_back(back);
        }
        self.latest_now = self.latest_now.max(now);
    }

    fn move_times_back(&mut self, by: Duration) {
        for time in [&mut self.next_check, &mut self.latest_now] {
            *time = *time - by;
        }
        let kept = [
            &mut self.last_health_check,
            &mut self.once_since,
            &mut self.busy_since,
            &mut self.last_probe_persisted,
            &mut self.share_retry_at,
            &mut self.next_observe,
        ];
        for time in kept.into_iter().flatten() {
            *time = *time - by;
        }
        if let Phase::InFlight(flight) = &mut self.phase {
            flight.attempt_started = flight.attempt_started - by;
            flight.deadline = flight.deadline - by;
        }
        if let Some(window) = &mut self.callback {
            window.closes_at = window.closes_at - by;
        }
        if let Some(delivery) = &mut self.delivery {
            delivery.received_at = delivery.received_at - by;
            delivery.until = delivery.until - by;
        }
        if let Some(session) = &mut self.session {
            session.move_times_back(by);
        }
        if let Some(warnings) = &mut self.warnings {
            warnings.move_times_back(by);
        }
    }
}
