# shellcheck shell=bash
# Source this (don't run it) after scripts/setup-kotlin.sh:
#   source scripts/env-kotlin.sh
# Exports KOTLINC, KOTLIN_LIB, JNA_JAR, JUNIT_CONSOLE and KOTLIN_CLASSPATH (jars needed to
# compile and run uniffi-generated Kotlin + kotlin-test/JUnit 5 tests; add JUNIT_CONSOLE to
# compile tests against JUnit annotations). Changes no shell options of the caller.
_posemesh_tools="${POSEMESH_TOOLS:-$HOME/.cache/posemesh-tools}"
export KOTLIN_HOME="$_posemesh_tools/kotlin/node_modules/kotlin-compiler"
export KOTLINC="$KOTLIN_HOME/bin/kotlinc"
export KOTLIN_LIB="$KOTLIN_HOME/lib"
export JNA_JAR=/usr/share/java/jna.jar
export JUNIT_CONSOLE=/usr/share/java/junit-platform-console-standalone.jar
export KOTLIN_CLASSPATH="$JNA_JAR:$KOTLIN_LIB/kotlin-stdlib.jar:$KOTLIN_LIB/kotlinx-coroutines-core-jvm.jar:$KOTLIN_LIB/kotlin-test.jar:$KOTLIN_LIB/kotlin-test-junit5.jar"
unset _posemesh_tools
