//! Deterministic simulation of the cross-process protocol: several workers
//! of one node (as uvicorn or gunicorn workers behind one port) share one
//! state file and its lock, each running the real core and the real driver;
//! a simulated DDS answers (fast, slow, failing) and calls back (before or
//! after its answer, twice, or not at all); an attacker posts forged
//! callbacks at any moment; workers crash (the OS frees their lock, nothing
//! of theirs runs again) and restart; the clock steps. Every schedule comes
//! from one seed and replays from it.
//!
//! Invariants, checked as the world sees each store call, request and answer:
//!
//! 1. the lock is never released while its holder has a registration request
//!    in flight, and a registration request is only sent by the lock holder;
//! 2. at most one registration request is in flight across live workers;
//! 3. credentials reach the stored snapshot only from a callback answered 200
//!    inside the window of an attempt that succeeded;
//! 4. when different callbacks were answered 200 in one successful attempt's
//!    window (on any workers, none of which crashed meanwhile), a
//!    `CallbackConflict` is reported;
//! 5. only a worker that took the lock for its own attempt writes a whole
//!    snapshot; any other write is a merge (health check, callback) into a
//!    stored snapshot, changing nothing else; every stored snapshot loads;
//! 6. every live worker sees a stored registration within two seconds: while
//!    a fresh one (confirmed within half a TTL) has been stored that long,
//!    no worker reports `disconnected`, and each holds its credentials.

mod exec;

use exec::{Clock, Executor, Owner, SleepUntil, Task};
use posemesh_registration_core::callback::{CALLBACK_PATH, HEALTH_PATH};
use posemesh_registration_core::registrar::CALLBACK_GRACE;
use posemesh_registration_core::request::LEGACY_REGISTER_PATH;
use posemesh_registration_core::{
    DdsCredentials, Event, Flow, HttpRequest, HttpResponse, PrivateKey, RegistrarConfig, Snapshot,
    Status, TransportError, TransportErrorKind, UnixTime,
};
use posemesh_registration_driver::{
    BoxFuture, Driver, EventSink, Runtime, SnapshotStore, StoreError, Transport,
};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

const KEY: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90";
const TTL: Duration = Duration::from_secs(60);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Workers sharing the state file (1–5).
    pub workers: usize,
    /// Simulated time per schedule.
    pub duration: Duration,
    /// A lock that never excludes anyone: the invariants must catch it
    /// (shows that the checks can fail).
    pub broken_lock: bool,
    /// Keep a trace of every step (for a replay).
    pub trace: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            workers: 3,
            duration: Duration::from_secs(30 * 60),
            broken_lock: false,
            trace: false,
        }
    }
}

/// What one schedule did, and what it broke.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Workers.
    pub workers: usize,
    /// Registration requests sent.
    pub attempts: usize,
    /// Attempts that succeeded.
    pub successes: usize,
    /// Callbacks posted by the DDS / by the attacker.
    pub callbacks: usize,
    /// Forged callbacks posted.
    pub forgeries: usize,
    /// Worker crashes.
    pub crashes: usize,
    /// `CallbackConflict` events.
    pub conflicts: usize,
    /// Snapshot writes.
    pub saves: usize,
    /// Broken invariants, with the simulated second they broke at.
    pub violations: Vec<String>,
    /// The steps, when asked for.
    pub trace: Vec<String>,
}

/// A deterministic generator for the schedule (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn millis(&mut self, max: u64) -> Duration {
        Duration::from_millis(self.below(max + 1))
    }
}

/// One registration request, as the DDS and the client saw it. Order is
/// the world's step count, not the clock (which steps back and forth).
struct AttemptRec {
    sent: u64,
    /// When the client had its answer (step and clock), and whether it was a success.
    ended: Option<(u64, UnixTime, bool)>,
}

impl AttemptRec {
    /// Whether a callback posted at step `step`, clock `at`, falls in this
    /// attempt's window: sent before it, and not ended before it, or ended in
    /// success within the grace the registrar gives (on its clock).
    fn window_holds(&self, step: u64, at: UnixTime) -> bool {
        step > self.sent
            && match self.ended {
                None => true,
                Some((ended, _, _)) if ended > step => true,
                Some((_, end, success)) => success && at <= end + CALLBACK_GRACE,
            }
    }
}

