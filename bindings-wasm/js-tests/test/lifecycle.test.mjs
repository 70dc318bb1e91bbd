// What JavaScript developers expect of the package: lifetimes (`free()`, `using`, `await
// using`), errors (always a PosemeshError, never a WebAssembly trap; `cause` kept),
// AbortSignal on the async calls, and a status that is never stale. One test per behaviour.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { inspect } from "node:util";
import {
  PrivateKey,
  Registrar,
  PosemeshError,
  ConfigError,
  StateError,
  RegistrationError,
  buildRegistrationRequest,
  buildWalletRegistrationRequest,
  buildSiweNonceRequest,
  siweMessage,
  classifyResponse,
} from "posemesh-registration";
import { secp, bytesToHex } from "./helpers.mjs";
import { startMockDds, nextEvent, eventually } from "./mock-dds.mjs";

const KEY_HEX = "4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90";
const SECRET = "lifecycle-registration-credentials-do-not-print";
const CAPABILITIES = ["/reconstruction/global-refinement/v1"];
const SIWE = "/internal/v1/auth/siwe/request";
// Nothing listens on port 9 (discard) on loopback: connection refused at once.
const DEAD = "http://127.0.0.1:9";
let dds;

before(async () => {
  dds = await startMockDds();
});

after(async () => {
  await dds?.stop();
});

const freshKey = () => PrivateKey.fromHex(bytesToHex(secp.utils.randomSecretKey()));

function options(ddsUrl, extra = {}) {
  return {
    ddsUrl,
    version: "1.0.0",
    capabilities: CAPABILITIES,
    registrationCredentials: SECRET,
    ...extra,
  };
}

const isDisposed = (err) =>
  err instanceof StateError && err instanceof PosemeshError && err.code === "disposed" &&
  !/null pointer/.test(err.message);

