// The package's JavaScript surface without a DDS: exports, init, errors, redaction, storage
// adapters, and the callback handler.
import { test } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { spawnSync } from "node:child_process";
import init, {
  initSync,
  PrivateKey,
  Registrar,
  PosemeshError,
  KeyError,
  ConfigError,
  RegistrationError,
  StorageError,
  StateError,
  HttpRequest,
  MemoryStorage,
  WebStorage,
  KvStorage,
  buildRegistrationRequest,
  buildSiweNonceRequest,
  buildWalletRegistrationRequest,
  classifyResponse,
} from "posemesh-registration";
import { captureConsole } from "./helpers.mjs";

const KEY_HEX = "4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90";
const SECRET = "registration-secret-4242";
const DEAD_DDS = "http://127.0.0.1:1";

function shown(value) {
  return [String(value), JSON.stringify(value), JSON.stringify({ value }), inspect(value), inspect({ value }, { depth: 5 })];
}

test("the Node entry is ready at import; init() resolves anyway", async () => {
  await init();
  assert.equal(typeof initSync, "function");
  assert.equal(PrivateKey.fromHex(KEY_HEX).ethAddress, "0xfdbb6caf01414300c16ea14859fec7736d95355f");
});

test("error classes form a hierarchy with codes", () => {
  for (const Class of [KeyError, ConfigError, RegistrationError, StorageError, StateError]) {
    assert.ok(Class.prototype instanceof PosemeshError);
    assert.ok(Class.prototype instanceof Error);
    assert.equal(Class.prototype.name, Class.name);
  }
  assert.throws(() => new Registrar(PrivateKey.fromHex(KEY_HEX), { ddsUrl: "nope" }), ConfigError);
});

test("keys never show themselves", () => {
  const key = PrivateKey.fromHex(KEY_HEX);
  for (const text of shown(key)) {
    assert.ok(!text.includes(KEY_HEX), text);
    assert.ok(!text.toLowerCase().includes(KEY_HEX.slice(0, 16)), text);
  }
  assert.match(String(key), /^PrivateKey\(<redacted>, 0x[0-9a-f]{40}\)$/);
});

test("requests are plain data; the body never shows", async () => {
  const key = PrivateKey.fromHex(KEY_HEX);
  const request = buildRegistrationRequest(key, {
    ddsUrl: "https://dds.example.com",
    nodeUrl: "https://node.example.com",
    version: "1.2.3",
    capabilities: ["/x/v1"],
    registrationCredentials: SECRET,
  });
  assert.ok(request instanceof HttpRequest);
  assert.deepEqual(Object.keys(request), ["method", "url", "headers", "body", "redirect"]);
  assert.deepEqual(request.headers, { "content-type": "application/json" });
  assert.ok(request.body.includes(SECRET), "the body itself carries the credentials");
  for (const text of shown(request)) assert.ok(!text.includes(SECRET), text);
  // It is what fetch takes.
  const built = new Request(request.url, request);
  assert.equal(built.method, "POST");
  assert.equal(built.redirect, "manual");
  assert.equal(await built.text(), request.body);
});

test("classifyResponse accepts Headers, pairs and records", () => {
  const endpoint = "https://dds.example.com/internal/v1/nodes/register";
  assert.deepEqual(classifyResponse(endpoint, { status: 200 }), { ok: true });
  const viaHeaders = classifyResponse(endpoint, {
    status: 429,
    headers: new Headers({ "retry-after": "5" }),
    body: new TextEncoder().encode("slow down"),
  });
  assert.deepEqual(viaHeaders, {
    ok: false,
    failureClass: "retry_fast",
    status: 429,
    retryAfterMs: 5000,
    message: `registration failed: status 429, endpoint ${endpoint}, body_snippet: slow down`,
  });
  const conflict = classifyResponse(endpoint, { status: 409, headers: [["x", "y"]] });
  assert.equal(conflict.failureClass, "conflict");
  const refused = classifyResponse(endpoint, { status: 401, body: "é".repeat(600) });
  assert.equal(refused.failureClass, "retry_later");
  assert.ok(Buffer.byteLength(refused.message.split("body_snippet: ")[1]) <= 512);
  assert.throws(() => classifyResponse(endpoint, { status: "200" }), PosemeshError);
});