/// One callback posted to a worker.
struct PostRec {
    /// The step at which the worker answered it (`None` while it is being
    /// handled): what it accepted was decided then, against the state then.
    step: Option<u64>,
    at: UnixTime,
    worker: usize,
    credentials: DdsCredentials,
    forged: bool,
    status: Option<u16>,
    /// The worker crashed after it (maybe before merging it).
    crashed_after: bool,
}

#[derive(Default)]
struct WorkerState {
    incarnation: u32,
    alive: bool,
    driver: Option<Driver>,
    /// Took the lock for its own attempt (`LockAcquired`), until it unlocks.
    attempt_holder: bool,
    in_flight: usize,
}

enum Action {
    Respond {
        reply: Arc<Mutex<Reply>>,
        status: u16,
    },
    Callback {
        credentials: DdsCredentials,
        forged: bool,
    },
    Probe,
    Attack,
    Crash,
    Restart(usize),
    ClockStep,
}

#[derive(Default)]
struct Reply {
    result: Option<HttpResponse>,
    waker: Option<Waker>,
}

struct World {
    rng: Rng,
    options: Options,
    disk: Option<Vec<u8>>,
    lock_owner: Option<(usize, u32)>,
    workers: Vec<WorkerState>,
    attempts: Vec<AttemptRec>,
    posts: Vec<PostRec>,
    /// Ids named by `CallbackConflict` events.
    conflicts: Vec<String>,
    actions: BinaryHeap<Reverse<(UnixTime, u64)>>,
    pending: Vec<Option<Action>>,
    issued: u64,
    /// Steps taken (the order of attempts and callbacks, whatever the clock says).
    steps: u64,
    dds_knows_node: bool,
    probes_paused_until: UnixTime,
    /// The stored snapshot and since when its registration (status,
    /// credentials) has been what it is.
    stored_since: Option<(UnixTime, Snapshot)>,
    end: UnixTime,
    report: Report,
}

type Shared = Arc<Mutex<World>>;

fn lock_world(shared: &Shared) -> MutexGuard<'_, World> {
    shared.lock().unwrap()
}

impl World {
    fn note(&mut self, now: UnixTime, text: impl FnOnce() -> String) {
        if self.options.trace {
            let line = format!("{:>8.3}s {}", secs(now), text());
            self.report.trace.push(line);
        }
    }

    fn violate(&mut self, now: UnixTime, what: String) {
        let line = format!("at {:.3}s: {what}", secs(now));
        if !self.report.violations.contains(&line) {
            self.report.violations.push(line);
        }
    }

    fn schedule(&mut self, at: UnixTime, action: Action) {
        let index = self.pending.len() as u64;
        self.pending.push(Some(action));
        self.actions.push(Reverse((at, index)));
    }

    fn live(&self, worker: usize, incarnation: u32) -> bool {
        let state = &self.workers[worker];
        state.alive && state.incarnation == incarnation
    }

    /// A live worker with a running driver, as the kernel would pick one behind one port.
    fn pick_listener(&mut self) -> Option<(usize, u32, Driver)> {
        let ready: Vec<usize> = (0..self.workers.len())
            .filter(|w| self.workers[*w].alive && self.workers[*w].driver.is_some())
            .collect();
        if ready.is_empty() {
            return None;
        }
        let w = ready[self.rng.below(ready.len() as u64) as usize];
        let state = &self.workers[w];
        Some((w, state.incarnation, state.driver.clone()?))
    }

    fn new_credentials(&mut self, forged: bool) -> DdsCredentials {
        self.issued += 1;
        let (id, secret) = if forged {
            (
                format!("forged-{}", self.issued),
                format!("forged-secret-{:08}", self.issued),
            )
        } else {
            (
                format!("node-{}", self.issued),
                format!("dds-secret-{:08}", self.issued),
            )
        };
        DdsCredentials {
            id,
            secret: secret.into(),
            organization_id: Some("org-1".into()),
        }
    }

    /// The attempt whose window holds a callback posted at `step`, clock
    /// `at`: the latest one.
    fn window_of(&self, step: u64, at: UnixTime) -> Option<usize> {
        (0..self.attempts.len())
            .rev()
            .find(|a| self.attempts[*a].window_holds(step, at))
    }

    /// The next step number.
    fn step(&mut self) -> u64 {
        self.steps += 1;
        self.steps
    }

