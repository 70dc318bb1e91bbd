//! Fleet simulation: N real [`Registrar`]s against a simulated DDS that serves
//! `capacity` registrations a second, through an outage and the recovery, in
//! simulated time (no sleeps, no sockets).
//!
//! Scenario: every node is registered and health-checked until the outage
//! starts; the DDS then answers nothing for `outage`, so every node's health
//! check expires and it starts registering, backing off as its policy says;
//! after the outage the DDS serves `capacity` registrations a second and
//! answers the rest with 503, with or without a booked `Retry-After`.
//!
//! Nodes share one cheap [`Signer`]: the simulated DDS checks no signature,
//! and real signing would dominate a million-node run (it is measured by the
//! benchmarks instead).

pub mod plot;
pub mod protocol;

use posemesh_dds_mock::slots::{Admission, SlotBooker};
use posemesh_registration_core::keys::Signer;
use posemesh_registration_core::{
    Event, Flow, HttpResponse, Output, Registrar, RegistrarConfig, Snapshot, Status,
    TransportError, TransportErrorKind, UnixTime,
};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

/// How the simulated DDS answers over capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DdsPolicy {
    /// 503 without `Retry-After`: clients back off as the reference does.
    Plain,
    /// 503 with a `Retry-After` naming a second the DDS booked for the client.
    BookedRetryAfter,
    /// 503 with `Retry-After: 0`, as some load balancers answer: clients
    /// must keep their backoff (it never shortens a wait).
    RetryAfterZero,
    /// 503 with `Retry-After: 5` to everyone, as a proxy might: still no
    /// shorter wait than the client's backoff.
    RetryAfterFive,
}

impl DdsPolicy {
    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            DdsPolicy::Plain => "503 (reference backoff)",
            DdsPolicy::BookedRetryAfter => "503 + booked Retry-After",
            DdsPolicy::RetryAfterZero => "503 + Retry-After: 0",
            DdsPolicy::RetryAfterFive => "503 + Retry-After: 5",
        }
    }
}

/// One simulation.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Number of nodes.
    pub nodes: usize,
    /// Registrations the DDS serves per second after the outage.
    pub capacity: u32,
    /// How the DDS answers over capacity.
    pub policy: DdsPolicy,
    /// How long the DDS is down.
    pub outage: Duration,
    /// The nodes' registration interval (health-check TTL).
    pub ttl: Duration,
    /// Seeds every node's jitter (node i gets `seed + i`).
    pub seed: u64,
    /// Worker threads.
    pub threads: usize,
}

/// What a simulation measured. Times are seconds after the outage ended.
#[derive(Debug, Clone)]
pub struct Report {
    /// The scenario.
    pub scenario: Scenario,
    /// Most registration requests offered to the DDS in one second (whole run).
    pub peak_offered: u32,
    /// When 99 % of the nodes were registered again.
    pub t99: f64,
    /// When all of them were.
    pub t100: f64,
    /// Requests rejected after the outage, per node.
    pub wasted_per_node: f64,
    /// Requests sent in the whole run.
    pub requests: u64,
    /// Registered fraction at the end of each second after the outage.
    pub curve: Vec<f64>,
    /// Wall-clock time the simulation took.
    pub wall: Duration,
}

impl Report {
    /// The physical limit: nodes / capacity, in seconds.
    pub fn limit(&self) -> f64 {
        self.scenario.nodes as f64 / f64::from(self.scenario.capacity)
    }

    /// T100 over the physical limit.
    pub fn ratio(&self) -> f64 {
        self.t100 / self.limit()
    }
}

/// Stands in for a key: the simulated DDS verifies nothing.
struct NullSigner;

impl Signer for NullSigner {
    fn public_key_hex(&self) -> String {
        String::from("04")
    }
    fn eth_address(&self) -> String {
        String::from("0x0")
    }
    fn sign_registration(&self, _message: &[u8]) -> String {
        String::new()
    }
    fn sign_eip191(&self, _message: &[u8]) -> String {
        String::new()
    }
}

/// Simulated time starts here (seconds since the Unix epoch), so that health
/// checks before the outage are representable.
const BASE_SECS: u64 = 1_800_000_000;

