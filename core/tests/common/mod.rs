//! A small harness that drives a [`Registrar`] in simulated time, the way a host
//! would, and records everything it asks for.
//!
//! It checks two invariants on every step: never a second `Transmit` while the
//! previous request is unanswered (neither answered by the harness nor timed
//! out by the registrar), and every `Wait` deadline after `handle_timeout(now)`
//! lies after `now` (otherwise a host that sleeps until the deadline would spin).

#![allow(dead_code)]

use posemesh_registration_core::{
    Event, Flow, HttpResponse, LockOutcome, OutgoingRequest, Output, PrivateKey, Registrar,
    RegistrarConfig, RequestId, Snapshot, TransportError, TransportErrorKind, UnixTime,
};
use std::time::Duration;

/// 2023-11-14T22:13:20Z, a Tuesday.
pub const T0_SECS: u64 = 1_700_000_000;
pub const KEY_HEX: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90";
pub const KEY_ADDRESS: &str = "0xfdbb6caf01414300c16ea14859fec7736d95355f";
pub const SEED: u64 = 0x5EED_0001;
pub const DDS: &str = "http://dds.test";
pub const NODE_URL: &str = "https://node.test";
pub const REG_SECRET: &str = "registration-credentials-1";

pub fn t0() -> UnixTime {
    UnixTime::from_secs_nanos(T0_SECS, 0)
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

pub fn key() -> PrivateKey {
    PrivateKey::from_hex(KEY_HEX).unwrap()
}

pub fn legacy_config() -> RegistrarConfig {
    let mut config = RegistrarConfig::new(
        DDS,
        Flow::Legacy {
            node_url: NODE_URL.into(),
        },
        "1.2.3",
        vec!["/reconstruction/global-refinement/v1".into()],
        REG_SECRET.into(),
    )
    .unwrap();
    // The simulated DDS (`http://dds.test`) is reached by no network.
    config.allow_plaintext_dds = true;
    config
}

/// The legacy flow with a shared snapshot: several workers, one lock.
pub fn lock_config() -> RegistrarConfig {
    let mut config = legacy_config();
    config.use_lock = true;
    config
}

pub fn wallet_config() -> RegistrarConfig {
    let mut config = RegistrarConfig::new(
        DDS,
        Flow::Wallet,
        "1.2.3",
        vec!["/reconstruction/global-refinement/v1".into()],
        REG_SECRET.into(),
    )
    .unwrap();
    // The simulated DDS (`http://dds.test`) is reached by no network.
    config.allow_plaintext_dds = true;
    config
}

/// One output and when it was drained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub at: UnixTime,
    pub output: Output,
}

pub struct Sim {
    pub reg: Registrar,
    pub now: UnixTime,
    pub log: Vec<Record>,
    /// The last `Wait` deadline.
    pub wake: UnixTime,
    /// The request the registrar awaits, and when it was sent.
    pub in_flight: Option<(OutgoingRequest, UnixTime)>,
    /// Whether the registrar asked for the lock and got no answer yet.
    pub lock_requested: bool,
    /// What `Output::LoadShared` reads (answered as it is drained, as a host
    /// does: a sibling's registration, or nothing stored).
    pub shared: Option<Snapshot>,
    /// Whether the last drain answered a `LoadShared`.
    loaded_shared: bool,
}

impl Sim {
    pub fn new(config: RegistrarConfig, snapshot: Option<Snapshot>) -> Sim {
        Sim::with_seed(config, snapshot, SEED, t0())
    }

    pub fn with_seed(
        config: RegistrarConfig,
        snapshot: Option<Snapshot>,
        seed: u64,
        start: UnixTime,
    ) -> Sim {
        Sim::with_key(config, key(), snapshot, seed, start)
    }

    pub fn with_key(
        config: RegistrarConfig,
        key: PrivateKey,
        snapshot: Option<Snapshot>,
        seed: u64,
        start: UnixTime,
    ) -> Sim {
        Sim::from_registrar(Registrar::new(config, key, snapshot, start, seed), start)
    }

    /// Drives `reg`, built at `start` (a remote signer's, say).
    pub fn from_registrar(reg: Registrar, start: UnixTime) -> Sim {
        let mut sim = Sim {
            reg,
            now: start,
            log: Vec::new(),
            wake: start,
            in_flight: None,
            lock_requested: false,
            shared: None,
            loaded_shared: false,
        };
        sim.drain();
        sim
    }

    /// Pops outputs until `Wait`; returns the others.
    pub fn drain(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        self.loaded_shared = false;
        for _ in 0..10_000 {
            let output = self.reg.poll_output();
            if output == Output::LoadShared {
                // Answered at once and left out of `out`: tests look at what follows.
                self.loaded_shared = true;
                self.log.push(Record {
                    at: self.now,
                    output,
                });
                self.reg.observe_shared(self.shared.clone(), self.now);
                continue;
            }
            if let Output::Wait(at) = output {
                self.wake = at;
                return out;
            }
            match &output {
                Output::Transmit(request) => {
                    if let Some((previous, _)) = &self.in_flight {
                        panic!(
                            "second request {:?} while {:?} is unanswered",
                            request.id, previous.id
                        );
                    }
                    self.in_flight = Some((request.clone(), self.now));
                }
                Output::AcquireLock => self.lock_requested = true,
                _ => {}
            }
            self.log.push(Record {
                at: self.now,
                output: output.clone(),
            });
            out.push(output);
        }
        panic!("poll_output never asked to wait");
    }

    /// Moves the clock without waking the registrar (e.g. network latency).
    pub fn elapse(&mut self, by: Duration) {
        self.now = self.now + by;
    }