    /// Checks a write of `bytes` by `worker` (invariants 3 and 5).
    fn check_save(&mut self, now: UnixTime, worker: usize, bytes: &[u8]) {
        let new = match Snapshot::decode(bytes) {
            Ok(snapshot) => snapshot,
            Err(err) => {
                self.violate(
                    now,
                    format!("worker {worker} stored a snapshot that does not load: {err}"),
                );
                return;
            }
        };
        let stored = self.disk.as_deref().and_then(|b| Snapshot::decode(b).ok());
        if !self.workers[worker].attempt_holder {
            match &stored {
                None => self.violate(
                    now,
                    format!("worker {worker}, not registering, wrote a whole snapshot over a missing or unreadable one"),
                ),
                Some(stored) if merge_fields_masked(stored) != merge_fields_masked(&new) => self.violate(
                    now,
                    format!("worker {worker}, not registering, changed more than a merge may: {stored:?} -> {new:?}"),
                ),
                Some(_) => {}
            }
        }
        let before = stored.and_then(|s| s.credentials);
        if let Some(credentials) = new.credentials.filter(|c| Some(c) != before.as_ref()) {
            let legitimate = self.posts.iter().any(|post| {
                // Unanswered yet: the save is part of answering it.
                post.credentials == credentials
                    && matches!(post.status, None | Some(200))
                    && self
                        .window_of(post.step.unwrap_or(self.steps + 1), post.at)
                        .is_some_and(|a| matches!(self.attempts[a].ended, Some((_, _, true))))
            });
            if !legitimate {
                self.violate(
                    now,
                    format!(
                        "worker {worker} stored credentials {} not accepted in a successful attempt's window",
                        credentials.id
                    ),
                );
            }
        }
    }

    /// Invariant 6, between steps.
    fn check_visibility(&mut self, now: UnixTime) {
        let Some((since, stored)) = self.stored_since.clone() else {
            return;
        };
        let fresh = stored
            .last_health_check
            .is_some_and(|at| now.saturating_since(at) <= TTL / 2);
        if stored.status != Status::Registered || !fresh || now < since + Duration::from_secs(2) {
            return;
        }
        let mut broken = Vec::new();
        for (w, state) in self.workers.iter().enumerate() {
            let Some(driver) = state.driver.as_ref().filter(|_| state.alive) else {
                continue;
            };
            let seen = driver.snapshot();
            if driver.status() == Status::Disconnected {
                broken.push(format!("worker {w} reports disconnected"));
            } else if stored.credentials.is_some() && seen.credentials != stored.credentials {
                broken.push(format!("worker {w} lacks the stored credentials"));
            }
        }
        for what in broken {
            let since = secs(since);
            self.violate(
                now,
                format!("{what} though a fresh registration is stored since {since:.3}s"),
            );
        }
    }

    /// Invariant 4, once every window has closed.
    fn check_conflicts(&mut self, end: UnixTime) {
        for a in 0..self.attempts.len() {
            let Some((_, ended, true)) = self.attempts[a].ended else {
                continue;
            };
            let closes = ended + CALLBACK_GRACE;
            let settle = closes + Duration::from_secs(3);
            if settle > end {
                continue;
            }
            let accepted: Vec<&PostRec> = self
                .posts
                .iter()
                .filter(|p| {
                    p.status == Some(200)
                        && p.step
                            .is_some_and(|step| self.window_of(step, p.at) == Some(a))
                })
                .filter(|p| !p.crashed_after)
                .collect();
            let Some(first) = accepted.first() else {
                continue;
            };
            let Some(second) = accepted.iter().find(|p| p.credentials != first.credentials) else {
                continue;
            };
            let at = second.at;
            // Whichever lost is named, whenever its worker found out.
            let named = |id: &str| self.conflicts.iter().any(|c| c == id);
            if !accepted.iter().any(|p| named(&p.credentials.id)) {
                let what = format!(
                    "two different callbacks ({}{}, {}{}) answered 200 in attempt {a}'s window, no CallbackConflict",
                    first.credentials.id,
                    if first.forged { " forged" } else { "" },
                    second.credentials.id,
                    if second.forged { " forged" } else { "" },
                );
                self.violate(at, what);
            }
        }
    }
}