test("options are validated with ConfigError codes, never echoing the secret", () => {
  const key = PrivateKey.fromHex(KEY_HEX);
  const base = {
    ddsUrl: DEAD_DDS, flow: "legacy", nodeUrl: "http://127.0.0.1:2", version: "1",
    capabilities: ["/x/v1"], registrationCredentials: SECRET,
  };
  const cases = [
    [{ ...base, ddsUrl: "dds.example.com" }, "invalid_dds_url"],
    [{ ...base, nodeUrl: "http://user:pw@node" }, "invalid_node_url"],
    [{ ...base, flow: "wallet", nodeUrl: undefined, capabilities: [] }, "no_capabilities"],
    [{ ...base, capabilities: [] }, "no_capabilities"],
    [{ ...base, capabilities: ["c"] }, "capability_not_a_path"],
    [{ ...base, capabilities: ["/a b"] }, "invalid_capability_character"],
    [{ ...base, ddsUrl: "http://dds.example.com" }, "plaintext_dds"],
    [{ ...base, ddsUrl: "https://dds.example.com?x=1" }, "invalid_dds_url"],
    [{ ...base, ddsUrl: "https://user:pw@dds.example.com" }, "invalid_dds_url"],
    [{ ...base, ddsUrl: "https://dds.example.com#f" }, "invalid_dds_url"],
    [{ ...base, allowPlaintextDds: "yes" }, "invalid_option"],
    [{ ...base, flow: "wallet" }, "node_url_with_wallet"],
    [{ ...base, flow: undefined }, "node_url_with_wallet"],
    [{ ...base, nodeUrl: undefined }, "missing_node_url"],
    [{ ...base, flow: "pigeon" }, "unknown_flow"],
    [{ ...base, requestTimeoutMs: 0 }, "zero_request_timeout"],
    [{ ...base, registerIntervalMs: 500 }, "interval_too_short"],
    [{ ...base, version: "" }, "empty_version"],
    [{ ...base, siweDomains: ["https://dds.example.com"] }, "invalid_siwe_domain"],
    [{ ...base, registrationCredentials: 12345678 }, "invalid_option"],
    [{ ...base, storage: {} }, "invalid_option"],
    [{ ...base, requestTimeoutMs: "30" }, "invalid_option"],
    // Whole, finite milliseconds: 0.5 would run as 0 ms, Infinity as a year; a negative
    // whole number meets the core's rule, as in every binding.
    [{ ...base, requestTimeoutMs: 0.5 }, "invalid_option"],
    [{ ...base, requestTimeoutMs: NaN }, "invalid_option"],
    [{ ...base, registerIntervalMs: Infinity }, "invalid_option"],
    [{ ...base, registerIntervalMs: -1000 }, "interval_too_short"],
  ];
  for (const [options, code] of cases) {
    assert.throws(
      () => new Registrar(key, options),
      (err) => err instanceof ConfigError && err.code === code && !err.message.includes(SECRET) && !err.message.includes("12345678"),
      code,
    );
  }
  assert.throws(
    () => new Registrar(key, { ...base, requestTimeoutMs: 0.5 }),
    /options\.requestTimeoutMs must be a whole number of milliseconds/,
  );
});

test("the registrar never shows the key or the secret; logs carry no secret", async () => {
  const key = PrivateKey.fromHex(KEY_HEX);
  const events = [];
  const [error, output] = await captureConsole(async () => {
    const registrar = new Registrar(key, {
      ddsUrl: DEAD_DDS,
      flow: "legacy",
      nodeUrl: "http://127.0.0.1:2",
      version: "1",
      capabilities: ["/x/v1"],
      registrationCredentials: SECRET,
      logger: console,
      onEvent: (event) => events.push(event),
    });
    for (const text of shown(registrar)) {
      assert.ok(!text.includes(SECRET) && !text.includes(KEY_HEX), text);
    }
    try {
      await registrar.registerOnce();
    } catch (err) {
      console.error(err);
      return err;
    }
  });
  assert.ok(error instanceof RegistrationError);
  assert.equal(error.code, "registration_unavailable");
  assert.equal(error.failureClass, "retry_fast");
  assert.ok(output.includes("registration.error"), output);
  assert.ok(!output.includes(SECRET), output);
  assert.ok(!output.includes(KEY_HEX), output);
  for (const event of events) assert.ok(!JSON.stringify(event).includes(SECRET));
  assert.deepEqual(
    events.map((e) => e.name),
    // No loop starts; the last: back to "disconnected", as nothing will retry.
    [
      "status.transition",
      "registration.attempt",
      "registration.error",
      "status.transition",
    ],
  );
});

