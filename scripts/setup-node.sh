#!/usr/bin/env bash
# Installs the npm dev tools of the JS tests: bindings-wasm/js-tests/package.json
# (@noble/secp256k1, @noble/hashes, typescript, miniflare + workerd, Cloudflare's Workers
# runtime, whose Linux binary comes from the npm package @cloudflare/workerd-linux-64).
# TypeScript 6 is `typescript` (node_modules/.bin/tsc); test.sh also checks the declarations
# with TypeScript 5 and 7, installed as `typescript5` and `typescript7` (npm aliases; 7's
# compiler is a native binary from @typescript/typescript-<platform>), and @types/node.
# Uses `npm ci` against the committed package-lock.json; skipped when node_modules was installed
# from the same package.json + package-lock.json. Then checks that workerd runs here.
#
# Usage: scripts/setup-node.sh [--update] [--selftest]
#   --update    `npm install` (rewrites package-lock.json after editing package.json; commit it)
#   --selftest  derive an Ethereum address with @noble, start a Miniflare worker, fetch from it
# Versions: miniflare 4.20260426.0 is the newest whose engines allow Node 20 (Debian/this
# machine); later ones need Node >= 22. workerd is pinned to the version that miniflare pins.
set -euo pipefail
SCRIPT_NAME=setup-node
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

UPDATE=0
SELFTEST=0
for arg in "$@"; do
  case "$arg" in
    --update) UPDATE=1 ;;
    --selftest) SELFTEST=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg (try --help)" ;;
  esac
done

DIR="$REPO/bindings-wasm/js-tests"
STAMP="$DIR/node_modules/.posemesh-installed.sha256"
[[ -f "$DIR/package.json" ]] || die "missing $DIR/package.json"
have node || die "node not found (Debian: apt-get install nodejs npm)"
have npm || die "npm not found"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)' \
  || die "node $(node --version) is too old: need >= 20.19"

state() { cat "$DIR/package.json" "$DIR/package-lock.json" 2>/dev/null | sha256sum | cut -d' ' -f1; }

cd "$DIR"
logf="$POSEMESH_TOOLS/npm-js-tests.log"
if ((UPDATE)) || [[ ! -f package-lock.json ]]; then
  log "npm install in bindings-wasm/js-tests (writes package-lock.json: commit it)"
  npm install --no-audit --no-fund --loglevel=error >"$logf" 2>&1 \
    || { tail -n 30 "$logf" >&2; die "npm install failed (log: $logf)"; }
  state >"$STAMP"
elif [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(state)" && -d node_modules ]]; then
  log "node_modules: up to date with package-lock.json"
else
  log "npm ci in bindings-wasm/js-tests"
  npm ci --no-audit --no-fund --loglevel=error >"$logf" 2>&1 || {
    tail -n 30 "$logf" >&2
    die "npm ci failed (log: $logf); if package.json changed, run scripts/setup-node.sh --update and commit package-lock.json"
  }
  state >"$STAMP"
fi

# workerd: the native binary must really run on this machine (glibc, CPU features).
mf_workerd="$(node -p 'require("./node_modules/miniflare/package.json").dependencies.workerd')"
have_workerd="$(node -p 'require("./node_modules/workerd/package.json").version')"
[[ "$mf_workerd" == "$have_workerd" ]] \
  || die "workerd $have_workerd differs from the $mf_workerd that miniflare pins: fix package.json"
wv="$(./node_modules/.bin/workerd --version 2>&1)" \
  || die "workerd does not run on this machine: $wv"
log "workerd: $wv ($DIR/node_modules/.bin/workerd)"
# typescript5 and typescript7 ship a `tsc` too, and npm links one of the three as .bin/tsc:
# point it (and tsserver) at `typescript`, the compiler every other script uses.
for bin in tsc tsserver; do ln -sfn "../typescript/bin/$bin" "node_modules/.bin/$bin"; done
ts="$(node -p 'require("./node_modules/typescript/package.json").version')"
[[ "$(./node_modules/.bin/tsc --version)" == "Version $ts" ]] \
  || die "node_modules/.bin/tsc is not typescript $ts: $(./node_modules/.bin/tsc --version)"
ts5="$(./node_modules/typescript5/bin/tsc --version 2>&1)" || die "typescript5 does not run: $ts5"
ts7="$(./node_modules/typescript7/bin/tsc --version 2>&1)" \
  || die "typescript7 does not run on this machine (its native compiler, @typescript/typescript-$(node -p 'process.platform + "-" + process.arch')): $ts7"
log "tsc: Version $ts (.bin/tsc); test.sh's matrix also: typescript5 ${ts5#Version }, typescript7 ${ts7#Version }"

if ((SELFTEST)); then
  log "selftest: noble secp256k1 + keccak, Miniflare worker + dispatchFetch"
  # shellcheck disable=SC2016  # JS source, not shell
  out="$(timeout 60 node --input-type=module -e '
    import { Miniflare } from "miniflare";
    import * as secp from "@noble/secp256k1";
    import { keccak_256 } from "@noble/hashes/sha3.js";
    import { bytesToHex } from "@noble/hashes/utils.js";
    // Ethereum address of private key 1 (noble secp256k1 + keccak).
    const pub = secp.getPublicKey(secp.etc.hexToBytes("00".repeat(31) + "01"), false);
    console.log("addr 0x" + bytesToHex(keccak_256(pub.slice(1)).slice(-20)));
    const mf = new Miniflare({ modules: true, script:
      `export default { async fetch(req) { return new Response("ok " + new URL(req.url).pathname); } }` });
    try {
      const res = await mf.dispatchFetch("http://localhost/ping");
      console.log(await res.text());
    } finally { await mf.dispose(); }
  ' 2>&1)" || die "selftest: miniflare failed: $out"
  [[ "$out" == *"ok /ping"* ]] || die "selftest: unexpected miniflare output: $out"
  [[ "$out" == *"addr 0x7e5f4552091a69125d5dfcb7b8c2659029395bdf"* ]] \
    || die "selftest: noble secp256k1/keccak gave a wrong address: $out"
  log "selftest: ok (noble: address of key 1 right; workerd served 'ok /ping')"
fi
finish