/// A snapshot without the fields a merge may change.
fn merge_fields_masked(snapshot: &Snapshot) -> Snapshot {
    Snapshot {
        last_health_check: None,
        credentials: None,
        callback: None,
        ..snapshot.clone()
    }
}

fn secs(t: UnixTime) -> f64 {
    t.since_epoch().as_secs_f64() - START_SECS as f64
}

const START_SECS: u64 = 1_700_000_000;

// ---- the worker's I/O, as the driver sees it ----------------------------------------------

#[derive(Clone)]
struct Handles {
    worker: usize,
    incarnation: u32,
    world: Shared,
    clock: Arc<Mutex<Clock>>,
    incoming: Arc<Mutex<Vec<(Owner, Task)>>>,
}

impl Handles {
    fn now(&self) -> UnixTime {
        self.clock.lock().unwrap().now()
    }
    fn dead(&self, world: &World) -> bool {
        !world.live(self.worker, self.incarnation)
    }
}

struct SimStore(Handles);

fn ready<T: Send + 'static>(value: T) -> BoxFuture<'static, T> {
    Box::pin(std::future::ready(value))
}

impl SnapshotStore for SimStore {
    fn load(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        let world = lock_world(&self.0.world);
        if self.0.dead(&world) {
            return ready(Err(StoreError("the process is gone".into())));
        }
        ready(Ok(world.disk.clone()))
    }

    fn save(&self, bytes: Vec<u8>) -> BoxFuture<'_, Result<(), StoreError>> {
        let now = self.0.now();
        let mut world = lock_world(&self.0.world);
        if self.0.dead(&world) {
            return ready(Err(StoreError("the process is gone".into())));
        }
        let w = self.0.worker;
        world.report.saves += 1;
        if world.lock_owner != Some((w, self.0.incarnation)) && !world.options.broken_lock {
            world.violate(
                now,
                format!("worker {w} wrote the snapshot without the lock"),
            );
        }
        world.check_save(now, w, &bytes);
        world.note(now, || {
            let s = Snapshot::decode(&bytes).ok();
            format!(
                "worker {w} saves {:?}",
                s.map(|s| (
                    s.status,
                    s.credentials.map(|c| c.id),
                    s.callback
                        .map(|c| (c.attempt % 1000, secs(c.until), c.taken.is_some()))
                ))
            )
        });
        if let Ok(snapshot) = Snapshot::decode(&bytes) {
            // The same registration, and it was fresh already.
            let same = world.stored_since.as_ref().is_some_and(|(_, was)| {
                (was.status, &was.credentials) == (snapshot.status, &snapshot.credentials)
                    && was
                        .last_health_check
                        .is_some_and(|at| now.saturating_since(at) <= TTL / 2)
            });
            if same {
                if let Some((_, was)) = world.stored_since.as_mut() {
                    *was = snapshot;
                }
            } else {
                world.stored_since = Some((now, snapshot));
            }
        }
        world.disk = Some(bytes);
        ready(Ok(()))
    }

    fn uses_lock(&self) -> bool {
        true
    }

    fn try_lock(&self) -> BoxFuture<'_, Result<bool, StoreError>> {
        let now = self.0.now();
        let mut world = lock_world(&self.0.world);
        if self.0.dead(&world) {
            return ready(Err(StoreError("the process is gone".into())));
        }
        let me = (self.0.worker, self.0.incarnation);
        // As the file store: re-entrant within one process.
        let taken = match world.lock_owner {
            None => true,
            Some(owner) => owner == me || world.options.broken_lock,
        };
        if taken {
            world.lock_owner = Some(me);
        }
        world.note(now, || format!("worker {} try_lock -> {taken}", me.0));
        ready(Ok(taken))
    }

    fn unlock(&self) -> BoxFuture<'_, ()> {
        let now = self.0.now();
        let mut world = lock_world(&self.0.world);
        let w = self.0.worker;
        if self.0.dead(&world) || world.lock_owner != Some((w, self.0.incarnation)) {
            return ready(());
        }
        if world.workers[w].in_flight > 0 {
            world.violate(
                now,
                format!("worker {w} released the lock with its registration request in flight"),
            );
        }
        world.lock_owner = None;
        world.workers[w].attempt_holder = false;
        world.note(now, || format!("worker {w} unlock"));
        ready(())
    }

    fn set_aside_corrupt(&self) -> BoxFuture<'_, Option<String>> {
        let mut world = lock_world(&self.0.world);
        if !self.0.dead(&world) {
            world.disk = None;
        }
        ready(None)
    }
}

