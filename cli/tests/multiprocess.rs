//! Several processes of one node sharing one state file, against the
//! conformance DDS: at any instant at most one registers, exactly one
//! registration happens, and when the holder of the lock dies mid-attempt
//! another process takes over.

mod common;

use common::{Mock, BIN};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "e331b6d69882b4ed5bb7f55b585d7d0f7dc3aeca4a3deee8d16bde3eca51aace";
const SECRET: &str = "multiprocess-registration-secret";
const WALLET_PATH: &str = "/internal/v1/nodes/register-wallet";

struct Worker {
    child: Child,
    log: std::path::PathBuf,
}

fn worker(mock: &Mock, state: &std::path::Path, dir: &std::path::Path, n: usize) -> Worker {
    let log = dir.join(format!("worker-{n}.log"));
    let child = Command::new(BIN)
        .args([
            "register",
            "--flow",
            "wallet",
            "--dds-url",
            &mock.url,
            "--node-version",
            "1.0.0",
        ])
        .args([
            "--capability",
            "/reconstruction/global-refinement/v1",
            "--interval",
            "2",
        ])
        .arg("--state-file")
        .arg(state)
        .env("POSEMESH_PRIVATE_KEY", KEY)
        .env("POSEMESH_REGISTRATION_SECRET", SECRET)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Worker { child, log }
}

fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn stop_all(workers: &mut [Worker]) -> String {
    let mut logs = String::new();
    for worker in workers {
        let _ = worker.child.kill();
        let _ = worker.child.wait();
        logs.push_str(&std::fs::read_to_string(&worker.log).unwrap_or_default());
    }
    assert!(
        logs.contains("registration.loop.start"),
        "the logs were not captured"
    );
    assert!(
        !logs.to_lowercase().contains(KEY) && !logs.contains(SECRET),
        "a secret reached the logs"
    );
    logs
}

fn exactly_one_registers(processes: usize) {
    let mock = Mock::start();
    // A slow first answer keeps the lock held while the others try it.
    mock.faults(r#"[{"delay_ms":1500,"pass_through":true}]"#);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut workers: Vec<Worker> = (0..processes)
        .map(|n| worker(&mock, &state, dir.path(), n))
        .collect();
    assert!(
        wait_for(Duration::from_secs(20), || mock.accepted(WALLET_PATH) >= 1),
        "nobody registered"
    );
    // The others see the registration and adopt it: every worker ends its
    // first round registered, one by registering, the rest by adopting.
    let settled = wait_for(Duration::from_secs(30), || {
        workers.iter().all(|w| {
            let log = std::fs::read_to_string(&w.log).unwrap_or_default();
            log.contains("registration.success") || log.contains("registration.adopted")
        })
    });
    let (accepted, concurrent) = (mock.accepted(WALLET_PATH), mock.max_concurrent());
    let logs = stop_all(&mut workers);
    assert!(settled, "not every worker ended registered:\n{logs}");
    assert_eq!(accepted, 1, "{processes} processes: {}", mock.readout());
    assert_eq!(concurrent, 1, "two registrations were in flight at once");
    assert!(logs.contains("lock.busy"), "the others never met the lock");
}

#[test]
fn two_processes_register_once() {
    exactly_one_registers(2);
}

#[test]
fn four_processes_register_once() {
    exactly_one_registers(4);
}

#[test]
fn when_the_lock_holder_dies_another_process_takes_over() {
    let mock = Mock::start();
    // The first process's attempt hangs; it holds the lock while it waits.
    mock.faults(r#"[{"delay_ms":8000,"pass_through":true}]"#);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut holder = vec![worker(&mock, &state, dir.path(), 0)];
    assert!(
        wait_for(Duration::from_secs(10), || mock.max_concurrent() >= 1),
        "the holder never asked"
    );
    let mut others = vec![worker(&mock, &state, dir.path(), 1)];
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(mock.accepted(WALLET_PATH), 0);
    // kill -9: the OS releases the holder's lock.
    let killed_at = Instant::now();
    stop_all(&mut holder);
    assert!(
        wait_for(Duration::from_secs(10), || mock.accepted(WALLET_PATH) == 1),
        "no takeover: {}",
        mock.readout()
    );
    // Within one interval (2 s) of the lock check, plus the attempt.
    assert!(
        killed_at.elapsed() < Duration::from_secs(6),
        "{:?}",
        killed_at.elapsed()
    );
    stop_all(&mut others);
}
