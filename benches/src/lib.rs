//! Shared inputs for the benchmarks (see `benches/`), and the registrar's
//! memory footprint, which `cargo run -p posemesh-registration-benches` prints.

use posemesh_registration_core::{Flow, PrivateKey, Registrar, RegistrarConfig, UnixTime};

/// The key every benchmark signs with (PROTOCOL.md's known answer).
pub const KEY_HEX: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90";
/// The node URL of the legacy benchmarks.
pub const NODE_URL: &str = "https://node.example.com";
/// A registration timestamp (as the reference formats it).
pub const TIMESTAMP: &str = "2024-01-02T03:04:05.006007008Z";

/// A legacy-flow registrar as a node would configure it.
pub fn registrar(seed: u64) -> Registrar {
    with_flow(
        Flow::Legacy {
            node_url: NODE_URL.into(),
        },
        seed,
    )
}

/// A wallet-flow registrar: its first request (the SIWE nonce) is unsigned,
/// which isolates the registrar's own cost.
pub fn wallet_registrar(seed: u64) -> Registrar {
    with_flow(Flow::Wallet, seed)
}

fn with_flow(flow: Flow, seed: u64) -> Registrar {
    let config = RegistrarConfig::new(
        "https://dds.example.com",
        flow,
        "1.2.3",
        vec!["/reconstruction/global-refinement/v1".into()],
        "registration-secret".into(),
    )
    .expect("valid config");
    Registrar::new(
        config,
        PrivateKey::from_hex(KEY_HEX).expect("valid key"),
        None,
        UnixTime::from_secs_nanos(1_704_164_645, 6_007_008),
        seed,
    )
}
