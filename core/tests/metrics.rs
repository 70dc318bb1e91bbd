//! Operator metrics kept from the events, and their Prometheus text.

mod common;

use common::*;
use posemesh_registration_core::{Metrics, Status};

/// Drains `sim` into `metrics`, as a host feeds every event.
fn feed(metrics: &mut Metrics, sim: &mut Sim, outputs: &[posemesh_registration_core::Output]) {
    for event in events(outputs) {
        metrics.record(&event, sim.now);
    }
}

#[test]
fn attempts_failures_successes_and_callbacks_are_counted() {
    let mut sim = Sim::new(wallet_config(), None);
    let mut metrics = Metrics::new(sim.now);
    let before = metrics.snapshot(sim.reg.status(), sim.now);
    assert_eq!(before.since_last_success_ms, None);
    assert_eq!(before.time_to_registered_ms, None);

    // Two failures (503, then a 400), then a success 2.5 s after the start.
    sim.run_until_transmit(secs(1));
    let outs = sim.respond(503, &[], b"down");
    feed(&mut metrics, &mut sim, &outs);
    sim.run_until_transmit(secs(5));
    let outs = sim.respond(400, &[], b"bad");
    feed(&mut metrics, &mut sim, &outs);
    assert_eq!(
        metrics
            .snapshot(sim.reg.status(), sim.now)
            .consecutive_failures,
        2
    );
    sim.run_until_transmit(secs(120));
    let started = t0();
    sim.respond(200, &[], &challenge_json("n0nce"));
    let outs = sim.respond(200, &[], b"{}");
    feed(&mut metrics, &mut sim, &outs);
    let registered_at = sim.now;

    sim.elapse(secs(7));
    let snap = metrics.snapshot(sim.reg.status(), sim.now);
    assert_eq!(snap.status, Status::Registered);
    assert_eq!(snap.counts.failed_retry_fast, 1);
    assert_eq!(snap.counts.failed_retry_later, 1);
    assert_eq!(snap.counts.registered, 1);
    assert_eq!(snap.consecutive_failures, 0);
    assert_eq!(snap.since_last_success_ms, Some(7000));
    assert_eq!(
        snap.time_to_registered_ms,
        Some(registered_at.saturating_since(started).as_millis() as u64)
    );
}

#[test]
fn refused_callbacks_are_counted_by_status_and_health_checks_too() {
    let mut sim = Sim::new(legacy_config(), None);
    let mut metrics = Metrics::new(sim.now);
    for _ in 0..3 {
        let (_, outs) = sim.node_request(
            "POST",
            "/internal/v1/registrations",
            &[],
            br#"{"id":"x","secret":"y"}"#,
        );
        feed(&mut metrics, &mut sim, &outs);
    }
    let (_, outs) = sim.node_request("POST", "/internal/v1/registrations", &[], b"not json");
    feed(&mut metrics, &mut sim, &outs);
    let snap = metrics.snapshot(sim.reg.status(), sim.now);
    let total: u64 = snap.callbacks_refused.iter().map(|(_, n)| n).sum();
    assert_eq!(total, 4, "{:?}", snap.callbacks_refused);
    assert!(
        snap.callbacks_refused.windows(2).all(|w| w[0].0 < w[1].0),
        "by status, ascending"
    );
    assert_eq!(snap.counts.callbacks_accepted, 0);
}

#[test]
fn the_prometheus_text_names_every_family_once_with_help_and_type() {
    let mut sim = Sim::new(wallet_config(), None);
    let mut metrics = Metrics::new(sim.now);
    sim.run_until_transmit(secs(1));
    sim.respond(200, &[], &challenge_json("n0nce"));
    let outs = sim.respond(200, &[], b"{}");
    feed(&mut metrics, &mut sim, &outs);
    sim.elapse(ms(1500));
    let text = metrics.snapshot(sim.reg.status(), sim.now).to_prometheus();
    let families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    let mut unique = families.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), families.len(), "{text}");
    for family in &families {
        assert!(family.starts_with("posemesh_registration_"));
        assert!(text.contains(&format!("# HELP {family} ")), "{family}");
    }
    assert!(
        text.contains("posemesh_registration_status{status=\"registered\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("posemesh_registration_status{status=\"registering\"} 0\n"));
    assert!(text.contains("posemesh_registration_attempts_total{result=\"registered\"} 1\n"));
    assert!(
        text.contains("posemesh_registration_seconds_since_last_success 1.500\n"),
        "{text}"
    );
    // Every sample line is `name{labels} value` with a number.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
}
