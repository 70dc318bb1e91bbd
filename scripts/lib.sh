# shellcheck shell=bash
# Shared helpers for scripts/setup-*.sh. Source it, don't run it:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Everything installed outside the repo (stamps, npm prefixes, scratch builds) lives under
# POSEMESH_TOOLS (default ~/.cache/posemesh-tools), so a fresh CI clone reuses it.

set -euo pipefail
set -E   # let the ERR trap fire inside functions too

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POSEMESH_TOOLS="${POSEMESH_TOOLS:-$HOME/.cache/posemesh-tools}"
STAMPS="$POSEMESH_TOOLS/stamps"
# shellcheck disable=SC2034  # used by the scripts that source this file
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export REPO POSEMESH_TOOLS
mkdir -p "$STAMPS"

SCRIPT_NAME="${SCRIPT_NAME:-$(basename "$0" .sh)}"
_SCRIPT_T0=$SECONDS

log()  { printf '[%s] %s\n' "$SCRIPT_NAME" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die()  { printf '[%s] ERROR: %s\n' "$SCRIPT_NAME" "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

_on_err() {
  local rc=$? cmd=$BASH_COMMAND
  printf '[%s] ERROR: exit %d from: %s (%s line %s)\n' "$SCRIPT_NAME" "$rc" "$cmd" \
    "$(basename "${BASH_SOURCE[1]:-$0}")" "${BASH_LINENO[0]:-?}" >&2
}
trap _on_err ERR

# Print total time at the end: call as the last line of a script.
finish() { log "done in $((SECONDS - _SCRIPT_T0))s"; }

# Run a command as root (directly when root, else through sudo).
as_root() {
  if [[ $EUID -eq 0 ]]; then "$@"
  elif have sudo; then sudo -- "$@"
  else die "need root for: $*"
  fi
}

# ---- one set-up at a time ------------------------------------------------------------------
# Set-up scripts install and build into places every checkout on this machine shares
# (POSEMESH_TOOLS, /opt/rust-debweb, the wasm32 std in Debian's sysroot, ~/.cargo/bin, apt).
# Each holds this lock for its whole run, so two checkouts (or a checkout and a release check)
# never build into the same place at once; the second waits, then finds the work done. A set-up
# started by another set-up runs under its parent's lock (POSEMESH_SETUP_LOCKED).
# A warm set-up takes about a second, so waiting costs little.
POSEMESH_SETUP_LOCK="${POSEMESH_SETUP_LOCK:-$HOME/.cache/posemesh-setup.lock}"
take_setup_lock() {
  [[ "${POSEMESH_SETUP_LOCKED:-}" == "$POSEMESH_SETUP_LOCK" ]] && return 0
  have flock || die "flock not found (Debian: util-linux)"
  mkdir -p "$(dirname "$POSEMESH_SETUP_LOCK")"
  exec 8>>"$POSEMESH_SETUP_LOCK"
  if ! flock -n 8; then
    log "waiting for another set-up to finish (lock: $POSEMESH_SETUP_LOCK)"
    flock -w "${POSEMESH_SETUP_LOCK_WAIT:-3600}" 8 \
      || die "another set-up held $POSEMESH_SETUP_LOCK for over ${POSEMESH_SETUP_LOCK_WAIT:-3600}s"
  fi
  export POSEMESH_SETUP_LOCKED="$POSEMESH_SETUP_LOCK"
}
take_setup_lock

# ---- Debian packages ----------------------------------------------------------------------
pkg_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

# apt-get waits for dpkg's lock (an apt-get run by anything else) instead of failing at once.
APT_WAIT=(-o DPkg::Lock::Timeout=600)
# apt_install [--no-recommends] PKG...  — installs only the missing ones; `apt-get update` runs
# at most once per run (POSEMESH_APT_UPDATED is exported so child scripts see it too).
apt_install() {
  local opts=() missing=() p
  if [[ "${1:-}" == --no-recommends ]]; then opts+=(--no-install-recommends); shift; fi
  for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
  if ((${#missing[@]} == 0)); then
    log "apt: present: $*"
    return 0
  fi
  have apt-get || die "apt-get not found; install by hand: ${missing[*]}"
  if [[ "${POSEMESH_APT_UPDATED:-0}" != 1 ]]; then
    log "apt: apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get "${APT_WAIT[@]}" update -qq \
      || die "apt-get update failed"
    export POSEMESH_APT_UPDATED=1
  fi
  log "apt: installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get "${APT_WAIT[@]}" install -y -qq "${opts[@]}" "${missing[@]}" \
    >"$POSEMESH_TOOLS/apt-install.log" 2>&1 \
    || { tail -n 30 "$POSEMESH_TOOLS/apt-install.log" >&2; die "apt-get install failed: ${missing[*]}"; }
  for p in "${missing[@]}"; do pkg_installed "$p" || die "package $p still not installed"; done
}

# ---- stamps -------------------------------------------------------------------------------
# stamp_ok NAME VALUE: true when the stamp NAME holds exactly VALUE.
stamp_ok()    { [[ -f "$STAMPS/$1" ]] && [[ "$(cat "$STAMPS/$1")" == "$2" ]]; }
stamp_write() { printf '%s' "$2" >"$STAMPS/$1"; }
stamp_clear() { rm -f "$STAMPS/$1"; }
sha256_of()   { sha256sum "$1" | cut -d' ' -f1; }

# ---- npm ----------------------------------------------------------------------------------
# npm_pkg_version PREFIX PKG: version of PKG installed under PREFIX/node_modules, or empty.
npm_pkg_version() {
  local pj="$1/node_modules/$2/package.json"
  [[ -f "$pj" ]] || return 0
  node -p "require(process.argv[1]).version" "$pj" 2>/dev/null || true
}

# npm_install_prefix PREFIX PKG VERSION: `npm install --prefix` unless that exact version is there.
npm_install_prefix() {
  local prefix=$1 pkg=$2 ver=$3 have_ver
  have node || die "node not found (Debian: apt-get install nodejs npm)"
  have npm || die "npm not found (Debian: apt-get install npm)"
  have_ver="$(npm_pkg_version "$prefix" "$pkg")"
  if [[ "$have_ver" == "$ver" ]]; then
    log "npm: present: $pkg@$ver in $prefix"
    return 0
  fi
  log "npm: installing $pkg@$ver into $prefix${have_ver:+ (had $have_ver)}"
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --save-exact --no-audit --no-fund --loglevel=error \
    "$pkg@$ver" >"$prefix/npm-install.log" 2>&1 \
    || { tail -n 30 "$prefix/npm-install.log" >&2; die "npm install $pkg@$ver failed"; }
  [[ "$(npm_pkg_version "$prefix" "$pkg")" == "$ver" ]] || die "npm: $pkg@$ver not found after install"
}

# path_prepend DIR: put DIR first on PATH (once).
path_prepend() {
  case ":$PATH:" in *":$1:"*) ;; *) PATH="$1:$PATH" ;; esac
  export PATH
}
