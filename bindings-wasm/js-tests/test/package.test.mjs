// The package as installed resolves everywhere the README says: ESM import, CommonJS
// require() on Node >= 20.19 (require of an ES module, no flag: hence `engines`), the .wasm
// subpath with its types, and a LICENSE in the tarball.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const KEY_HEX = "4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90";
const require = createRequire(path.join(process.cwd(), "package.json"));
const PACKAGE = path.dirname(require.resolve("posemesh-registration/package.json"));
const manifest = JSON.parse(readFileSync(path.join(PACKAGE, "package.json"), "utf8"));

test("CommonJS require() loads the package on Node >= 20.19", () => {
  const result = spawnSync(
    process.execPath,
    [
      "-e",
      `const { PrivateKey, PosemeshError } = require("posemesh-registration");
       console.log(PrivateKey.fromHex("${KEY_HEX}").ethAddress);
       try { PrivateKey.fromHex(1); } catch (err) { console.log(err instanceof PosemeshError); }`,
    ],
    { cwd: process.cwd(), encoding: "utf8" },
  );
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^0x[0-9a-f]{40}\ntrue\n$/);
  // The same engines the README states for it.
  assert.equal(manifest.engines.node, ">=20.19");
  assert.equal(manifest.type, "module");
});

test("every export has types and the tarball has its LICENSE", () => {
  for (const [subpath, target] of Object.entries(manifest.exports)) {
    if (typeof target === "string") continue; // ./package.json
    assert.ok(target.types, `${subpath} has types`);
    assert.ok(existsSync(path.join(PACKAGE, target.types)), target.types);
  }
  assert.match(readFileSync(path.join(PACKAGE, "LICENSE"), "utf8"), /MIT License|Permission is hereby granted/);
  assert.equal(manifest.license, "MIT");
});
