//! `access_token()`: a token from the DDS's verify endpoint, one sign-in for
//! many callers, and a new registration when verify says the node is gone.

mod common;

use common::{key, wallet_config, Clock, NoStore, SimClock};

use futures_executor::block_on;
use futures_util::future::join_all;
use posemesh_registration_core::{HttpRequest, HttpResponse, Status, TransportError, UnixTime};
use posemesh_registration_driver::{BoxFuture, Driver, Runtime, Transport};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A DDS for the wallet flow and sign-in: counts what it is asked, and
/// answers verify with the statuses queued, then with a fresh token.
#[derive(Default)]
struct Dds {
    calls: Mutex<Vec<String>>,
    verify_statuses: Mutex<VecDeque<u16>>,
    /// The clock, to note when each verify came, and a driver to stop after the third.
    clock: Option<Arc<SimClock>>,
    verified_at: Mutex<Vec<UnixTime>>,
    stop_after_three: std::sync::OnceLock<Driver>,
}

impl Dds {
    fn count(&self, path: &str) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.ends_with(path))
            .count()
    }
}

impl Transport for Dds {
    fn send(
        &self,
        request: HttpRequest,
        _: Duration,
    ) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let path = request
            .url
            .trim_start_matches("http://127.0.0.1:9")
            .to_owned();
        self.calls.lock().unwrap().push(path.clone());
        let verified = self.count("/verify");
        if path.ends_with("/verify") {
            if let Some(clock) = &self.clock {
                self.verified_at.lock().unwrap().push(clock.now());
            }
            if verified == 3 {
                if let Some(driver) = self.stop_after_three.get() {
                    driver.stop();
                }
            }
        }
        let (status, body) = match path.as_str() {
            "/internal/v1/auth/siwe/request" => (
                200,
                r#"{"nonce":"n0nce","domain":"127.0.0.1:9","uri":"http://127.0.0.1:9","version":"1","chainId":1,"issuedAt":"2024-01-01T00:00:00Z"}"#.to_owned(),
            ),
            "/internal/v1/auth/siwe/verify" => {
                match self.verify_statuses.lock().unwrap().pop_front() {
                    Some(status) => (status, r#"{"error":"no"}"#.to_owned()),
                    None => {
                        // One-hour tokens under simulated time; else long-lived ones.
                        let expires = match &self.clock {
                            Some(clock) => (clock.now() + Duration::from_secs(3600)).to_string(),
                            None => "2999-01-01T00:00:00Z".to_owned(),
                        };
                        let body = format!(
                            r#"{{"access_token":"token-{verified}","access_expires_at":"{expires}"}}"#
                        );
                        (200, body)
                    }
                }
            }
            _ => (200, "{}".to_owned()),
        };
        Box::pin(std::future::ready(Ok(HttpResponse {
            status,
            headers: Vec::new(),
            body: body.into_bytes(),
        })))
    }
}

fn driver(dds: &Arc<Dds>) -> Driver {
    let runtime: Arc<dyn Runtime> = match &dds.clock {
        Some(clock) => clock.clone(),
        None => Arc::new(Clock),
    };
    block_on(
        Driver::builder(
            wallet_config(),
            key(),
            dds.clone(),
            Arc::new(NoStore),
            runtime,
        )
        .build(),
    )
    .unwrap()
}

fn simulated_dds() -> Dds {
    Dds {
        clock: Some(Arc::new(SimClock::starting_now())),
        ..Dds::default()
    }
}

#[test]
fn a_hundred_callers_get_one_token_from_one_registration_and_one_sign_in() {
    let dds = Arc::new(Dds::default());
    let driver = driver(&dds);
    let tokens = block_on(join_all((0..100).map(|_| driver.access_token())));
    let tokens: Vec<String> = tokens
        .into_iter()
        .map(|t| t.expect("a token").expose().to_owned())
        .collect();
    assert!(tokens.iter().all(|t| t == "token-1"), "{tokens:?}");
    assert_eq!(dds.count("/register-wallet"), 1);
    assert_eq!(dds.count("/verify"), 1, "one sign-in for 100 callers");
    assert_eq!(driver.status(), Status::Registered);
    let token = block_on(driver.access_token()).unwrap();
    assert_eq!(
        token.expires_at(),
        UnixTime::parse_rfc3339("2999-01-01T00:00:00Z").unwrap()
    );
    assert!(
        !format!("{token:?}").contains("token-1"),
        "Debug redacts it"
    );
}

#[test]
fn a_refused_token_is_replaced_once() {
    let dds = Arc::new(Dds::default());
    let driver = driver(&dds);
    let first = block_on(driver.access_token()).unwrap();
    for _ in 0..10 {
        driver.access_token_refused(first.expose());
    }
    let tokens = block_on(join_all((0..10).map(|_| driver.access_token())));
    assert!(tokens
        .iter()
        .all(|t| t.as_ref().unwrap().expose() == "token-2"));
    assert_eq!(dds.count("/verify"), 2);
}

#[test]
fn verify_saying_the_node_is_gone_leads_to_a_new_registration() {
    let dds = Arc::new(Dds::default());
    dds.verify_statuses.lock().unwrap().push_back(404);
    let driver = driver(&dds);
    let token = block_on(driver.access_token()).unwrap();
    assert_eq!(token.expose(), "token-2");
    assert_eq!(
        dds.count("/register-wallet"),
        2,
        "registered again after the 404"
    );
}

#[test]
fn a_failed_round_is_the_callers_error() {
    let dds = Arc::new(simulated_dds());
    dds.verify_statuses.lock().unwrap().extend([500; 4]);
    let driver = driver(&dds);
    let failure = block_on(driver.access_token()).unwrap_err();
    assert!(failure.to_string().contains("500"), "{failure}");
    assert_eq!(dds.count("/verify"), 4, "the first try and three retries");
    // Asked again: a new round.
    assert_eq!(block_on(driver.access_token()).unwrap().expose(), "token-5");
}

#[test]
fn a_running_loop_refreshes_the_token_before_it_expires() {
    let dds = Arc::new(simulated_dds());
    let driver = driver(&dds);
    dds.stop_after_three.set(driver.clone()).ok();
    block_on(async {
        let run = driver.run();
        let first = driver.access_token();
        let (ran, first) = futures_util::future::join(run, first).await;
        ran.unwrap();
        assert!(first.is_ok());
    });
    let at = dds.verified_at.lock().unwrap().clone();
    assert_eq!(
        at.len(),
        3,
        "signed in, then refreshed twice before the stop"
    );
    for pair in at.windows(2) {
        let gap = pair[1].saturating_since(pair[0]);
        // 75 % of one hour, plus at most 500 ms of jitter: well before expiry.
        assert!(gap >= Duration::from_secs(2700), "{gap:?}");
        assert!(gap <= Duration::from_millis(2_700_500), "{gap:?}");
    }
}
