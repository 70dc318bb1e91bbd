#!/usr/bin/env bash
# Fuzzes posemesh-registration-core with cargo-fuzz (libFuzzer, nightly Rust).
#
#   scripts/fuzz.sh --ci [TARGET...]             every target FUZZ_SECONDS (default 20) s
#   scripts/fuzz.sh --long [SECONDS] [TARGET...] every target until FUZZ_RUNS inputs
#                                                (default 10 000 000) or SECONDS (default
#                                                3600) s, whichever comes first
#
# Environment:
#   FUZZ_SECONDS    seconds per target for --ci (default 20)
#   FUZZ_RUNS       inputs per target for --long (default 10000000)
#   FUZZ_JOBS       targets fuzzed at once (default 1; each uses one core)
#   FUZZ_SANITIZER  cargo fuzz --sanitizer (default none: the core forbids unsafe code,
#                   so AddressSanitizer would only slow it down; "address" turns it on)
#
# Installs cargo-fuzz when missing. Seeds (committed) are in fuzz/seeds/<target>;
# the corpus grows in fuzz/corpus/<target>, crash inputs land in
# fuzz/artifacts/<target>, logs in fuzz/logs (all git-ignored). Prints, per target,
# the inputs tried (libFuzzer's stat::number_of_executed_units) and the crashes;
# exits non-zero when a target crashed. Without a nightly toolchain it prints
# "fuzzing skipped: no nightly toolchain" and exits 0. Idempotent.
# Reproduce a crash: cargo +nightly fuzz run -O -s none -a TARGET fuzz/artifacts/TARGET/crash-…
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

log() { printf '[fuzz] %s\n' "$*"; }
die() { printf '[fuzz] ERROR: %s\n' "$*" >&2; exit 2; }

ALL_TARGETS=(private_key classify_response snapshot_decode callback json_reading url time registrar_ops)
mode=""
seconds=""
targets=()
while (($#)); do
  case "$1" in
    --ci) mode=ci; shift ;;
    --long)
      mode=long; shift
      if [[ "${1:-}" =~ ^[0-9]+$ ]]; then seconds=$1; shift; fi ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ -n "$mode" ]] || die "say --ci or --long [SECONDS] (see --help)"
runs=()
if [[ "$mode" == ci ]]; then
  seconds="${FUZZ_SECONDS:-20}"
else
  seconds="${seconds:-3600}"
  runs=("-runs=${FUZZ_RUNS:-10000000}")
fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds == 0)); then die "seconds must be a positive integer"; fi
((${#targets[@]})) || targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
  [[ -f "fuzz/fuzz_targets/$t.rs" ]] || die "no fuzz target $t (have: ${ALL_TARGETS[*]})"
done
jobs_max="${FUZZ_JOBS:-1}"
sanitizer="${FUZZ_SANITIZER:-none}"

# ---- toolchain and cargo-fuzz ---------------------------------------------------------------
rc=0
scripts/setup-fuzz.sh || rc=$?
if ((rc == 3)); then
  echo "fuzzing skipped: no nightly toolchain"
  exit 0
fi
((rc == 0)) || die "scripts/setup-fuzz.sh failed"

fuzz_flags=(-O -a -s "$sanitizer")
t0=$SECONDS
log "building ${#ALL_TARGETS[@]} targets (sanitizer: $sanitizer)"
mkdir -p fuzz/logs
if ! cargo +nightly fuzz build "${fuzz_flags[@]}" >fuzz/logs/build.log 2>&1; then
  tail -n 40 fuzz/logs/build.log >&2
  die "cargo fuzz build failed (fuzz/logs/build.log)"
fi
log "built in $((SECONDS - t0))s"

# ---- runs -----------------------------------------------------------------------------------
mkdir -p fuzz/artifacts
results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT

run_target() {
  local t=$1 corpus="fuzz/corpus/$1" logf="fuzz/logs/$1.log" dict=() before after rc=0
  mkdir -p "$corpus" "fuzz/artifacts/$t"
  [[ -f "fuzz/dicts/$t.dict" ]] && dict=("-dict=fuzz/dicts/$t.dict")
  # Callbacks need room for a secret over its 4096-byte limit.
  local max_len=4096
  [[ "$t" == callback ]] && max_len=8192
  before=$(find "fuzz/artifacts/$t" -type f | wc -l)
  # Corpus first (libFuzzer adds new inputs there), the committed seeds second.
  cargo +nightly fuzz run "${fuzz_flags[@]}" "$t" "$corpus" "fuzz/seeds/$t" -- \
    -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -max_len="$max_len" "${runs[@]}" "${dict[@]}" >"$logf" 2>&1 || rc=$?
  after=$(find "fuzz/artifacts/$t" -type f | wc -l)
  local execs rate
  execs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$logf" | tail -1 | grep -o '[0-9]*$' || true)
  if [[ -z "$execs" ]]; then  # no final stats (killed): the last status line
    execs=$(grep -aoE '^#[0-9]+' "$logf" | tail -1 | tr -d '#' || true)
  fi
  rate=$(grep -ao 'stat::average_exec_per_sec: *[0-9]*' "$logf" | tail -1 | grep -o '[0-9]*$' || true)
  local crashes=$((after - before))
  if ((rc != 0 && crashes == 0)); then crashes=1; fi  # failed without an artifact (e.g. build)
  printf '%s %s %s %s %s\n' "$t" "${execs:-0}" "${rate:-0}" "$(find "$corpus" -type f | wc -l)" \
    "$crashes" >"$results/$t"
  if ((crashes)); then
    log "$t: CRASHED (exit $rc); log: $logf"
    grep -aE 'panicked at|ERROR: libFuzzer|Test unit written to|SUMMARY' "$logf" | head -8 | sed 's/^/[fuzz]   /' || true
  else
    log "$t: ${execs:-0} inputs, no crash"
  fi
}

log "fuzzing ${#targets[@]} target(s) for ${seconds}s each${runs:+ or ${runs[0]#-runs=} inputs}, $jobs_max at a time"
running=0
for t in "${targets[@]}"; do
  if ((running >= jobs_max)); then wait -n || true; running=$((running - 1)); fi
  run_target "$t" &
  running=$((running + 1))
done
wait || true

total_crashes=0
total_execs=0
echo
echo "| target | seconds (cap) | inputs tried | inputs/s | corpus | crashes |"
echo "|---|---:|---:|---:|---:|---:|"
for t in "${targets[@]}"; do
  if [[ -f "$results/$t" ]]; then
    read -r name execs rate corpus crashes <"$results/$t"
  else
    name=$t execs=0 rate=0 corpus=0 crashes=1
  fi
  echo "| $name | $seconds | $execs | $rate | $corpus | $crashes |"
  total_crashes=$((total_crashes + crashes))
  total_execs=$((total_execs + execs))
done
echo
log "total: $total_execs inputs, $total_crashes crash(es), $((SECONDS - t0))s (build included)"
if ((total_crashes)); then
  log "crash inputs are in fuzz/artifacts/<target>/; reproduce with:"
  log "  cargo +nightly fuzz run ${fuzz_flags[*]} TARGET fuzz/artifacts/TARGET/<file>"
  exit 1
fi
