#!/usr/bin/env bash
# Tests the Python package the way users get it: builds the cp39-abi3 manylinux_2_17 wheel
# (maturin --zig), installs it into a FRESH virtualenv made with the system python3, builds the
# conformance DDS (`posemesh-registration mock-dds`) and runs bindings-python/tests with pytest,
# then prints the benchmark (bench.py; informational).
#
# Usage: bindings-python/test.sh [pytest args...]
# Env:   CARGO_TARGET_DIR (default <repo>/target), PYTHON (default python3),
#        POSEMESH_PY_BENCH=0 to skip the benchmark, POSEMESH_REGISTRATION_BIN (a built CLI to use
#        as the conformance DDS instead of building one),
#        POSEMESH_PY_SOURCE_INSTALL=1 to also check `pip install ./bindings-python` (slow: a second
#        release build inside pip's isolated build environment).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
PYTHON="${PYTHON:-python3}"
log() { printf '[bindings-python] %s\n' "$*"; }
die() { printf '[bindings-python] ERROR: %s\n' "$*" >&2; exit 1; }
T0=$SECONDS

# 1. Build tools (maturin, ziglang) in the project's dev venv; idempotent and fast when present.
"$REPO/scripts/setup-python.sh"
DEV_VENV="${POSEMESH_VENV:-$REPO/.venv}"
export PATH="$DEV_VENV/bin:$PATH"   # maturin --zig runs `python -m ziglang` from here

# 2. The wheel: one cp39-abi3 wheel, manylinux_2_17 through zig.
WHEELS="$TARGET/python-wheels"
rm -rf "$WHEELS"
log "building the wheel (release, zig, manylinux_2_17)"
maturin build --release --zig --compatibility manylinux_2_17 \
  --manifest-path "$HERE/Cargo.toml" --out "$WHEELS"
shopt -s nullglob
wheels=("$WHEELS"/posemesh_registration-*-cp39-abi3-*manylinux_2_17_*.whl)
shopt -u nullglob
((${#wheels[@]} == 1)) || die "expected exactly one cp39-abi3 manylinux_2_17 wheel in $WHEELS, found: $(ls "$WHEELS")"
WHEEL="${wheels[0]}"
log "wheel: $(basename "$WHEEL")"

# 3. A fresh venv with the system python3: the wheel plus the test tools, pinned by
#    scripts/requirements-dev.txt (used as constraints; pip's cache keeps this fast).
VENV="$TARGET/python-test-venv"
rm -rf "$VENV"
log "fresh venv at $VENV with $("$PYTHON" -V 2>&1)"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q \
  -c "$REPO/scripts/requirements-dev.txt" \
  pytest pytest-asyncio mypy coincurve eth-keys eth-account pycryptodome \
  uvicorn starlette fastapi httpx gunicorn uvicorn-worker prometheus_client \
  "$WHEEL"
# The suite must test the installed wheel, not the source tree.
(cd "$VENV" && "$VENV/bin/python" - <<'PY'
import posemesh_registration, sys
path = posemesh_registration.__file__
assert "site-packages" in path, f"imported from {path}, not from the installed wheel"
print(f"[bindings-python] installed: posemesh_registration {posemesh_registration.__version__} at {path}")
PY
)

# 4. The conformance DDS for the tests (the CLI's `mock-dds`): the one POSEMESH_REGISTRATION_BIN
#    names (scripts/test's host build), else built here.
if [[ -z "${POSEMESH_REGISTRATION_BIN:-}" ]]; then
  log "building the conformance DDS (cargo build -p posemesh-registration-cli)"
  cargo build --quiet -p posemesh-registration-cli --manifest-path "$REPO/Cargo.toml"
  export POSEMESH_REGISTRATION_BIN="$TARGET/debug/posemesh-registration"
fi
[[ -x "$POSEMESH_REGISTRATION_BIN" ]] || die "missing $POSEMESH_REGISTRATION_BIN"

# 5. pytest, from a neutral folder. Exit code 5 ("no tests collected") is a failure too.
log "running pytest"
set +e
(cd "$VENV" && "$VENV/bin/python" -m pytest -p no:cacheprovider -c "$HERE/pyproject.toml" \
  --rootdir "$HERE" "$HERE/tests" -q "$@")
rc=$?
set -e
if ((rc == 5)); then die "pytest collected no tests"; fi
((rc == 0)) || die "pytest failed (exit $rc)"

# 6. Optional: `pip install ./bindings-python` from source in another fresh venv.
if [[ "${POSEMESH_PY_SOURCE_INSTALL:-0}" == 1 ]]; then
  SRC_VENV="$TARGET/python-source-venv"
  rm -rf "$SRC_VENV"
  "$PYTHON" -m venv "$SRC_VENV"
  log "pip install ./bindings-python (from source)"
  "$SRC_VENV/bin/python" -m pip install --disable-pip-version-check -q "$HERE"
  (cd "$SRC_VENV" && "$SRC_VENV/bin/python" -c \
    "import posemesh_registration as p; k = p.PrivateKey.generate(); assert len(k.sign_registration('x')) == 130; print('[bindings-python] source install OK')")
fi

# 7. The benchmark: printed, never a failure of the suite.
if [[ "${POSEMESH_PY_BENCH:-1}" != 0 ]]; then
  log "benchmark (informational)"
  (cd "$VENV" && "$VENV/bin/python" "$HERE/bench.py" --quick) || log "WARNING: the benchmark did not run"
fi
log "passed in $((SECONDS - T0))s"