struct SimRuntime(Handles, u64);

impl Runtime for SimRuntime {
    fn now(&self) -> UnixTime {
        self.0.now()
    }
    fn sleep_until(&self, deadline: UnixTime) -> BoxFuture<'static, ()> {
        Box::pin(SleepUntil {
            clock: self.0.clock.clone(),
            deadline,
        })
    }
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        let owner = Owner::Worker(self.0.worker, self.0.incarnation);
        self.0.incoming.lock().unwrap().push((owner, task));
    }
    fn random_seed(&self) -> u64 {
        self.1
    }
}

struct Sink(Handles);

impl EventSink for Sink {
    fn event(&self, event: &Event) {
        let now = self.0.now();
        let mut world = lock_world(&self.0.world);
        let w = self.0.worker;
        match event {
            Event::CallbackConflict { id } => {
                world.conflicts.push(id.clone());
                world.report.conflicts += 1;
            }
            Event::LockAcquired if !self.0.dead(&world) => world.workers[w].attempt_holder = true,
            _ => {}
        }
        world.note(now, || {
            format!("worker {w} event {}: {event}", event.name())
        });
    }
}

struct SimTransport(Handles);

impl Transport for SimTransport {
    fn send(
        &self,
        request: HttpRequest,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let now = self.0.now();
        let mut world = lock_world(&self.0.world);
        if self.0.dead(&world) {
            return Box::pin(std::future::pending());
        }
        let w = self.0.worker;
        let registering = request.url.ends_with(LEGACY_REGISTER_PATH);
        let reply = Arc::new(Mutex::new(Reply::default()));
        let mut attempt = None;
        if registering {
            if world.lock_owner != Some((w, self.0.incarnation)) && !world.options.broken_lock {
                world.violate(
                    now,
                    format!("worker {w} sent a registration request without the lock"),
                );
            }
            let others: Vec<usize> = (0..world.workers.len())
                .filter(|o| *o != w && world.workers[*o].alive && world.workers[*o].in_flight > 0)
                .collect();
            if !others.is_empty() {
                world.violate(
                    now,
                    format!(
                        "workers {w} and {others:?} have registration requests in flight at once"
                    ),
                );
            }
            world.workers[w].in_flight += 1;
            world.report.attempts += 1;
            attempt = Some(world.attempts.len());
            let sent = world.step();
            world.attempts.push(AttemptRec { sent, ended: None });
            plan_registration(&mut world, now, reply.clone());
        }
        world.note(now, || format!("worker {w} sends {}", request.url));
        drop(world);
        Box::pin(Answer {
            handles: self.0.clone(),
            reply,
            deadline: now + timeout,
            attempt,
            done: false,
        })
    }
}

/// How the simulated DDS treats a registration request: when and what it
/// answers, and whether (and when) it calls the node back.
fn plan_registration(world: &mut World, now: UnixTime, reply: Arc<Mutex<Reply>>) {
    let rng = &mut world.rng;
    let delay = if rng.chance(85) {
        rng.millis(2_000)
    } else {
        rng.millis(15_000)
    };
    let status = match rng.below(100) {
        0..=69 => 200,
        70..=84 => 503,
        85..=92 => 409,
        _ => 400,
    };
    let calls_back = if status == 200 {
        rng.chance(85)
    } else {
        rng.chance(20)
    };
    let before = rng.chance(50);
    let callback_at = if before {
        now + delay.mul_f64(rng.below(1000) as f64 / 1000.0)
    } else {
        now + delay + rng.millis(5_000)
    };
    let twice = rng.chance(10);
    let again = callback_at + rng.millis(3_000);
    world.schedule(now + delay, Action::Respond { reply, status });
    if calls_back {
        let credentials = world.new_credentials(false);
        world.schedule(
            callback_at,
            Action::Callback {
                credentials: credentials.clone(),
                forged: false,
            },
        );
        if twice {
            world.schedule(
                again,
                Action::Callback {
                    credentials,
                    forged: false,
                },
            );
        }
    }
}

