# shellcheck shell=bash
# Source this (don't run it) after scripts/setup-wasm.sh:
#   source scripts/env-wasm.sh
# Puts wasm-bindgen, wasm-bindgen-test-runner (cargo bin) and wasm-opt (npm binaryen) first on
# PATH and exports CHROMEDRIVER when Debian's chromium-driver is installed. Build wasm with
# `cargo +debweb ... --target wasm32-unknown-unknown`. Changes no shell options of the caller.
_posemesh_tools="${POSEMESH_TOOLS:-$HOME/.cache/posemesh-tools}"
for _d in "${CARGO_HOME:-$HOME/.cargo}/bin" "$_posemesh_tools/node/node_modules/.bin"; do
  case ":$PATH:" in *":$_d:"*) ;; *) PATH="$_d:$PATH" ;; esac
done
export PATH
if [ -x /usr/bin/chromedriver ]; then export CHROMEDRIVER=/usr/bin/chromedriver; fi
unset _d _posemesh_tools
