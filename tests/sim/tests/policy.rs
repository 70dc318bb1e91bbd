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
fn booked_retry_after_registers_every_node_without_a_storm() {
    // A booked second never brings a node back sooner than its backoff, so a
    // booking DDS gets no more traffic than a plain one, and everyone gets in.
    let plain = run(&scenario(20_000, 200, DdsPolicy::Plain));
    let booked = run(&scenario(20_000, 200, DdsPolicy::BookedRetryAfter));
    assert_eq!(booked.curve.last().copied(), Some(1.0));
    assert!(booked.peak_offered <= plain.peak_offered * 11 / 10);
    assert!(
        booked.ratio() <= 1.6,
        "T100/(N/C) = {}, plain {}",
        booked.ratio(),
        plain.ratio()
    );
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
fn a_short_retry_after_to_everyone_behaves_as_the_reference_backoff() {
    // A proxy answering `Retry-After: 0` (or 5) to every request must not
    // take the backoff away: the fleet sends what it would send without the
    // header, not a storm of a request every few seconds per node.
    let plain = run(&scenario(20_000, 200, DdsPolicy::Plain));
    for policy in [DdsPolicy::RetryAfterZero, DdsPolicy::RetryAfterFive] {
        let hinted = run(&scenario(20_000, 200, policy));
        let requests = hinted.requests as f64 / plain.requests as f64;
        assert!(
            (0.9..=1.1).contains(&requests),
            "{policy:?}: {} vs {} requests",
            hinted.requests,
            plain.requests
        );
        assert!(
            (hinted.t100 - plain.t100).abs() <= 0.1 * plain.t100,
            "{policy:?}: {} vs {}",
            hinted.t100,
            plain.t100
        );
        assert!(hinted.peak_offered <= plain.peak_offered * 11 / 10);
    }
}
