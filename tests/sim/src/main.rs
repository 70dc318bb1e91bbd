//! `fleet-sim`: runs the fleet simulation and prints a table (and an SVG plot).
//!
//! ```sh
//! cargo run --release -p posemesh-fleet-sim -- --nodes 100000 --capacity 1000
//! cargo run --release -p posemesh-fleet-sim -- --matrix --plot docs/recovery.svg
//! ```

use clap::Parser;
use posemesh_fleet_sim::{run, DdsPolicy, Report, Scenario};
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Simulate N registrars through a DDS outage and recovery")]
struct Args {
    /// Number of nodes (ignored with --matrix).
    #[arg(long, default_value_t = 100_000)]
    nodes: usize,
    /// DDS capacity in registrations per second (ignored with --matrix).
    #[arg(long, default_value_t = 1000)]
    capacity: u32,
    /// Run N ∈ {100 k, 1 M} × C ∈ {500, 1000, 2000, 5000} × the four DDS answers.
    #[arg(long)]
    matrix: bool,
    /// Outage length in seconds.
    #[arg(long, default_value_t = 600)]
    outage: u64,
    /// Node registration interval (health-check TTL) in seconds.
    #[arg(long, default_value_t = 60)]
    ttl: u64,
    /// Threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Write recovery curves of the runs with this many nodes... to this SVG file.
    #[arg(long)]
    plot: Option<std::path::PathBuf>,
}

fn main() {
    let args = Args::parse();
    let sizes: Vec<(usize, u32)> = if args.matrix {
        [100_000, 1_000_000]
            .into_iter()
            .flat_map(|n| [500, 1000, 2000, 5000].into_iter().map(move |c| (n, c)))
            .collect()
    } else {
        vec![(args.nodes, args.capacity)]
    };
    println!("| DDS answer over capacity | N | C | N/C (s) | peak offered req/s | T99 (s) | T100 (s) | T100/(N/C) | rejected per node after recovery | wall (s) |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut reports = Vec::new();
    for (nodes, capacity) in sizes {
        for policy in [
            DdsPolicy::Plain,
            DdsPolicy::BookedRetryAfter,
            DdsPolicy::RetryAfterZero,
            DdsPolicy::RetryAfterFive,
        ] {
            let report = run(&Scenario {
                nodes,
                capacity,
                policy,
                outage: Duration::from_secs(args.outage),
                ttl: Duration::from_secs(args.ttl),
                seed: 1,
                threads: args.threads,
            });
            print_row(&report);
            reports.push(report);
        }
    }
    if let Some(path) = args.plot {
        if let Err(err) = posemesh_fleet_sim::plot::recovery_curves(&path, &reports) {
            eprintln!("error: cannot write {}: {err}", path.display());
            std::process::exit(1);
        }
    }
}

fn print_row(r: &Report) {
    println!(
        "| {} | {} | {} | {:.0} | {} | {:.0} | {:.0} | {:.3} | {:.2} | {:.1} |",
        r.scenario.policy.name(),
        r.scenario.nodes,
        r.scenario.capacity,
        r.limit(),
        r.peak_offered,
        r.t99,
        r.t100,
        r.ratio(),
        r.wasted_per_node,
        r.wall.as_secs_f64()
    );
}
