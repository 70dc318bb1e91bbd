//! `protocol-sim`: runs schedules of the cross-process protocol simulation
//! (see `posemesh_fleet_sim::protocol`) and reports broken invariants with the
//! command that replays the first failing seed.
//!
//! ```sh
//! cargo run --release -p posemesh-fleet-sim --bin protocol-sim -- --schedules 2000
//! cargo run --release -p posemesh-fleet-sim --bin protocol-sim -- --long      # 1 M schedules
//! cargo run --release -p posemesh-fleet-sim --bin protocol-sim -- --seed 42 --workers 3 --trace
//! ```

use clap::Parser;
use posemesh_fleet_sim::protocol::{run, Options, Report};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    about = "Simulate workers sharing one state file: crashes, forgeries, slow DDS, clock steps"
)]
struct Args {
    /// Schedules to run (seeds first-seed.., workers 1–5 in turn).
    #[arg(long, default_value_t = 1000)]
    schedules: u64,
    /// One million schedules.
    #[arg(long)]
    long: bool,
    /// The first seed.
    #[arg(long, default_value_t = 1)]
    first_seed: u64,
    /// Replay one seed (with --workers) and print its trace with --trace.
    #[arg(long)]
    seed: Option<u64>,
    /// Workers for --seed.
    #[arg(long, default_value_t = 3)]
    workers: usize,
    /// Print every step of a --seed replay.
    #[arg(long)]
    trace: bool,
    /// Simulated minutes per schedule.
    #[arg(long, default_value_t = 30)]
    minutes: u64,
    /// Threads.
    #[arg(long, default_value_t = 2)]
    threads: u64,
    /// A lock that excludes nobody: the run must report violations.
    #[arg(long)]
    broken_lock: bool,
}

fn workers_of(seed: u64) -> usize {
    (seed % 5) as usize + 1
}

fn main() {
    let args = Args::parse();
    let options = |workers: usize| Options {
        workers,
        duration: Duration::from_secs(args.minutes * 60),
        broken_lock: args.broken_lock,
        trace: args.trace,
    };
    if let Some(seed) = args.seed {
        let report = run(seed, &options(args.workers));
        for line in &report.trace {
            println!("{line}");
        }
        print_report(&report);
        std::process::exit(i32::from(!report.violations.is_empty()));
    }
    let schedules = if args.long { 1_000_000 } else { args.schedules };
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let totals = Mutex::new((0usize, 0usize, 0usize, 0usize, 0usize));
    let failures: Mutex<Vec<Report>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..args.threads.max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= schedules {
                    return;
                }
                let seed = args.first_seed + i;
                let report = run(seed, &options(workers_of(seed)));
                let mut t = totals.lock().unwrap();
                t.0 += report.attempts;
                t.1 += report.crashes;
                t.2 += report.forgeries;
                t.3 += report.conflicts;
                t.4 += report.violations.len();
                drop(t);
                if !report.violations.is_empty() {
                    failures.lock().unwrap().push(report);
                }
            });
        }
    });
    let (attempts, crashes, forgeries, conflicts, violations) = *totals.lock().unwrap();
    let mut failures = failures.into_inner().unwrap();
    failures.sort_by_key(|r| r.seed);
    println!(
        "{schedules} schedules (seeds {}..={}, 1-5 workers, {} simulated min each) in {:.1} s: \
         {attempts} registration requests, {crashes} crashes, {forgeries} forged callbacks, \
         {conflicts} conflicts reported; {violations} invariant violations in {} schedules",
        args.first_seed,
        args.first_seed + schedules - 1,
        args.minutes,
        started.elapsed().as_secs_f64(),
        failures.len(),
    );
    for failure in failures.iter().skip(1).take(20) {
        println!(
            "also failing: seed {} ({} workers)",
            failure.seed, failure.workers
        );
    }
    if let Some(first) = failures.first() {
        print_report(first);
        println!(
            "replay: cargo run --release -p posemesh-fleet-sim --bin protocol-sim -- --seed {} --workers {} --minutes {}{} --trace",
            first.seed,
            first.workers,
            args.minutes,
            if args.broken_lock { " --broken-lock" } else { "" },
        );
        std::process::exit(1);
    }
}

fn print_report(report: &Report) {
    println!(
        "seed {} ({} workers): {} attempts ({} succeeded), {} DDS callbacks, {} forged, {} crashes, {} conflicts, {} saves",
        report.seed,
        report.workers,
        report.attempts,
        report.successes,
        report.callbacks,
        report.forgeries,
        report.crashes,
        report.conflicts,
        report.saves,
    );
    for violation in &report.violations {
        println!("  VIOLATION {violation}");
    }
}
