// Registration against the conformance DDS over real loopback HTTP, with the packed package:
// the legacy flow with callbacks and health probes, the wallet flow, faults, and tick()
// resuming from a saved snapshot. All console output is captured and checked for secrets.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  PrivateKey,
  Registrar,
  MemoryStorage,
  RegistrationError,
} from "posemesh-registration";
import { secp, bytesToHex, captureConsole } from "./helpers.mjs";
import { startMockDds, startCallbackServer, nextEvent, eventually } from "./mock-dds.mjs";

const CREDENTIALS = "wasm-test-registration-credentials";
const CAPABILITIES = ["/reconstruction/global-refinement/v1"];
let dds;
const secrets = new Set([CREDENTIALS]);
const keysUsed = [];
let output = "";

function freshKey() {
  const hex = bytesToHex(secp.utils.randomSecretKey());
  keysUsed.push(hex);
  return PrivateKey.fromHex(hex);
}

/** Runs `fn` with console captured; keeps the output for the final secret check. */
async function quietly(fn) {
  const [result, text] = await captureConsole(fn);
  output += text + "\n";
  return result;
}

before(async () => {
  dds = await startMockDds(["--probe-interval-ms", "200"]);
});

after(async () => {
  await dds?.stop();
});

test("legacy flow: start() registers, takes the DDS callback and its health probes", async () => {
  const key = freshKey();
  const storage = new MemoryStorage();
  let registrar;
  const node = await startCallbackServer(() => registrar);
  const events = [];
  try {
    await quietly(async () => {
      registrar = new Registrar(key, {
        ddsUrl: dds.url,
        flow: "legacy",
        nodeUrl: node.url,
        version: "1.2.3",
        capabilities: CAPABILITIES,
        registrationCredentials: CREDENTIALS,
        storage,
        logger: console,
        onEvent: (event) => events.push(event),
      });
      const registered = nextEvent(registrar, "registration.success");
      const callback = nextEvent(registrar, "registration.callback");
      await registrar.start();
      assert.equal(registrar.running, true);
      const success = await registered;
      assert.equal(success.registrarStatus, "registered");
      const accepted = await callback;
      assert.ok(accepted.id);
      assert.ok(accepted.secretLen > 0);
      await nextEvent(registrar, "healthcheck.touch");
      await registrar.stop();
      assert.equal(registrar.running, false);
      assert.equal(registrar.status, "registered");
      assert.equal(registrar.nodeId, accepted.id);
    });
  } finally {
    await registrar?.stop();
    await node.close();
  }
  // The DDS logs a probe once it has our answer.
  const seen = await eventually(async () => {
    const log = await dds.registrations();
    return log.health_probes.some((p) => p.node_url === node.url && p.status === 200) && log;
  }, 5_000, "the health probe record");
  for (const s of seen.issued_secrets) secrets.add(s);
  const mine = seen.received.filter((r) => r.public_key === key.publicKeyHex);
  assert.equal(mine.length, 1, JSON.stringify(seen.received));
  assert.equal(mine[0].accepted, true, mine[0].reason);
  assert.equal(mine[0].status, 200);
  assert.equal(mine[0].path, "/internal/v1/nodes/register");
  assert.equal(mine[0].node_url, node.url);
  assert.equal(mine[0].version, "1.2.3");
  assert.deepEqual(mine[0].capabilities, CAPABILITIES);
  const callbacks = seen.callbacks.filter((c) => c.node_url === node.url);
  assert.equal(callbacks.length, 1);
  assert.equal(callbacks[0].status, 200);
  assert.equal(seen.max_concurrent, 1);
  // The snapshot holds the DDS's id and secret; it was saved.
  const snapshot = JSON.parse(new TextDecoder().decode(await storage.load()));
  assert.equal(snapshot.status, "registered");
  assert.equal(snapshot.credentials.id, callbacks[0].id);
  assert.ok(seen.issued_secrets.includes(snapshot.credentials.secret));
  const names = events.map((e) => e.name);
  assert.deepEqual(names.slice(0, 5), [
    "registration.loop.start",
    "status.transition",
    "registration.attempt",
    "status.transition",
    "registration.success",
  ]);
});