/// The transport's answer: the DDS's reply, or a timeout. Dropped unanswered
/// (the worker gave up on it), the request is no longer the worker's.
struct Answer {
    handles: Handles,
    reply: Arc<Mutex<Reply>>,
    deadline: UnixTime,
    attempt: Option<usize>,
    done: bool,
}

impl Answer {
    fn finish(&mut self, success: bool) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let Some(attempt) = self.attempt else {
            return;
        };
        let now = self.handles.now();
        let mut world = lock_world(&self.handles.world);
        let w = self.handles.worker;
        if world.live(w, self.handles.incarnation) {
            world.workers[w].in_flight -= 1;
        }
        let step = world.step();
        world.attempts[attempt].ended = Some((step, now, success));
        if success {
            world.report.successes += 1;
        }
    }
}

impl Future for Answer {
    type Output = Result<HttpResponse, TransportError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let taken = {
            let mut reply = self.reply.lock().unwrap();
            match reply.result.take() {
                Some(response) => Some(response),
                None => {
                    reply.waker = Some(cx.waker().clone());
                    None
                }
            }
        };
        if let Some(response) = taken {
            self.finish((200..300).contains(&response.status));
            return Poll::Ready(Ok(response));
        }
        let mut clock = self.handles.clock.lock().unwrap();
        if clock.now() >= self.deadline {
            drop(clock);
            self.finish(false);
            return Poll::Ready(Err(TransportError::new(
                TransportErrorKind::Timeout,
                "timed out",
            )));
        }
        clock.wake_at(self.deadline, cx.waker());
        Poll::Pending
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        self.finish(false);
    }
}

// ---- the schedule ---------------------------------------------------------------------------

fn config() -> RegistrarConfig {
    let mut config = RegistrarConfig::new(
        "http://127.0.0.1:1",
        Flow::Legacy {
            node_url: "http://127.0.0.1:2".into(),
        },
        "1.0.0",
        vec!["/sim/v1".into()],
        "registration-credentials-of-the-node".into(),
    )
    .expect("a valid configuration");
    config.register_interval = TTL;
    config.request_timeout = REQUEST_TIMEOUT;
    config
}

struct Sim {
    shared: Shared,
    clock: Arc<Mutex<Clock>>,
    exec: Executor,
}

impl Sim {
    fn handles(&self, worker: usize, incarnation: u32) -> Handles {
        Handles {
            worker,
            incarnation,
            world: self.shared.clone(),
            clock: self.clock.clone(),
            incoming: self.exec.incoming.clone(),
        }
    }

    /// Starts worker `w` (again): builds its driver from the shared store and runs its loop.
    fn start(&mut self, w: usize) {
        let (incarnation, seed) = {
            let mut world = lock_world(&self.shared);
            let state = &mut world.workers[w];
            state.incarnation += 1;
            state.alive = true;
            state.driver = None;
            state.attempt_holder = false;
            state.in_flight = 0;
            let incarnation = state.incarnation;
            (incarnation, world.rng.next())
        };
        let handles = self.handles(w, incarnation);
        let builder = Driver::builder(
            config(),
            PrivateKey::from_hex(KEY).expect("a valid key"),
            Arc::new(SimTransport(handles.clone())),
            Arc::new(SimStore(handles.clone())),
            Arc::new(SimRuntime(handles.clone(), seed)),
        )
        .events(Arc::new(Sink(handles.clone())))
        .seed(seed);
        let shared = self.shared.clone();
        self.exec.spawn(
            Owner::Worker(w, incarnation),
            Box::pin(async move {
                let Ok(driver) = builder.build().await else {
                    return;
                };
                {
                    let mut world = lock_world(&shared);
                    if !world.live(w, incarnation) {
                        return;
                    }
                    world.workers[w].driver = Some(driver.clone());
                }
                let _ = driver.run().await;
            }),
        );
    }

    /// Kills worker `w` as SIGKILL would: nothing of it runs again, the OS frees its lock.
    fn crash(&mut self, w: usize, now: UnixTime) {
        let incarnation = {
            let mut world = lock_world(&self.shared);
            let state = &mut world.workers[w];
            if !state.alive {
                return;
            }
            state.alive = false;
            state.driver = None;
            let incarnation = state.incarnation;
            if world.lock_owner.is_some_and(|(o, _)| o == w) {
                world.lock_owner = None;
            }
            for post in world.posts.iter_mut().filter(|p| p.worker == w) {
                post.crashed_after = true;
            }
            world.report.crashes += 1;
            world.note(now, || format!("worker {w} crashes"));
            incarnation
        };
        self.exec.kill(Owner::Worker(w, incarnation));
    }

