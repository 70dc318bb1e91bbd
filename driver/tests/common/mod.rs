//! What the driver's tests share: a wall clock whose timers never fire, a
//! fixed key and a legacy configuration.

#![allow(dead_code)] // each test binary uses some of it

use posemesh_registration_core::{Flow, PrivateKey, RegistrarConfig, UnixTime};
use posemesh_registration_driver::{BoxFuture, Runtime};
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
