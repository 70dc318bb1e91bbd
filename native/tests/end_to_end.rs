//! The native driver against the conformance DDS over real loopback HTTP.

mod common;

use common::{assert_logs_free_of, eventually, recorder, Dds, Node};
use posemesh_registration::core::registrar::Event;
use posemesh_registration::{
    Driver, FailureClass, FileStore, RegisterOnceError, Snapshot, SnapshotStore, Status, Transport,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn failure_of<T: std::fmt::Debug>(
    result: Result<T, RegisterOnceError>,
) -> posemesh_registration::Failure {
    match result {
        Err(RegisterOnceError::Failed(failure)) => failure,
        other => panic!("expected a failed attempt, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_gets_callback_and_health_checks_keep_it_registered() {
    gets_callback_and_health_checks_at("").await;
}

/// A node behind a gateway that routes by path has a URL with a path: the
/// DDS calls it back and probes it under that path, and the router serves both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_url_with_a_path_is_called_back_and_probed_under_it() {
    gets_callback_and_health_checks_at("/nodes/n7/").await;
}

/// A node whose URL ends in `path` registers, gets the DDS's callback, and
/// its health checks keep it registered.
async fn gets_callback_and_health_checks_at(path: &str) {
    let dds = Dds::start().await;
    let mut node = Node::new().await;
    node.url = format!("{}{path}", node.url);
    // TTL 1 s; probes every 200 ms keep the health check fresh.
    let driver = node
        .builder(dds.url(), Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    let _server = node.serve(&driver);
    let loop_driver = driver.clone();
    let running = tokio::spawn(async move { loop_driver.run().await });

    assert!(
        eventually(Duration::from_secs(10), || async {
            driver.snapshot().credentials.is_some()
        })
        .await,
        "the DDS callback never reached the node"
    );
    assert_eq!(driver.status(), Status::Registered);
    // Four TTLs later it is still registered, and registered only once.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(driver.status(), Status::Registered);
    assert_eq!(
        dds.accepted().await,
        1,
        "health checks should prevent re-registration"
    );
    let readout = dds.readout().await;
    assert!(readout["health_probes"].as_array().unwrap().len() >= 10);
    assert_eq!(readout["callbacks"][0]["status"], 200);
    let issued = dds.issued_secrets().await;
    assert_eq!(
        driver.snapshot().credentials.unwrap().secret.expose(),
        issued[0]
    );

    running.abort();
    let mut secrets = node.secrets();
    secrets.push(&issued[0]);
    assert_logs_free_of(&secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_health_checks_it_registers_again_after_the_ttl() {
    let dds = Dds::start_with(posemesh_dds_mock::MockConfig {
        call_nodes: false,
        ..Default::default()
    })
    .await;
    let node = Node::new().await;
    let driver = node
        .builder(dds.url(), Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    let loop_driver = driver.clone();
    let running = tokio::spawn(async move { loop_driver.run().await });
    // First registration at ~1 s, expiry after 1 s more, re-registration 1 s later.
    assert!(
        eventually(Duration::from_secs(8), || async {
            dds.accepted().await >= 2
        })
        .await
    );
    running.abort();
    assert_logs_free_of(&node.secrets());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_from_an_outage_with_backoff() {
    let dds = Dds::start().await;
    let node = Node::new().await;
    dds.faults(json!([{ "status": 503 }, { "status": 502, "body": "bad gateway" }]))
        .await;
    let (events, handler) = recorder();
    let driver = node
        .builder(dds.url(), Duration::from_secs(30))
        .events(handler)
        .build()
        .await
        .unwrap();
    let loop_driver = driver.clone();
    let running = tokio::spawn(async move { loop_driver.run().await });
    assert!(
        eventually(Duration::from_secs(15), || async {
            driver.status() == Status::Registered
        })
        .await
    );
    running.abort();

    let waits: Vec<(u32, Duration)> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::RegistrationFailed {
                attempt,
                retry_in,
                failure,
                ..
            } => {
                assert_eq!(failure.class, FailureClass::RetryFast);
                Some((*attempt, *retry_in))
            }
            _ => None,
        })
        .collect();
    assert_eq!(waits.len(), 2);
    // min(2^n, 60) s × [0.8, 1.2)
    for (attempt, wait) in waits {
        let base = 2f64.powi(attempt as i32);
        assert!(
            wait.as_secs_f64() >= 0.8 * base && wait.as_secs_f64() < 1.2 * base,
            "{attempt}: {wait:?}"
        );
    }
    assert_eq!(dds.accepted().await, 1);
    assert_logs_free_of(&node.secrets());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let dds = Dds::start().await;
    let node = Node::new().await;
    dds.faults(json!([{ "status": 429, "retry_after": "1" }]))
        .await;
    let (events, handler) = recorder();
    let driver = node
        .builder(dds.url(), Duration::from_secs(30))
        .events(handler)
        .build()
        .await
        .unwrap();
    let loop_driver = driver.clone();
    let running = tokio::spawn(async move { loop_driver.run().await });
    assert!(
        eventually(Duration::from_secs(10), || async {
            driver.status() == Status::Registered
        })
        .await
    );
    running.abort();
    let retry_in = events
        .lock()
        .unwrap()
        .iter()
        .find_map(|e| match e {
            Event::RegistrationFailed {
                retry_in, failure, ..
            } => {
                assert_eq!(failure.status, Some(429));
                assert_eq!(failure.retry_after, Some(Duration::from_secs(1)));
                Some(*retry_in)
            }
            _ => None,
        })
        .expect("a failure event");
    // Inside the booked second, not the 1.6–2.4 s backoff.
    assert!(
        retry_in >= Duration::from_secs(1) && retry_in < Duration::from_secs(2),
        "{retry_in:?}"
    );
}

/// A node whose clock is ten minutes slow signs a time the DDS refuses as
/// too old: the failure says to set the clock, read from the DDS's `Date`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_clock_is_named_when_the_dds_refuses_the_signed_time() {
    let dds = Dds::start().await;
    let node = Node::new().await;
    let slow =
        posemesh_registration::unix_time(std::time::SystemTime::now()) - Duration::from_secs(600);
    let driver = node
        .builder(dds.url(), Duration::from_secs(30))
        .runtime(Arc::new(
            posemesh_registration::TokioRuntime::with_tokio_clock(slow),
        ))
        .build()
        .await
        .unwrap();
    let failure = failure_of(driver.register_once().await);
    assert_eq!(failure.status, Some(401), "{failure}");
    assert_eq!(
        failure.hint(),
        Some(posemesh_registration::core::response::CLOCK_HINT)
    );
    let offset = failure.clock_offset_secs.expect("the DDS sent its Date");
    assert!((595..=605).contains(&offset), "{offset}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflict_and_refusals_are_classified() {
    let dds = Dds::start().await;
    let node = Node::new().await;
    let driver = node
        .builder(dds.url(), Duration::from_secs(30))
        .build()
        .await
        .unwrap();
    dds.faults(json!([{ "status": 409, "body": "already registered" }, { "status": 403 }]))
        .await;
    let conflict = failure_of(driver.register_once().await);
    assert_eq!(
        (conflict.class, conflict.status),
        (FailureClass::Conflict, Some(409))
    );
    assert!(conflict.message.contains("already registered"));
    let refused = failure_of(driver.register_once().await);
    assert_eq!(
        (refused.class, refused.status),
        (FailureClass::RetryLater, Some(403))
    );
    driver
        .register_once()
        .await
        .expect("no fault left: registers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_dropped_connections_are_transport_failures() {
    let dds = Dds::start().await;
    let node = Node::new().await;
    let mut config = node.config(dds.url(), Duration::from_secs(30));
    config.request_timeout = Duration::from_millis(300);
    let driver = posemesh_registration::builder(config, node.key.clone())
        .unwrap()
        .build()
        .await
        .unwrap();

    dds.faults(json!([{ "delay_ms": 3000, "status": 200 }]))
        .await;
    let started = std::time::Instant::now();
    let timeout = failure_of(driver.register_once().await);
    assert_eq!(
        (timeout.class, timeout.status),
        (FailureClass::RetryFast, None)
    );
    assert!(timeout.message.contains("timed out"), "{}", timeout.message);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the timeout did not cut the wait"
    );

    dds.faults(json!([{ "status": 500, "drip_ms": 100 }])).await;
    let started = std::time::Instant::now();
    let drip = failure_of(driver.register_once().await);
    assert_eq!((drip.class, drip.status), (FailureClass::RetryFast, None));
    assert!(drip.message.contains("timed out"), "{}", drip.message);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "a slow drip held the attempt"
    );

    dds.faults(json!([{ "status": 200, "drop": true }])).await;
    let dropped = failure_of(driver.register_once().await);
    assert_eq!(
        (dropped.class, dropped.status),
        (FailureClass::RetryFast, None)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_dds_is_a_transport_failure() {
    capture_port_free_dds().await;
}

async fn capture_port_free_dds() {
    common::capture_logs();
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let node = Node::new().await;
    let driver = node
        .builder(&format!("http://127.0.0.1:{port}"), Duration::from_secs(30))
        .build()
        .await
        .unwrap();
    let failure = failure_of(driver.register_once().await);
    assert_eq!(
        (failure.class, failure.status),
        (FailureClass::RetryFast, None)
    );
    assert!(
        failure.message.contains("could not connect"),
        "{}",
        failure.message
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_are_bounded_and_never_panic() {
    let dds = Dds::start().await;
    let node = Node::new().await;
    let driver = node
        .builder(dds.url(), Duration::from_secs(30))
        .build()
        .await
        .unwrap();
    let straddling = format!("{}é and more", "a".repeat(511));
    dds.faults(json!([
        { "status": 500, "body_bytes": 10_000_000 },
        { "status": 500, "non_utf8": true },
        { "status": 500, "body": straddling },
    ]))
    .await;

    let huge = failure_of(driver.register_once().await);
    let snippet = huge.message.split("body_snippet: ").nth(1).unwrap();
    assert_eq!(snippet, "x".repeat(512));

    let garbled = failure_of(driver.register_once().await);
    assert!(garbled.message.contains('\u{FFFD}'), "{}", garbled.message);
    assert!(!garbled.message.contains('\n'));

    // The reference panics here: byte 512 falls inside "é".
    let cut = failure_of(driver.register_once().await);
    let snippet = cut.message.split("body_snippet: ").nth(1).unwrap();
    assert_eq!(snippet, "a".repeat(511));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_reads_at_most_64_kib_of_a_huge_body() {
    let dds = Dds::start().await;
    dds.faults(json!([{ "status": 500, "body_bytes": 10_000_000 }]))
        .await;
    let transport = posemesh_registration::ReqwestTransport::new().unwrap();
    let request = posemesh_registration::core::HttpRequest {
        method: posemesh_registration::core::Method::Post,
        url: format!("{}/internal/v1/nodes/register", dds.url()),
        headers: vec![],
        body: b"{}".to_vec(),
    };
    let response = transport
        .send(request, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(response.status, 500);
    assert_eq!(
        response.body.len(),
        posemesh_registration::core::response::MAX_RESPONSE_BODY
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_from_the_state_file() {
    let dds = Dds::start().await;
    let mut node = Node::new().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    {
        let driver = node
            .builder(dds.url(), Duration::from_secs(30))
            .store(Arc::new(FileStore::new(&path)))
            .build()
            .await
            .unwrap();
        let _server = node.serve(&driver);
        driver.register_once().await.unwrap();
        // The callback follows the DDS's answer; it is saved before it is
        // answered, so wait for the file, not for the registrar's memory.
        assert!(
            eventually(Duration::from_secs(5), || async {
                std::fs::read(&path)
                    .ok()
                    .and_then(|bytes| Snapshot::decode(&bytes).ok())
                    .is_some_and(|stored| stored.credentials.is_some())
            })
            .await
        );
    }
    let stored = Snapshot::decode(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(stored.status, Status::Registered);
    assert!(stored.credentials.is_some());

    // A new process: resumes registered, and with a fresh health check it does
    // not register again.
    let driver = node
        .builder(dds.url(), Duration::from_secs(30))
        .store(Arc::new(FileStore::new(&path)))
        .build()
        .await
        .unwrap();
    assert_eq!(driver.status(), Status::Registered);
    assert_eq!(driver.snapshot().credentials, stored.credentials);
    let loop_driver = driver.clone();
    let running = tokio::spawn(async move { loop_driver.run().await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    running.abort();
    assert_eq!(dds.accepted().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_state_is_set_aside_and_the_node_registers_afresh() {
    let dds = Dds::start().await;
    let node = Node::new().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let torn = format!(
        r#"{{"version":1,"status":"registered","credentials":{{"id":"x","secret":"{}"#,
        node.secret
    );
    std::fs::write(&path, &torn).unwrap();

    let driver = node
        .builder(dds.url(), Duration::from_secs(30))
        .store(Arc::new(FileStore::new(&path)))
        .build()
        .await
        .unwrap();
    let reason = driver.recovered_from().expect("reported").to_string();
    assert!(
        !reason.contains(&node.secret),
        "the error quotes the stored secret"
    );
    assert_eq!(driver.status(), Status::Disconnected);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("state.json.corrupt")).unwrap(),
        torn,
        "the bad file was lost"
    );
    driver.register_once().await.unwrap();
    let stored = Snapshot::decode(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(stored.status, Status::Registered);
    assert_logs_free_of(&node.secrets());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_state_is_an_error_not_a_panic() {
    common::capture_logs();
    let node = Node::new().await;
    let dir = tempfile::tempdir().unwrap();
    // A folder where the file should be: reading it fails.
    let path = dir.path().join("state.json");
    std::fs::create_dir(&path).unwrap();
    let result = node
        .builder("http://127.0.0.1:9", Duration::from_secs(30))
        .store(Arc::new(FileStore::new(&path)))
        .build()
        .await;
    let err = result.err().expect("an error");
    assert!(err.to_string().contains("state.json"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_registrars_on_one_state_file_register_once() {
    let dds = Dds::start().await;
    let node = Node::new().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    // Slow answers make an overlap visible if the lock did not work.
    dds.faults(json!([
        { "delay_ms": 400, "pass_through": true },
        { "delay_ms": 400, "pass_through": true },
    ]))
    .await;
    let mut drivers: Vec<Driver> = Vec::new();
    for i in 0..2 {
        let driver = node
            .builder(dds.url(), Duration::from_secs(30))
            .seed(i)
            .store(Arc::new(FileStore::new(&path)))
            .build()
            .await
            .unwrap();
        drivers.push(driver);
    }
    let tasks: Vec<_> = drivers
        .iter()
        .cloned()
        .map(|d| tokio::spawn(async move { d.run().await }))
        .collect();
    assert!(
        eventually(Duration::from_secs(10), || async {
            drivers.iter().any(|d| d.status() == Status::Registered)
        })
        .await
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    for task in tasks {
        task.abort();
    }
    let readout = dds.readout().await;
    assert_eq!(dds.accepted().await, 1, "{readout}");
    assert_eq!(readout["max_concurrent"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_callbacks_change_nothing() {
    let dds = Dds::start().await;
    let node = Node::new().await;
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("state.json"));
    let driver = node
        .builder(dds.url(), Duration::from_secs(30))
        .store(Arc::new(store))
        .build()
        .await
        .unwrap();
    let before = driver.snapshot();
    let forged = driver
        .handle_node_request(
            "POST",
            "/internal/v1/registrations",
            &[],
            br#"{"id":"evil","secret":"attacker-chosen-secret"}"#,
        )
        .await;
    assert_eq!(forged.status, 409);
    assert_eq!(driver.snapshot(), before);
    assert!(FileStore::new(dir.path().join("state.json"))
        .load()
        .await
        .unwrap()
        .is_none());
    let oversize = vec![b' '; 2 * 1024 * 1024 + 1];
    assert_eq!(
        driver
            .handle_node_request("POST", "/internal/v1/registrations", &[], &oversize)
            .await
            .status,
        413
    );
}

/// Sends `head` and `body` to the node's router and returns the status line.
async fn raw_callback(node_url: &str, content_length: usize, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut client = tokio::net::TcpStream::connect(node_url.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /internal/v1/registrations HTTP/1.1\r\nhost: node\r\n\
         content-type: application/json\r\ncontent-length: {content_length}\r\n\r\n"
    );
    client.write_all(head.as_bytes()).await.unwrap();
    let _ = client.write_all(body).await; // the server may answer (and close) before the end
    let mut answer = vec![0; 64];
    let limit = posemesh_registration::server::BODY_READ_LIMIT * 2;
    let read = tokio::time::timeout(limit, client.read(&mut answer))
        .await
        .expect("the node answers within its body read limit")
        .unwrap();
    String::from_utf8_lossy(&answer[..read])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A node serving its callbacks through the ready router (its DDS unreachable).
async fn serving_node() -> (Node, tokio::task::JoinHandle<()>) {
    let mut node = Node::new().await;
    let driver = node
        .builder("http://127.0.0.1:9", Duration::from_secs(30))
        .build()
        .await
        .unwrap();
    let server = node.serve(&driver);
    (node, server)
}

#[tokio::test(start_paused = true)]
async fn a_callback_body_that_never_arrives_is_answered_408() {
    let (node, _server) = serving_node().await;
    // Promises 100 bytes, sends 6, then holds the connection open.
    let status = raw_callback(&node.url, 100, br#"{"id":"#).await;
    assert_eq!(status, "HTTP/1.1 408 Request Timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_body_over_the_limit_is_answered_413_through_the_router() {
    let (node, _server) = serving_node().await;
    let limit = posemesh_registration::core::callback::MAX_CALLBACK_BODY;
    let at_limit = vec![b' '; limit];
    // A body of exactly the limit is read whole (and refused as no JSON callback: 400).
    assert_eq!(
        raw_callback(&node.url, limit, &at_limit).await,
        "HTTP/1.1 400 Bad Request"
    );
    let over = vec![b' '; limit + 1];
    assert_eq!(
        raw_callback(&node.url, limit + 1, &over).await,
        "HTTP/1.1 413 Payload Too Large"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_attempt_leaves_the_driver_ready_for_the_next() {
    let dds = Dds::start().await;
    let node = Node::new().await;
    let driver = node
        .builder(dds.url(), Duration::from_secs(30))
        .build()
        .await
        .unwrap();
    dds.faults(json!([{ "delay_ms": 5000, "status": 200 }]))
        .await;
    let cancelled = tokio::time::timeout(Duration::from_millis(300), driver.register_once()).await;
    assert!(
        cancelled.is_err(),
        "the slow attempt should still be running when cancelled"
    );
    assert!(!driver.snapshot().status.eq(&Status::Registered));
    // No waiting out the 5 s request timeout: the next attempt goes at once.
    let started = std::time::Instant::now();
    driver.register_once().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(driver.status(), Status::Registered);
}

/// `server::serve` closes a connection whose headers do not arrive in time, even when the
/// client keeps trickling bytes; `axum::serve` never does (it runs hyper without a timer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_trickles_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let driver = Node::new()
        .await
        .builder("http://127.0.0.1:9", Duration::from_secs(30))
        .build()
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = posemesh_registration::server::router(driver);
    tokio::spawn(posemesh_registration::server::serve_with_header_limit(
        listener,
        app,
        Duration::from_millis(300),
    ));

    let slow = tokio::net::TcpStream::connect(address).await.unwrap();
    let (mut reader, mut writer) = slow.into_split();
    writer
        .write_all(b"GET /health HTTP/1.1\r\nx-slow: ")
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if writer.write_all(b"a").await.is_err() {
                return;
            }
        }
    });
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut rest)).await;
    trickle.abort();
    assert!(closed.is_ok(), "still open 5 s after its headers began");

    // A client that sends its headers at once is served as before.
    let mut quick = tokio::net::TcpStream::connect(address).await.unwrap();
    quick
        .write_all(b"GET /health HTTP/1.1\r\nhost: node\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), quick.read_to_end(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
}