    fn post(&mut self, now: UnixTime, credentials: DdsCredentials, forged: bool) {
        let mut world = lock_world(&self.shared);
        let Some((w, incarnation, driver)) = world.pick_listener() else {
            return;
        };
        if forged {
            world.report.forgeries += 1;
        } else {
            world.report.callbacks += 1;
        }
        let index = world.posts.len();
        world.note(now, || {
            format!(
                "{} callback {} -> worker {w}",
                if forged { "forged" } else { "DDS" },
                credentials.id
            )
        });
        let body = serde_json::json!({
            "id": credentials.id,
            "secret": credentials.secret.expose(),
            "organization_id": credentials.organization_id,
        })
        .to_string();
        world.posts.push(PostRec {
            step: None,
            at: now,
            worker: w,
            credentials,
            forged,
            status: None,
            crashed_after: false,
        });
        drop(world);
        let shared = self.shared.clone();
        self.exec.spawn(
            Owner::Worker(w, incarnation),
            Box::pin(async move {
                let response = driver
                    .handle_node_request("POST", CALLBACK_PATH, &[], body.as_bytes())
                    .await;
                let mut world = lock_world(&shared);
                world.posts[index].status = Some(response.status);
                world.posts[index].step = Some(world.step());
            }),
        );
    }

    fn probe(&mut self) {
        let mut world = lock_world(&self.shared);
        let Some((w, incarnation, driver)) = world.pick_listener() else {
            return;
        };
        drop(world);
        let headers = vec![("user-agent".to_owned(), "DDS v1.0".to_owned())];
        self.exec.spawn(
            Owner::Worker(w, incarnation),
            Box::pin(async move {
                driver
                    .handle_node_request("GET", HEALTH_PATH, &headers, b"")
                    .await;
            }),
        );
    }

    fn act(&mut self, now: UnixTime, action: Action) {
        match action {
            Action::Respond { reply, status } => {
                let mut world = lock_world(&self.shared);
                if status == 200 {
                    world.dds_knows_node = true;
                }
                world.note(now, || format!("DDS answers {status}"));
                drop(world);
                let mut reply = reply.lock().unwrap();
                reply.result = Some(HttpResponse {
                    status,
                    headers: Vec::new(),
                    body: b"{}".to_vec(),
                });
                if let Some(waker) = reply.waker.take() {
                    waker.wake();
                }
            }
            Action::Callback {
                credentials,
                forged,
            } => self.post(now, credentials, forged),
            Action::Attack => {
                let (credentials, next) = {
                    let mut world = lock_world(&self.shared);
                    let next = now + Duration::from_secs(5) + world.rng.millis(60_000);
                    (world.new_credentials(true), next)
                };
                self.post(now, credentials, true);
                lock_world(&self.shared).schedule(next, Action::Attack);
            }
            Action::Probe => {
                let (probe, next) = {
                    let mut world = lock_world(&self.shared);
                    if world.rng.chance(8) {
                        // An outage of the DDS's health checks: registrations lapse.
                        let pause = Duration::from_secs(60) + world.rng.millis(240_000);
                        world.probes_paused_until = now + pause;
                    }
                    let probe = world.dds_knows_node && now >= world.probes_paused_until;
                    (
                        probe,
                        now + Duration::from_secs(10) + world.rng.millis(30_000),
                    )
                };
                if probe {
                    self.probe();
                }
                lock_world(&self.shared).schedule(next, Action::Probe);
            }
            Action::Crash => {
                let (victim, restart, next) = {
                    let mut world = lock_world(&self.shared);
                    let count = world.workers.len() as u64;
                    let victim = world.rng.below(count) as usize;
                    let restart = now + world.rng.millis(20_000);
                    let next = now + Duration::from_secs(30) + world.rng.millis(300_000);
                    (victim, restart, next)
                };
                self.crash(victim, now);
                let mut world = lock_world(&self.shared);
                world.schedule(restart, Action::Restart(victim));
                world.schedule(next, Action::Crash);
            }
            Action::Restart(w) => {
                if !lock_world(&self.shared).workers[w].alive {
                    self.start(w);
                }
            }
            Action::ClockStep => {
                let (to, next) = {
                    let mut world = lock_world(&self.shared);
                    // Never past the last minute: what a step delays must still
                    // happen before the run ends and the checks are made.
                    let last_minute = world.end - Duration::from_secs(60);
                    let to = if world.rng.chance(70) {
                        (now + world.rng.millis(120_000)).min(last_minute).max(now)
                    } else {
                        UnixTime::from_duration_since_epoch(
                            now.since_epoch().saturating_sub(world.rng.millis(3_000)),
                        )
                    };
                    let next = now + Duration::from_secs(60) + world.rng.millis(600_000);
                    world.note(now, || format!("clock steps to {:.3}s", secs(to)));
                    (to, next)
                };
                self.clock.lock().unwrap().set(to);
                lock_world(&self.shared).schedule(next, Action::ClockStep);
            }
        }
    }
}

