//! Reading what a store or the DDS hands the core: its own JSON reader
//! (`Snapshot::decode`, `parse_registration_callback`) beside serde_json with
//! derived types, the reader it replaced (same documents, same fields).

#[path = "../../core/tests/oracle/mod.rs"]
mod oracle;

use criterion::{criterion_group, criterion_main, Criterion};
use posemesh_registration_core::callback::parse_registration_callback;
use posemesh_registration_core::{
    DdsCredentials, RegisteredAs, Secret, Snapshot, Status, UnixTime,
};
use std::hint::black_box;

/// A registered node's snapshot, as the file store keeps it.
fn stored_snapshot() -> Vec<u8> {
    Snapshot {
        status: Status::Registered,
        last_health_check: Some(UnixTime::from_millis(1_700_000_000_123)),
        credentials: Some(DdsCredentials {
            id: "node-1".into(),
            secret: Secret::new("dds-secret-value-0123456789abcdef"),
            organization_id: Some("org-9".into()),
        }),
        registered_as: Some(RegisteredAs {
            dds_url: "https://dds.example.com".into(),
            flow: "wallet".into(),
            address: "0xfdbb6caf01414300c16ea14859fec7736d95355f".into(),
            node_url: None,
            version: "1.2.3".into(),
            capabilities: vec!["/reconstruction/global-refinement/v1".into()],
        }),
        ..Snapshot::default()
    }
    .encode()
}

fn reading(c: &mut Criterion) {
    let snapshot = stored_snapshot();
    let mut group = c.benchmark_group("read a stored snapshot");
    group.bench_function("posemesh-registration", |b| {
        b.iter(|| Snapshot::decode(black_box(&snapshot)).unwrap())
    });
    group.bench_function("serde_json derived", |b| {
        b.iter(|| serde_json::from_slice::<oracle::Stored>(black_box(&snapshot)).unwrap())
    });
    group.finish();

    let callback = br#"{"id":"node-1","secret":"dds-secret-value-0123456789abcdef","organization_id":"org-9"}"#;
    let mut group = c.benchmark_group("read a callback body");
    group.bench_function("posemesh-registration", |b| {
        b.iter(|| parse_registration_callback(black_box(callback)).unwrap())
    });
    group.bench_function("serde_json derived", |b| {
        b.iter(|| serde_json::from_slice::<oracle::CallbackBody>(black_box(callback)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, reading);
criterion_main!(benches);