test("events reach EventTarget listeners as CustomEvents", async () => {
  const registrar = new Registrar(PrivateKey.fromHex(KEY_HEX), {
    ddsUrl: DEAD_DDS,
    flow: "legacy",
    nodeUrl: "http://127.0.0.1:2",
    version: "1",
    capabilities: ["/x/v1"],
    registrationCredentials: SECRET,
  });
  const seen = [];
  const listener = (event) => seen.push(event);
  registrar.addEventListener("status.transition", listener);
  registrar.events.addEventListener("registration.error", listener);
  await assert.rejects(registrar.registerOnce(), RegistrationError);
  assert.deepEqual(seen.map((e) => e.type), ["status.transition", "registration.error", "status.transition"]);
  assert.equal(seen[0].detail.from, "disconnected");
  assert.equal(seen[0].detail.to, "registering");
  assert.equal(seen[1].detail.failureClass, "retry_fast");
  // Nothing will retry (no loop): back to "disconnected".
  assert.equal(seen[2].detail.to, "disconnected");
  registrar.removeEventListener("status.transition", listener);
  await assert.rejects(registrar.registerOnce(), RegistrationError);
  assert.equal(seen.filter((e) => e.type === "status.transition").length, 2);
});

test("storage adapters round-trip bytes", async () => {
  const bytes = new TextEncoder().encode('{"version":1,"status":"registered"}');
  const memory = new MemoryStorage();
  assert.equal(await memory.load(), null);
  await memory.save(bytes);
  bytes[0] = 0; // a copy was kept
  assert.equal(new TextDecoder().decode(await memory.load()), '{"version":1,"status":"registered"}');

  const area = new Map();
  const fakeLocalStorage = {
    getItem: (k) => (area.has(k) ? area.get(k) : null),
    setItem: (k, v) => area.set(k, String(v)),
  };
  const web = new WebStorage("node-a", fakeLocalStorage);
  assert.equal(await web.load(), null);
  await web.save(new TextEncoder().encode("{}"));
  assert.equal(area.get("node-a"), "{}");
  assert.equal(new TextDecoder().decode(await web.load()), "{}");
  assert.throws(() => new WebStorage("x", undefined), (err) => err instanceof PosemeshError && err.code === "invalid_argument");

  const kv = new Map();
  const namespace = {
    async get(k, options) {
      assert.deepEqual(options, { type: "arrayBuffer" });
      return kv.has(k) ? kv.get(k).buffer.slice(0) : null;
    },
    async put(k, v) {
      kv.set(k, new Uint8Array(v));
    },
  };
  const store = new KvStorage(namespace, "snap");
  assert.equal(await store.load(), null);
  await store.save(new TextEncoder().encode("[1]"));
  assert.equal(new TextDecoder().decode(await store.load()), "[1]");
  assert.throws(() => new KvStorage({}), (err) => err instanceof PosemeshError && err.code === "invalid_argument");
  assert.throws(() => new MemoryStorage(123), (err) => err instanceof PosemeshError && err.code === "invalid_argument");
});

test("handleCallback answers /health, the callback and 404", async () => {
  const registrar = new Registrar(PrivateKey.fromHex(KEY_HEX), {
    ddsUrl: DEAD_DDS,
    flow: "legacy",
    nodeUrl: "http://127.0.0.1:2",
    version: "1",
    capabilities: ["/x/v1"],
    registrationCredentials: SECRET,
  });
  const health = await registrar.handleCallback(
    new Request("http://127.0.0.1:2/health", { headers: { "user-agent": "DDS v2.0" } }),
  );
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { ok: true });
  const missing = await registrar.handleCallback(new Request("http://127.0.0.1:2/nope"));
  assert.equal(missing.status, 404);
  const wrongMethod = await registrar.handleCallback(new Request("http://127.0.0.1:2/internal/v1/registrations"));
  assert.equal(wrongMethod.status, 405);
  const post = (body) =>
    registrar.handleCallback(new Request("http://127.0.0.1:2/internal/v1/registrations", { method: "POST", body }));
  assert.equal((await post("{")).status, 400);
  assert.equal((await post('{"id":"","secret":"x"}')).status, 422);
  assert.equal((await post("x".repeat(2 * 1024 * 1024 + 1))).status, 413);
  // Nothing pending: refused (a forged callback changes nothing).
  assert.equal((await post('{"id":"n1","secret":"dds-secret"}')).status, 409);
  assert.equal(registrar.nodeId, undefined);
  await assert.rejects(registrar.handleCallback({ url: "/health" }), PosemeshError);
});

