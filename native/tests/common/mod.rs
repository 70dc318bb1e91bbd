//! Shared harness: a conformance DDS per test, a node callback server, and a
//! process-wide capture of every log line (checked for secrets).

#![allow(dead_code)]

use posemesh_dds_mock::{MockConfig, RunningMock};
use posemesh_registration::{
    Driver, DriverBuilder, Event, EventSink, Flow, PrivateKey, RegistrarConfig, Secret, TracingSink,
};
use serde_json::{json, Value};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once) a global subscriber that records every log line at TRACE.
pub fn capture_logs() {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Capture(writer.clone()))
            .init();
        buffer
    });
}

/// Everything logged so far by any test in this binary.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.get().expect("capture_logs first").lock().unwrap()).into_owned()
}

/// Fails if any secret (in any case, with or without 0x) appears in the logs.
pub fn assert_logs_free_of(secrets: &[&str]) {
    let logs = logs();
    assert!(
        logs.len() > 100,
        "the capture recorded nothing: the check would be vacuous"
    );
    let lower = logs.to_lowercase();
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        assert!(
            !lower.contains(&secret.to_lowercase()),
            "a secret leaked into the logs"
        );
    }
}

/// A fresh random key and its hex.
pub fn fresh_key() -> (PrivateKey, String) {
    loop {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).unwrap();
        if let Ok(key) = PrivateKey::from_bytes(&bytes) {
            let hex = bytes.iter().map(|b| format!("{b:02x}")).collect();
            return (key, hex);
        }
    }
}

/// Every event a driver reports, and the sink that collects them (and logs
/// them through `tracing`, as the native default does).
pub fn recorder() -> (Arc<Mutex<Vec<Event>>>, Arc<dyn EventSink>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    (
        events,
        Arc::new(TracingSink::with_handler(move |e: &Event| {
            sink.lock().unwrap().push(e.clone())
        })),
    )
}

/// A wallet-flow configuration for `dds_url`, with a fresh secret and a 5 s request timeout.
pub fn wallet_config(dds_url: &str) -> RegistrarConfig {
    let mut config = RegistrarConfig::new(
        dds_url,
        Flow::Wallet,
        "1.0.0",
        vec!["/reconstruction/global-refinement/v1".into()],
        Secret::new(fresh_secret()),
    )
    .unwrap();
    config.request_timeout = Duration::from_secs(5);
    config
}

pub fn fresh_secret() -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).unwrap();
    format!(
        "reg-secret-{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

pub struct Dds {
    pub mock: RunningMock,
    client: reqwest::Client,
}

impl Dds {
    pub async fn start() -> Dds {
        Self::start_with(MockConfig {
            probe_interval: Duration::from_millis(200),
            ..Default::default()
        })
        .await
    }

    pub async fn start_with(config: MockConfig) -> Dds {
        capture_logs();
        let mock = posemesh_dds_mock::start(config).await.expect("mock starts");
        Dds {
            mock,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    pub fn url(&self) -> &str {
        self.mock.url()
    }

    pub async fn faults(&self, faults: Value) {
        let response = self
            .client
            .post(format!("{}/_control/faults", self.url()))
            .header("content-type", "application/json")
            .body(json!({ "faults": faults }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    /// Access tokens issued from now on live this long.
    pub async fn token_lifetime(&self, lifetime: Duration) {
        let response = self
            .client
            .post(format!("{}/_control/session", self.url()))
            .header("content-type", "application/json")
            .body(json!({ "token_lifetime_ms": lifetime.as_millis() as u64 }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    /// The status the DDS answers a call made with `token`.
    pub async fn check_token(&self, token: &str) -> u16 {
        self.client
            .get(format!("{}/internal/v1/auth/check", self.url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub async fn readout(&self) -> Value {
        let text = self
            .client
            .get(format!("{}/_control/registrations", self.url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// Accepted registrations (faults excluded).
    pub async fn accepted(&self) -> usize {
        self.readout().await["received"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["accepted"] == true && r["path"] != "/internal/v1/auth/siwe/request")
            .count()
    }

    pub async fn issued_secrets(&self) -> Vec<String> {
        self.readout().await["issued_secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    }
}

/// A node: a bound loopback listener whose URL goes into the config.
pub struct Node {
    pub listener: Option<TcpListener>,
    pub url: String,
    pub key: PrivateKey,
    pub key_hex: String,
    pub secret: String,
}

impl Node {
    pub async fn new() -> Node {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (key, key_hex) = fresh_key();
        Node {
            listener: Some(listener),
            url,
            key,
            key_hex,
            secret: fresh_secret(),
        }
    }

    pub fn config(&self, dds: &str, interval: Duration) -> RegistrarConfig {
        let mut config = RegistrarConfig::new(
            dds,
            Flow::Legacy {
                node_url: self.url.clone(),
            },
            "1.2.3",
            vec!["/reconstruction/global-refinement/v1".into()],
            Secret::new(self.secret.clone()),
        )
        .unwrap();
        config.register_interval = interval;
        config.request_timeout = Duration::from_secs(5);
        config
    }

    pub fn builder(&self, dds: &str, interval: Duration) -> DriverBuilder {
        posemesh_registration::builder(self.config(dds, interval), self.key.clone())
            .unwrap()
            .seed(7)
    }

    /// Serves the DDS callbacks for `driver` on this node's listener.
    pub fn serve(&mut self, driver: &Driver) -> tokio::task::JoinHandle<()> {
        let listener = self.listener.take().expect("serve once");
        let app = posemesh_registration::server::router(driver.clone());
        tokio::spawn(async move {
            let _ = axum_serve(listener, app).await;
        })
    }

    pub fn secrets(&self) -> Vec<&str> {
        vec![&self.key_hex, &self.secret]
    }
}

async fn axum_serve(listener: TcpListener, app: axum::Router) -> std::io::Result<()> {
    axum::serve(listener, app).await
}

/// Polls `check` every 50 ms until true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
