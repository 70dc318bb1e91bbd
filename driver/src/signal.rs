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

/// Sends each value to every live subscriber. Closing it ends every
/// subscription; while closed, a new one gets its first value and ends.
pub(crate) struct Broadcast<T: Clone> {
    state: Mutex<(Vec<UnboundedSender<T>>, bool)>,
}

impl<T: Clone> Default for Broadcast<T> {
    fn default() -> Self {
        Broadcast {
            state: Mutex::new((Vec::new(), false)),
        }
    }
}

impl<T: Clone> Broadcast<T> {
    pub(crate) fn subscribe(&self) -> UnboundedReceiver<T> {
        let (tx, rx) = unbounded();
        lock(&self.state).0.push(tx);
        rx
    }

    /// A subscription that starts with `first`.
    pub(crate) fn subscribe_with(&self, first: T) -> UnboundedReceiver<T> {
        let (tx, rx) = unbounded();
        let _ = tx.unbounded_send(first);
        let mut state = lock(&self.state);
        if !state.1 {
            state.0.push(tx);
        }
        rx
    }

    pub(crate) fn send(&self, value: T) {
        lock(&self.state)
            .0
            .retain(|tx| tx.unbounded_send(value.clone()).is_ok());
    }

    /// Ends every subscription (`true`) or lets new ones follow again (`false`).
    pub(crate) fn set_closed(&self, closed: bool) {
        let mut state = lock(&self.state);
        state.1 = closed;
        if closed {
            state.0.clear();
        }
    }
}
