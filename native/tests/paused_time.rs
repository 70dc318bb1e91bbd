//! The driver's timing over long outages, in tokio's paused time with an
//! in-process transport (no sockets, so virtual time is safe to use).

use futures_util::future::BoxFuture;
use posemesh_registration::core::{HttpRequest, HttpResponse, TransportError};
use posemesh_registration::{
    Flow, PrivateKey, RegistrarConfig, Status, TokioRuntime, Transport, UnixTime,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Answers 503 until `outage_until`, then 200; records when each request came.
struct FlakyDds {
    start: tokio::time::Instant,
    outage_until: Duration,
    seen: Mutex<Vec<Duration>>,
}

impl Transport for FlakyDds {
    fn send(
        &self,
        _request: HttpRequest,
        _timeout: Duration,
    ) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let at = self.start.elapsed();
        self.seen.lock().unwrap().push(at);
        let status = if at < self.outage_until { 503 } else { 200 };
        Box::pin(async move {
            Ok(HttpResponse {
                status,
                ..Default::default()
            })
        })
    }
}

fn legacy_config() -> RegistrarConfig {
    RegistrarConfig::new(
        "http://127.0.0.1:1",
        Flow::Legacy {
            node_url: "http://127.0.0.1:2".into(),
        },
        "1.0.0",
        vec!["/cap".into()],
        "s3cret-credentials".into(),
    )
    .unwrap()
}

fn test_key() -> PrivateKey {
    PrivateKey::from_hex("4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90")
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_ten_minute_outage_backs_off_to_a_minute_and_recovers() {
    let dds = Arc::new(FlakyDds {
        start: tokio::time::Instant::now(),
        outage_until: Duration::from_secs(600),
        seen: Mutex::new(Vec::new()),
    });
    let driver = posemesh_registration::builder(legacy_config(), test_key())
        .unwrap()
        .transport(dds.clone())
        .runtime(Arc::new(TokioRuntime::with_tokio_clock(
            UnixTime::from_secs_nanos(1_800_000_000, 0),
        )))
        .seed(99)
        .build()
        .await
        .unwrap();
    let loop_driver = driver.clone();
    let running = tokio::spawn(async move { loop_driver.run().await });
    // Virtual time: this "sleeps" twelve minutes instantly.
    tokio::time::sleep(Duration::from_secs(720)).await;
    running.abort();

    assert_eq!(driver.status(), Status::Registered);
    let seen = dds.seen.lock().unwrap().clone();
    // First attempt one second after start.
    assert!((seen[0].as_secs_f64() - 1.0).abs() < 0.01, "{:?}", seen[0]);
    for (n, pair) in seen.windows(2).enumerate() {
        let gap = (pair[1] - pair[0]).as_secs_f64();
        let base = 2f64.powi(n as i32 + 1).min(60.0);
        assert!(
            gap >= 0.8 * base - 0.01 && gap < 1.2 * base + 0.01,
            "gap {n}: {gap}"
        );
    }
    // Recovery within one capped backoff of the outage's end.
    let last = *seen.last().unwrap();
    assert!(
        last >= Duration::from_secs(600) && last < Duration::from_secs(672),
        "{last:?}"
    );
    // 1 s start + 2+4+8+16+32 s, then ~60 s steps: about 14 to 18 attempts in ten minutes.
    assert!((12..=20).contains(&seen.len()), "{} attempts", seen.len());
}

// ---- a store that never answers ------------------------------------------

mod stalled {
    use super::*;
    use posemesh_registration::core::Event;
    use posemesh_registration::shared_driver::{
        self as shared, DriverError, SnapshotStore, StoreError,
    };

    /// Loads nothing (or never answers a load), and never answers a save.
    struct Stalled {
        load_hangs: bool,
    }

    impl SnapshotStore for Stalled {
        fn load(&self) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
            if self.load_hangs {
                Box::pin(std::future::pending())
            } else {
                Box::pin(std::future::ready(Ok(None)))
            }
        }
        fn save(&self, _bytes: Vec<u8>) -> BoxFuture<'_, Result<(), StoreError>> {
            Box::pin(std::future::pending())
        }
    }

    struct Accepting;

    impl shared::Transport for Accepting {
        fn send(
            &self,
            _request: HttpRequest,
            _timeout: Duration,
        ) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
            Box::pin(std::future::ready(Ok(HttpResponse {
                status: 200,
                ..Default::default()
            })))
        }
    }

    fn builder(load_hangs: bool) -> shared::DriverBuilder {
        let mut config = legacy_config();
        config.request_timeout = Duration::from_secs(5);
        let key = test_key();
        let clock = TokioRuntime::with_tokio_clock(UnixTime::from_secs_nanos(1_800_000_000, 0));
        shared::Driver::builder(
            config,
            key,
            Arc::new(Accepting),
            Arc::new(Stalled { load_hangs }),
            Arc::new(clock),
        )
        .seed(7)
    }

    #[tokio::test(start_paused = true)]
    async fn a_load_that_never_ends_fails_the_build_after_the_request_timeout() {
        let started = tokio::time::Instant::now();
        let built = tokio::time::timeout(Duration::from_secs(60), builder(true).build())
            .await
            .expect("the build ends");
        let Err(DriverError::Store(err)) = built else {
            panic!("the build should fail with a store error");
        };
        assert_eq!(
            err.to_string(),
            "the store's load() did not end within 5000 ms"
        );
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_save_that_never_ends_is_reported_and_the_attempt_still_ends() {
        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = events.clone();
        let driver = builder(false)
            .events(Arc::new(move |event: &Event| {
                seen.lock().unwrap().push(event.clone())
            }))
            .build()
            .await
            .unwrap();
        let outcome = tokio::time::timeout(Duration::from_secs(60), driver.register_once())
            .await
            .expect("register_once ends");
        assert!(outcome.is_ok(), "{outcome:?}");
        let failed_saves: Vec<_> = events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|event| match event {
                Event::StateSaveFailed { error } => Some(error.clone()),
                _ => None,
            })
            .collect();
        assert!(
            failed_saves
                .iter()
                .any(|e| e == "the store's save() did not end within 5000 ms"),
            "{failed_saves:?}"
        );
    }
}
