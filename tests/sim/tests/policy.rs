//! The recovery targets, checked in simulated time (deterministic: these are
//! properties of the policy, not timings of this machine).

use posemesh_fleet_sim::{run, DdsPolicy, Scenario};
use std::time::Duration;

fn scenario(nodes: usize, capacity: u32, policy: DdsPolicy) -> Scenario {
    Scenario {
        nodes,
        capacity,
        policy,
        outage: Duration::from_secs(600),
        ttl: Duration::from_secs(60),
        seed: 1,
        threads: 1,
    }
}

#[test]
fn booked_retry_after_drains_at_the_physical_limit_with_one_rejection_per_node() {
    // N/C = 100 s ≥ 72 s.
    let report = run(&scenario(20_000, 200, DdsPolicy::BookedRetryAfter));
    assert!(report.ratio() <= 1.02, "T100/(N/C) = {}", report.ratio());
    assert!(
        report.wasted_per_node <= 1.0,
        "{} rejected per node",
        report.wasted_per_node
    );
}

#[test]
fn booked_retry_after_beats_plain_backoff() {
    let plain = run(&scenario(20_000, 200, DdsPolicy::Plain));
    let booked = run(&scenario(20_000, 200, DdsPolicy::BookedRetryAfter));
    assert!(
        booked.t100 < plain.t100,
        "{} vs {}",
        booked.t100,
        plain.t100
    );
    // Plain backoff has nodes idle in 60 s waits while capacity goes unused.
    assert!(plain.ratio() > 1.05, "{}", plain.ratio());
}

#[test]
fn every_node_registers_again_and_the_run_replays_exactly() {
    let a = run(&scenario(5_000, 100, DdsPolicy::Plain));
    let b = run(&scenario(5_000, 100, DdsPolicy::Plain));
    assert_eq!(a.curve.last().copied(), Some(1.0));
    assert_eq!((a.t99, a.t100, a.requests), (b.t99, b.t100, b.requests));
    // Nobody gets in before the outage ends, and never faster than capacity.
    let first_second = a.curve[0];
    assert!(first_second <= 100.0 / 5_000.0 + 1e-9, "{first_second}");
    for pair in a.curve.windows(2) {
        assert!((pair[1] - pair[0]) * 5_000.0 <= 100.0 + 1e-9);
    }
}

#[test]
fn retry_after_zero_behaves_as_the_reference_backoff() {
    // A proxy answering `Retry-After: 0` must not take the backoff away: the
    // fleet sends what it would send without the header, not a storm.
    let plain = run(&scenario(20_000, 200, DdsPolicy::Plain));
    let zero = run(&scenario(20_000, 200, DdsPolicy::RetryAfterZero));
    let requests = zero.requests as f64 / plain.requests as f64;
    assert!(
        (0.9..=1.1).contains(&requests),
        "{} vs {} requests",
        zero.requests,
        plain.requests
    );
    assert!(
        (zero.t100 - plain.t100).abs() <= 0.1 * plain.t100,
        "{} vs {}",
        zero.t100,
        plain.t100
    );
    assert!(zero.peak_offered <= plain.peak_offered * 11 / 10);
}
