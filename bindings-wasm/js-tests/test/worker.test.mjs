// The Workers example (examples/js/worker/worker.mjs) run in workerd, Cloudflare's own
// runtime, through Miniflare: its scheduled handler loads the snapshot from a KV binding,
// calls tick(), and registers with the conformance DDS on loopback.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { Miniflare } from "miniflare";
import { secp, bytesToHex, REPO } from "./helpers.mjs";
import { startMockDds } from "./mock-dds.mjs";

const CREDENTIALS = "worker-test-registration-credentials";
const WORKER = path.join(REPO, "examples/js/worker/worker.mjs");

/**
 * The modules wrangler would bundle: the worker, and the package's files with the entry
 * chosen by its `exports` "workerd" condition (the .wasm as a compiled module).
 */
function workerModules() {
  const require = createRequire(import.meta.url);
  const packageJson = require.resolve("posemesh-registration/package.json");
  const dir = path.dirname(packageJson);
  const entry = JSON.parse(readFileSync(packageJson, "utf8")).exports["."].workerd;
  assert.ok(entry, "the package has a workerd entry");
  const root = path.dirname(WORKER);
  const modules = [
    { type: "ESModule", path: path.join(root, "worker.mjs"), contents: readFileSync(WORKER, "utf8") },
    // `import "posemesh-registration"` resolves to the module of that name.
    {
      type: "ESModule",
      path: path.join(root, "posemesh-registration"),
      contents: `export * from "./pkg/${entry.replace(/^\.\//, "")}";\nexport { default } from "./pkg/${entry.replace(/^\.\//, "")}";\n`,
    },
  ];
  for (const file of readdirSync(dir)) {
    const full = path.join(dir, file);
    if (file.endsWith(".js")) modules.push({ type: "ESModule", path: path.join(root, "pkg", file), contents: readFileSync(full, "utf8") });
    if (file.endsWith(".wasm")) modules.push({ type: "CompiledWasm", path: path.join(root, "pkg", file), contents: readFileSync(full) });
  }
  return { modules, modulesRoot: root };
}

let dds;
let mf;
let logs = "";
const keyHex = bytesToHex(secp.utils.randomSecretKey());

before(async () => {
  dds = await startMockDds();
  const { modules, modulesRoot } = workerModules();
  mf = new Miniflare({
    modules,
    modulesRoot,
    compatibilityDate: "2025-01-01",
    kvNamespaces: ["REGISTRATION"],
    bindings: {
      POSEMESH_DDS_URL: dds.url,
      POSEMESH_PRIVATE_KEY: keyHex,
      POSEMESH_REGISTRATION_CREDENTIALS: CREDENTIALS,
      NODE_VERSION: "3.1.4",
    },
    handleRuntimeStdio(stdout, stderr) {
      stdout.on("data", (d) => (logs += d));
      stderr.on("data", (d) => (logs += d));
    },
  });
  await mf.ready;
});

after(async () => {
  await mf?.dispose();
  await dds?.stop();
});

test("the scheduled handler registers through tick() and saves to KV", async () => {
  const worker = await mf.getWorker();
  const first = await worker.scheduled({ cron: "* * * * *", scheduledTime: new Date() });
  assert.equal(first.outcome, "ok", logs);

  const kv = await mf.getKVNamespace("REGISTRATION");
  const snapshot = JSON.parse(await kv.get("registration"));
  assert.equal(snapshot.status, "registered", logs);
  assert.equal(snapshot.attempt, 0);

  const seen = await dds.registrations();
  const address = (await (await mf.dispatchFetch("http://worker/")).json()).address;
  const mine = seen.received.filter((r) => r.address === address);
  assert.deepEqual(mine.map((r) => [r.path, r.accepted]), [
    ["/internal/v1/auth/siwe/request", true],
    ["/internal/v1/nodes/register-wallet", true],
  ]);
  assert.equal(mine[1].version, "3.1.4");

  // The next trigger resumes from KV: registered, nothing to send.
  const second = await worker.scheduled({ cron: "* * * * *", scheduledTime: new Date() });
  assert.equal(second.outcome, "ok", logs);
  const after = (await dds.registrations()).received.filter((r) => r.address === address);
  assert.equal(after.length, 2);
  assert.deepEqual(await (await mf.dispatchFetch("http://worker/")).json(), { address, status: "registered" });
});

test("a DDS failure is saved to KV and retried on the next trigger", async () => {
  const kv = await mf.getKVNamespace("REGISTRATION");
  await kv.delete("registration");
  await dds.faults([{ status: 503, path: "/internal/v1/auth/siwe/request" }]);
  const worker = await mf.getWorker();
  const failed = await worker.scheduled({ cron: "* * * * *", scheduledTime: new Date() });
  assert.equal(failed.outcome, "ok", logs);
  let snapshot = JSON.parse(await kv.get("registration"));
  // Nothing is trying between triggers: "disconnected", and the next trigger attempts.
  assert.equal(snapshot.status, "disconnected");
  assert.equal(snapshot.attempt, 1);
  assert.match(logs, /registration_unavailable/);

  const retried = await worker.scheduled({ cron: "* * * * *", scheduledTime: new Date() });
  assert.equal(retried.outcome, "ok", logs);
  snapshot = JSON.parse(await kv.get("registration"));
  assert.equal(snapshot.status, "registered");
});

test("the worker's logs carry no secret", () => {
  assert.match(logs, /registration\.success/);
  assert.ok(!logs.includes(CREDENTIALS));
  assert.ok(!logs.includes(keyHex));
});
