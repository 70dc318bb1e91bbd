#!/usr/bin/env bash
# Checks the Rust toolchain the workspace builds with (rustup's stable, with
# rustfmt and clippy) and fetches the locked crates once. Idempotent.
SCRIPT_NAME=setup-rust
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export PATH="$CARGO_BIN:$PATH"
have cargo || die "cargo not found: this machine kind ships Rust through rustup (~/.cargo/bin)"
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt >/dev/null 2>&1 || die "rustfmt missing"
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy >/dev/null 2>&1 || die "clippy missing"
lock_sum=$(sha256_of "$REPO/Cargo.lock")
if ! stamp_ok cargo-fetch "$lock_sum"; then
  log "fetching locked crates"
  (cd "$REPO" && cargo fetch --locked -q)
  stamp_write cargo-fetch "$lock_sum"
fi
log "$(cargo --version)"
finish
