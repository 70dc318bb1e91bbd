#!/usr/bin/env bash
# Runs every test of the npm package (bindings-wasm); exits non-zero on any failure.
#   1. wasm-bindgen-test unit tests of the binding crate, in Node and in headless Chromium;
#   2. builds and packs the package (build.sh --pack) and the conformance DDS
#      (posemesh-registration-cli), installs the tarball into a scratch project;
#   3. tsc --noEmit on TypeScript files using the package's declarations (js-tests/types), with
#      TypeScript 5.9, 6.0 and 7.0, each with the project's tsconfig, a Node-only one (no DOM
#      lib, @types/node) and no tsconfig at all (the compiler's defaults and --strict);
#   4. node --test on the installed package: vectors + noble checks, API and redaction,
#      registration against the conformance DDS on loopback, the Worker example in workerd
#      (Miniflare), the Node and browser examples.
# Idempotent; builds what it needs. Needs scripts/setup-wasm.sh and scripts/setup-node.sh.
#
# Usage: bindings-wasm/test.sh [--no-browser]
# Env: CARGO_TARGET_DIR (default target/wasm), POSEMESH_REGISTRATION_BIN (a built CLI to use as
#      the conformance DDS instead of building one)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
BROWSER=1
for arg in "$@"; do
  case "$arg" in
    --no-browser) BROWSER=0 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

# shellcheck source=../scripts/env-wasm.sh
source "$REPO/scripts/env-wasm.sh"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target/wasm}"
export POSEMESH_REPO="$REPO"
step() { printf '\n== bindings-wasm: %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null || { echo "test.sh: $1 not found ($2)" >&2; exit 1; }; }
need wasm-bindgen-test-runner "run scripts/setup-wasm.sh"
need node "install Node.js >= 20.19"
JS_TESTS="$HERE/js-tests"
TYPESCRIPTS=(typescript5 typescript typescript7)  # 5.9, 6.0, 7.0: js-tests/package.json
for ts in "${TYPESCRIPTS[@]}"; do
  [[ -x "$JS_TESTS/node_modules/$ts/bin/tsc" ]] || { echo "test.sh: run scripts/setup-node.sh" >&2; exit 1; }
done

step "wasm-bindgen-test in Node"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
(cd "$REPO" && cargo +debweb test --target wasm32-unknown-unknown -p posemesh-registration-wasm)

if ((BROWSER)); then
  step "wasm-bindgen-test in headless Chromium"
  need chromedriver "run scripts/setup-wasm.sh (chromium-driver)"
  (cd "$REPO" && WASM_BINDGEN_USE_BROWSER=1 cargo +debweb test --target wasm32-unknown-unknown \
    -p posemesh-registration-wasm --test web)
fi
unset CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER

step "build and pack the npm package"
rm -rf "$HERE/dist"
TARBALL="$("$HERE/build.sh" --pack | tail -n 1)"
[[ -f "$TARBALL" ]] || { echo "test.sh: no tarball from build.sh" >&2; exit 1; }

# The conformance DDS: the one named by POSEMESH_REGISTRATION_BIN (scripts/test's host build),
# else built here.
if [[ -n "${POSEMESH_REGISTRATION_BIN:-}" ]]; then
  export POSEMESH_CLI="$POSEMESH_REGISTRATION_BIN"
else
  step "build the conformance DDS (posemesh-registration-cli)"
  (cd "$REPO" && cargo build --quiet -p posemesh-registration-cli)
  export POSEMESH_CLI="$CARGO_TARGET_DIR/debug/posemesh-registration"
fi
[[ -x "$POSEMESH_CLI" ]] || { echo "test.sh: $POSEMESH_CLI missing" >&2; exit 1; }

step "install the tarball into a scratch project"
# Inside js-tests, so the dev tools (noble, miniflare, typescript) resolve from its node_modules.
SCRATCH="$JS_TESTS/.scratch"
rm -rf "$SCRATCH"
mkdir -p "$SCRATCH"
cat >"$SCRATCH/package.json" <<EOF
{ "name": "posemesh-registration-scratch", "private": true, "type": "module",
  "dependencies": { "posemesh-registration": "file:$TARBALL" } }
EOF
(cd "$SCRATCH" && npm install --offline --no-audit --no-fund --loglevel=error >/dev/null)
cp -r "$JS_TESTS/test" "$JS_TESTS/types" "$SCRATCH/"  # deno/smoke.mjs is read from js-tests/deno

# types/tsconfig.json: the project's settings (DOM lib); types/tsconfig.node.json: a Node
# project's ("lib": ["es2022"], "types": ["node"], no DOM); types/app.ts alone, as a user's
# `npx tsc --strict --noEmit app.ts` (each version's default target, lib, module and types).
for ts in "${TYPESCRIPTS[@]}"; do
  tsc="$JS_TESTS/node_modules/$ts/bin/tsc"
  step "TypeScript declarations, $("$tsc" --version): project tsconfig, Node-only lib, no tsconfig"
  (cd "$SCRATCH" && "$tsc" -p types/tsconfig.json && "$tsc" -p types/tsconfig.node.json \
    && "$tsc" --strict --noEmit types/app.ts)
done

step "node --test on the installed package"
(cd "$SCRATCH" && node --test --test-concurrency=1 test/)

step "done"