struct Dds {
    policy: DdsPolicy,
    outage_end_ms: u64,
    slots: Mutex<SlotBooker>,
    offered: Vec<AtomicU32>,
    registered_in: Vec<AtomicU32>,
    rejected_after: AtomicU64,
    requests: AtomicU64,
}

impl Dds {
    fn answer(
        &self,
        now_ms: u64,
        booked: &mut Option<u64>,
    ) -> Result<HttpResponse, TransportError> {
        let second = now_ms / 1000;
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(count) = self.offered.get(second as usize) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        if now_ms < self.outage_end_ms {
            return Err(TransportError::new(
                TransportErrorKind::Connect,
                "connection refused",
            ));
        }
        let admission = {
            let mut slots = self.slots.lock().expect("no panics while held");
            match self.policy {
                DdsPolicy::BookedRetryAfter => slots.admit(second, booked.take()),
                _ if slots.try_serve(second) => Admission::Accept,
                _ => Admission::RetryAt {
                    second,
                    booked: false,
                },
            }
        };
        match admission {
            Admission::Accept => Ok(HttpResponse {
                status: 200,
                ..Default::default()
            }),
            Admission::RetryAt {
                second: slot,
                booked: reserved,
            } => {
                self.rejected_after.fetch_add(1, Ordering::Relaxed);
                let mut headers = Vec::new();
                match self.policy {
                    DdsPolicy::BookedRetryAfter => {
                        *booked = reserved.then_some(slot);
                        headers.push((
                            "retry-after".to_owned(),
                            posemesh_dds_mock::slots::retry_after_date(BASE_SECS + slot),
                        ));
                    }
                    DdsPolicy::RetryAfterZero => headers.push(("retry-after".into(), "0".into())),
                    DdsPolicy::RetryAfterFive => headers.push(("retry-after".into(), "5".into())),
                    DdsPolicy::Plain => {}
                }
                Ok(HttpResponse {
                    status: 503,
                    headers,
                    body: Vec::new(),
                })
            }
        }
    }
}

struct Node {
    registrar: Registrar,
    /// The second the DDS reserved for this node, if any.
    booked: Option<u64>,
}

