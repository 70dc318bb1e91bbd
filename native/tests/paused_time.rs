//! The driver's timing over long outages, in tokio's paused time with an
//! in-process transport (no sockets, so virtual time is safe to use).

use futures_util::future::BoxFuture;
use posemesh_registration::core::{HttpRequest, HttpResponse, TransportError};
use posemesh_registration::{
    Driver, Flow, PrivateKey, RegistrarConfig, Status, TokioClock, Transport, UnixTime,
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

#[tokio::test(start_paused = true)]
async fn a_ten_minute_outage_backs_off_to_a_minute_and_recovers() {
    let dds = Arc::new(FlakyDds {
        start: tokio::time::Instant::now(),
        outage_until: Duration::from_secs(600),
        seen: Mutex::new(Vec::new()),
    });
    let config = RegistrarConfig::new(
        "http://127.0.0.1:1",
        Flow::Legacy {
            node_url: "http://127.0.0.1:2".into(),
        },
        "1.0.0",
        vec!["/cap".into()],
        "s3cret-credentials".into(),
    )
    .unwrap();
    let key =
        PrivateKey::from_hex("4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90")
            .unwrap();
    let driver = Driver::builder(config, key)
        .transport(dds.clone())
        .clock(Arc::new(TokioClock::starting_at(
            UnixTime::from_secs_nanos(1_800_000_000, 0),
        )))
        .seed(99)
        .build()
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
