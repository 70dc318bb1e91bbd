//! The registrar's own cost per input/poll cycle, without signing: a health
//! check on a registered node, and a failed attempt's bookkeeping.

use criterion::{criterion_group, criterion_main, Criterion};
use posemesh_registration_core::{HttpResponse, Output, UnixTime};
use std::hint::black_box;
use std::time::Duration;

fn drain(
    registrar: &mut posemesh_registration_core::Registrar,
) -> Option<posemesh_registration_core::RequestId> {
    let mut sent = None;
    loop {
        match registrar.poll_output() {
            Output::Transmit(request) => sent = Some(request.id),
            Output::Wait(_) => return sent,
            _ => {}
        }
    }
}

fn step_cost(c: &mut Criterion) {
    let mut group = c.benchmark_group("registrar step");
    // The instant posemesh_registration_benches::registrar starts at.
    let start = UnixTime::from_secs_nanos(1_704_164_645, 6_007_008);

    // A registered node receiving the DDS's health probe.
    let mut registered = posemesh_registration_benches::registrar(1);
    drain(&mut registered);
    registered.handle_timeout(start + Duration::from_secs(1));
    let id = drain(&mut registered).expect("first attempt");
    registered.handle_response(
        id,
        Ok(HttpResponse {
            status: 200,
            ..Default::default()
        }),
        start + Duration::from_secs(1),
    );
    drain(&mut registered);
    let mut now = start + Duration::from_secs(2);
    group.bench_function("health check + drain", |b| {
        b.iter(|| {
            now = now + Duration::from_millis(1);
            black_box(registered.handle_health_check("DDS v1", now));
            drain(&mut registered)
        })
    });

    // A wallet-flow attempt whose (unsigned) nonce request is answered 503:
    // classification, backoff, events, the next attempt; no signature.
    let mut failing = posemesh_registration_benches::wallet_registrar(2);
    drain(&mut failing);
    let mut now = start + Duration::from_secs(1);
    failing.handle_timeout(now);
    let mut id = drain(&mut failing).expect("first attempt");
    group.bench_function("503 answer + drain", |b| {
        b.iter(|| {
            failing.handle_response(
                id,
                Ok(HttpResponse {
                    status: 503,
                    body: b"busy".to_vec(),
                    ..Default::default()
                }),
                now,
            );
            drain(&mut failing);
            failing.register_now(now);
            now = now + Duration::from_millis(1);
            id = drain(&mut failing).expect("next attempt");
        })
    });
    group.finish();
}

criterion_group!(benches, step_cost);
criterion_main!(benches);