/** Runs `source` as an ES module in a fresh Node process; resolves with its exit and output. */
function runNode(source, ms) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", source], {
      cwd: process.cwd(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the process did not exit by itself within ${ms} ms; stdout: ${stdout} stderr: ${stderr}`));
    }, ms);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

// 1. Lifetimes

test("dispose stops a running loop and the process exits by itself", async () => {
  // Without the stop, the loop's retry timer keeps the process alive for good.
  const { code, stdout, stderr } = await runNode(
    `
    import { PrivateKey, Registrar } from "posemesh-registration";
    const registrar = new Registrar(PrivateKey.fromHex("${KEY_HEX}"), {
      ddsUrl: "${DEAD}", version: "1.0.0", capabilities: ["/x/v1"], registrationCredentials: "s3cret",
    });
    registrar.addEventListener("registration.error", () => {
      registrar[Symbol.dispose]();
      registrar.stop().then(
        () => console.log("stop resolved"),
        (err) => console.log("stop rejected", err.name, err.code, err.message),
      );
    }, { once: true });
    await registrar.start();
    `,
    15_000,
  );
  assert.equal(code, 0, stderr);
  assert.match(stdout, /stop rejected StateError disposed/);
  assert.doesNotMatch(stdout + stderr, /null pointer/);
});

test("async dispose awaits stop and then frees the registrar", async () => {
  const registrar = new Registrar(freshKey(), options(DEAD));
  await registrar.start();
  assert.equal(registrar.running, true);
  const stopped = [];
  registrar.addEventListener("status.transition", (e) => stopped.push(e.detail.to));
  await registrar[Symbol.asyncDispose]();
  assert.throws(() => registrar.running, isDisposed);
  assert.throws(() => registrar.status, isDisposed);
  assert.throws(() => registrar.toString(), isDisposed);
  assert.equal(inspect(registrar), "Registrar(<disposed>)");
  for (const call of [
    () => registrar.stop(),
    () => registrar.start(),
    () => registrar.registerOnce(),
    () => registrar.registerAgain(),
    () => registrar.tick(),
    () => registrar.handleCallback(new Request("http://node/health")),
  ]) {
    await assert.rejects(call(), isDisposed);
  }
  // Disposing twice, or freeing after disposing, does nothing.
  await registrar[Symbol.asyncDispose]();
  registrar[Symbol.dispose]();
  registrar.free();
});

test("dispose during registerOnce ends the attempt", async () => {
  await dds.faults([{ status: 200, delay_ms: 5000, path: SIWE }]);
  try {
    const registrar = new Registrar(freshKey(), options(dds.url));
    const once = registrar.registerOnce().then(() => null, (err) => err);
    await nextEvent(registrar, "registration.attempt");
    const disposing = Date.now();
    registrar[Symbol.dispose]();
    const err = await once;
    assert.ok(Date.now() - disposing < 1000, "the attempt did not wait for the DDS");
    assert.ok(err instanceof StateError, String(err));
  } finally {
    await dds.clearFaults();
  }
});

test("a disposed key throws a PosemeshError, never a null pointer", () => {
  const key = PrivateKey.fromHex(KEY_HEX);
  key[Symbol.dispose]();
  key.free(); // twice is fine
  assert.throws(() => key.ethAddress, isDisposed);
  assert.throws(() => key.signCompact("x"), isDisposed);
  assert.throws(() => new Registrar(key, options(DEAD)), isDisposed);
  assert.throws(
    () => buildRegistrationRequest(key, { ...options(DEAD), nodeUrl: "https://node.example.com" }),
    isDisposed,
  );
  assert.equal(inspect(key), "PrivateKey(<disposed>)");
  // A registrar keeps its own copy of the key: freeing the key does not affect it.
  const other = PrivateKey.fromHex(KEY_HEX);
  const registrar = new Registrar(other, options(DEAD));
  other.free();
  assert.match(registrar.address, /^0x[0-9a-f]{40}$/);
  registrar.free();
});

// 2. Errors

test("fromHex and fromBytes reject wrong types with a PosemeshError, never a trap", () => {
  const invalid = (err) =>
    err instanceof PosemeshError && err.code === "invalid_argument" && !(err instanceof WebAssembly.RuntimeError);
  for (const value of [undefined, null, 123, {}, [], true, 12n, Symbol("k"), () => KEY_HEX, new Uint8Array(32)]) {
    assert.throws(() => PrivateKey.fromHex(value), invalid, `fromHex(${String(value)})`);
  }
  for (const value of [undefined, null, 123, {}, true, KEY_HEX]) {
    assert.throws(() => PrivateKey.fromBytes(value), invalid, `fromBytes(${String(value)})`);
  }
  assert.throws(() => buildSiweNonceRequest(1, 2), invalid);
  assert.throws(() => buildSiweNonceRequest("https://dds.example.com", {}), invalid);
  assert.throws(() => siweMessage("{}", 42), invalid);
  assert.throws(() => classifyResponse(undefined, { status: 200 }), invalid);
  // The module is intact afterwards.
  assert.equal(PrivateKey.fromHex(KEY_HEX).ethAddress.length, 42);
});

test("wrong argument types to Registrar and the request builders throw a PosemeshError", async () => {
  const key = PrivateKey.fromHex(KEY_HEX);
  for (const notKey of [KEY_HEX, undefined, null, {}, 42]) {
    assert.throws(
      () => new Registrar(notKey, options(DEAD)),
      (err) => err instanceof PosemeshError && err.code === "invalid_argument" && !err.message.includes(KEY_HEX),
    );
    assert.throws(() => buildRegistrationRequest(notKey, {}), (err) => err instanceof PosemeshError);
    assert.throws(() => buildWalletRegistrationRequest(notKey, {}), (err) => err instanceof PosemeshError);
  }
  assert.throws(() => new Registrar(key, "options"), (err) => err instanceof ConfigError);
  const registrar = new Registrar(key, options(DEAD));
  assert.ok(registrar instanceof Registrar);
  // A method called on something else.
  assert.throws(() => Registrar.prototype.toString.call({}), (err) => err instanceof PosemeshError);
  // Event names are whatever EventTarget makes of them: no trap.
  registrar.addEventListener(42, () => {});
  await assert.rejects(registrar.registerOnce({ signal: "soon" }), (err) => err instanceof ConfigError);
  registrar.free();
});

/** A loopback URL nobody listens on (fetch refuses port 9 outright as a "bad port"). */
async function refusingUrl() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

test("a network failure keeps fetch's error as cause, without secrets", async () => {
  const registrar = new Registrar(freshKey(), options(await refusingUrl()));
  const err = await registrar.registerOnce().then(() => null, (e) => e);
  assert.ok(err instanceof RegistrationError, String(err));
  assert.equal(err.code, "registration_unavailable");
  assert.ok(err.cause instanceof TypeError, inspect(err.cause));
  // Node's fetch says why underneath: refused, DNS, TLS can be told apart.
  assert.equal(err.cause.cause?.code, "ECONNREFUSED", inspect(err.cause));
  assert.ok(!Object.keys(err).includes("cause"), "cause is not enumerable, as with Error's own");
  const shown = inspect(err, { depth: 5 }) + JSON.stringify(err) + String(err);
  assert.ok(!shown.includes(SECRET), shown);
  // An HTTP answer has no cause.
  await dds.faults([{ status: 503 }]);
  try {
    const answered = await new Registrar(freshKey(), options(dds.url)).registerOnce().then(() => null, (e) => e);
    assert.equal(answered.status, 503);
    assert.equal(answered.cause, undefined);
  } finally {
    await dds.clearFaults();
  }
});

// 3. AbortSignal

test("abort signal cancels registerOnce", async () => {
  await dds.faults([{ status: 200, delay_ms: 5000, path: SIWE }]);
  try {
    const events = [];
    const registrar = new Registrar(freshKey(), options(dds.url, { onEvent: (e) => events.push(e) }));
    const controller = new AbortController();
    const once = registrar.registerOnce({ signal: controller.signal }).then(() => null, (err) => err);
    await eventually(async () => (await dds.registrations()).faults_queued === 0, 5_000, "the request in flight");
    const aborting = Date.now();
    controller.abort();
    const err = await once;
    assert.ok(Date.now() - aborting < 1000, "the abort did not wait for the DDS");
    // The signal's reason itself (here the AbortError DOMException of abort()).
    assert.equal(err, controller.signal.reason);
    assert.equal(err.name, "AbortError");
    // The driver cleaned up: the request was abandoned, nothing is running.
    await eventually(() => events.some((e) => e.name === "request.cancelled"), 2_000, "request.cancelled");
    assert.equal(registrar.running, false);
    assert.equal(registrar.status, "disconnected");
    // A custom reason is passed through.
    const reason = new Error("enough");
    await assert.rejects(registrar.registerOnce({ signal: AbortSignal.abort(reason) }), (e) => e === reason);
  } finally {
    await dds.clearFaults();
  }
});

test("abort signal with a timeout rejects registerOnce with a TimeoutError", async () => {
  await dds.faults([{ status: 200, delay_ms: 5000, path: SIWE }]);
  try {
    const registrar = new Registrar(freshKey(), options(dds.url));
    const started = Date.now();
    await assert.rejects(registrar.registerOnce({ signal: AbortSignal.timeout(300) }), (err) => err.name === "TimeoutError");
    assert.ok(Date.now() - started < 2000);
  } finally {
    await dds.clearFaults();
  }
});

test("abort signal stops a started loop", async () => {
  const registrar = new Registrar(freshKey(), options(DEAD));
  const controller = new AbortController();
  await registrar.start({ signal: controller.signal });
  await nextEvent(registrar, "registration.error");
  assert.equal(registrar.running, true);
  controller.abort();
  await eventually(() => !registrar.running, 2_000, "the loop to stop");
  assert.equal(registrar.status, "disconnected");
  // It can start again; an aborted signal refuses at once.
  await assert.rejects(registrar.start({ signal: AbortSignal.abort() }), (err) => err.name === "AbortError");
  assert.equal(registrar.running, false);
  await registrar.start();
  await registrar.stop();
});

test("abort signal cancels tick", async () => {
  await dds.faults([{ status: 200, delay_ms: 5000, path: SIWE }]);
  try {
    const registrar = new Registrar(freshKey(), options(dds.url));
    const controller = new AbortController();
    const ticking = registrar.tick(undefined, { signal: controller.signal }).then(() => null, (err) => err);
    await eventually(async () => (await dds.registrations()).faults_queued === 0, 5_000, "the request in flight");
    controller.abort();
    const started = Date.now();
    const err = await ticking;
    assert.ok(Date.now() - started < 1000);
    assert.equal(err, controller.signal.reason);
    assert.equal(registrar.running, false);
  } finally {
    await dds.clearFaults();
  }
});

test(
  "a tick after an aborted tick registers",
  async () => {
    await dds.faults([{ status: 200, delay_ms: 5000, path: SIWE }]);
    try {
      const registrar = new Registrar(freshKey(), options(dds.url));
      const controller = new AbortController();
      const ticking = registrar.tick(undefined, { signal: controller.signal }).catch(() => {});
      await eventually(async () => (await dds.registrations()).faults_queued === 0, 5_000, "the request in flight");
      controller.abort();
      await ticking;
      await dds.clearFaults();
      const result = await registrar.tick();
      assert.equal(result.error, null);
      assert.equal(result.status, "registered");
    } finally {
      await dds.clearFaults();
    }
  },
);

// 4. Status and events

test("status is not stale after a failed registerOnce", async () => {
  const registrar = new Registrar(freshKey(), options(DEAD));
  const transitions = [];
  registrar.addEventListener("status.transition", (e) => transitions.push([e.detail.from, e.detail.to]));
  await assert.rejects(registrar.registerOnce(), RegistrationError);
  assert.equal(registrar.status, "disconnected");
  assert.deepEqual(transitions, [["disconnected", "registering"], ["registering", "disconnected"]]);
  // Trying again says so.
  await assert.rejects(registrar.registerOnce(), RegistrationError);
  assert.deepEqual(transitions.slice(2), [["disconnected", "registering"], ["registering", "disconnected"]]);
});

test("status is not stale after stop", async () => {
  const registrar = new Registrar(freshKey(), options(DEAD));
  await registrar.start();
  await nextEvent(registrar, "registration.error");
  assert.equal(registrar.status, "registering");
  await registrar.stop();
  assert.equal(registrar.status, "disconnected");
});

test("events are CustomEvents with the event as detail", async () => {
  const registrar = new Registrar(freshKey(), options(DEAD));
  const seen = [];
  registrar.events.addEventListener("registration.attempt", (e) => seen.push(e));
  await assert.rejects(registrar.registerOnce());
  assert.equal(seen.length, 1);
  assert.ok(seen[0] instanceof CustomEvent);
  assert.equal(seen[0].detail.name, "registration.attempt");
  assert.equal(seen[0].detail.attempt, 1);
});

test("an async onEvent or logger that rejects does not end the Node process", async () => {
  // An unhandled rejection ends a Node process (exit 1); the registrar drops these.
  const { code, stdout, stderr } = await runNode(
    `
    import { PrivateKey, Registrar } from "posemesh-registration";
    let calls = 0;
    const failing = async () => { calls++; throw new Error("the host's hook failed"); };
    const registrar = new Registrar(PrivateKey.fromHex("${KEY_HEX}"), {
      ddsUrl: "${DEAD}", version: "1.0.0", capabilities: ["/x/v1"], registrationCredentials: "s3cret",
      onEvent: failing,
      logger: { debug: failing, info: failing, warn: failing },
    });
    await registrar.registerOnce().catch((err) => console.log("rejected", err.code));
    await new Promise((resolve) => setTimeout(resolve, 50));
    console.log("hooks called", calls > 2);
    `,
    15_000,
  );
  assert.equal(code, 0, stderr);
  assert.match(stdout, /rejected registration_unavailable/);
  assert.match(stdout, /hooks called true/);
});

test("a storage that never answers is given up after the request timeout", async () => {
  const never = () => new Promise(() => {});
  // A save that never settles: tick() (a cron run) rejects once the request timeout passes.
  const events = [];
  const stalledSave = { load: async () => null, save: never };
  const cron = new Registrar(freshKey(), options(dds.url, {
    storage: stalledSave, onEvent: (e) => events.push(e.name), requestTimeoutMs: 300,
  }));
  await assert.rejects(cron.tick(), (err) => {
    assert.equal(err.code, "storage_save_failed");
    assert.match(err.message, /save\(\) did not end within 300 ms/);
    return true;
  });
  assert.ok(events.includes("state.save.error"), events.join());
  // A load that never settles: start() rejects, and stop() settles.
  const stalledLoad = { load: never, save: async () => {} };
  const registrar = new Registrar(freshKey(), options(dds.url, { storage: stalledLoad, requestTimeoutMs: 300 }));
  const starting = registrar.start();
  const stopping = registrar.stop();
  await assert.rejects(starting, (err) => {
    assert.equal(err.code, "storage_load_failed");
    assert.match(err.message, /load\(\) did not end within 300 ms/);
    return true;
  });
  await stopping;
  assert.equal(registrar.running, false);
});

// 6. Honest words

test("registration.error promises a retry only when the loop will retry", async () => {
  const once = new Registrar(freshKey(), options(DEAD));
  const failed = nextEvent(once, "registration.error");
  await assert.rejects(once.registerOnce());
  const alone = await failed;
  assert.doesNotMatch(alone.message, /retrying/);
  assert.equal(alone.retryInMs, undefined);

  const looping = new Registrar(freshKey(), options(DEAD));
  const next = nextEvent(looping, "registration.error");
  await looping.start();
  const inLoop = await next;
  await looping.stop();
  assert.match(inLoop.message, /retrying in \d+\.\ds/);
  assert.ok(inLoop.retryInMs > 0);
});
