// The checks Auki's newer clients make: a plaintext DDS only on loopback or with
// `allowPlaintextDds`, capabilities that are paths, and 409/402 answers that say what to do.
// The rules are the core's; these tests prove the npm package passes them on.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  PrivateKey,
  Registrar,
  ConfigError,
  RegistrationError,
  buildRegistrationRequest,
  buildSiweNonceRequest,
  buildWalletRegistrationRequest,
  classifyResponse,
} from "posemesh-registration";
import { secp, bytesToHex, captureConsole } from "./helpers.mjs";
import { startMockDds } from "./mock-dds.mjs";

const CREDENTIALS = "js-checks-registration-credentials";
const CAPABILITIES = ["/reconstruction/global-refinement/v1"];
const PLAIN = "http://dds.example.com";
let dds;

function freshKey() {
  return PrivateKey.fromHex(bytesToHex(secp.utils.randomSecretKey()));
}

function options(ddsUrl, extra = {}) {
  return { ddsUrl, version: "1.0.0", capabilities: CAPABILITIES, registrationCredentials: CREDENTIALS, ...extra };
}

/** Each low-level builder, called with this DDS URL (and `extra` options). */
function builders(ddsUrl, extra = {}) {
  const key = freshKey();
  const domain = new URL(ddsUrl.replace(/\/\/[^@/]*@/, "//")).host;
  const challenge = { nonce: "n0nce42x", domain, uri: ddsUrl, version: "1", chainId: 1, issuedAt: "2024-01-02T03:04:05Z" };
  return [
    () => buildRegistrationRequest(key, { ...options(ddsUrl, extra), nodeUrl: "https://node.example.com" }),
    () => buildSiweNonceRequest(ddsUrl, key.ethAddress, extra),
    () => buildWalletRegistrationRequest(key, { ...options(ddsUrl, extra), challenge }),
  ];
}

const isCode = (code) => (err) => err instanceof ConfigError && err.code === code;

before(async () => {
  dds = await startMockDds();
});

after(async () => {
  await dds?.stop();
});

test("plaintext_dds_is_refused_unless_loopback_or_allowed", () => {
  for (const url of [PLAIN, "http://10.0.0.5:8080", "HTTP://dds.example.com/api"]) {
    assert.throws(() => new Registrar(freshKey(), options(url)), (err) => {
      assert.ok(isCode("plaintext_dds")(err), String(err));
      assert.match(err.message, /unencrypted/);
      assert.match(err.message, /allowPlaintextDds/);
      return true;
    });
    new Registrar(freshKey(), options(url, { allowPlaintextDds: true })).free();
  }
  for (const url of ["http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1", "http://dds.localhost:1", "https://dds.example.com"]) {
    new Registrar(freshKey(), options(url)).free();
  }
  assert.throws(() => new Registrar(freshKey(), options(PLAIN, { allowPlaintextDds: 1 })), isCode("invalid_option"));
});

test("the low-level builders refuse a plaintext DDS unless allowPlaintextDds", () => {
  for (const build of builders(PLAIN)) assert.throws(build, isCode("plaintext_dds"));
  for (const build of builders(PLAIN, { allowPlaintextDds: true })) {
    assert.ok(build().url.startsWith(`${PLAIN}/internal/v1/`));
  }
  for (const build of builders("http://127.0.0.1:8080")) {
    assert.ok(build().url.startsWith("http://127.0.0.1:8080/internal/v1/"));
  }
});

test("DDS URLs with userinfo, a query or a fragment are refused everywhere", () => {
  for (const url of ["https://user:pw@dds.example.com", "https://dds.example.com?x=1", "https://dds.example.com#top"]) {
    assert.throws(() => new Registrar(freshKey(), options(url)), (err) => isCode("invalid_dds_url")(err) && !err.message.includes("pw@"));
    for (const build of builders(url, { allowPlaintextDds: true })) assert.throws(build, isCode("invalid_dds_url"), url);
  }
});

test("capabilities_are_paths", () => {
  // In both flows; the low-level builders send what they are given (at the end).
  const legacy = { flow: "legacy", nodeUrl: "https://node.example.com" };
  for (const flow of [{}, legacy]) {
    for (const [capabilities, code] of [
      [[], "no_capabilities"],
      [["c"], "capability_not_a_path"],
      [["/ok/v1", "test"], "capability_not_a_path"],
      [["/splatter colmap/v1"], "invalid_capability_character"],
      [["/a\tb"], "invalid_capability_character"],
      [["/a\u007f"], "invalid_capability_character"],
    ]) {
      assert.throws(
        () => new Registrar(freshKey(), options("https://dds.example.com", { ...flow, capabilities })),
        isCode(code),
        JSON.stringify(capabilities),
      );
    }
    new Registrar(freshKey(), options("https://dds.example.com", { ...flow, capabilities: ["/splatter/colmap/v1", "/a"] })).free();
  }
  assert.match(
    (() => { try { new Registrar(freshKey(), options("https://dds.example.com", { capabilities: ["test"] })); } catch (err) { return err.message; } })(),
    /capability "test" is not a path/,
  );
  // The reference's vectors hold a capability with spaces and an empty legacy list.
  for (const capabilities of [["c"], ["cap with spaces"], []]) {
    const request = buildRegistrationRequest(freshKey(), {
      ...options("https://dds.example.com", { capabilities }), nodeUrl: "https://node.example.com",
    });
    assert.deepEqual(JSON.parse(request.body).capabilities, capabilities);
  }
});

test("classifyResponse gives 409 and 402 a hint, apart from the message", () => {
  const endpoint = "https://dds.example.com/internal/v1/nodes/register-wallet";
  for (const [status, hint] of [[409, /same wallet/], [402, /lacks the stake/]]) {
    const verdict = classifyResponse(endpoint, { status, body: "no" });
    assert.match(verdict.hint, hint);
    assert.equal(verdict.message, `registration failed: status ${status}, endpoint ${endpoint}, body_snippet: no`);
  }
  assert.equal("hint" in classifyResponse(endpoint, { status: 503 }), false);
});

for (const [status, code, hint] of [
  [409, "registration_conflict", /same wallet/],
  [402, "registration_rejected", /lacks the stake/],
]) {
  test(`conflict_and_missing_stake_say_what_to_do (${status})`, async () => {
    await dds.faults([{ status, body: "refused" }]);
    const events = [];
    const registrar = new Registrar(freshKey(), options(dds.url, { onEvent: (e) => events.push(e), logger: console }));
    const [error, output] = await captureConsole(() => registrar.registerOnce().then(() => null, (err) => err));
    assert.ok(error instanceof RegistrationError, String(error));
    assert.equal(error.code, code);
    assert.equal(error.status, status);
    assert.match(error.hint, hint);
    // The reference's message first, then the advice.
    assert.ok(error.message.endsWith(`body_snippet: refused (hint: ${error.hint})`), error.message);
    const name = status === 409 ? "registration.conflict" : "registration.error";
    const event = events.find((e) => e.name === name);
    assert.ok(event, JSON.stringify(events));
    assert.equal(event.hint, error.hint);
    assert.ok(event.error.endsWith("body_snippet: refused"), event.error);
    assert.equal(event.status, `${status} ${status === 409 ? "Conflict" : "Payment Required"}`);
    assert.ok(output.includes(`(hint: ${error.hint})`), output);
    assert.ok(!output.includes(CREDENTIALS));
    registrar.free();
    await dds.clearFaults();
  });
}
