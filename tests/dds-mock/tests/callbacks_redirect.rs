//! The conformance DDS never follows a redirect when it calls a node back:
//! the callback carries the node's new id and secret, and a health probe
//! must judge the node itself, not whatever it points to.

use posemesh_dds_mock::MockConfig;
use posemesh_registration_core::request::{legacy_registration_request, NodeDescription};
use posemesh_registration_core::{BaseUrl, PrivateKey, Secret, UnixTime};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const KEY: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90";

/// A loopback HTTP server answering every request with `answer`; counts connections.
fn server(answer: String) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            count.fetch_add(1, Ordering::SeqCst);
            let answer = answer.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).to_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                let _ = stream.read_exact(&mut body);
                let _ = stream.write_all(answer.as_bytes());
            });
        }
    });
    (url, connections)
}

async fn callbacks_to(follow_target: bool) -> (Value, usize) {
    let (elsewhere, reached) =
        server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".into());
    let (node_url, _) =
        server(format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: {elsewhere}{}\r\nContent-Length: 0\r\n\r\n",
        if follow_target { "/internal/v1/registrations" } else { "/health" }
    ));
    let mock = posemesh_dds_mock::start(MockConfig {
        probe_interval: Duration::from_millis(50),
        ..Default::default()
    })
    .await
    .unwrap();
    let now =
        UnixTime::from_duration_since_epoch(SystemTime::now().duration_since(UNIX_EPOCH).unwrap());
    let request = legacy_registration_request(
        &BaseUrl::parse(mock.url()).unwrap(),
        &node_url,
        &NodeDescription {
            version: "1.0.0".into(),
            capabilities: vec!["/cap/v1".into()],
            credentials: Secret::new("anything"),
        },
        &PrivateKey::from_hex(KEY).unwrap(),
        now,
    );
    let status = reqwest::Client::new()
        .post(&request.url)
        .header("content-type", "application/json")
        .body(request.body.clone())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    // Wait for the callback and three failed probes (the probe loop then stops).
    let started = Instant::now();
    loop {
        let readout: Value = reqwest::get(format!("{}/_control/registrations", mock.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let probes = readout["health_probes"].as_array().map_or(0, Vec::len);
        if probes >= 3 || started.elapsed() > Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            return (readout, reached.load(Ordering::SeqCst));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_and_probes_do_not_follow_redirects() {
    for follow_target in [true, false] {
        let (readout, reached) = callbacks_to(follow_target).await;
        assert_eq!(readout["callbacks"][0]["status"], 307, "{readout}");
        let probes = readout["health_probes"].as_array().unwrap();
        assert_eq!(probes.len(), 3, "{readout}");
        assert!(probes.iter().all(|p| p["status"] == 307), "{readout}");
        assert_eq!(reached, 0, "a redirect was followed: {readout}");
    }
}
