//! How often a repeated trouble warns: a conflict, a refusal or a rejected
//! callback is a warning at most once per [`WARN_INTERVAL`], a debug line
//! otherwise. Kept out of line (boxed in the registrar) because an idle
//! registrar never needs it.

use super::WARN_INTERVAL;
use crate::time::UnixTime;

#[derive(Default)]
pub(super) struct Warnings {
    /// Since when attempts have ended in a conflict, without a break.
    conflict_since: Option<UnixTime>,
    next_conflict: Option<UnixTime>,
    next_refusal: Option<UnixTime>,
    next_rejection: Option<UnixTime>,
    /// Callback rejections logged as debug lines since the last warning.
    rejections_unwarned: u32,
}

/// Whether a warning is due, booking the next one if so.
fn due(next: &mut Option<UnixTime>, now: UnixTime) -> bool {
    let warn = next.is_none_or(|at| now >= at);
    if warn {
        *next = Some(now + WARN_INTERVAL);
    }
    warn
}

impl Warnings {
    /// An attempt ended in a conflict: since when conflicts have lasted, and
    /// whether to warn.
    pub(super) fn conflict(&mut self, now: UnixTime) -> (UnixTime, bool) {
        self.next_refusal = None;
        let since = *self.conflict_since.get_or_insert(now);
        (since, due(&mut self.next_conflict, now))
    }

    /// An attempt was refused (retry later): whether to warn.
    pub(super) fn refusal(&mut self, now: UnixTime) -> bool {
        self.end_conflict();
        due(&mut self.next_refusal, now)
    }

    /// The wall clock was set back `by` (see `clock.rs`).
    pub(super) fn move_times_back(&mut self, by: std::time::Duration) {
        let times = [
            &mut self.conflict_since,
            &mut self.next_conflict,
            &mut self.next_refusal,
            &mut self.next_rejection,
        ];
        for time in times.into_iter().flatten() {
            *time = *time - by;
        }
    }

    /// An attempt ended otherwise than in a conflict.
    pub(super) fn end_conflict(&mut self) {
        self.conflict_since = None;
        self.next_conflict = None;
    }

    /// The node registered: the next conflict or refusal warns at once.
    pub(super) fn registered(&mut self) {
        self.end_conflict();
        self.next_refusal = None;
    }

    /// A callback was rejected: whether to warn and, if so, how many
    /// rejections went unwarned before it.
    pub(super) fn rejection(&mut self, now: UnixTime) -> (bool, u32) {
        let suppressed = self.rejections_unwarned;
        if due(&mut self.next_rejection, now) {
            self.rejections_unwarned = 0;
            (true, suppressed)
        } else {
            self.rejections_unwarned = suppressed.saturating_add(1);
            (false, 0)
        }
    }
}