test("tick(now) and state errors", async () => {
  const storage = new MemoryStorage();
  const registrar = new Registrar(PrivateKey.fromHex(KEY_HEX), {
    ddsUrl: DEAD_DDS,
    flow: "legacy",
    nodeUrl: "http://127.0.0.1:2",
    version: "1",
    capabilities: ["/x/v1"],
    registrationCredentials: SECRET,
    storage,
  });
  const result = await registrar.tick(new Date());
  assert.equal(result.attempted, true);
  // Nothing is trying after a failed tick (no loop): "disconnected"; the next tick attempts.
  assert.equal(result.status, "disconnected");
  assert.ok(result.error instanceof RegistrationError);
  const stored = JSON.parse(new TextDecoder().decode(await storage.load()));
  assert.equal(stored.status, "disconnected");
  assert.equal(stored.attempt, 1);
  await assert.rejects(registrar.tick("yesterday"), PosemeshError);
  // A tick next to the running loop would wait for it forever: refused.
  await registrar.start();
  await assert.rejects(registrar.tick(), (err) => err instanceof StateError && err.code === "already_running");
  await assert.rejects(registrar.start(), (err) => err instanceof StateError && err.code === "already_running");
  await registrar.stop();
  assert.equal(registrar.running, false);
});

test("classifyResponse reads status 0 as the redirect a browser did not follow", () => {
  const endpoint = "https://dds.example.com/internal/v1/nodes/register";
  // What fetch(..., { redirect: "manual" }) gives in a browser: type "opaqueredirect", status 0.
  const verdict = classifyResponse(endpoint, { status: 0 });
  assert.equal(verdict.ok, false);
  assert.equal(verdict.failureClass, "retry_later");
  assert.match(verdict.message, /redirect to an unnamed location not followed/);
  for (const status of [1, 99, 1000]) {
    assert.throws(() => classifyResponse(endpoint, { status }), (err) => err.code === "invalid_argument");
  }
  assert.throws(() => classifyResponse(endpoint, { status: -1 }), PosemeshError);
});

test("the low-level wallet builders refuse what the registrar refuses", () => {
  const key = PrivateKey.fromHex(KEY_HEX);
  const challenge = (domain, uri) => ({
    nonce: "n0nce42x", domain, uri, version: "1", chainId: 1, issuedAt: "2024-01-02T03:04:05Z",
  });
  const options = {
    ddsUrl: "https://dds.example.com",
    version: "1.0.0",
    capabilities: ["/reconstruction/global-refinement/v1"],
    registrationCredentials: SECRET,
  };
  for (const [domain, uri, why] of [
    ["app.evil.example", "https://app.evil.example/", /not the DDS/],
    ["dds.example.com\nURI: https://evil.example/", "https://dds.example.com/", /line break/],
    ["dds.example.com", "https://evil.example/login", /URI is not on domain/],
  ]) {
    assert.throws(
      () => buildWalletRegistrationRequest(key, { ...options, challenge: challenge(domain, uri) }),
      (err) => err instanceof PosemeshError && err.code === "invalid_challenge" && why.test(err.message),
      domain,
    );
  }
  // Trusted when siweDomains names it, as the registrar's siweDomains does.
  const pub = challenge("dds.public.example", "https://dds.public.example/");
  assert.throws(() => buildWalletRegistrationRequest(key, { ...options, challenge: pub }), /not the DDS/);
  const request = buildWalletRegistrationRequest(key, {
    ...options, challenge: pub, siweDomains: ["dds.public.example"],
  });
  assert.equal(request.url, "https://dds.example.com/internal/v1/nodes/register-wallet");
  assert.ok(JSON.parse(request.body).message.startsWith("dds.public.example wants you to sign in"));
  assert.throws(
    () => buildWalletRegistrationRequest(key, { ...options, challenge: pub, siweDomains: ["https://x"] }),
    (err) => err.code === "invalid_siwe_domain",
  );
  // Step 1 takes an address, checked; any case, sent as the registrar sends its own.
  assert.throws(() => buildSiweNonceRequest(options.ddsUrl, "nope"), (err) => err.code === "invalid_argument");
  const nonce = buildSiweNonceRequest(options.ddsUrl, key.ethAddress.toUpperCase().replace("0X", "0x"));
  assert.deepEqual(JSON.parse(nonce.body), { wallet: key.ethAddress });
});

test("an uncaught error prints its message, not a page of minified source", () => {
  const script = 'import { PrivateKey } from "posemesh-registration"; PrivateKey.fromHex("zz");';
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  assert.notEqual(run.status, 0);
  assert.match(run.stderr, /KeyError/);
  // Node shows the source line the error came from: a line, not the whole minified file.
  const longest = Math.max(...run.stderr.split("\n").map((line) => line.length));
  assert.ok(longest < 400, `a ${longest}-character line in:\n${run.stderr.slice(0, 600)}`);
});
