#!/usr/bin/env bash
# Installs what the wasm32 build and its tests need (see shared TOOLCHAINS.md, "WebAssembly"):
#   1. Debian's rustc-web (rustc/cargo with std sources, rust-lld) linked as rustup toolchain
#      `debweb` (rustup cannot download the wasm32 target here);
#   2. the wasm32-unknown-unknown std, built from rust-web-src, rebuilt when `rustc +debweb -vV`
#      changes;
#   3. wasm-bindgen-cli (wasm-bindgen + wasm-bindgen-test-runner) at the version the workspace
#      pins, wasm-opt from npm binaryen;
#   4. Debian chromium + chromium-driver for headless browser tests.
# Idempotent: a second run only checks and takes about a second.
#
# Usage: scripts/setup-wasm.sh [--no-browser | --browser-only] [--selftest]
#   --no-browser    skip chromium (same as POSEMESH_WASM_BROWSER=0)
#   --browser-only  only install chromium + chromium-driver
#   --selftest      also build a tiny #[wasm_bindgen] crate in /tmp and call it from node
# Env: POSEMESH_TOOLS (cache dir), WASM_BINDGEN_VERSION (default: the workspace's Cargo.lock,
#      else 0.2.130), BINARYEN_VERSION (default 132.0.0).
set -euo pipefail
SCRIPT_NAME=setup-wasm
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BROWSER="${POSEMESH_WASM_BROWSER:-1}"
TOOLCHAIN=1
SELFTEST=0
for arg in "$@"; do
  case "$arg" in
    --no-browser) BROWSER=0 ;;
    --browser|--browser-only) BROWSER=1; TOOLCHAIN=0 ;;
    --selftest) SELFTEST=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg (try --help)" ;;
  esac
done

DEBWEB_DIR=/opt/rust-debweb
WASM_TARGET=wasm32-unknown-unknown
NODE_PREFIX="$POSEMESH_TOOLS/node"
BINARYEN_VERSION="${BINARYEN_VERSION:-132.0.0}"

# wasm-bindgen CLI must match the wasm-bindgen crate exactly.
wasm_bindgen_version() {
  if [[ -n "${WASM_BINDGEN_VERSION:-}" ]]; then echo "$WASM_BINDGEN_VERSION"; return; fi
  local v=""
  if [[ -f "$REPO/Cargo.lock" ]]; then
    v="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' \
      "$REPO/Cargo.lock")"
  fi
  echo "${v:-0.2.130}"
}

setup_debweb_toolchain() {
  apt_install rustc-web cargo-web rust-web-src rust-web-llvm lld-22
  have rustup || die "rustup not found (needed to link the debweb toolchain)"

  local f
  for f in cargo rustc rustdoc; do
    [[ "$(readlink "$DEBWEB_DIR/bin/$f" 2>/dev/null)" == "/usr/bin/$f" ]] && continue
    log "linking $DEBWEB_DIR/bin/$f -> /usr/bin/$f"
    as_root mkdir -p "$DEBWEB_DIR/bin"
    as_root ln -sfn "/usr/bin/$f" "$DEBWEB_DIR/bin/$f"
  done
  if [[ "$(readlink "$DEBWEB_DIR/lib" 2>/dev/null)" != /usr/lib ]]; then
    as_root ln -sfn /usr/lib "$DEBWEB_DIR/lib"
  fi
  if ! grep -q '^debweb' <<<"$(rustup toolchain list)"; then
    log "rustup toolchain link debweb $DEBWEB_DIR"
    rustup toolchain link debweb "$DEBWEB_DIR"
  fi
  rustc +debweb -vV >/dev/null || die "rustc +debweb does not run"
  [[ -x /usr/bin/rust-lld ]] || die "/usr/bin/rust-lld missing (packages rust-web-llvm, lld-22)"
  log "toolchain debweb: $(rustc +debweb -V)"
}

