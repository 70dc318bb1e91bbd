#!/usr/bin/env bash
# Builds the posemesh-registration-uniffi library and generates its Kotlin and Swift bindings.
#
# Usage: bindings-uniffi/generate.sh [--release]
#
# Output (git-ignored, regenerated every run):
#   bindings-uniffi/generated/kotlin/com/posemesh/registration/posemesh_registration.kt
#     (patched by patch_kotlin.py) and the hand-written bindings-uniffi/kotlin/*.kt beside it
#   bindings-uniffi/generated/swift/PosemeshRegistration.swift
#   bindings-uniffi/generated/swift/PosemeshRegistrationFFI.h
#   bindings-uniffi/generated/swift/PosemeshRegistrationFFI.modulemap
#   bindings-uniffi/generated/lib/libposemesh_registration_uniffi.{so,dylib}   (the built library)
# and the Swift package's sources (see bindings-uniffi/README.md):
#   bindings-uniffi/swift/Sources/PosemeshRegistration/PosemeshRegistration.swift
#   bindings-uniffi/swift/Headers/{PosemeshRegistrationFFI.h,module.modulemap}  (go into the XCFramework)
#
# The library and the generator are built separately on purpose: built together, cargo's feature
# unification would compile uniffi's `cli` feature (clap, the whole generator) into the library.
# Honours CARGO_TARGET_DIR (default: <repo>/target). POSEMESH_UNIFFI_PREBUILT=DIR takes the
# library and the generator from DIR instead of building them: scripts/test passes its one host
# build of the workspace (scripts/build-host), whose library carries that `cli` feature; fine for
# tests, and no second build of the library's dependencies.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
PROFILE=debug
CARGO_PROFILE=()
for arg in "$@"; do
  case "$arg" in
    --release) PROFILE=release; CARGO_PROFILE=(--release) ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "generate.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

# A relative CARGO_TARGET_DIR means relative to where we were started; cargo runs from $REPO.
if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
  CARGO_TARGET_DIR="$(realpath -m "$CARGO_TARGET_DIR")"
  export CARGO_TARGET_DIR
fi
# Where cargo puts builds (CARGO_TARGET_DIR, a build.target-dir setting, or <repo>/target).
TARGET_DIR="$(cd "$REPO" && cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
case "$(uname -s)" in
  Darwin) LIB_FILE=libposemesh_registration_uniffi.dylib ;;
  *) LIB_FILE=libposemesh_registration_uniffi.so ;;
esac
log() { printf '[generate] %s\n' "$*"; }

cd "$REPO"
if [[ -n "${POSEMESH_UNIFFI_PREBUILT:-}" ]]; then
  LIB="$POSEMESH_UNIFFI_PREBUILT/$LIB_FILE"
  BINDGEN="$POSEMESH_UNIFFI_PREBUILT/uniffi-bindgen"
else
  log "cargo build -p posemesh-registration-uniffi ${CARGO_PROFILE[*]:-}"
  cargo build --quiet -p posemesh-registration-uniffi "${CARGO_PROFILE[@]}"
  log "cargo build -p uniffi-bindgen (separately)"
  cargo build --quiet -p uniffi-bindgen
  LIB="$TARGET_DIR/$PROFILE/$LIB_FILE"
  BINDGEN="$TARGET_DIR/debug/uniffi-bindgen"
fi
[[ -f "$LIB" ]] || { echo "generate.sh: no library at $LIB" >&2; exit 1; }
[[ -x "$BINDGEN" ]] || { echo "generate.sh: no generator at $BINDGEN" >&2; exit 1; }

OUT="$HERE/generated"
rm -rf "$OUT/kotlin" "$OUT/swift" "$OUT/lib"
mkdir -p "$OUT/kotlin" "$OUT/swift" "$OUT/lib"
# Library mode: the generator reads the metadata from the built library and finds
# bindings-uniffi/uniffi.toml through `cargo metadata` (so run it inside the workspace).
"$BINDGEN" generate --library "$LIB" --language kotlin --no-format --out-dir "$OUT/kotlin" >/dev/null
# What uniffi's Kotlin templates cannot be told (patch_kotlin.py explains each edit; it fails
# if one no longer applies), and the hand-written Kotlin shipped with the generated file.
KT_DIR="$OUT/kotlin/com/posemesh/registration"
python3 "$HERE/patch_kotlin.py" "$KT_DIR/posemesh_registration.kt" | sed 's/^/[generate] /'
cp "$HERE"/kotlin/*.kt "$KT_DIR/"
"$BINDGEN" generate --library "$LIB" --language swift --no-format --out-dir "$OUT/swift" >/dev/null
# A link, not a copy: a debug build is tens of MB.
ln -s "$LIB" "$OUT/lib/$LIB_FILE"

# The Swift package: generated Swift in the Swift target, beside the hand-written
# PosemeshRegistration+Concurrency.swift (kept in git); the C header and its module map in
# Headers/, which the XCFramework is built with (README.md).
PKG="$HERE/swift"
mkdir -p "$PKG/Sources/PosemeshRegistration" "$PKG/Headers"
cp "$OUT/swift/PosemeshRegistration.swift" "$PKG/Sources/PosemeshRegistration/"
cp "$OUT/swift/PosemeshRegistrationFFI.h" "$PKG/Headers/"
cp "$OUT/swift/PosemeshRegistrationFFI.modulemap" "$PKG/Headers/module.modulemap"

log "Kotlin: $(cd "$OUT" && find kotlin -name '*.kt')"
log "Swift:  $(cd "$OUT" && ls swift | tr '\n' ' ')"
log "library: $OUT/lib/$LIB_FILE"
