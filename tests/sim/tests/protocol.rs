//! The cross-process protocol simulation, a few seconds of it: every schedule
//! must keep every invariant (see `posemesh_fleet_sim::protocol`). The long
//! run (`protocol-sim --long`, a million schedules) is in docs/reliability.md.

use posemesh_fleet_sim::protocol::{run, Options};
use std::time::Duration;

fn options(workers: usize) -> Options {
    Options {
        workers,
        duration: Duration::from_secs(15 * 60),
        ..Options::default()
    }
}

/// Runs 16 schedules of `workers` workers; every invariant must hold.
fn schedules_keep_every_invariant(workers: usize) {
    let mut failures = Vec::new();
    let (mut attempts, mut forgeries, mut crashes, mut conflicts) = (0, 0, 0, 0);
    for seed in (1..=16u64).map(|s| s * 10 + workers as u64) {
        let report = run(seed, &options(workers));
        attempts += report.attempts;
        forgeries += report.forgeries;
        crashes += report.crashes;
        conflicts += report.conflicts;
        if !report.violations.is_empty() {
            failures.push(format!(
                "seed {seed}, {workers} workers: {:?}\n  replay: cargo run --release -p posemesh-fleet-sim \
                 --bin protocol-sim -- --seed {seed} --workers {workers} --minutes 15 --trace",
                report.violations
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The schedules reach what they are for.
    assert!(
        attempts > 100 && forgeries > 200 && crashes > 40,
        "{attempts} {forgeries} {crashes}"
    );
    assert!(
        conflicts > 10,
        "forgeries that meet a taken slot are reported: {conflicts}"
    );
}

#[test]
fn one_worker_keeps_every_invariant() {
    schedules_keep_every_invariant(1);
}

#[test]
fn two_workers_keep_every_invariant() {
    schedules_keep_every_invariant(2);
}

#[test]
fn three_workers_keep_every_invariant() {
    schedules_keep_every_invariant(3);
}

#[test]
fn five_workers_keep_every_invariant() {
    schedules_keep_every_invariant(5);
}

/// The checks can fail: with a lock that excludes nobody, schedules break the
/// invariants and the simulation says so.
#[test]
fn a_lock_that_excludes_nobody_is_caught() {
    let broken = Options {
        broken_lock: true,
        ..options(3)
    };
    let caught = (1..=20u64)
        .filter(|seed| !run(*seed, &broken).violations.is_empty())
        .count();
    assert!(caught >= 10, "only {caught} of 20 schedules caught it");
}

/// One seed, one schedule: a failing seed replays exactly.
#[test]
fn a_seed_replays_exactly() {
    let traced = Options {
        trace: true,
        ..options(4)
    };
    let first = run(7, &traced);
    let second = run(7, &traced);
    assert!(first.trace.len() > 100);
    assert_eq!(first.trace, second.trace);
    assert_ne!(first.trace, run(8, &traced).trace);
}
