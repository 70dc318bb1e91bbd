//! `tick()`: the registrar's due work, done now, for hosts that cannot keep
//! a loop alive (cron triggers, edge workers), and what it reports.

use super::*;

/// What [`Driver::tick`] did and left behind: everything a host reports of a
/// tick, so that none has to watch the transport or the events for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickReport {
    /// The status after the tick.
    pub status: Status,
    /// When the registrar next wants to run (call `tick` again then).
    pub next_wake: UnixTime,
    /// Whether the tick made an attempt (sent a request or asked the signer).
    pub attempted: bool,
    /// How the attempt that ended during the tick ended, if one did.
    pub result: Option<Result<AttemptOutcome, Failure>>,
    /// Why saving the snapshot failed during the tick (the text of its
    /// [`Event::StateSaveFailed`]), if it did.
    pub save_error: Option<String>,
}

impl Driver {
    /// Does what is due now and returns: for cron triggers and edge workers
    /// that cannot keep a loop alive. A fresh driver's first check runs at
    /// once; a node that is not registered (or whose health check lapsed)
    /// makes its attempt, which is awaited (under the core's request
    /// timeout); a registered one does nothing. Waits while another operation
    /// drives.
    pub async fn tick(&self) -> TickReport {
        let drive = self.drive_lock();
        let _drive = drive.lock().await;
        // Dropped mid-request (an aborted tick): the request is abandoned at
        // once, so the next tick does not wait out its timeout.
        let _abandon = AbandonOnDrop(self.clone());
        let mut results = self.shared.results.subscribe();
        lock(&self.shared.last_save_error).take();
        let mut attempted = false;
        let now = self.shared.runtime.now();
        lock(&self.shared.registrar).check_now(now);
        // A lapsed health check turns into an attempt one short delay later
        // in a loop; a tick makes that attempt now, once.
        let mut rechecked = false;
        let mut in_flight: Vec<InFlight<'_>> = Vec::new();
        loop {
            let pending = self.awaited(self.flush().await, &mut in_flight);
            attempted |= !pending.is_empty();
            in_flight.extend(pending.into_iter().map(|p| self.start(p)));
            if !in_flight.is_empty() {
                // The transport keeps its own timeout; a signer may not.
                let mut deadline = self.shared.runtime.sleep_until(self.next_wake());
                let answer = poll_fn(|cx| {
                    if let Poll::Ready(answered) = first_answer(&mut in_flight, cx) {
                        return Poll::Ready(Some(answered));
                    }
                    deadline.as_mut().poll(cx).map(|()| None)
                })
                .await;
                let now = self.shared.runtime.now();
                match answer {
                    Some((index, answer)) => {
                        let (id, _) = in_flight.swap_remove(index);
                        self.answer(id, answer, now);
                    }
                    None => lock(&self.shared.registrar).handle_timeout(now),
                }
                rechecked = true;
                continue;
            }
            let pending = {
                let registrar = lock(&self.shared.registrar);
                registrar.status() == Status::Registering && !registrar.has_request_in_flight()
            };
            let now = self.shared.runtime.now();
            if pending && !rechecked && self.next_wake() <= now + SHORT_DELAY {
                rechecked = true;
                lock(&self.shared.registrar).check_now(now);
                continue;
            }
            break;
        }
        let mut result = None;
        while let Ok(ended) = results.try_recv() {
            result = Some(ended);
        }
        TickReport {
            status: self.status(),
            next_wake: self.next_wake(),
            attempted,
            result,
            save_error: lock(&self.shared.last_save_error).take(),
        }
    }
}