test("wallet flow: registerOnce() signs in with SIWE and registers", async () => {
  const key = freshKey();
  await quietly(async () => {
    const registrar = new Registrar(key, {
      ddsUrl: dds.url + "/",
      flow: "wallet",
      version: "2.0.0",
      capabilities: CAPABILITIES,
      registrationCredentials: CREDENTIALS,
      logger: console,
    });
    await registrar.registerOnce();
    assert.equal(registrar.status, "registered");
  });
  const seen = await dds.registrations();
  const mine = seen.received.filter((r) => r.address === key.ethAddress);
  assert.deepEqual(
    mine.map((r) => r.path),
    ["/internal/v1/auth/siwe/request", "/internal/v1/nodes/register-wallet"],
  );
  mine.shift();
  assert.equal(mine[0].accepted, true, mine[0].reason);
  assert.equal(mine[0].version, "2.0.0");
});

test("faults: 503 with Retry-After is retried after it; 409 and 403 reject with their class", async () => {
  const key = freshKey();
  await dds.faults([{ status: 503, retry_after: "1", path: "/internal/v1/nodes/register" }]);
  const events = [];
  const options = {
    ddsUrl: dds.url,
    flow: "legacy",
    nodeUrl: "http://127.0.0.1:9/node",
    version: "1.2.3",
    capabilities: CAPABILITIES,
    registrationCredentials: CREDENTIALS,
  };
  await quietly(async () => {
    const registrar = new Registrar(key, {
      ...options,
      logger: console,
      onEvent: (event) => events.push(event),
    });
    const started = Date.now();
    await registrar.start();
    await nextEvent(registrar, "registration.success");
    await registrar.stop();
    const failed = events.find((e) => e.name === "registration.error");
    assert.ok(failed, JSON.stringify(events));
    assert.equal(failed.status, "503 Service Unavailable");
    assert.equal(failed.failureClass, "retry_fast");
    // At least what the server asked for, and at least the backoff.
    assert.ok(failed.retryInMs >= 1600 && failed.retryInMs < 3000, String(failed.retryInMs));
    // First check after 1 s, then at least the 1 s the server asked for.
    assert.ok(Date.now() - started >= 2000);

    // Registered now, registerOnce() would adopt that: each case below is a fresh node.
    const fresh = () => new Registrar(freshKey(), { ...options, logger: console });
    await dds.faults([{ status: 409, body: "already registered elsewhere" }]);
    await assert.rejects(fresh().registerOnce(), (err) => {
      assert.ok(err instanceof RegistrationError);
      assert.equal(err.code, "registration_conflict");
      assert.equal(err.failureClass, "conflict");
      assert.equal(err.status, 409);
      assert.match(err.message, /already registered elsewhere/);
      return true;
    });
    await dds.faults([{ status: 403, body: "forbidden" }]);
    await assert.rejects(fresh().registerOnce(), (err) => err.code === "registration_rejected" && err.status === 403);
    await dds.faults([{ drop: true }]);
    await assert.rejects(fresh().registerOnce(), (err) => err.code === "registration_unavailable" && err.status === undefined);
  });
  await dds.clearFaults();
});

test("a slow DDS times out after requestTimeoutMs", async () => {
  const key = freshKey();
  await dds.faults([{ status: 200, delay_ms: 3000 }]);
  await quietly(async () => {
    const registrar = new Registrar(key, {
      ddsUrl: dds.url,
      flow: "legacy",
      nodeUrl: "http://127.0.0.1:9/node",
      version: "1.2.3",
      capabilities: CAPABILITIES,
      registrationCredentials: CREDENTIALS,
      requestTimeoutMs: 300,
      logger: console,
    });
    const started = Date.now();
    await assert.rejects(registrar.registerOnce(), (err) => {
      assert.equal(err.code, "registration_unavailable");
      assert.match(err.message, /timed out/);
      return true;
    });
    assert.ok(Date.now() - started < 2500);
  });
  await dds.clearFaults();
});

