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
    /// Over capacity: come back in this second (absolute, same clock as the input).
    RetryAt(u64),
}

/// Per-second capacity with a booking queue.
#[derive(Debug, Clone)]
pub struct SlotBooker {
    capacity: u32,
    /// Second → registrations served or promised in it (past seconds dropped).
    load: BTreeMap<u64, u32>,
    /// Earliest second that may still have room for a booking.
    next_free: u64,
}

impl SlotBooker {
    /// A DDS serving `capacity` registrations per second (at least 1).
    pub fn new(capacity: u32) -> Self {
        SlotBooker {
            capacity: capacity.max(1),
            load: BTreeMap::new(),
            next_free: 0,
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

    /// A registration arrives in `second`. A client that was booked is served
    /// (its place was reserved); others take what is left, and when the second
    /// is full they are booked into the first later second with room.
    pub fn admit(&mut self, second: u64, booked: bool) -> Admission {
        // Seconds before this one can take nobody any more.
        self.forget_before(second);
        if booked {
            return Admission::Accept;
        }
        let load = self.load.entry(second).or_insert(0);
        if *load < self.capacity {
            *load += 1;
            return Admission::Accept;
        }
        let mut candidate = self.next_free.max(second + 1);
        loop {
            let load = self.load.entry(candidate).or_insert(0);
            if *load < self.capacity {
                *load += 1;
                break;
            }
            candidate += 1;
        }
        self.next_free = candidate;
        Admission::RetryAt(candidate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_capacity_then_books_later_seconds_in_order() {
        let mut dds = SlotBooker::new(2);
        assert_eq!(dds.admit(10, false), Admission::Accept);
        assert_eq!(dds.admit(10, false), Admission::Accept);
        assert_eq!(dds.admit(10, false), Admission::RetryAt(11));
        assert_eq!(dds.admit(10, false), Admission::RetryAt(11));
        assert_eq!(dds.admit(10, false), Admission::RetryAt(12));
        // Second 11 is fully promised: a newcomer there is booked after the queue.
        assert_eq!(dds.admit(11, false), Admission::RetryAt(12));
        assert_eq!(dds.admit(11, true), Admission::Accept);
        assert_eq!(dds.admit(13, false), Admission::Accept);
    }
}
