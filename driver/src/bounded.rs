//! Loads and saves that end: a host's storage that never answers (a stalled
//! KV namespace, a hung network file system, a buggy adapter) must not hold
//! the loop, `stop()` or the next attempt for ever.

use crate::{BoxFuture, Runtime, StoreError};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// `pending` (the store's `call`), failed once `limit` has passed.
pub(crate) fn bounded<'a, T>(
    runtime: &'a dyn Runtime,
    limit: Duration,
    call: &'static str,
    pending: BoxFuture<'a, Result<T, StoreError>>,
) -> Bounded<'a, T> {
    Bounded {
        deadline: Deadline {
            runtime,
            limit,
            call,
            timer: None,
        },
        pending,
    }
}

pub(crate) struct Bounded<'a, T> {
    deadline: Deadline<'a>,
    pending: BoxFuture<'a, Result<T, StoreError>>,
}

impl<T> Future for Bounded<'_, T> {
    type Output = Result<T, StoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(done) = self.pending.as_mut().poll(cx) {
            return Poll::Ready(done);
        }
        self.deadline.poll(cx).map(Err)
    }
}

/// The timer of one call, made only when the call does not end at once: a
/// store that answers synchronously then needs no runtime (outputs finished
/// while a future is dropped).
struct Deadline<'a> {
    runtime: &'a dyn Runtime,
    limit: Duration,
    call: &'static str,
    timer: Option<BoxFuture<'static, ()>>,
}

impl Deadline<'_> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<StoreError> {
        let (runtime, limit) = (self.runtime, self.limit);
        let timer = self
            .timer
            .get_or_insert_with(|| runtime.sleep_until(runtime.now() + limit));
        timer.as_mut().poll(cx).map(|()| {
            let ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
            StoreError(format!(
                "the store's {}() did not end within {ms} ms",
                self.call
            ))
        })
    }
}