/// Runs the schedule of `seed`.
pub fn run(seed: u64, options: &Options) -> Report {
    let start = UnixTime::from_secs_nanos(START_SECS, 0);
    let mut rng = Rng(seed);
    let workers = options.workers.clamp(1, 5);
    let shared: Shared = Arc::new(Mutex::new(World {
        rng: Rng(rng.next()),
        options: options.clone(),
        disk: None,
        lock_owner: None,
        workers: (0..workers).map(|_| WorkerState::default()).collect(),
        attempts: Vec::new(),
        posts: Vec::new(),
        conflicts: Vec::new(),
        actions: BinaryHeap::new(),
        pending: Vec::new(),
        issued: 0,
        steps: 0,
        dds_knows_node: false,
        probes_paused_until: start,
        stored_since: None,
        end: start + options.duration,
        report: Report {
            seed,
            workers,
            ..Report::default()
        },
    }));
    let clock = Clock::new(start);
    let mut sim = Sim {
        shared,
        clock,
        exec: Executor::default(),
    };
    {
        let mut world = lock_world(&sim.shared);
        // Workers start within a second of each other, as a process manager starts them.
        for w in 0..workers {
            let at = start + rng.millis(1_000);
            world.schedule(at, Action::Restart(w));
        }
        world.schedule(start + rng.millis(30_000), Action::Attack);
        world.schedule(start + Duration::from_secs(5), Action::Probe);
        world.schedule(start + rng.millis(120_000), Action::Crash);
        world.schedule(start + rng.millis(600_000), Action::ClockStep);
    }
    let end = start + options.duration;
    loop {
        sim.exec.run_until_stalled();
        let now = sim.clock.lock().unwrap().now();
        lock_world(&sim.shared).check_visibility(now);
        let timer = sim.clock.lock().unwrap().next_deadline();
        let action = lock_world(&sim.shared)
            .actions
            .peek()
            .map(|Reverse((at, _))| *at);
        let next = match (timer, action) {
            (Some(t), Some(a)) => t.min(a),
            (Some(t), None) => t,
            (None, Some(a)) => a,
            (None, None) => break,
        };
        if next > end {
            break;
        }
        if action.is_some_and(|a| a <= next) {
            let Reverse((at, index)) = lock_world(&sim.shared).actions.pop().expect("peeked");
            let action = lock_world(&sim.shared).pending[index as usize]
                .take()
                .expect("each action runs once");
            if at > now {
                sim.clock.lock().unwrap().set(at);
            }
            let now = sim.clock.lock().unwrap().now();
            sim.act(now, action);
        } else {
            sim.clock.lock().unwrap().set(next.max(now));
        }
    }
    let mut world = lock_world(&sim.shared);
    world.check_conflicts(end);
    let report = world.report.clone();
    // Drivers hold handles to the world, which holds the drivers: break that
    // cycle, or every schedule's world stays in memory (a million of them
    // outgrew a 23 GB machine). Every task goes first.
    let drivers: Vec<Driver> = world
        .workers
        .iter_mut()
        .filter_map(|w| w.driver.take())
        .collect();
    world.pending.clear();
    drop(world);
    drop(sim.exec);
    drop(drivers);
    assert_eq!(
        Arc::strong_count(&sim.shared),
        1,
        "seed {seed}: something still holds the world after the schedule"
    );
    report
}
