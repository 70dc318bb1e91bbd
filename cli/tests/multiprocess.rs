//! Several processes of one node sharing one state file, against the
//! conformance DDS: at any instant at most one registers, exactly one
//! registration happens, and when the holder of the lock dies mid-attempt
//! another process takes over.

mod common;

use common::{free_port, Mock, BIN};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "e331b6d69882b4ed5bb7f55b585d7d0f7dc3aeca4a3deee8d16bde3eca51aace";
const SECRET: &str = "multiprocess-registration-secret";
const WALLET_PATH: &str = "/internal/v1/nodes/register-wallet";

struct Worker {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Worker {
    /// A failed test leaves no worker registering on its own.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Which workers have exited, and how: a worker that could not start (a port
/// taken meanwhile) never ends registered, and its log says why.
fn exits(workers: &mut [Worker]) -> String {
    workers
        .iter_mut()
        .enumerate()
        .filter_map(|(n, w)| {
            Some(format!(
                "worker {n} exited: {}\n",
                w.child.try_wait().ok()??
            ))
        })
        .collect()
}

fn worker(mock: &Mock, state: &std::path::Path, dir: &std::path::Path, n: usize) -> Worker {
    let args = [
        "--flow",
        "wallet",
        "--capability",
        "/reconstruction/global-refinement/v1",
        "--interval",
        "2",
    ];
    spawn(mock, state, dir, n, &args.map(String::from))
}

/// A legacy worker serving callbacks on `listen`, registered as `node_url`.
fn legacy_worker(
    mock: &Mock,
    state: &std::path::Path,
    dir: &std::path::Path,
    n: usize,
    (listen, node_url): (&str, &str),
    reuse_port: bool,
) -> Worker {
    legacy_worker_every(mock, state, dir, n, (listen, node_url), reuse_port, "4")
}

fn legacy_worker_every(
    mock: &Mock,
    state: &std::path::Path,
    dir: &std::path::Path,
    n: usize,
    (listen, node_url): (&str, &str),
    reuse_port: bool,
    interval: &str,
) -> Worker {
    let mut args: Vec<String> = [
        "--flow",
        "legacy",
        "--interval",
        interval,
        "--listen",
        listen,
    ]
    .into_iter()
    .chain(["--node-url", node_url])
    .chain(["--capability", "/reconstruction/global-refinement/v1"])
    .map(String::from)
    .collect();
    if reuse_port {
        args.push("--reuse-port".into());
    }
    spawn(mock, state, dir, n, &args)
}

fn spawn(
    mock: &Mock,
    state: &std::path::Path,
    dir: &std::path::Path,
    n: usize,
    args: &[String],
) -> Worker {
    let log = dir.join(format!("worker-{n}.log"));
    let child = Command::new(BIN)
        .args([
            "register",
            "--dds-url",
            &mock.url,
            "--node-version",
            "1.0.0",
        ])
        .args(args)
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
    let settled = wait_for(Duration::from_secs(30), || all_settled(&workers));
    let (accepted, concurrent) = (mock.accepted(WALLET_PATH), mock.max_concurrent());
    let exits = exits(&mut workers);
    let logs = stop_all(&mut workers);
    assert!(settled, "not every worker ended registered:\n{exits}{logs}");
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

// ------------------------------------------------------------------ legacy flow, one port

const LEGACY_PATH: &str = "/internal/v1/nodes/register";

fn readout(mock: &Mock) -> serde_json::Value {
    serde_json::from_str(&mock.readout()).expect("the read-out is JSON")
}

/// Every worker ends its first round registered (by registering or adopting).
fn all_settled(workers: &[Worker]) -> bool {
    workers.iter().all(|w| {
        let log = std::fs::read_to_string(&w.log).unwrap_or_default();
        log.contains("registration.success") || log.contains("registration.adopted")
    })
}

/// The DDS's callback reached a worker, was answered 200, and its secret is
/// what the shared state file holds; nobody registered again since, and every
/// probe was answered. Returns the logs.
fn check_one_node(mock: &Mock, state: &std::path::Path, workers: &mut [Worker]) -> String {
    if !wait_for(Duration::from_secs(30), || all_settled(workers)) {
        let (out, exits) = (mock.readout(), exits(workers));
        panic!(
            "not every worker ended registered: {out}\n{exits}{}",
            stop_all(workers)
        );
    }
    let issued = || {
        readout(mock)["issued_secrets"][0]
            .as_str()
            .map(str::to_owned)
    };
    let stored = || std::fs::read_to_string(state).unwrap_or_default();
    assert!(
        wait_for(Duration::from_secs(15), || issued()
            .is_some_and(|secret| stored().contains(&secret))),
        "the credentials never reached the state file: {}",
        mock.readout()
    );
    // Two TTLs more: the probes keep every worker's view registered (through
    // the shared snapshot), so nobody registers again.
    std::thread::sleep(Duration::from_secs(8));
    let out = readout(mock);
    let logs = stop_all(workers);
    assert!(
        !logs.contains(&issued().unwrap()),
        "the DDS's secret reached the logs"
    );
    let story: Vec<&str> = logs
        .lines()
        .filter(|l| !l.contains("health") || l.contains("expired"))
        .collect();
    assert_eq!(mock.accepted(LEGACY_PATH), 1, "{}", story.join("\n"));
    let callbacks = out["callbacks"].as_array().unwrap();
    assert_eq!(callbacks.len(), 1, "{out}");
    assert_eq!(callbacks[0]["status"], 200, "{out}");
    let probes = out["health_probes"].as_array().unwrap();
    assert!(probes.len() >= 3, "{out}");
    assert!(probes.iter().all(|p| p["status"] == 200), "{out}");
    logs
}

#[test]
fn a_callback_at_another_worker_is_stored_for_the_lock_holder() {
    // Worker 0 holds the lock and registers; the DDS calls back the node URL,
    // which is worker 1's port. Worker 1 accepts the callback for its sibling.
    // Worker 2 starts once all that is done, as a restarted or late worker
    // does, and takes the stored registration over.
    let mock = Mock::start();
    mock.faults(r#"[{"delay_ms":1500,"pass_through":true}]"#);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let ports = [free_port(), free_port(), free_port()];
    let listen = ports.map(|port| format!("127.0.0.1:{port}"));
    let node_url = format!("http://{}", listen[1]);
    let mut workers = vec![legacy_worker(
        &mock,
        &state,
        dir.path(),
        0,
        (&listen[0], &node_url),
        false,
    )];
    assert!(
        wait_for(Duration::from_secs(10), || mock.max_concurrent() >= 1),
        "the holder never asked"
    );
    for (n, listen) in listen.iter().enumerate().skip(1) {
        if n == 2 {
            assert!(
                wait_for(Duration::from_secs(10), || {
                    let stored = std::fs::read_to_string(&state).unwrap_or_default();
                    stored.contains("\"registered\"") && stored.contains("node-1")
                }),
                "the registration was never stored: {}",
                mock.readout()
            );
        }
        workers.push(legacy_worker(
            &mock,
            &state,
            dir.path(),
            n,
            (listen, &node_url),
            false,
        ));
    }
    check_one_node(&mock, &state, &mut workers);
    let holder = std::fs::read_to_string(&workers[0].log).unwrap();
    assert!(holder.contains("registration.success"), "{holder}");
    let receiver = std::fs::read_to_string(&workers[1].log).unwrap();
    assert!(receiver.contains("registration.callback"), "{receiver}");
}

/// Three legacy workers sharing a state file and, with SO_REUSEPORT, one
/// port that is also their node URL; the DDS delays its first answer.
#[cfg(unix)]
struct OnePort {
    mock: Mock,
    state: std::path::PathBuf,
    workers: Vec<Worker>,
    _dir: tempfile::TempDir,
}

#[cfg(unix)]
fn three_workers_on_one_port(first_answer_delay_ms: u64) -> OnePort {
    let mock = Mock::start();
    mock.faults(&format!(
        r#"[{{"delay_ms":{first_answer_delay_ms},"pass_through":true}}]"#
    ));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let listen = format!("127.0.0.1:{}", free_port());
    let node_url = format!("http://{listen}");
    let workers = (0..3)
        .map(|n| legacy_worker(&mock, &state, dir.path(), n, (&listen, &node_url), true))
        .collect();
    OnePort {
        mock,
        state,
        workers,
        _dir: dir,
    }
}

/// Workers that lose the race for the lock do not wait out an interval (60 s
/// here) reporting `disconnected`: they take over the winner's registration
/// within a second or so of its being stored.
#[cfg(unix)]
#[test]
fn workers_that_found_the_lock_busy_take_over_the_registration_at_once() {
    let mock = Mock::start();
    mock.faults(r#"[{"delay_ms":1500,"pass_through":true}]"#);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let listen = format!("127.0.0.1:{}", free_port());
    let node_url = format!("http://{listen}");
    let started = Instant::now();
    let mut workers: Vec<Worker> = (0..3)
        .map(|n| {
            let at = (&listen[..], &node_url[..]);
            legacy_worker_every(&mock, &state, dir.path(), n, at, true, "60")
        })
        .collect();
    let settled = wait_for(Duration::from_secs(20), || all_settled(&workers));
    let took = started.elapsed();
    let logs = stop_all(&mut workers);
    assert!(
        settled,
        "not every worker took the registration over within 20 s:\n{logs}"
    );
    assert!(logs.contains("lock.busy"), "the others never met the lock");
    assert!(logs.contains("registration.adopted"), "{logs}");
    assert_eq!(mock.accepted(LEGACY_PATH), 1, "{logs}");
    eprintln!("all three registered after {took:?}");
}

#[cfg(unix)]
#[test]
fn three_workers_behind_one_port_register_once() {
    let OnePort {
        mock,
        state,
        mut workers,
        _dir,
    } = three_workers_on_one_port(1500);
    let logs = check_one_node(&mock, &state, &mut workers);
    assert!(logs.contains("lock.busy"), "the others never met the lock");
}

#[cfg(unix)]
#[test]
fn when_the_legacy_lock_holder_dies_a_worker_behind_the_same_port_takes_over() {
    // The first attempt hangs; its process holds the lock while it waits.
    let OnePort {
        mock,
        state,
        mut workers,
        _dir,
    } = three_workers_on_one_port(8000);
    let attempting = |w: &Worker| {
        std::fs::read_to_string(&w.log)
            .unwrap_or_default()
            .contains("registration.attempt")
    };
    assert!(
        wait_for(Duration::from_secs(10), || workers.iter().any(attempting)),
        "nobody attempted"
    );
    let holder = workers.iter().position(attempting).unwrap();
    let mut dead = vec![workers.remove(holder)];
    let killed_at = Instant::now();
    stop_all(&mut dead);
    let issued = || readout(&mock)["issued_secrets"].as_array().cloned();
    let stored = || std::fs::read_to_string(&state).unwrap_or_default();
    assert!(
        wait_for(Duration::from_secs(15), || issued()
            .unwrap_or_default()
            .iter()
            .any(|secret| stored().contains(secret.as_str().unwrap()))),
        "no takeover: {}",
        mock.readout()
    );
    // Within one interval (4 s) of the lock check, plus the attempt.
    assert!(
        killed_at.elapsed() < Duration::from_secs(8),
        "{:?}",
        killed_at.elapsed()
    );
    let logs = stop_all(&mut workers);
    assert!(logs.contains("registration.success"), "{logs}");
}
