#!/usr/bin/env bash
# Installs what the Kotlin/JVM tests of the uniffi bindings need (see shared TOOLCHAINS.md):
#   Debian: JDK 17 (default-jdk-headless), JNA (libjna-java, libjna-jni), JUnit 5 console launcher
#   npm:    kotlin-compiler (kotlinc + kotlin-stdlib, kotlinx-coroutines, kotlin-test jars)
#           into $POSEMESH_TOOLS/kotlin (Debian's kotlin 1.3 is too old)
# Idempotent: a second run only checks. Source scripts/env-kotlin.sh for KOTLINC & co.
#
# Usage: scripts/setup-kotlin.sh [--selftest]
#   --selftest  compile a hello-world .kt + a JUnit 5 test in /tmp and run it with the console
#               launcher (checks exit codes 0 = passed, 1 = failed, 2 = no tests)
# Env: POSEMESH_TOOLS (cache dir), KOTLIN_VERSION (default 2.4.20)
set -euo pipefail
SCRIPT_NAME=setup-kotlin
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SELFTEST=0
for arg in "$@"; do
  case "$arg" in
    --selftest) SELFTEST=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg (try --help)" ;;
  esac
done

KOTLIN_VERSION="${KOTLIN_VERSION:-2.4.20}"

apt_install --no-recommends default-jdk-headless libjna-java libjna-jni junit5
npm_install_prefix "$POSEMESH_TOOLS/kotlin" kotlin-compiler "$KOTLIN_VERSION"

# shellcheck source=scripts/env-kotlin.sh
source "$REPO/scripts/env-kotlin.sh"
for f in "$KOTLINC" "$JNA_JAR" "$JUNIT_CONSOLE" "$KOTLIN_LIB/kotlin-stdlib.jar" \
         "$KOTLIN_LIB/kotlinx-coroutines-core-jvm.jar" "$KOTLIN_LIB/kotlin-test.jar" \
         "$KOTLIN_LIB/kotlin-test-junit5.jar"; do
  [[ -e "$f" ]] || die "missing after install: $f"
done
have java || die "java not on PATH after installing default-jdk-headless"

# `kotlinc -version` starts a JVM (~1 s): check once per installed version.
kver="$("$KOTLINC" -version 2>&1 | tail -n 1)" || die "kotlinc -version failed: $kver"
[[ "$kver" == *"$KOTLIN_VERSION"* ]] || die "kotlinc reports '$kver', expected $KOTLIN_VERSION"
log "kotlinc: $kver"
log "java: $(java -version 2>&1 | head -n 1)"

selftest() {
  log "selftest: hello.kt + JUnit 5 test via the console launcher"
  local t; t="$(mktemp -d /tmp/posemesh-kotlin-selftest.XXXXXX)"
  cat >"$t/Hello.kt" <<'EOF'
package selftest
fun greet(name: String): String = "Hello, $name!"
fun main() = println(greet("kotlin"))
EOF
  cat >"$t/HelloTest.kt" <<'EOF'
package selftest
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Timeout

@Timeout(30)
class HelloTest {
    @Test fun greets(): Unit = runBlocking { assertEquals("Hello, x!", greet("x")) }
    @Test fun fails(): Unit {
        if (System.getenv("SELFTEST_FAIL") == "1") assertEquals(1, 2)
    }
}
EOF
  local cp="$KOTLIN_CLASSPATH:$JUNIT_CONSOLE"
  "$KOTLINC" -cp "$cp" -d "$t/classes" "$t/Hello.kt" "$t/HelloTest.kt" >"$t/kotlinc.log" 2>&1 \
    || { cat "$t/kotlinc.log" >&2; die "selftest: kotlinc failed"; }
  local out rc
  out="$(java -cp "$t/classes:$KOTLIN_LIB/kotlin-stdlib.jar" selftest.HelloKt)"
  [[ "$out" == "Hello, kotlin!" ]] || die "selftest: main printed '$out'"
  junit() {
    java -jar "$JUNIT_CONSOLE" --disable-banner --details=summary --exclude-engine=junit-vintage \
      --fail-if-no-tests -cp "$t/classes:$KOTLIN_CLASSPATH" "$@" >"$t/junit.log" 2>&1
  }
  rc=0; junit --select-class selftest.HelloTest || rc=$?
  grep -q '2 tests successful' "$t/junit.log" || { cat "$t/junit.log" >&2; die "selftest: expected 2 tests to pass (rc=$rc)"; }
  [[ $rc == 0 ]] || die "selftest: passing run exited $rc"
  rc=0; SELFTEST_FAIL=1 junit --select-class selftest.HelloTest || rc=$?
  [[ $rc == 1 ]] || { cat "$t/junit.log" >&2; die "selftest: failing run exited $rc, expected 1"; }
  rc=0; junit --select-package does.not.exist || rc=$?
  [[ $rc == 2 ]] || { cat "$t/junit.log" >&2; die "selftest: empty run exited $rc, expected 2"; }
  rm -rf "$t"
  log "selftest: ok (hello runs; JUnit exit 0 = passed, 1 = failed, 2 = no tests)"
}
if ((SELFTEST)); then selftest; fi

log "KOTLINC=$KOTLINC"
log "KOTLIN_LIB=$KOTLIN_LIB"
log "JNA_JAR=$JNA_JAR"
log "JUNIT_CONSOLE=$JUNIT_CONSOLE"
finish
