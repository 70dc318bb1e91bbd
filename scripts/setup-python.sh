#!/usr/bin/env bash
# Creates the Python dev venv (default: <repo>/.venv) and installs scripts/requirements-dev.txt
# (maturin, ziglang, pytest, mypy, independent crypto checkers, tree-sitter-swift, ...).
# Idempotent: pip runs only when the requirements file (or the Python version) changed since
# the last successful install into this venv.
#
# Usage: scripts/setup-python.sh [--force]
# Env: POSEMESH_VENV (venv dir, default $REPO/.venv), PYTHON (interpreter, default python3)
# Then: source "${POSEMESH_VENV:-.venv}/bin/activate"  (maturin develop needs VIRTUAL_ENV)
set -euo pipefail
SCRIPT_NAME=setup-python
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FORCE=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg (try --help)" ;;
  esac
done

VENV="${POSEMESH_VENV:-$REPO/.venv}"
PYTHON="${PYTHON:-python3}"
REQS="$REPO/scripts/requirements-dev.txt"
STAMP="$VENV/.posemesh-requirements.sha256"

[[ -f "$REQS" ]] || die "missing $REQS"
have "$PYTHON" || die "$PYTHON not found"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 9))' \
  || die "$PYTHON is older than 3.9: $("$PYTHON" -V 2>&1)"

# A venv whose interpreter no longer runs (base Python removed/upgraded) is rebuilt.
if [[ -d "$VENV" ]] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  log "venv at $VENV is broken: recreating"
  rm -rf "$VENV"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating venv $VENV with $("$PYTHON" -V 2>&1)"
  "$PYTHON" -m venv "$VENV" || die "python -m venv failed (Debian: apt-get install python3-venv)"
fi

want="$(sha256_of "$REQS") $("$VENV/bin/python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
if ((FORCE == 0)) && [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  log "requirements: up to date in $VENV"
else
  rm -f "$STAMP"
  log "requirements: pip install -r scripts/requirements-dev.txt into $VENV"
  logf="$VENV/pip-install.log"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$REQS" >"$logf" 2>&1 \
    || { tail -n 30 "$logf" >&2; die "pip install failed (log: $logf)"; }
  "$VENV/bin/python" -m pip check --disable-pip-version-check >"$logf" 2>&1 \
    || { cat "$logf" >&2; die "pip check found broken requirements"; }
  "$VENV/bin/python" - <<'EOF' || die "an installed package does not import"
import importlib
for m in ["pytest", "pytest_asyncio", "mypy", "coincurve", "eth_keys", "eth_account",
          "Crypto.Hash.keccak", "uvicorn", "starlette", "fastapi", "httpx", "ziglang",
          "tree_sitter", "tree_sitter_swift"]:
    importlib.import_module(m)
import tree_sitter, tree_sitter_swift
p = tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))
assert not p.parse(b"func f() -> Int { return 1 }").root_node.has_error
EOF
  printf '%s' "$want" >"$STAMP"
fi

log "python: $("$VENV/bin/python" -V) at $VENV/bin/python"
log "maturin: $("$VENV/bin/maturin" --version)"
finish
