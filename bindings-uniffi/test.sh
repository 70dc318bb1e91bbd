#!/usr/bin/env bash
# Tests the Kotlin and Swift bindings of posemesh-registration. Builds what it needs, is
# idempotent, exits non-zero on any failure.
#
#  1. toolchains: scripts/setup-kotlin.sh (JDK, JNA, JUnit 5, kotlinc), scripts/setup-python.sh
#     (tree-sitter-swift); both skip what is installed
#  2. the conformance DDS (posemesh-registration-cli), the library and the generated bindings
#     (bindings-uniffi/generate.sh)
#  3. Kotlin on the JVM: compiles the generated Kotlin, the JUnit 5 suite (tests/kotlin) and
#     examples/kotlin/Register.kt; runs the suite against the conformance DDS on loopback and
#     fails unless exactly as many tests passed as there are @Test functions (JUnit skips a
#     non-Unit @Test silently); runs the example and checks the DDS accepted it
#  4. Swift (no compiler here): check_swift.py parses the generated Swift, the example and
#     Package.swift with tree-sitter-swift, compiles the C header with gcc and checks every
#     declared uniffi symbol is exported by the built library; then its self-test proves each
#     check catches a planted fault
#
# Usage: bindings-uniffi/test.sh [--skip-setup]
#   --skip-setup  do not run the toolchain setup scripts (they must have run before)
# Env: CARGO_TARGET_DIR (default <repo>/target), POSEMESH_VENV (default <repo>/.venv),
#      POSEMESH_TOOLS (toolchain cache, see scripts/lib.sh), POSEMESH_REGISTRATION_BIN (a built
#      CLI to use as the conformance DDS), POSEMESH_UNIFFI_PREBUILT (see generate.sh)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
T0=$SECONDS
SKIP_SETUP=0
for arg in "$@"; do
  case "$arg" in
    --skip-setup) SKIP_SETUP=1 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

log() { printf '[uniffi-test %3ds] %s\n' "$((SECONDS - T0))" "$*"; }
die() { printf '[uniffi-test] FAILED: %s\n' "$*" >&2; exit 1; }

