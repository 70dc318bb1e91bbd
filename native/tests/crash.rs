//! kill -9 at random moments while a process writes state through
//! `FileStore`: the file is always a whole snapshot (the old or the new one),
//! never torn. The writer is this same test binary, re-executed.

use posemesh_registration::core::{DdsCredentials, Snapshot, Status, UnixTime};
use posemesh_registration::FileStore;
use sync_store::SyncStore;

mod sync_store;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WRITER_ENV: &str = "POSEMESH_CRASH_WRITER_PATH";

/// Snapshots of very different sizes, so a torn write could not look whole.
fn snapshot(n: u32) -> Snapshot {
    Snapshot {
        status: if n.is_multiple_of(2) {
            Status::Registered
        } else {
            Status::Registering
        },
        last_health_check: Some(UnixTime::from_millis(1_700_000_000_000 + u64::from(n))),
        attempt: n,
        credentials: (!n.is_multiple_of(3)).then(|| DdsCredentials {
            id: format!("node-{n}-{}", "x".repeat((n % 7) as usize * 500)),
            secret: format!("secret-{n}").into(),
            organization_id: None,
        }),
        unknown_status: None,
        registered_as: None,
        callback: None,
        earlier_callback: None,
    }
}

/// In the child: write snapshots 1, 2, 3… as fast as possible until killed.
#[test]
fn writer_child() {
    let Ok(path) = std::env::var(WRITER_ENV) else {
        return; // Only runs when re-executed by the parent test.
    };
    let store = FileStore::new(path);
    for n in 1.. {
        store.save_now(&snapshot(n).encode()).expect("write");
    }
}

#[test]
fn a_killed_writer_never_leaves_a_torn_file() {
    let runs: u32 = std::env::var("POSEMESH_CRASH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let store = FileStore::new(&path);
    store.save_now(&snapshot(0).encode()).unwrap();
    let me = std::env::current_exe().unwrap();
    let mut seen_new = 0;
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let started = Instant::now();
    for run in 0..runs {
        let before = Snapshot::decode(&std::fs::read(&path).unwrap()).unwrap();
        let mut child = Command::new(&me)
            .args(["--exact", "writer_child", "--nocapture", "--test-threads=1"])
            .env(WRITER_ENV, &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // xorshift: a kill moment between 0 and ~30 ms after start.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_micros(rng % 30_000));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let after = Snapshot::decode(&bytes)
            .unwrap_or_else(|e| panic!("run {run}: torn state file ({e}): {} bytes", bytes.len()));
        // Whole, and one of the snapshots the writer wrote (or the old one).
        assert_eq!(
            after,
            snapshot(after.attempt),
            "run {run}: not a snapshot that was written"
        );
        if after != before {
            seen_new += 1;
        }
        // Start each run from what the last one left.
        let _ = before;
    }
    // The kills must land while writing, not always before the first write.
    assert!(
        seen_new > runs / 4,
        "only {seen_new} of {runs} runs wrote anything: the test proves little"
    );
    let orphans = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        })
        .count();
    eprintln!(
        "{runs} kills in {:?}; {seen_new} changed the file; {orphans} orphaned temp files",
        started.elapsed()
    );
}
