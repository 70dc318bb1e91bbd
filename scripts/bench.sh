#!/usr/bin/env bash
# Prints the project's performance figures as Markdown tables: native signing
# (criterion, ours vs the reference crate's way vs libsecp256k1 on one
# context, side by side in one run), registrar step cost and size, JSON reading
# (core's reader vs serde_json), the Python
# and JS/wasm figures, and a fleet simulation. Printed, never asserted.
#   scripts/bench.sh            quick settings (about 5 minutes)
#   scripts/bench.sh --full     criterion's default measurement times
#   scripts/bench.sh --smoke    seconds once built: checks every step runs and
#                               prints its table (figures too rough to quote)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
mode="${1:-quick}"
case "$mode" in
  quick) criterion=(--warm-up-time 1 --measurement-time 4) ;;
  --full) criterion=() ;;
  --smoke) criterion=(--warm-up-time 0.1 --measurement-time 0.2 --sample-size 10) ;;
  *) echo "usage: scripts/bench.sh [--full|--smoke]" >&2; exit 2 ;;
esac
target="${CARGO_TARGET_DIR:-$REPO/target}"
mkdir -p "$target"
log="$target/bench.log"

# A smoke run checks that every step runs, so it runs the debug binaries of the test run's one
# host build (scripts/build-host: benches included) rather than compiling the tree again,
# optimised or with another feature set. Other modes measure: release builds.
if [[ "$mode" == --smoke ]]; then
  debug="$(scripts/build-host)" || exit 1
  run_benches() {
    local exe
    for exe in $(scripts/build-host --executables bench); do "$exe" --bench "$@" || return 1; done
  }
  run_footprint() { "$debug/posemesh-registration-benches" "$@"; }
  run_fleet_sim() { "$debug/fleet-sim" "$@"; }
else
  run_benches() { cargo bench -q --locked -p posemesh-registration-benches --benches -- "$@"; }
  run_footprint() { cargo run -q --release --locked -p posemesh-registration-benches -- "$@"; }
  run_fleet_sim() { cargo run -q --release --locked -p posemesh-fleet-sim -- "$@"; }
fi

# Criterion's chatter goes to a log, shown when something fails.
if ! run_benches "${criterion[@]}" >"$log" 2>&1; then
  echo "scripts/bench.sh: the criterion benches failed (full log: $log):" >&2
  tail -n 40 "$log" >&2
  exit 1
fi

echo "## Native (criterion mean; lower is better)"
echo
python3 - "$target/criterion" <<'PY'
import json, os, sys
root = sys.argv[1]
groups = {}
for group in sorted(os.listdir(root)):
    path = os.path.join(root, group)
    if not os.path.isdir(path) or group == "report":
        continue
    for bench in sorted(os.listdir(path)):
        est = os.path.join(path, bench, "new", "estimates.json")
        if os.path.exists(est):
            mean = json.load(open(est))["mean"]["point_estimate"]
            groups.setdefault(group, {})[bench] = mean
def fmt(ns):
    return f"{ns/1000:.1f} µs" if ns >= 1000 else f"{ns:.0f} ns"
print("| work | posemesh-registration | reference crate's way | libsecp256k1, one context | ours ÷ reference (target ≤ 0.75) | ours ÷ libsecp256k1 (target ≤ 1.3) |")
print("|---|---:|---:|---:|---:|---:|")
for group, benches in groups.items():
    ours = benches.get("posemesh-registration (k256)")
    ref = benches.get("reference crate's way")
    direct = benches.get("libsecp256k1, one context")
    if ours and ref and direct:
        name = group.replace("_", " ")
        print(f"| {name} | {fmt(ours)} | {fmt(ref)} | {fmt(direct)} | {ours/ref:.2f} | {ours/direct:.2f} |")
print()
print("| registrar step (no signing) | mean |")
print("|---|---:|")
for group, benches in groups.items():
    if group.startswith("registrar"):
        for bench, mean in benches.items():
            print(f"| {bench.replace('_', ' ')} | {fmt(mean)} |")
print()
print("| reading (core's JSON reader vs serde_json with derived types) | posemesh-registration | serde_json derived | ours ÷ serde_json |")
print("|---|---:|---:|---:|")
for group, benches in groups.items():
    ours = next((m for b, m in benches.items() if b.startswith("posemesh")), None)
    theirs = next((m for b, m in benches.items() if b.startswith("serde")), None)
    if group.startswith("read") and ours and theirs:
        print(f"| {group.replace('_', ' ')} | {fmt(ours)} | {fmt(theirs)} | {ours/theirs:.2f} |")
PY
echo
run_footprint
echo

if [[ -x bindings-python/bench.sh || -f bindings-python/bench.py ]] && [[ -x "${POSEMESH_BENCH_PYTHON:-$target/python-test-venv/bin/python}" ]]; then
  echo "## Python"
  py_args=(); [[ "$mode" == --smoke ]] && py_args=(--quick)
  # With a conformance DDS on loopback: the start()-to-registered figure.
  scripts/with-mock-dds -- "${POSEMESH_BENCH_PYTHON:-$target/python-test-venv/bin/python}" \
    bindings-python/bench.py "${py_args[@]}" || true
  echo
fi
if [[ -f bindings-wasm/bench.mjs && -d bindings-wasm/pkg ]]; then
  echo "## JavaScript / wasm"
  js_args=(); [[ "$mode" == --smoke ]] && js_args=(--runs 1)
  (cd bindings-wasm && node bench.mjs "${js_args[@]}") || true
  echo
fi

echo "## Fleet simulation (one scenario; the full matrix: cargo run --release -p posemesh-fleet-sim -- --matrix)"
echo
if [[ "$mode" == --smoke ]]; then
  run_fleet_sim --nodes 1000 --capacity 100 --outage 60
else
  run_fleet_sim --nodes 100000 --capacity 1000
fi
