//! Small runtime-free synchronisation: a wake-up flag for the driving loop
//! and a broadcast of values to any number of streams.

use futures_channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use std::future::poll_fn;
use std::sync::{Mutex, MutexGuard};
use std::task::{Poll, Waker};

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not wedge the registrar: its state stays usable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A flag the driving loop waits on: set by anyone, consumed by one waiter.
#[derive(Default)]
pub(crate) struct Wake {
    state: Mutex<(bool, Vec<Waker>)>,
}

impl Wake {
    pub(crate) fn notify(&self) {
        let wakers = {
            let mut state = lock(&self.state);
            state.0 = true;
            std::mem::take(&mut state.1)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Completes once notified after (or just before) the call; clears the flag.
    pub(crate) async fn notified(&self) {
        poll_fn(|cx| {
            let mut state = lock(&self.state);
            if std::mem::take(&mut state.0) {
                return Poll::Ready(());
            }
            if !state.1.iter().any(|w| w.will_wake(cx.waker())) {
                state.1.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

/// How long a subscription follows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Until {
    /// Until [`Broadcast::end_at_stop`].
    Stop,
    /// Until [`Broadcast::close`].
    Close,
}

/// Sends each value to every live subscriber. Subscriptions end at a stop or
/// at the close, as they asked; one made after its end gets its first value
/// and ends.
pub(crate) struct Broadcast<T: Clone> {
    state: Mutex<Subscribers<T>>,
}

struct Subscribers<T> {
    live: Vec<(UnboundedSender<T>, Until)>,
    stopped: bool,
    closed: bool,
}

impl<T: Clone> Default for Broadcast<T> {
    fn default() -> Self {
        Broadcast {
            state: Mutex::new(Subscribers {
                live: Vec::new(),
                stopped: false,
                closed: false,
            }),
        }
    }
}

impl<T: Clone> Broadcast<T> {
    pub(crate) fn subscribe(&self) -> UnboundedReceiver<T> {
        let (tx, rx) = unbounded();
        lock(&self.state).live.push((tx, Until::Close));
        rx
    }

    /// A subscription that starts with `first` and follows `until`.
    pub(crate) fn subscribe_with(&self, first: T, until: Until) -> UnboundedReceiver<T> {
        let (tx, rx) = unbounded();
        let _ = tx.unbounded_send(first);
        let mut state = lock(&self.state);
        let ended = state.closed || (until == Until::Stop && state.stopped);
        if !ended {
            state.live.push((tx, until));
        }
        rx
    }

    pub(crate) fn send(&self, value: T) {
        lock(&self.state)
            .live
            .retain(|(tx, _)| tx.unbounded_send(value.clone()).is_ok());
    }

    /// Ends the subscriptions that follow until a stop; until
    /// [`Broadcast::restart`], later ones get their first value and end.
    pub(crate) fn end_at_stop(&self) {
        let mut state = lock(&self.state);
        state.stopped = true;
        state.live.retain(|(_, until)| *until == Until::Close);
    }

    /// Lets new subscriptions follow again (a loop starts).
    pub(crate) fn restart(&self) {
        lock(&self.state).stopped = false;
    }

    /// Ends every subscription, and every later one at once.
    pub(crate) fn close(&self) {
        let mut state = lock(&self.state);
        state.closed = true;
        state.live.clear();
    }
}
