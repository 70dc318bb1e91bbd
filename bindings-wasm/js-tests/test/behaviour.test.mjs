// The behaviour table every binding passes (docs/behaviour.md): one test per scenario, named
// after it, against the conformance DDS (or a local stand-in) on 127.0.0.1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import {
  PrivateKey,
  Registrar,
  MemoryStorage,
  ConfigError,
  RegistrationError,
  StateError,
  buildRegistrationRequest,
  classifyResponse,
} from "posemesh-registration";
import { secp, bytesToHex, captureConsole } from "./helpers.mjs";
import { startMockDds, nextEvent, eventually } from "./mock-dds.mjs";

const CAPABILITIES = ["/reconstruction/global-refinement/v1"];
const WALLET = "/internal/v1/nodes/register-wallet";
const SIWE = "/internal/v1/auth/siwe/request";
const LEGACY = "/internal/v1/nodes/register";
const DEAD = "http://127.0.0.1:9";
let dds;

before(async () => {
  dds = await startMockDds();
});

after(async () => {
  await dds?.stop();
});

function newKey() {
  const hex = bytesToHex(secp.utils.randomSecretKey());
  return { hex, key: PrivateKey.fromHex(hex) };
}

/** A wallet-flow configuration (the default flow) with a fresh secret. */
function options(ddsUrl, extra = {}) {
  return {
    ddsUrl,
    version: "1.0.0",
    capabilities: CAPABILITIES,
    registrationCredentials: `wasm-behaviour-${Math.random().toString(36).slice(2)}`,
    ...extra,
  };
}

/** What the conformance DDS received from `key` on `path`. */
async function received(key, path) {
  const { received } = await dds.registrations();
  return received.filter((r) => r.address === key.ethAddress && (!path || r.path === path));
}

function recorder() {
  const events = [];
  return { events, onEvent: (event) => events.push(event), names: () => events.map((e) => e.name) };
}

/** A local HTTP server answering every request with `answer(body)` -> [status, headers, body]. */
async function localServer(answer) {
  const seen = [];
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    seen.push({ path: req.url, body: body.toString("utf8") });
    const [status, headers, payload] = answer(body);
    res.writeHead(status, headers);
    res.end(payload);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return { port, url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((r) => server.close(r)) };
}

test("register_once_registers", async () => {
  const { key } = newKey();
  const registrar = new Registrar(key, options(dds.url));
  assert.equal(registrar.status, "disconnected");
  assert.equal(await registrar.registerOnce(), "registered");
  assert.equal(registrar.status, "registered");
  const accepted = (await received(key, WALLET)).filter((r) => r.accepted);
  assert.equal(accepted.length, 1);
  assert.equal((await received(key, SIWE)).length, 1);
});

/** A node registered once with in-memory storage: its key, options and the requests so far. */
async function registeredNode() {
  const { key } = newKey();
  const config = options(dds.url, { storage: new MemoryStorage() });
  assert.equal(await new Registrar(key, config).registerOnce(), "registered");
  return { key, config, before: (await received(key)).length };
}

test("register_once_adopts_a_fresh_matching_registration", async () => {
  const { key, config, before } = await registeredNode();
  const { events, onEvent } = recorder();
  const restarted = new Registrar(key, { ...config, onEvent });
  assert.equal(await restarted.registerOnce(), "adopted");
  assert.equal(restarted.status, "registered");
  assert.equal((await received(key)).length, before, "no request at all");
  const adopted = events.find((e) => e.name === "registration.adopted");
  assert.ok(adopted, JSON.stringify(events));
  assert.equal(typeof adopted.ageMs, "number");
  assert.equal(adopted.registrarStatus, "registered");
});

test("restart_reports_the_kept_registration", async () => {
  const { key, config, before } = await registeredNode();
  const { events, onEvent } = recorder();
  const restarted = new Registrar(key, { ...config, onEvent });
  const adopted = () => events.filter((e) => e.name === "registration.adopted");
  await restarted.start();
  try {
    await eventually(() => adopted().length > 0, 5_000, "registration.adopted");
    await new Promise((r) => setTimeout(r, 300)); // room for a second report, which must not come
  } finally {
    await restarted.stop();
  }
  assert.equal(adopted().length, 1, JSON.stringify(events));
  assert.equal(typeof adopted()[0].ageMs, "number");
  assert.equal(restarted.status, "registered");
  assert.equal((await received(key)).length, before, "no request at all");
});

test("upgrade_registers_again", async () => {
  const { key } = newKey();
  const storage = new MemoryStorage();
  const config = options(dds.url, { storage });
  assert.equal(await new Registrar(key, config).registerOnce(), "registered");
  const { events, onEvent } = recorder();
  const upgraded = new Registrar(key, { ...config, version: "1.1.0", onEvent });
  assert.equal(await upgraded.registerOnce(), "registered");
  const versions = (await received(key, WALLET)).filter((r) => r.accepted).map((r) => r.version);
  assert.deepEqual(versions, ["1.0.0", "1.1.0"]);
  const stale = events.find((e) => e.name === "registration.stale");
  assert.ok(stale, JSON.stringify(events));
  assert.match(stale.reason, /version/);
});

