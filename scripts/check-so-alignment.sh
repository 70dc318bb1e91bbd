#!/usr/bin/env bash
# Checks that every ELF shared object in an Android AAR (or given directly) has all its LOAD
# segments aligned to at least 16 KB (0x4000), as Google Play requires of apps targeting
# Android 15+ on 16 KB page devices. A library linked for 4 KB pages (NDK r27 and older without
# -z max-page-size=16384) shows `0x1000` here.
#
#   scripts/check-so-alignment.sh [--abis arm64-v8a,armeabi-v7a,x86_64] FILE.aar|FILE.so...
#       --abis: each of these ABIs must have a library in every AAR given (jni/<abi>/*.so).
#   scripts/check-so-alignment.sh --selftest
#       links two tiny libraries with the host's gcc, one with 16 KB and one with 4 KB pages,
#       packs them like an AAR, and fails unless the first passes and the second is refused.
#
# Reads program headers with $READELF, else llvm-readelf, else binutils' readelf (all print
# the alignment as the last field of each LOAD line of `-lW`).
set -uo pipefail

MIN=$((0x4000))
log() { printf '[so-alignment] %s\n' "$*"; }

readelf_tool() {
  if [[ -n "${READELF:-}" ]]; then echo "$READELF"
  elif command -v llvm-readelf >/dev/null 2>&1; then echo llvm-readelf
  else echo readelf; fi
}

# check_so FILE LABEL: prints one line; returns 1 when a LOAD segment is under 16 KB.
check_so() {
  local so=$1 label=$2 aligns tool
  tool="$(readelf_tool)"
  aligns="$("$tool" -lW "$so" 2>/dev/null | awk '$1 == "LOAD" {print $NF}')"
  if [[ -z "$aligns" ]]; then
    log "FAIL $label: no LOAD segment read by $tool (not an ELF shared object?)"
    return 1
  fi
  local a bad=""
  for a in $aligns; do
    if ! [[ "$a" =~ ^0x[0-9a-fA-F]+$ ]] || (( a < MIN )); then bad+="$a "; fi
  done
  if [[ -n "$bad" ]]; then
    log "FAIL $label: LOAD alignment ${bad% } (need 0x4000 or more; link with -Wl,-z,max-page-size=16384, NDK r28+)"
    return 1
  fi
  log "ok   $label: LOAD alignment $(tr '\n' ' ' <<<"$aligns" | sed 's/ $//')"
}

# check_path PATH ABIS: an .aar (every jni/<abi>/*.so, the ABIs named must be there) or an .so.
check_path() {
  local path=$1 abis=$2 failed=0
  if [[ "$path" == *.aar ]]; then
    local dir
    dir="$(mktemp -d)"
    python3 -m zipfile -e "$path" "$dir" || { log "FAIL $path: not a zip"; rm -rf "$dir"; return 1; }
    local abi count=0 so
    if [[ -n "$abis" ]]; then
      for abi in ${abis//,/ }; do
        compgen -G "$dir/jni/$abi/*.so" >/dev/null || { log "FAIL $path: no library for $abi"; failed=1; }
      done
    fi
    while IFS= read -r so; do
      count=$((count + 1))
      check_so "$so" "$(basename "$path")!${so#"$dir"/}" || failed=1
    done < <(find "$dir/jni" -name '*.so' 2>/dev/null | sort)
    rm -rf "$dir"
    ((count > 0)) || { log "FAIL $path: no jni/<abi>/*.so inside"; failed=1; }
  else
    check_so "$path" "$path" || failed=1
  fi
  return $failed
}

selftest() {
  command -v gcc >/dev/null || { log "selftest needs gcc"; return 1; }
  local dir ok=0
  dir="$(mktemp -d)"
  echo 'int posemesh_answer(void) { return 42; }' >"$dir/a.c"
  mkdir -p "$dir/good/jni/arm64-v8a" "$dir/bad/jni/arm64-v8a"
  if ! { gcc -shared -fPIC -o "$dir/good/jni/arm64-v8a/liba.so" "$dir/a.c" -Wl,-z,max-page-size=16384 \
         && gcc -shared -fPIC -o "$dir/bad/jni/arm64-v8a/liba.so" "$dir/a.c" -Wl,-z,max-page-size=4096 \
         && (cd "$dir/good" && python3 -m zipfile -c ../good.aar jni) \
         && (cd "$dir/bad" && python3 -m zipfile -c ../bad.aar jni); }; then
    log "selftest: could not link or pack the test libraries"; rm -rf "$dir"; return 1
  fi
  if check_path "$dir/good.aar" arm64-v8a >/dev/null; then
    log "selftest ok: a 16 KB-aligned library passes"
  else
    log "selftest FAIL: a 16 KB-aligned library was refused"; ok=1
  fi
  if check_path "$dir/bad.aar" arm64-v8a >/dev/null; then
    log "selftest FAIL: a 4 KB-aligned library passed"; ok=1
  else
    log "selftest ok: a 4 KB-aligned library is refused"
  fi
  if check_path "$dir/good.aar" arm64-v8a,x86_64 >/dev/null; then
    log "selftest FAIL: an AAR without its x86_64 library passed"; ok=1
  else
    log "selftest ok: an AAR missing an ABI is refused"
  fi
  rm -rf "$dir"
  return $ok
}

abis=""
paths=()
while (($#)); do
  case "$1" in
    --selftest) selftest; exit $? ;;
    --abis) abis=${2:-}; shift 2 ;;
    --abis=*) abis=${1#--abis=}; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "check-so-alignment: unknown option $1" >&2; exit 2 ;;
    *) paths+=("$1"); shift ;;
  esac
done
((${#paths[@]})) || { echo "usage: $0 [--abis A,B] FILE.aar|FILE.so... | --selftest" >&2; exit 2; }
status=0
for p in "${paths[@]}"; do check_path "$p" "$abis" || status=1; done
exit $status
