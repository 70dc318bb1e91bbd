//! What the driver's tests share: a wall clock whose timers never fire, a
//! fixed key and a legacy configuration.

#![allow(dead_code)] // each test binary uses some of it

use posemesh_registration_core::{
    Flow, HttpRequest, HttpResponse, PrivateKey, RegistrarConfig, TransportError, UnixTime,
};
use posemesh_registration_driver::{BoxFuture, Runtime, Transport};
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time; timers that never fire (nothing here waits for one).
pub struct Clock;

impl Runtime for Clock {
    fn now(&self) -> UnixTime {
        UnixTime::from_duration_since_epoch(SystemTime::now().duration_since(UNIX_EPOCH).unwrap())
    }
    fn sleep_until(&self, _: UnixTime) -> BoxFuture<'static, ()> {
        Box::pin(std::future::pending())
    }
    fn spawn(&self, _: BoxFuture<'static, ()>) {}
    fn random_seed(&self) -> u64 {
        7
    }
}

pub fn key() -> PrivateKey {
    PrivateKey::from_hex("4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90")
        .unwrap()
}

pub fn legacy_config() -> RegistrarConfig {
    RegistrarConfig::new(
        "http://127.0.0.1:9",
        Flow::Legacy {
            node_url: "http://127.0.0.1:10".into(),
        },
        "1.0.0",
        vec!["/a/v1".into()],
        "registration-credentials".into(),
    )
    .unwrap()
}

pub fn wallet_config() -> RegistrarConfig {
    RegistrarConfig::new(
        "http://127.0.0.1:9",
        Flow::Wallet,
        "1.0.0",
        vec!["/a/v1".into()],
        "registration-credentials".into(),
    )
    .unwrap()
}

/// A store that keeps nothing.
pub struct NoStore;

impl posemesh_registration_driver::SnapshotStore for NoStore {
    fn load(
        &self,
    ) -> BoxFuture<'_, Result<Option<Vec<u8>>, posemesh_registration_driver::StoreError>> {
        Box::pin(std::future::ready(Ok(None)))
    }
    fn save(
        &self,
        _: Vec<u8>,
    ) -> BoxFuture<'_, Result<(), posemesh_registration_driver::StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Simulated time: a sleep ends as soon as nothing else is ready (it yields
/// once first), and moves the clock to its end.
pub struct SimClock(pub std::sync::Arc<std::sync::Mutex<UnixTime>>);

impl SimClock {
    pub fn starting_now() -> SimClock {
        SimClock(std::sync::Arc::new(std::sync::Mutex::new(Clock.now())))
    }
}

impl Runtime for SimClock {
    fn now(&self) -> UnixTime {
        *self.0.lock().unwrap()
    }
    fn sleep_until(&self, at: UnixTime) -> BoxFuture<'static, ()> {
        let clock = self.0.clone();
        let mut yielded = false;
        Box::pin(std::future::poll_fn(move |cx| {
            if !yielded {
                yielded = true;
                cx.waker().wake_by_ref();
                return std::task::Poll::Pending;
            }
            let mut now = clock.lock().unwrap();
            *now = (*now).max(at);
            std::task::Poll::Ready(())
        }))
    }
    fn spawn(&self, _: BoxFuture<'static, ()>) {}
    fn random_seed(&self) -> u64 {
        7
    }
}

/// A DDS that answers every request at once with this status (and `{}`).
pub struct Answering(pub u16);

impl Transport for Answering {
    fn send(
        &self,
        _: HttpRequest,
        _: Duration,
    ) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(std::future::ready(Ok(HttpResponse {
            status: self.0,
            headers: Vec::new(),
            body: b"{}".to_vec(),
        })))
    }
}
