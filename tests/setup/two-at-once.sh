#!/usr/bin/env bash
# Two set-ups started at the same moment, as two checkouts on one machine start them, both
# succeed. Runs scripts/setup-wasm.sh --no-browser twice at once against a fresh, private
# POSEMESH_TOOLS: both find wasm-opt missing there and would npm-install it into the same
# prefix. The set-up lock makes one wait; it then finds wasm-opt installed and installs nothing.
#
# The wasm32 std's stamp is copied from the real tools folder, so the std (installed into
# Debian's sysroot, shared by every checkout) is not built again: a rebuilt std is not
# byte-identical, and every wasm32 build made against the old one would stop linking.
#
# Usage: tests/setup/two-at-once.sh      Exit 0 when both set-ups passed and one waited.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
real_tools="${POSEMESH_TOOLS:-$HOME/.cache/posemesh-tools}"
[[ -f "$real_tools/stamps/debweb-wasm32-std" ]] \
  || { echo "two-at-once: run scripts/setup-wasm.sh first (no wasm32 std stamp in $real_tools)" >&2; exit 1; }
tools="$(mktemp -d /tmp/posemesh-two-setups.XXXXXX)"
trap 'rm -rf "$tools"' EXIT
mkdir -p "$tools/stamps"
cp "$real_tools/stamps/debweb-wasm32-std" "$tools/stamps/"
export POSEMESH_TOOLS="$tools"
unset POSEMESH_SETUP_LOCKED

pids=()
for i in 1 2; do
  "$REPO/scripts/setup-wasm.sh" --no-browser >"$tools/setup-$i.log" 2>&1 &
  pids+=($!)
done
rc=0
for i in 1 2; do
  if ! wait "${pids[$((i - 1))]}"; then
    echo "two-at-once: set-up $i failed:" >&2
    tail -n 30 "$tools/setup-$i.log" >&2
    rc=1
  fi
done
((rc == 0)) || exit 1

installed=$(grep -l 'npm: installing binaryen' "$tools"/setup-*.log | wc -l)
found=$(grep -l 'npm: present: binaryen' "$tools"/setup-*.log | wc -l)
waited=$(grep -l 'waiting for another set-up' "$tools"/setup-*.log | wc -l)
echo "two-at-once: both set-ups passed; wasm-opt installed by $installed, found installed by $found, $waited waited"
if ((installed != 1 || found != 1 || waited != 1)); then
  echo "two-at-once: expected one set-up to install wasm-opt and the other to wait and find it" >&2
  for i in 1 2; do echo "--- set-up $i" >&2; cat "$tools/setup-$i.log" >&2; done
  exit 1
fi
"$tools/node/node_modules/.bin/wasm-opt" --version >/dev/null \
  || { echo "two-at-once: the wasm-opt installed does not run" >&2; exit 1; }