build_wasm_std() {
  local vv libdir sysroot src build
  vv="$(rustc +debweb -vV)"
  libdir="$(rustc +debweb --print target-libdir --target "$WASM_TARGET")"
  if stamp_ok debweb-wasm32-std "$vv" && compgen -G "$libdir/libcore-*.rlib" >/dev/null \
     && compgen -G "$libdir/libstd-*.rlib" >/dev/null; then
    log "wasm32 std: present in $libdir"
    return 0
  fi
  log "wasm32 std: building (about a minute)"
  stamp_clear debweb-wasm32-std
  sysroot="$(rustc +debweb --print sysroot)"
  src="$sysroot/lib/rustlib/src/rust/library"
  [[ -f "$src/Cargo.toml" && -d "$src/vendor" ]] || die "std sources not found at $src (rust-web-src)"
  # A folder of its own: a second set-up never removes this one's build.
  mkdir -p "$POSEMESH_TOOLS/build"
  build="$(mktemp -d "$POSEMESH_TOOLS/build/debweb-std.XXXXXX")"
  cp -a "$src" "$build/library"
  chmod -R u+w "$build/library"
  (
    cd "$build/library"
    env -u RUSTFLAGS -u CARGO_BUILD_TARGET \
      RUSTC_BOOTSTRAP=1 \
      CARGO_ENCODED_RUSTFLAGS=-Zforce-unstable-if-unmarked \
      __CARGO_DEFAULT_LIB_METADATA=debweb-std \
      CARGO_TARGET_DIR="$build/target" \
      cargo +debweb build -Zavoid-dev-deps --offline --locked --profile dist \
        --target "$WASM_TARGET" -p sysroot --features backtrace,panic-unwind \
        --config 'source.crates-io.replace-with="vendored"' \
        --config "source.vendored.directory=\"$build/library/vendor\""
  ) >"$build/build.log" 2>&1 || { tail -n 40 "$build/build.log" >&2; die "wasm32 std build failed (log: $build/build.log)"; }

  local rlibs=() r
  for r in "$build/target/$WASM_TARGET/dist/deps/"*.rlib; do
    [[ "$(basename "$r")" == libsysroot-* ]] || rlibs+=("$r")
  done
  ((${#rlibs[@]} > 5)) || die "wasm32 std build produced no rlibs"
  as_root mkdir -p "$libdir"
  # Each rlib is copied beside its final name and renamed over it, so a build reading the
  # sysroot meanwhile sees the old file or the new one, never half of one.
  local new_names=()
  for r in "${rlibs[@]}"; do
    as_root cp "$r" "$libdir/.$(basename "$r").tmp"
    as_root mv -f "$libdir/.$(basename "$r").tmp" "$libdir/$(basename "$r")"
    new_names+=("$libdir/$(basename "$r")")
  done
  # Then drop rlibs of an earlier build (neither just installed nor owned by a Debian
  # package): two candidates for `core` would break every build.
  local old=() owned
  for r in "$libdir"/*.rlib; do
    [[ -e "$r" ]] || continue
    printf '%s\n' "${new_names[@]}" | grep -qxF "$r" || old+=("$r")
  done
  if ((${#old[@]})); then
    owned="$(dpkg -S "${old[@]}" 2>/dev/null | sed 's/^[^:]*: //' || true)"
    for r in "${old[@]}"; do grep -qxF "$r" <<<"$owned" || as_root rm -f "$r"; done
  fi
  log "wasm32 std: installed ${#rlibs[@]} rlibs into $libdir"

  # Smoke test: a dependency-free cdylib must compile and link with rust-lld.
  local t; t="$(mktemp -d)"
  printf '#[no_mangle] pub extern "C" fn add(a: u32, b: u32) -> u32 { a + b }\n' >"$t/lib.rs"
  rustc +debweb --edition 2021 --crate-type cdylib --target "$WASM_TARGET" -O \
    -o "$t/t.wasm" "$t/lib.rs" || die "wasm32 smoke build failed"
  rm -rf "$t" "$build"
  stamp_write debweb-wasm32-std "$vv"
}

install_wasm_bindgen() {
  local want got=""
  want="$(wasm_bindgen_version)"
  if [[ -x "$CARGO_BIN/wasm-bindgen" && -x "$CARGO_BIN/wasm-bindgen-test-runner" ]]; then
    got="$("$CARGO_BIN/wasm-bindgen" --version 2>/dev/null | awk '{print $2}')"
  fi
  if [[ "$got" == "$want" ]]; then
    log "wasm-bindgen-cli: present ($want)"
    return 0
  fi
  log "wasm-bindgen-cli: installing $want${got:+ (had $got)}; compiles for ~5 min"
  # No --locked: its lockfile pins a crate version this registry lacks.
  local logf="$POSEMESH_TOOLS/cargo-install-wasm-bindgen.log"
  cargo +stable install wasm-bindgen-cli --version "=$want" --force >"$logf" 2>&1 \
    || { tail -n 40 "$logf" >&2; die "cargo install wasm-bindgen-cli $want failed (log: $logf)"; }
  got="$("$CARGO_BIN/wasm-bindgen" --version | awk '{print $2}')"
  [[ "$got" == "$want" ]] || die "wasm-bindgen reports $got, expected $want"
}

install_wasm_opt() {
  npm_install_prefix "$NODE_PREFIX" binaryen "$BINARYEN_VERSION"
  "$NODE_PREFIX/node_modules/.bin/wasm-opt" --version >/dev/null \
    || die "wasm-opt from npm binaryen does not run"
}

setup_browser() {
  apt_install --no-recommends chromium chromium-driver
  have chromedriver || die "chromedriver not on PATH after installing chromium-driver"
}

selftest() {
  log "selftest: #[wasm_bindgen] add() built with cargo +debweb, run in node"
  local t; t="$(mktemp -d /tmp/posemesh-wasm-selftest.XXXXXX)"
  mkdir -p "$t/src"
  cat >"$t/Cargo.toml" <<EOF
[package]
name = "wasm-selftest"
version = "0.0.0"
edition = "2021"
publish = false
[lib]
crate-type = ["cdylib"]
[dependencies]
wasm-bindgen = "=$(wasm_bindgen_version)"
[profile.release]
opt-level = "z"
[workspace]
EOF
  cat >"$t/src/lib.rs" <<'EOF'
use wasm_bindgen::prelude::*;
#[wasm_bindgen]
pub fn add(a: u32, b: u32) -> u32 { a + b }
EOF
  (
    cd "$t"
    cargo +debweb build -q --target "$WASM_TARGET" --release
    "$CARGO_BIN/wasm-bindgen" --target nodejs --out-dir pkg \
      "target/$WASM_TARGET/release/wasm_selftest.wasm"
    "$NODE_PREFIX/node_modules/.bin/wasm-opt" -Oz \
      pkg/wasm_selftest_bg.wasm -o pkg/wasm_selftest_bg.wasm
    out="$(node -e 'console.log(require("./pkg/wasm_selftest.js").add(40, 2))')"
    [[ "$out" == 42 ]] || { echo "node printed: $out" >&2; exit 1; }
  ) >"$t.log" 2>&1 || { cat "$t.log" >&2; die "selftest failed (scratch: $t)"; }
  rm -rf "$t" "$t.log"
  log "selftest: ok (add(40, 2) == 42 in node)"
}

if ((TOOLCHAIN)); then
  setup_debweb_toolchain
  build_wasm_std
  install_wasm_bindgen
  install_wasm_opt
fi
if [[ "$BROWSER" == 1 ]]; then setup_browser; fi
if ((SELFTEST)); then selftest; fi

where() { if [[ -x "$2" ]]; then log "  $1: $2"; else log "  $1: (not installed)"; fi; }
log "tools (source scripts/env-wasm.sh to put them on PATH):"
where "cargo +debweb          " "$DEBWEB_DIR/bin/cargo"
where "wasm-bindgen           " "$CARGO_BIN/wasm-bindgen"
where "wasm-bindgen-test-runner" "$CARGO_BIN/wasm-bindgen-test-runner"
where "wasm-opt               " "$NODE_PREFIX/node_modules/.bin/wasm-opt"
where "chromium               " /usr/bin/chromium
where "chromedriver           " /usr/bin/chromedriver
finish