# A relative CARGO_TARGET_DIR means relative to where we were started; cargo runs from $REPO.
if [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
  CARGO_TARGET_DIR="$(realpath -m "$CARGO_TARGET_DIR")"
  export CARGO_TARGET_DIR
fi
# Where cargo puts builds (CARGO_TARGET_DIR, a build.target-dir setting, or <repo>/target).
TARGET_DIR="$(cd "$REPO" && cargo metadata --format-version 1 --no-deps \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
VENV="${POSEMESH_VENV:-$REPO/.venv}"
WORK="$TARGET_DIR/uniffi-tests"
mkdir -p "$WORK"

# ---- 1. toolchains ---------------------------------------------------------------------------
if ((SKIP_SETUP == 0)); then
  log "toolchains (setup-kotlin, setup-python)"
  "$REPO/scripts/setup-kotlin.sh" >"$WORK/setup-kotlin.log" 2>&1 \
    || { cat "$WORK/setup-kotlin.log" >&2; die "scripts/setup-kotlin.sh"; }
  POSEMESH_VENV="$VENV" "$REPO/scripts/setup-python.sh" >"$WORK/setup-python.log" 2>&1 \
    || { cat "$WORK/setup-python.log" >&2; die "scripts/setup-python.sh"; }
fi
# shellcheck source=scripts/env-kotlin.sh
source "$REPO/scripts/env-kotlin.sh"
for f in "$KOTLINC" "$JNA_JAR" "$JUNIT_CONSOLE" "$VENV/bin/python"; do
  [[ -e "$f" ]] || die "missing $f (run without --skip-setup)"
done

# ---- 2. builds -------------------------------------------------------------------------------
if [[ -n "${POSEMESH_REGISTRATION_BIN:-}" ]]; then
  CLI="$POSEMESH_REGISTRATION_BIN"
else
  log "cargo build -p posemesh-registration-cli (the conformance DDS)"
  (cd "$REPO" && cargo build --quiet -p posemesh-registration-cli)
  CLI="$TARGET_DIR/debug/posemesh-registration"
fi
[[ -x "$CLI" ]] || die "no CLI binary at $CLI"
log "generate.sh (library + Kotlin + Swift)${POSEMESH_UNIFFI_PREBUILT:+ from $POSEMESH_UNIFFI_PREBUILT}"
"$HERE/generate.sh" | sed 's/^/    /'
GEN="$HERE/generated"
LIB_DIR="$GEN/lib"
KT_GENERATED="$GEN/kotlin/com/posemesh/registration/posemesh_registration.kt"
[[ -f "$KT_GENERATED" ]] || die "no generated Kotlin at $KT_GENERATED"
# The generated file (patched by patch_kotlin.py) and the hand-written Kotlin beside it.
KT_LIBRARY=("$GEN"/kotlin/com/posemesh/registration/*.kt)

# ---- 3a. Kotlin compile (skipped when the sources and compiler are unchanged) ---------------
TEST_SOURCES=("$HERE"/tests/kotlin/*.kt)
EXAMPLE="$REPO/examples/kotlin/Register.kt"
CLASSES="$WORK/kotlin-classes"
EXAMPLE_CLASSES="$WORK/kotlin-example-classes"
stamp_value="$(cat "${KT_LIBRARY[@]}" "${TEST_SOURCES[@]}" "$EXAMPLE" | sha256sum | cut -d' ' -f1) $KOTLINC"
if [[ -f "$WORK/kotlin.stamp" && "$(cat "$WORK/kotlin.stamp")" == "$stamp_value" \
      && -d "$CLASSES" && -d "$EXAMPLE_CLASSES" ]]; then
  log "kotlinc: sources unchanged, reusing $CLASSES"
else
  rm -rf "$CLASSES" "$EXAMPLE_CLASSES" "$WORK/kotlin.stamp"
  log "kotlinc: generated bindings + ${#TEST_SOURCES[@]} test files"
  "$KOTLINC" -nowarn -cp "$KOTLIN_CLASSPATH:$JUNIT_CONSOLE" -d "$CLASSES" \
      "${KT_LIBRARY[@]}" "${TEST_SOURCES[@]}" >"$WORK/kotlinc.log" 2>&1 \
    || { cat "$WORK/kotlinc.log" >&2; die "kotlinc (tests)"; }
  log "kotlinc: examples/kotlin/Register.kt"
  "$KOTLINC" -cp "$KOTLIN_CLASSPATH:$CLASSES" -d "$EXAMPLE_CLASSES" "$EXAMPLE" \
      >"$WORK/kotlinc-example.log" 2>&1 \
    || { cat "$WORK/kotlinc-example.log" >&2; die "kotlinc (example)"; }
  printf '%s' "$stamp_value" >"$WORK/kotlin.stamp"
fi

# ---- the conformance DDS ---------------------------------------------------------------------
MOCK_DIR="$(mktemp -d "$WORK/mock.XXXXXX")"
MOCK_PID=""
cleanup() {
  exec 7>&- 2>/dev/null || true    # closing its stdin ends the mock
  if [[ -n "$MOCK_PID" ]]; then
    for _ in $(seq 50); do kill -0 "$MOCK_PID" 2>/dev/null || break; sleep 0.1; done
    kill "$MOCK_PID" 2>/dev/null || true
  fi
  rm -rf "$MOCK_DIR"
}
trap cleanup EXIT
mkfifo "$MOCK_DIR/stdin"
"$CLI" mock-dds --listen 127.0.0.1:0 --probe-interval-ms 300 --exit-on-stdin-eof \
  <"$MOCK_DIR/stdin" >"$MOCK_DIR/stdout" 2>"$MOCK_DIR/stderr" &
MOCK_PID=$!
exec 7>"$MOCK_DIR/stdin"
DDS_URL=""
for _ in $(seq 100); do
  DDS_URL="$(head -n 1 "$MOCK_DIR/stdout" 2>/dev/null || true)"
  [[ -n "$DDS_URL" ]] && break
  kill -0 "$MOCK_PID" 2>/dev/null || { cat "$MOCK_DIR/stderr" >&2; die "mock DDS exited"; }
  sleep 0.1
done
[[ "$DDS_URL" == http://127.0.0.1:* ]] || die "mock DDS printed no loopback URL: '$DDS_URL'"
log "conformance DDS at $DDS_URL"

# ---- 3b. the JUnit suite ---------------------------------------------------------------------
# Every @Test must run: JUnit 5 silently skips a @Test whose return type is not Unit.
EXPECTED="$(cat "${TEST_SOURCES[@]}" | grep -cE '^\s*@Test\b')"
log "JUnit: $EXPECTED tests expected"
JUNIT_LOG="$WORK/junit.log"
rc=0
POSEMESH_DDS_URL="$DDS_URL" POSEMESH_VECTORS_DIR="$REPO/tests/vectors" \
  java -Djna.library.path="$LIB_DIR" -jar "$JUNIT_CONSOLE" \
    --disable-banner --details=tree --disable-ansi-colors --exclude-engine=junit-vintage \
    --fail-if-no-tests -cp "$CLASSES:$KOTLIN_CLASSPATH" \
    --select-package com.posemesh.registration.tests >"$JUNIT_LOG" 2>&1 || rc=$?
sed -n '/^╷/,$p' "$JUNIT_LOG" | sed 's/^/    /'
count() { sed -nE "s/^\[ *([0-9]+) tests $1 *\]$/\1/p" "$JUNIT_LOG" | head -n 1; }
ok="$(count successful)"; failed="$(count failed)"; found="$(count found)"
((rc == 0)) || { grep -v '^\s*at ' "$JUNIT_LOG" | tail -n 60 >&2; die "JUnit exited $rc"; }
[[ "${failed:-x}" == 0 ]] || die "JUnit: ${failed:-?} tests failed"
[[ "$ok" == "$EXPECTED" && "$found" == "$EXPECTED" ]] \
  || die "JUnit ran $found tests ($ok successful), expected $EXPECTED: a @Test was skipped"
log "JUnit: $ok/$EXPECTED tests successful"

# ---- 3c. the Kotlin example ------------------------------------------------------------------
curl -fsS -X POST "$DDS_URL/_control/reset" >/dev/null
rc=0
POSEMESH_DDS_URL="$DDS_URL" POSEMESH_STATE_FILE="$MOCK_DIR/example-state.json" \
  java -Djna.library.path="$LIB_DIR" -cp "$EXAMPLE_CLASSES:$CLASSES:$KOTLIN_CLASSPATH" \
    examples.RegisterKt >"$WORK/example.out" 2>"$WORK/example.err" || rc=$?
sed 's/^/    /' "$WORK/example.out"
((rc == 0)) || { cat "$WORK/example.err" >&2; die "examples/kotlin/Register.kt exited $rc"; }
address="$(sed -nE 's/^registered (0x[0-9a-f]{40}) with .*/\1/p' "$WORK/example.out")"
[[ -n "$address" ]] || die "the example did not print 'registered 0x…'"
curl -fsS "$DDS_URL/_control/registrations" >"$WORK/example-dds.json"
"$VENV/bin/python" - "$WORK/example-dds.json" "$address" <<'EOF' || die "the DDS did not accept the example's registration"
import json, sys
state = json.load(open(sys.argv[1]))
ok = [r for r in state["received"] if r["accepted"] and r["path"] == "/internal/v1/nodes/register-wallet"
      and r["address"] == sys.argv[2]]
sys.exit(0 if len(ok) == 1 else 1)
EOF
grep -q '"registered"' "$MOCK_DIR/example-state.json" || die "the example's store holds no registered snapshot"
log "example: registered $address (accepted by the DDS)"

# ---- 4. Swift checks -------------------------------------------------------------------------
log "Swift: parse, header, symbols (check_swift.py)"
SWIFT_ARGS=(--generated "$GEN/swift" --library "$LIB_DIR"/libposemesh_registration_uniffi.*
            --package "$HERE/swift" --extra "$REPO/examples/swift/Register.swift"
            --extra "$REPO/examples/swift/CancelCheck.swift")
"$VENV/bin/python" "$HERE/check_swift.py" "${SWIFT_ARGS[@]}" | sed 's/^/    /'
"$VENV/bin/python" "$HERE/check_swift.py" "${SWIFT_ARGS[@]}" --selftest | sed 's/^/    /'

log "all passed: $ok Kotlin tests, Kotlin example, Swift checks"
