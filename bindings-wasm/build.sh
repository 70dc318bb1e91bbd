#!/usr/bin/env bash
# Builds the npm package `posemesh-registration` into bindings-wasm/pkg/:
#   1. cargo +debweb, profile wasm-release (opt-level z, LTO, one codegen unit, panic abort);
#   2. wasm-bindgen --target web (one glue module for every runtime);
#   3. wasm-opt -Oz (npm binaryen);
#   4. the entry points (node, web/bundlers, deno, workerd), types, package.json, README.
# Prints the gzipped size of the .wasm and the JavaScript.
#
# Usage: bindings-wasm/build.sh [--pack]   (--pack: also `npm pack` into pkg/../dist/)
# Needs scripts/setup-wasm.sh to have run. Env: CARGO_TARGET_DIR (default target/wasm).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
PACK=0
for arg in "$@"; do
  case "$arg" in
    --pack) PACK=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

# shellcheck source=../scripts/env-wasm.sh
source "$REPO/scripts/env-wasm.sh"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target/wasm}"
for tool in wasm-bindgen wasm-opt node; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool not found (run scripts/setup-wasm.sh)" >&2; exit 1; }
done

PKG="$HERE/pkg"
NAME=posemesh_registration
WASM_IN="$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-release/posemesh_registration_wasm.wasm"

echo "build.sh: cargo build (wasm-release)" >&2
(cd "$REPO" && cargo +debweb build --quiet --target wasm32-unknown-unknown \
  -p posemesh-registration-wasm --profile wasm-release)

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
wasm-bindgen --target web --out-dir "$STAGE" --out-name "$NAME" \
  --remove-name-section --remove-producers-section "$WASM_IN"

# The glue imports js/support.js as a snippet; ship it at the package root instead.
support="$(find "$STAGE/snippets" -name support.js -path '*/js/*' | head -n 1)"
[[ -n "$support" ]] || { echo "build.sh: support.js snippet not found" >&2; exit 1; }
snippet_path="./${support#"$STAGE/"}"
# Only the ES imports move; the import object keeps the module name the .wasm asks for.
sed -i -E "/^import /s#[\"']$snippet_path[\"']#\"./support.js\"#" "$STAGE/$NAME.js"
if grep -E "^import .*snippets/" "$STAGE/$NAME.js" || ! grep -qE '^import .*"./support.js"' "$STAGE/$NAME.js"; then
  echo "build.sh: could not point the glue's imports at ./support.js" >&2
  exit 1
fi
rm -rf "$STAGE/snippets" "$STAGE/${NAME}_bg.wasm.d.ts"

rm -rf "$PKG"
mkdir -p "$PKG"
wasm-opt -Oz "$STAGE/${NAME}_bg.wasm" -o "$PKG/${NAME}_bg.wasm"
cp "$STAGE/$NAME.js" "$STAGE/$NAME.d.ts" "$PKG/"
cp "$HERE/js/support.js" "$HERE/js/support.d.ts" "$PKG/"
cp "$HERE/js/package/"*.js "$HERE/js/package/index.d.ts" "$PKG/"
cp "$HERE/README.md" "$PKG/README.md"
[[ -f "$REPO/LICENSE" ]] && cp "$REPO/LICENSE" "$PKG/LICENSE"

VERSION="$(cd "$REPO" && cargo +debweb metadata --format-version 1 --no-deps --offline \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const p=JSON.parse(s).packages.find(p=>p.name==="posemesh-registration-wasm");process.stdout.write(p.version)})')"
node -e '
  const fs = require("fs");
  const [template, out, version] = process.argv.slice(1);
  const pkg = JSON.parse(fs.readFileSync(template, "utf8"));
  pkg.version = version;
  fs.writeFileSync(out, JSON.stringify(pkg, null, 2) + "\n");
' "$HERE/js/package/package.json" "$PKG/package.json" "$VERSION"

# Every entry point must exist and every file listed must ship.
node -e '
  const fs = require("fs"), path = require("path");
  const dir = process.argv[1];
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
  const walk = (v) => typeof v === "string" ? [v] : Object.values(v).flatMap(walk);
  for (const file of walk(pkg.exports)) {
    if (!fs.existsSync(path.join(dir, file))) { console.error("missing " + file); process.exit(1); }
  }
' "$PKG"

gz() { gzip -9c "$1" | wc -c; }
wasm_gz=$(gz "$PKG/${NAME}_bg.wasm")
js_gz=$(( $(gz "$PKG/$NAME.js") + $(gz "$PKG/support.js") + $(gz "$PKG/common.js") + $(gz "$PKG/node.js") ))
printf 'build.sh: %s: %d bytes (%d gzipped); JS glue %d gzipped; total %d bytes gzipped (%.1f KiB)\n' \
  "${NAME}_bg.wasm" "$(stat -c %s "$PKG/${NAME}_bg.wasm")" "$wasm_gz" "$js_gz" \
  "$((wasm_gz + js_gz))" "$(awk "BEGIN { print ($wasm_gz + $js_gz) / 1024 }")" >&2

if ((PACK)); then
  mkdir -p "$HERE/dist"
  (cd "$PKG" && npm pack --silent --pack-destination "$HERE/dist") >&2
  ls "$HERE/dist/"posemesh-registration-*.tgz
fi
