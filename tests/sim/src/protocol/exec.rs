//! A single-threaded, deterministic executor and a simulated clock: tasks are
//! polled in a fixed order, time only moves when the world says so, so one
//! seed always replays the same schedule.

use posemesh_registration_core::UnixTime;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// Who a task belongs to: a worker's incarnation (its tasks die with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Worker index and incarnation.
    Worker(usize, u32),
}

/// A boxed task.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

struct Slot {
    owner: Owner,
    task: Task,
    woken: Arc<Flag>,
}

/// Tasks, polled in the order they were spawned.
#[derive(Default)]
pub struct Executor {
    slots: Vec<Option<Slot>>,
    /// Tasks spawned from inside the runtime (`Runtime::spawn`), adopted at the next poll.
    pub incoming: Arc<Mutex<Vec<(Owner, Task)>>>,
}

impl Executor {
    /// Adds a task; it is polled at the next [`Executor::run_until_stalled`].
    pub fn spawn(&mut self, owner: Owner, task: Task) {
        let woken = Arc::new(Flag(AtomicBool::new(true)));
        let slot = Some(Slot { owner, task, woken });
        match self.slots.iter().position(Option::is_none) {
            Some(free) => self.slots[free] = slot,
            None => self.slots.push(slot),
        }
    }

    /// Drops every task `owner` had (a crash: no destructor of the worker
    /// reaches the world, as its handles are dead by then).
    pub fn kill(&mut self, owner: Owner) {
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|slot| slot.owner == owner) {
                *slot = None;
            }
        }
        self.incoming.lock().unwrap().retain(|(o, _)| *o != owner);
    }

    /// Polls woken tasks until none is woken. Returns the number of polls.
    pub fn run_until_stalled(&mut self) -> usize {
        let mut polls = 0;
        loop {
            let adopted: Vec<_> = std::mem::take(&mut *self.incoming.lock().unwrap());
            for (owner, task) in adopted {
                self.spawn(owner, task);
            }
            let mut progressed = false;
            for index in 0..self.slots.len() {
                let Some(slot) = self.slots[index].as_mut() else {
                    continue;
                };
                if !slot.woken.0.swap(false, Ordering::AcqRel) {
                    continue;
                }
                progressed = true;
                polls += 1;
                assert!(polls < 1_000_000, "a task keeps waking itself: livelock");
                let waker = Waker::from(slot.woken.clone());
                let mut cx = Context::from_waker(&waker);
                if slot.task.as_mut().poll(&mut cx).is_ready() {
                    self.slots[index] = None;
                }
            }
            if !progressed && self.incoming.lock().unwrap().is_empty() {
                return polls;
            }
        }
    }
}

/// The simulated wall clock and its timers.
pub struct Clock {
    now: UnixTime,
    timers: Vec<(UnixTime, Waker)>,
}

impl Clock {
    /// A clock at `now`.
    pub fn new(now: UnixTime) -> Arc<Mutex<Clock>> {
        Arc::new(Mutex::new(Clock {
            now,
            timers: Vec::new(),
        }))
    }

    /// Now.
    pub fn now(&self) -> UnixTime {
        self.now
    }

    /// The earliest timer's deadline.
    pub fn next_deadline(&self) -> Option<UnixTime> {
        self.timers.iter().map(|(at, _)| *at).min()
    }

    /// Sets the time (forward, or back for a clock step) and wakes every due timer.
    pub fn set(&mut self, now: UnixTime) {
        self.now = now;
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.timers)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.timers = later;
        for (_, waker) in due {
            waker.wake();
        }
    }

    /// Wakes `waker` at `at`.
    pub fn wake_at(&mut self, at: UnixTime, waker: &Waker) {
        if at <= self.now {
            waker.wake_by_ref();
        } else if !self
            .timers
            .iter()
            .any(|(t, w)| *t == at && w.will_wake(waker))
        {
            self.timers.push((at, waker.clone()));
        }
    }
}

/// Completes once the simulated clock reads `deadline` or later.
pub struct SleepUntil {
    /// The clock.
    pub clock: Arc<Mutex<Clock>>,
    /// When.
    pub deadline: UnixTime,
}

impl Future for SleepUntil {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut clock = self.clock.lock().unwrap();
        if clock.now >= self.deadline {
            return Poll::Ready(());
        }
        clock.wake_at(self.deadline, cx.waker());
        Poll::Pending
    }
}