    /// Sleeps until the registrar's deadline and wakes it.
    pub fn advance_to_wake(&mut self) -> Vec<Output> {
        assert!(
            self.wake >= self.now,
            "wake {:?} is before now {:?}",
            self.wake,
            self.now
        );
        self.now = self.wake;
        self.timeout()
    }

    /// Like [`Sim::advance_to_wake`], sleeping through the wake-ups that only
    /// read the shared snapshot (once a second under a shared store) and led
    /// to nothing: to the next check, answer deadline or retry.
    pub fn advance_to_event(&mut self) -> Vec<Output> {
        for _ in 0..100_000 {
            let out = self.advance_to_wake();
            if !(out.is_empty() && self.loaded_shared) {
                return out;
            }
        }
        panic!("only shared-snapshot reads for 100,000 wake-ups");
    }

    /// Calls `handle_timeout(now)` and drains, checking the next deadline moves on.
    pub fn timeout(&mut self) -> Vec<Output> {
        if let Some((request, sent)) = &self.in_flight {
            if self.now >= *sent + request.timeout {
                // The registrar gives up on it now.
                self.in_flight = None;
            }
        }
        self.reg.handle_timeout(self.now);
        let out = self.drain();
        assert!(
            self.wake > self.now,
            "after handle_timeout({:?}) the registrar asks to wake at {:?}: a host would spin",
            self.now,
            self.wake
        );
        out
    }

    /// Processes every wake-up up to `until`, then sets the clock to `until`.
    pub fn run_until(&mut self, until: UnixTime) -> Vec<Output> {
        let mut out = Vec::new();
        while self.wake <= until {
            out.extend(self.advance_to_wake());
        }
        self.now = until;
        out
    }

    /// Runs wake-ups until the registrar transmits (at most `limit` of simulated time).
    pub fn run_until_transmit(&mut self, limit: Duration) -> OutgoingRequest {
        let end = self.now + limit;
        while self.in_flight.is_none() {
            assert!(
                self.wake <= end,
                "no transmit before {end:?} (next wake {:?})",
                self.wake
            );
            self.advance_to_wake();
        }
        self.in_flight.as_ref().unwrap().0.clone()
    }

    pub fn in_flight_id(&self) -> RequestId {
        self.in_flight.as_ref().expect("no request in flight").0.id
    }

    /// Answers the request in flight with a response, at `now`.
    pub fn respond(&mut self, status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<Output> {
        let (request, _) = self.in_flight.take().expect("no request in flight");
        let response = HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
        };
        self.reg.handle_response(request.id, Ok(response), self.now);
        self.drain()
    }

    /// Reports a transport error for the request in flight, at `now`.
    pub fn fail_transport(&mut self, kind: TransportErrorKind) -> Vec<Output> {
        let (request, _) = self.in_flight.take().expect("no request in flight");
        self.reg.handle_response(
            request.id,
            Err(TransportError::new(kind, "simulated transport failure")),
            self.now,
        );
        self.drain()
    }

    pub fn lock(&mut self, outcome: LockOutcome) -> Vec<Output> {
        self.lock_requested = false;
        self.reg.handle_lock(outcome, self.now);
        self.drain()
    }

    pub fn node_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (posemesh_registration_core::NodeResponse, Vec<Output>) {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let response = self
            .reg
            .handle_node_request(method, path, &headers, body, self.now);
        (response, self.drain())
    }

    /// Every transmit so far, with its time.
    pub fn transmits(&self) -> Vec<(UnixTime, OutgoingRequest)> {
        self.log
            .iter()
            .filter_map(|r| match &r.output {
                Output::Transmit(req) => Some((r.at, req.clone())),
                _ => None,
            })
            .collect()
    }

    /// Every event so far, with its time.
    pub fn events(&self) -> Vec<(UnixTime, Event)> {
        self.log
            .iter()
            .filter_map(|r| match &r.output {
                Output::Event(e, _) => Some((r.at, e.clone())),
                _ => None,
            })
            .collect()
    }
}

pub fn events(outputs: &[Output]) -> Vec<Event> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(e, _) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

pub fn event_names(outputs: &[Output]) -> Vec<&'static str> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(e, _) => Some(e.name()),
            _ => None,
        })
        .collect()
}

pub fn transmits(outputs: &[Output]) -> Vec<OutgoingRequest> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Transmit(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

pub fn persists(outputs: &[Output]) -> Vec<Snapshot> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Persist(s) => Some((**s).clone()),
            _ => None,
        })
        .collect()
}

/// A short name per output, to check ordering.
pub fn kinds(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .map(|o| match o {
            Output::Transmit(_) => "transmit".to_owned(),
            Output::Sign(_) => "sign".to_owned(),
            Output::AcquireLock => "acquire_lock".to_owned(),
            Output::ReleaseLock => "release_lock".to_owned(),
            Output::Persist(_) => "persist".to_owned(),
            Output::ShareState => "share_state".to_owned(),
            Output::LoadShared => "load_shared".to_owned(),
            Output::Event(e, _) => e.name().to_owned(),
            Output::Wait(_) => "wait".to_owned(),
        })
        .collect()
}

/// A SIWE challenge body as a DDS sends it.
pub fn challenge_json(nonce: &str) -> Vec<u8> {
    format!(
        r#"{{"nonce":"{nonce}","domain":"dds.test","uri":"http://dds.test","version":"1","chainId":1,"issuedAt":"2023-11-14T22:13:21Z"}}"#
    )
    .into_bytes()
}