test("second_register_once_joins_the_first", async () => {
  const { key } = newKey();
  const registrar = new Registrar(key, options(dds.url));
  const outcomes = await Promise.all([registrar.registerOnce(), registrar.registerOnce()]);
  assert.deepEqual(outcomes, ["registered", "registered"]);
  assert.equal((await received(key, WALLET)).length, 1, "one attempt on the wire");
  assert.equal((await received(key, SIWE)).length, 1);
});

test("register_once_next_to_a_running_loop_joins_it", async () => {
  const { key } = newKey();
  const registrar = new Registrar(key, options(dds.url));
  await registrar.start();
  try {
    assert.equal(await registrar.registerOnce(), "registered");
    assert.equal(registrar.running, true);
  } finally {
    await registrar.stop();
  }
  assert.equal((await received(key, WALLET)).length, 1);
});

test("run_twice_is_an_error", async () => {
  const { key } = newKey();
  const registrar = new Registrar(key, options(DEAD));
  await registrar.start();
  await assert.rejects(registrar.start(), (err) => err instanceof StateError && err.code === "already_running");
  await registrar.stop();
  assert.equal(registrar.running, false);
});

test("stop_during_an_attempt", async () => {
  const { key } = newKey();
  await dds.faults([{ status: 200, delay_ms: 5000, path: SIWE }]);
  try {
    const registrar = new Registrar(key, options(dds.url));
    await registrar.start();
    const once = registrar.registerOnce().then(() => null, (err) => err);
    await eventually(async () => (await dds.registrations()).faults_queued === 0, 5_000, "the request in flight");
    const stopping = Date.now();
    await registrar.stop();
    assert.ok(Date.now() - stopping < 1000, "stop() does not wait for the DDS");
    const err = await once;
    assert.ok(err instanceof StateError && err.code === "stopped", String(err));
    assert.equal(registrar.running, false);
  } finally {
    await dds.clearFaults();
  }
});

test("zero_or_negative_timeout_is_refused", () => {
  const { key } = newKey();
  for (const requestTimeoutMs of [0, -1, -0.5]) {
    assert.throws(
      () => new Registrar(key, options(DEAD, { requestTimeoutMs })),
      (err) =>
        err instanceof ConfigError &&
        err.code === "zero_request_timeout" &&
        err.message === "request timeout must be greater than zero",
      String(requestTimeoutMs),
    );
  }
  // Not a duration at all: refused naming the option (NaN used to run as zero).
  assert.throws(
    () => new Registrar(key, options(DEAD, { requestTimeoutMs: NaN })),
    (err) => err instanceof ConfigError && err.code === "invalid_option" && /requestTimeoutMs/.test(err.message),
  );
});

test("short_credentials_are_refused", () => {
  const { key } = newKey();
  for (const registrationCredentials of ["s", "abc"]) {
    assert.throws(
      () => new Registrar(key, options(DEAD, { registrationCredentials })),
      (err) => err instanceof ConfigError && err.code === "short_credentials"
        && err.message === "registration credentials must be at least 4 bytes",
      registrationCredentials,
    );
  }
  new Registrar(key, options(DEAD, { registrationCredentials: "abcd" }));
});

test("interval_under_a_second_is_refused", () => {
  const { key } = newKey();
  for (const registerIntervalMs of [0, -1, 500, 999]) {
    assert.throws(
      () => new Registrar(key, options(DEAD, { registerIntervalMs })),
      (err) => err instanceof ConfigError && err.message === "registration interval must be at least 1 second",
      String(registerIntervalMs),
    );
  }
  new Registrar(key, options(DEAD, { registerIntervalMs: 1000 }));
});

test("wallet_is_the_default_flow", async () => {
  const { key } = newKey();
  const registrar = new Registrar(key, options(dds.url));
  assert.equal(await registrar.registerOnce(), "registered");
  assert.deepEqual(
    (await received(key)).map((r) => r.path),
    [SIWE, WALLET],
  );
  assert.equal((await received(key, LEGACY)).length, 0);
  new Registrar(key, options(dds.url, { flow: "legacy", nodeUrl: DEAD }));
});

test("wallet_config_with_a_node_url_is_refused", () => {
  const { key } = newKey();
  for (const extra of [{ nodeUrl: DEAD }, { flow: "wallet", nodeUrl: DEAD }]) {
    assert.throws(
      () => new Registrar(key, options(DEAD, extra)),
      (err) => err instanceof ConfigError && err.code === "node_url_with_wallet",
    );
  }
  assert.throws(
    () => new Registrar(key, options(DEAD, { flow: "legacy" })),
    (err) => err instanceof ConfigError && err.code === "missing_node_url",
  );
});

test("failed_save_is_reported", async () => {
  const { key } = newKey();
  const { events, onEvent } = recorder();
  const storage = {
    load: async () => null,
    save: async () => {
      throw new Error("disk full");
    },
  };
  const registrar = new Registrar(key, options(dds.url, { storage, onEvent }));
  assert.equal(await registrar.registerOnce(), "registered", "registering does not depend on persisting");
  const failed = events.find((e) => e.name === "state.save.error");
  assert.ok(failed, JSON.stringify(events));
  assert.equal(failed.level, "warn");
  assert.match(failed.error, /disk full/);
});

