//! The cryptographic work of one registration, three ways, side by side:
//! this crate (k256), the reference crate's own functions (libsecp256k1 with a
//! new context per call, as it does), and libsecp256k1 on one long-lived
//! context (the fastest way to do the same work).

use criterion::{criterion_group, criterion_main, Criterion};
use posemesh_node_registration::crypto as reference;
use posemesh_registration_benches::{KEY_HEX, NODE_URL, TIMESTAMP};
use posemesh_registration_core::request::{legacy_registration_request, NodeDescription};
use posemesh_registration_core::{BaseUrl, PrivateKey, Secret, SiweChallenge, UnixTime};
use secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
use serde::Serialize;
use sha3::{Digest, Keccak256};
use std::hint::black_box;

fn node() -> NodeDescription {
    NodeDescription {
        version: "1.2.3".into(),
        capabilities: vec!["/reconstruction/global-refinement/v1".into()],
        credentials: Secret::new("registration-secret"),
    }
}

#[derive(Serialize)]
struct Body<'a> {
    url: &'a str,
    version: &'a str,
    registration_credentials: &'a str,
    signature: &'a str,
    timestamp: &'a str,
    public_key: &'a str,
    capabilities: &'a [String],
}

fn challenge() -> SiweChallenge {
    SiweChallenge {
        nonce: "abc12345".into(),
        domain: "dds.example.com".into(),
        uri: "https://dds.example.com".into(),
        version: "1".into(),
        chain_id: 1,
        issued_at: "2026-01-01T00:00:00Z".into(),
    }
}

fn direct_recoverable(
    secp: &Secp256k1<secp256k1::All>,
    sk: &SecretKey,
    digest: [u8; 32],
    v_offset: u8,
) -> String {
    let (id, rs) = secp
        .sign_ecdsa_recoverable(&Message::from_digest(digest), sk)
        .serialize_compact();
    let mut out = [0u8; 65];
    out[..64].copy_from_slice(&rs);
    out[64] = id.to_i32() as u8 + v_offset;
    hex::encode(out)
}

fn legacy_request(c: &mut Criterion) {
    let mut group = c.benchmark_group("legacy request (build + sign)");
    let dds = BaseUrl::parse("https://dds.example.com").unwrap();
    let key = PrivateKey::from_hex(KEY_HEX).unwrap();
    let now = UnixTime::from_secs_nanos(1_704_164_645, 6_007_008);
    let node = node();
    group.bench_function("posemesh-registration (k256)", |b| {
        b.iter(|| {
            legacy_registration_request(&dds, black_box(NODE_URL), &node, &key, black_box(now))
        })
    });
    let sk = reference::load_secp256k1_privhex(KEY_HEX).unwrap();
    let caps = node.capabilities.clone();
    group.bench_function("reference crate's way", |b| {
        b.iter(|| {
            let timestamp = reference::format_timestamp_nanos(
                chrono::DateTime::from_timestamp(1_704_164_645, 6_007_008).unwrap(),
            );
            let signature = reference::sign_recoverable_keccak_hex(
                &sk,
                format!("{NODE_URL}{timestamp}").as_bytes(),
            );
            let public_key = reference::secp256k1_pubkey_uncompressed_hex(&sk);
            serde_json::to_vec(&Body {
                url: black_box(NODE_URL),
                version: "1.2.3",
                registration_credentials: "registration-secret",
                signature: &signature,
                timestamp: &timestamp,
                public_key: &public_key,
                capabilities: &caps,
            })
            .unwrap()
        })
    });
    let secp = Secp256k1::new();
    let public_hex = hex::encode(PublicKey::from_secret_key(&secp, &sk).serialize_uncompressed());
    group.bench_function("libsecp256k1, one context", |b| {
        b.iter(|| {
            let timestamp = now.to_rfc3339_nanos();
            let digest: [u8; 32] =
                Keccak256::digest(format!("{NODE_URL}{timestamp}").as_bytes()).into();
            let signature = direct_recoverable(&secp, &sk, digest, 0);
            serde_json::to_vec(&Body {
                url: black_box(NODE_URL),
                version: "1.2.3",
                registration_credentials: "registration-secret",
                signature: &signature,
                timestamp: &timestamp,
                public_key: &public_hex,
                capabilities: &caps,
            })
            .unwrap()
        })
    });
    group.finish();
}

fn siwe_signature(c: &mut Criterion) {
    let mut group = c.benchmark_group("SIWE message + EIP-191 signature");
    let key = PrivateKey::from_hex(KEY_HEX).unwrap();
    let address = key.eth_address();
    let challenge = challenge();
    group.bench_function("posemesh-registration (k256)", |b| {
        b.iter(|| key.sign_eip191(challenge.message(black_box(&address)).as_bytes()))
    });
    let sk = reference::load_secp256k1_privhex(KEY_HEX).unwrap();
    group.bench_function("reference crate's way", |b| {
        b.iter(|| {
            reference::sign_eip191_recoverable_hex(&sk, &challenge.message(black_box(&address)))
        })
    });
    let secp = Secp256k1::new();
    group.bench_function("libsecp256k1, one context", |b| {
        b.iter(|| {
            let message = challenge.message(black_box(&address));
            let mut hasher = Keccak256::new();
            hasher.update(format!("\x19Ethereum Signed Message:\n{}", message.len()));
            hasher.update(&message);
            format!(
                "0x{}",
                direct_recoverable(&secp, &sk, hasher.finalize().into(), 27)
            )
        })
    });
    group.finish();
}

fn key_load(c: &mut Criterion) {
    let mut group = c.benchmark_group("key load + public key");
    group.bench_function("posemesh-registration (k256)", |b| {
        b.iter(|| {
            PrivateKey::from_hex(black_box(KEY_HEX))
                .unwrap()
                .public_key_hex()
        })
    });
    group.bench_function("reference crate's way", |b| {
        b.iter(|| {
            reference::secp256k1_pubkey_uncompressed_hex(
                &reference::load_secp256k1_privhex(black_box(KEY_HEX)).unwrap(),
            )
        })
    });
    let secp = Secp256k1::new();
    group.bench_function("libsecp256k1, one context", |b| {
        b.iter(|| {
            let sk = SecretKey::from_slice(&hex::decode(black_box(KEY_HEX)).unwrap()).unwrap();
            hex::encode(PublicKey::from_secret_key(&secp, &sk).serialize_uncompressed())
        })
    });
    group.finish();
}

criterion_group!(benches, legacy_request, siwe_signature, key_load);
criterion_main!(benches);

#[allow(dead_code)]
const _: &str = TIMESTAMP;
