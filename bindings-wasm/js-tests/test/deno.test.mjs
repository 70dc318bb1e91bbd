// The package in Deno (npm `deno`, run from the scratch project): resolution picks the
// `deno` entry, the module loads, and a wallet registration with the conformance DDS works.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startMockDds } from "./mock-dds.mjs";

const SCRATCH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
let dds;

before(async () => {
  dds = await startMockDds();
  cpSync(path.join(SCRATCH, "..", "deno", "smoke.mjs"), path.join(SCRATCH, "deno-smoke.mjs"));
});
after(async () => dds?.stop());

test("Deno loads the deno entry and registers with the wallet flow", async () => {
  const deno = createRequire(import.meta.url).resolve("deno/bin.cjs");
  const args = [deno, "run", "--quiet", "--allow-read", "--allow-env", "--allow-net=127.0.0.1", "deno-smoke.mjs"];
  const output = await new Promise((resolve, reject) => {
    execFile(process.execPath, args, {
      cwd: SCRATCH,
      env: { ...process.env, POSEMESH_DDS_URL: dds.url, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
      timeout: 60_000,
    }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout)));
  });
  const seen = JSON.parse(output.trim().split("\n").pop());
  assert.match(seen.entry, /posemesh-registration\/deno\.js$/);
  assert.equal(seen.keyError, "key_not_hex");
  assert.equal(seen.status, "registered");
  const received = (await dds.registrations()).received.filter((r) => r.address === seen.address);
  assert.deepEqual(received.map((r) => [r.path, r.accepted, r.version]), [
    ["/internal/v1/auth/siwe/request", true, null],
    ["/internal/v1/nodes/register-wallet", true, "9.9.9"],
  ]);
});