test("corrupt_state_is_set_aside", async () => {
  const { key } = newKey();
  const { names, onEvent } = recorder();
  const storage = new MemoryStorage(new TextEncoder().encode('{"status": "registered", "last_health_check_ms": "oops"'));
  const registrar = new Registrar(key, options(dds.url, { storage, onEvent }));
  assert.equal(await registrar.registerOnce(), "registered", "afresh");
  assert.equal(names()[0], "state.corrupt");
  const stored = JSON.parse(new TextDecoder().decode(await storage.load()));
  assert.equal(stored.status, "registered");
  assert.equal((await received(key, WALLET)).length, 1);
});

test("retry_after_zero_keeps_the_backoff", async () => {
  const { key } = newKey();
  await dds.faults([{ status: 503, retry_after: "0", path: WALLET }]);
  const { events, onEvent } = recorder();
  const stamps = {};
  const registrar = new Registrar(key, options(dds.url, { onEvent: (e) => { stamps[e.name] ??= Date.now(); onEvent(e); } }));
  await registrar.start();
  try {
    await nextEvent(registrar, "registration.success", 20_000);
  } finally {
    await registrar.stop();
    await dds.clearFaults();
  }
  const failure = events.find((e) => e.name === "registration.error");
  assert.ok(failure.retryInMs >= 1600, String(failure.retryInMs));
  assert.equal(failure.status, "503 Service Unavailable");
  assert.ok(stamps["registration.success"] - stamps["registration.error"] >= 1550);
  assert.deepEqual((await received(key, WALLET)).filter((r) => r.accepted).length, 1);
});

test("register_again_rearms_a_running_registrar", async () => {
  const { key } = newKey();
  const registrar = new Registrar(key, options(dds.url));
  await registrar.start();
  try {
    await nextEvent(registrar, "registration.success");
    const rearmed = nextEvent(registrar, "registration.rearm");
    const again = nextEvent(registrar, "registration.success");
    await registrar.registerAgain();
    await rearmed;
    await again;
    assert.equal(registrar.running, true);
    assert.equal(registrar.status, "registered");
  } finally {
    await registrar.stop();
  }
  assert.equal((await received(key, WALLET)).filter((r) => r.accepted).length, 2);
});

test("redirect_is_not_followed", async () => {
  const target = await localServer(() => [200, {}, "{}"]);
  const location = `http://localhost:${target.port}${LEGACY}`;
  const redirecting = await localServer(() => [307, { location }, ""]);
  try {
    for (const extra of [{}, { flow: "legacy", nodeUrl: DEAD }]) {
      const registrar = new Registrar(newKey().key, options(redirecting.url, extra));
      await assert.rejects(registrar.registerOnce(), (err) => {
        assert.ok(err instanceof RegistrationError);
        assert.equal(err.status, 307);
        assert.match(err.message, /redirect to host localhost/);
        return true;
      });
    }
    // The low-level request, sent as documented (`fetch(request.url, request)`), is no
    // exception: it asks fetch not to follow.
    const request = buildRegistrationRequest(newKey().key, {
      ddsUrl: redirecting.url, nodeUrl: DEAD, version: "1.0.0", capabilities: CAPABILITIES,
      registrationCredentials: "low-level-credentials",
    });
    assert.equal(request.redirect, "manual");
    const response = await fetch(request.url, request);
    assert.equal(response.status, 307);
    const verdict = classifyResponse(request.url, {
      status: response.status, headers: response.headers, body: await response.text(),
    });
    assert.equal(verdict.ok, false);
    assert.match(verdict.message, /redirect to host localhost/);
    assert.deepEqual(target.seen, [], "the other host received nothing");
    assert.equal(redirecting.seen.length, 3);
  } finally {
    await target.close();
    await redirecting.close();
  }
});

test("echoed_secret_is_redacted", async () => {
  const echo = await localServer((body) => [422, { "content-type": "application/json" }, body]);
  const { key, hex } = newKey();
  const config = options(echo.url, { flow: "legacy", nodeUrl: DEAD, logger: console });
  const secret = config.registrationCredentials;
  const { events, onEvent } = recorder();
  try {
    const [error, output] = await captureConsole(async () => {
      const registrar = new Registrar(key, { ...config, onEvent });
      try {
        await registrar.registerOnce();
      } catch (err) {
        console.error(err);
        console.error(String(registrar));
        return err;
      }
    });
    assert.equal(echo.seen.length, 1);
    assert.equal(JSON.parse(echo.seen[0].body).registration_credentials, secret, "it was echoed back");
    assert.ok(error instanceof RegistrationError);
    assert.equal(error.status, 422);
    assert.ok(events.some((e) => e.name === "registration.error"));
    const texts = [error.message, String(error), JSON.stringify(error), output, JSON.stringify(events)];
    for (const text of texts) {
      assert.ok(!text.includes(secret), text);
      assert.ok(!text.toLowerCase().includes(hex), text);
    }
  } finally {
    await echo.close();
  }
});