test("stop() aborts an outstanding request; the next attempt starts clean", async () => {
  const key = freshKey();
  await dds.faults([{ status: 200, delay_ms: 5000, path: "/internal/v1/nodes/register" }]);
  const events = [];
  await quietly(async () => {
    const registrar = new Registrar(key, {
      ddsUrl: dds.url,
      flow: "legacy",
      nodeUrl: "http://127.0.0.1:9/node",
      version: "1.2.3",
      capabilities: CAPABILITIES,
      registrationCredentials: CREDENTIALS,
      logger: console,
      onEvent: (event) => events.push(event),
    });
    await registrar.start();
    await eventually(async () => (await dds.registrations()).max_concurrent >= 1 &&
      events.some((e) => e.name === "status.transition"), 5_000, "the request in flight");
    await new Promise((r) => setTimeout(r, 200));
    const stopping = Date.now();
    await registrar.stop();
    assert.ok(Date.now() - stopping < 1000, "stop() does not wait for the DDS");
    assert.ok(events.some((e) => e.name === "request.cancelled"), JSON.stringify(events.map((e) => e.name)));
    assert.ok(!events.some((e) => e.name === "registration.error"), "a cancelled request is no failure");
    await registrar.registerOnce();
    assert.equal(registrar.status, "registered");
  });
  await dds.clearFaults();
});

test("tick(): each cron run resumes from the saved snapshot", async () => {
  const key = freshKey();
  const storage = new MemoryStorage();
  const options = {
    ddsUrl: dds.url,
    flow: "legacy",
    nodeUrl: "http://127.0.0.1:9/node",
    version: "1.2.3",
    capabilities: CAPABILITIES,
    registrationCredentials: CREDENTIALS,
    registerIntervalMs: 1000,
    storage,
    logger: console,
  };
  const countMine = async () =>
    (await dds.registrations()).received.filter((r) => r.public_key === key.publicKeyHex && r.accepted).length;
  await quietly(async () => {
    // A new Registrar per run, as a Worker's scheduled handler would make.
    const first = await new Registrar(key, options).tick();
    assert.equal(first.attempted, true);
    assert.equal(first.status, "registered");
    assert.equal(first.error, null);
    assert.equal(await countMine(), 1);

    const second = await new Registrar(key, options).tick();
    assert.equal(second.attempted, false, "registered within the TTL: nothing to do");
    assert.equal(second.status, "registered");
    assert.equal(await countMine(), 1);

    // No health probe reaches this node: after the TTL it registers again.
    await new Promise((r) => setTimeout(r, 1200));
    const third = await new Registrar(key, options).tick();
    assert.equal(third.attempted, true);
    assert.equal(third.status, "registered");
    assert.equal(await countMine(), 2);

    // A failed run is reported, saved, and the next run retries.
    await dds.faults([{ status: 500, path: "/internal/v1/nodes/register" }]);
    await new Promise((r) => setTimeout(r, 1200));
    const failed = await new Registrar(key, options).tick();
    assert.equal(failed.attempted, true);
    assert.ok(failed.error instanceof RegistrationError);
    assert.equal(failed.error.status, 500);
    assert.equal(JSON.parse(new TextDecoder().decode(await storage.load())).attempt, 1);
    const retried = await new Registrar(key, options).tick();
    assert.equal(retried.attempted, true);
    assert.equal(retried.status, "registered");
    assert.equal(JSON.parse(new TextDecoder().decode(await storage.load())).attempt, 0);
  });
});

test("no secret or key reached the console", async () => {
  assert.ok(output.includes("registration.success"), "output was captured");
  const seen = await dds.registrations();
  for (const s of seen.issued_secrets) secrets.add(s);
  assert.ok(secrets.size > 1, "the DDS issued secrets");
  for (const secret of secrets) assert.ok(!output.includes(secret), `secret leaked: ${secret.slice(0, 4)}…`);
  for (const hex of keysUsed) assert.ok(!output.includes(hex), "private key leaked");
});
