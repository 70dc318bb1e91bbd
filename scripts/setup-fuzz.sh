#!/usr/bin/env bash
# Installs cargo-fuzz (into ~/.cargo/bin, shared by every checkout) for scripts/fuzz.sh.
# Needs rustup's nightly toolchain (libFuzzer's instrumentation); exits 3 without one, so
# scripts/fuzz.sh can say fuzzing was skipped. Idempotent: a second run only checks.
set -euo pipefail
SCRIPT_NAME=setup-fuzz
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export PATH="$CARGO_BIN:$PATH"
if ! have rustup || ! rustup toolchain list 2>/dev/null | grep -q '^nightly' \
   || ! cargo +nightly --version >/dev/null 2>&1; then
  log "no nightly Rust toolchain here (cargo-fuzz needs one: rustup toolchain install nightly)"
  exit 3
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz"
  cargo install cargo-fuzz --locked -q || cargo install cargo-fuzz -q \
    || die "could not install cargo-fuzz"
fi
log "$(cargo +nightly --version), $(cargo +nightly fuzz --version)"
finish