/// Runs a scenario.
pub fn run(scenario: &Scenario) -> Report {
    let started = Instant::now();
    let ttl_ms = scenario.ttl.as_millis() as u64;
    // Sim time 0 is one TTL and two seconds before the outage starts.
    let outage_start_ms = ttl_ms + 2000;
    let outage_end_ms = outage_start_ms + scenario.outage.as_millis() as u64;
    let horizon_secs =
        (outage_end_ms / 1000) as usize + 20 * (scenario.nodes / scenario.capacity as usize + 600);
    let dds = Dds {
        policy: scenario.policy,
        outage_end_ms,
        slots: Mutex::new(SlotBooker::new(scenario.capacity)),
        offered: (0..horizon_secs).map(|_| AtomicU32::new(0)).collect(),
        registered_in: (0..horizon_secs).map(|_| AtomicU32::new(0)).collect(),
        rejected_after: AtomicU64::new(0),
        requests: AtomicU64::new(0),
    };
    let signer: Arc<dyn Signer> = Arc::new(NullSigner);
    let mut config = RegistrarConfig::new(
        "http://dds.sim",
        Flow::Legacy {
            node_url: "http://node.sim".into(),
        },
        "1.0.0",
        vec!["/cap/v1".into()],
        "sim".into(),
    )
    .expect("valid");
    config.register_interval = scenario.ttl;

    let threads = scenario.threads.max(1);
    let registered_total = AtomicU64::new(0);
    let barrier = Barrier::new(threads);
    let done_at_second = AtomicU64::new(u64::MAX);
    std::thread::scope(|scope| {
        for shard in 0..threads {
            let (dds, signer, config, barrier) = (&dds, &signer, &config, &barrier);
            let (registered_total, done_at_second) = (&registered_total, &done_at_second);
            scope.spawn(move || {
                let mut nodes = Vec::new();
                let mut queue = BinaryHeap::new();
                for i in (shard..scenario.nodes).step_by(threads) {
                    // Last probed at a uniform moment in the TTL before the outage.
                    let spread = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) % ttl_ms;
                    let checked_ms = outage_start_ms - ttl_ms + spread;
                    let snapshot = Snapshot {
                        status: Status::Registered,
                        last_health_check: Some(at(checked_ms)),
                        ..Default::default()
                    };
                    let mut registrar = Registrar::with_signer(
                        config.clone(),
                        signer.clone(),
                        Some(snapshot),
                        at(checked_ms),
                        scenario.seed.wrapping_add(i as u64),
                    );
                    let wake = drain(&mut registrar, checked_ms, dds, &mut None)
                        .expect("not registered yet");
                    queue.push(Reverse((wake, nodes.len() as u32)));
                    nodes.push(Node {
                        registrar,
                        booked: None,
                    });
                }
                let mut second = 0u64;
                loop {
                    let end_ms = (second + 1) * 1000;
                    while let Some(&Reverse((wake, index))) = queue.peek() {
                        if wake >= end_ms {
                            break;
                        }
                        queue.pop();
                        let node = &mut nodes[index as usize];
                        node.registrar.handle_timeout(at(wake));
                        match drain(&mut node.registrar, wake, dds, &mut node.booked) {
                            Some(next) => {
                                debug_assert!(
                                    next > wake,
                                    "a node must not ask to wake at or before now"
                                );
                                queue.push(Reverse((next.max(wake + 1), index)))
                            }
                            None => {
                                registered_total.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    barrier.wait();
                    if shard == 0
                        && second * 1000 >= outage_end_ms
                        && registered_total.load(Ordering::Relaxed) == scenario.nodes as u64
                    {
                        done_at_second.store(second, Ordering::Relaxed);
                    }
                    barrier.wait();
                    if done_at_second.load(Ordering::Relaxed) != u64::MAX
                        || second as usize + 1 >= horizon_secs
                    {
                        break;
                    }
                    second += 1;
                }
            });
        }
    });

    // Recovery curve and milestones, in seconds after the outage's end.
    let first = (outage_end_ms / 1000) as usize;
    let last = done_at_second
        .load(Ordering::Relaxed)
        .min(horizon_secs as u64 - 1) as usize;
    let mut curve = Vec::new();
    let mut registered = 0u64;
    let (mut t99, mut t100) = (f64::NAN, f64::NAN);
    for (offset, count) in dds.registered_in[first..=last].iter().enumerate() {
        registered += u64::from(count.load(Ordering::Relaxed));
        let fraction = registered as f64 / scenario.nodes as f64;
        curve.push(fraction);
        if t99.is_nan() && fraction >= 0.99 {
            t99 = (offset + 1) as f64;
        }
        if t100.is_nan() && registered == scenario.nodes as u64 {
            t100 = (offset + 1) as f64;
        }
    }
    Report {
        scenario: scenario.clone(),
        peak_offered: dds
            .offered
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0),
        t99,
        t100,
        wasted_per_node: dds.rejected_after.load(Ordering::Relaxed) as f64 / scenario.nodes as f64,
        requests: dds.requests.load(Ordering::Relaxed),
        curve,
        wall: started.elapsed(),
    }
}

fn at(ms: u64) -> UnixTime {
    UnixTime::from_millis(BASE_SECS * 1000 + ms)
}

/// Rounded up: waking a node before its deadline would do nothing.
fn sim_ms(time: UnixTime) -> u64 {
    let nanos = time.since_epoch().as_nanos().div_ceil(1_000_000) as u64;
    nanos.saturating_sub(BASE_SECS * 1000)
}

/// Carries out a registrar's outputs at `now_ms` (the DDS answers at once).
/// Returns its next wake-up, or `None` once it is registered again.
fn drain(
    registrar: &mut Registrar,
    now_ms: u64,
    dds: &Dds,
    booked: &mut Option<u64>,
) -> Option<u64> {
    loop {
        match registrar.poll_output() {
            Output::Transmit(outgoing) => {
                let answer = dds.answer(now_ms, booked);
                registrar.handle_response(outgoing.id, answer, at(now_ms));
            }
            Output::Event(Event::Registered { .. }, _) => {
                if let Some(count) = dds.registered_in.get((now_ms / 1000) as usize) {
                    count.fetch_add(1, Ordering::Relaxed);
                }
                // Health checks resume for a registered node; the run is over for it.
                return None;
            }
            Output::Wait(wake) => return Some(sim_ms(wake)),
            _ => {}
        }
    }
}
