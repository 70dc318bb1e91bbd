//! Capacity with booked slots: a DDS that can serve `capacity` registrations a
//! second answers the excess with `503` and a `Retry-After` naming a future
//! second it has reserved for that client. Clients that honour it arrive when
//! there is room, so a backlog drains at exactly the capacity, with about one
//! rejected request per client.
//!
//! Pure bookkeeping over whole seconds (no clock): the conformance DDS and the
//! fleet simulation both use it.

use std::collections::BTreeMap;

/// What the DDS answers a registration arriving in some second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Served now.
    Accept,
    /// Over capacity: come back in this second (absolute, same clock as the
    /// input). `booked` says whether a place is reserved there; beyond
    /// [`MAX_BOOKING_AHEAD`] nothing is booked and the client just comes back
    /// to ask again.
    RetryAt {
        /// The second to come back in.
        second: u64,
        /// Whether a place is reserved in it.
        booked: bool,
    },
}

/// Clients honour a `Retry-After` of at most an hour
/// (`posemesh_registration_core::response::MAX_RETRY_AFTER`), so no slot is
/// booked further ahead: a client told to wait longer would come back early.
pub const MAX_BOOKING_AHEAD: u64 = 3600;

/// Slots are booked at least this far ahead: a client never comes back
/// sooner than its own backoff (its first step is 1.6 to 2.4 s), so a nearer
/// booking would go unused.
pub const MIN_BOOKING_LEAD_SECS: u64 = 3;

/// The `Retry-After` value naming `second` (Unix seconds) as an HTTP date
/// (IMF-fixdate): exact to the second, unlike delta-seconds, which count from
/// whenever the client reads them.
pub fn retry_after_date(second: u64) -> String {
    let date = chrono::DateTime::from_timestamp(i64::try_from(second).unwrap_or(i64::MAX), 0)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
    date.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Per-second capacity with a booking queue.
#[derive(Debug, Clone)]
pub struct SlotBooker {
    capacity: u32,
    /// Second → registrations served or promised in it (past seconds dropped).
    load: BTreeMap<u64, u32>,
    /// Earliest second that may still have room for a booking.
    next_free: u64,
    /// Bookings are made at least this many seconds ahead.
    min_lead: u64,
}

impl SlotBooker {
    /// A DDS serving `capacity` registrations per second (at least 1).
    pub fn new(capacity: u32) -> Self {
        Self::with_min_lead(capacity, MIN_BOOKING_LEAD_SECS)
    }

    /// Like [`SlotBooker::new`], booking no sooner than `min_lead` seconds
    /// ahead (tests use 1; see [`MIN_BOOKING_LEAD_SECS`]).
    pub fn with_min_lead(capacity: u32, min_lead: u64) -> Self {
        SlotBooker {
            capacity: capacity.max(1),
            load: BTreeMap::new(),
            next_free: 0,
            min_lead: min_lead.clamp(1, MAX_BOOKING_AHEAD),
        }
    }

    /// The configured capacity per second.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Serves a registration in `second` if it has room; never books.
    pub fn try_serve(&mut self, second: u64) -> bool {
        self.forget_before(second);
        let load = self.load.entry(second).or_insert(0);
        let room = *load < self.capacity;
        if room {
            *load += 1;
        }
        room
    }

    fn forget_before(&mut self, second: u64) {
        while self
            .load
            .first_key_value()
            .is_some_and(|(&past, _)| past < second)
        {
            self.load.pop_first();
        }
    }

    /// A registration arrives in `second`. A client arriving in (or after) the
    /// second it was booked into is served: its place was reserved. Others
    /// take what is left, and when the second is full they are booked into the
    /// first later second with room, at most [`MAX_BOOKING_AHEAD`] ahead.
    pub fn admit(&mut self, second: u64, booked_for: Option<u64>) -> Admission {
        // Seconds before this one can take nobody any more.
        self.forget_before(second);
        if booked_for.is_some_and(|slot| second >= slot) {
            return Admission::Accept;
        }
        let load = self.load.entry(second).or_insert(0);
        if *load < self.capacity {
            *load += 1;
            return Admission::Accept;
        }
        let mut candidate = self.next_free.max(second + self.min_lead);
        while candidate - second <= MAX_BOOKING_AHEAD {
            let load = self.load.entry(candidate).or_insert(0);
            if *load < self.capacity {
                *load += 1;
                self.next_free = candidate;
                return Admission::RetryAt {
                    second: candidate,
                    booked: true,
                };
            }
            candidate += 1;
        }
        Admission::RetryAt {
            second: second + MAX_BOOKING_AHEAD,
            booked: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_capacity_then_books_later_seconds_in_order() {
        let booked = |second| Admission::RetryAt {
            second,
            booked: true,
        };
        let mut dds = SlotBooker::with_min_lead(2, 1);
        assert_eq!(dds.admit(10, None), Admission::Accept);
        assert_eq!(dds.admit(10, None), Admission::Accept);
        assert_eq!(dds.admit(10, None), booked(11));
        assert_eq!(dds.admit(10, None), booked(11));
        assert_eq!(dds.admit(10, None), booked(12));
        // Second 11 is fully promised: a newcomer there is booked after the queue.
        assert_eq!(dds.admit(11, None), booked(12));
        assert_eq!(dds.admit(11, Some(11)), Admission::Accept);
        assert_eq!(dds.admit(13, None), Admission::Accept);
    }

    #[test]
    fn early_arrivals_are_not_served_on_a_later_booking() {
        let mut dds = SlotBooker::with_min_lead(1, 1);
        assert_eq!(dds.admit(0, None), Admission::Accept);
        assert_eq!(
            dds.admit(0, None),
            Admission::RetryAt {
                second: 1,
                booked: true
            }
        );
        assert_eq!(
            dds.admit(0, None),
            Admission::RetryAt {
                second: 2,
                booked: true
            }
        );
        // Booked for 2, back in 1 (full): not let in.
        assert!(matches!(dds.admit(1, Some(2)), Admission::RetryAt { .. }));
    }

    #[test]
    fn books_no_further_ahead_than_clients_wait() {
        let mut dds = SlotBooker::with_min_lead(1, 1);
        for _ in 0..=MAX_BOOKING_AHEAD {
            dds.admit(0, None);
        }
        // Seconds 0..=600 are all taken: the next client is told to come back, unbooked.
        assert_eq!(
            dds.admit(0, None),
            Admission::RetryAt {
                second: MAX_BOOKING_AHEAD,
                booked: false
            }
        );
    }

    #[test]
    fn bookings_are_at_least_the_lead_ahead() {
        let mut dds = SlotBooker::new(1);
        assert_eq!(dds.admit(10, None), Admission::Accept);
        assert_eq!(
            dds.admit(10, None),
            Admission::RetryAt {
                second: 10 + MIN_BOOKING_LEAD_SECS,
                booked: true
            }
        );
    }
}
