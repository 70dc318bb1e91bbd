// The node's DDS session (docs/behaviour.md, "The DDS session"): a token the conformance DDS
// accepts, refreshed before it expires, one sign-in for a hundred callers, a new registration
// when verify says the node is gone, and never shown.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { PrivateKey, Registrar, RegistrationError, PosemeshError } from "posemesh-registration";
import { secp, bytesToHex } from "./helpers.mjs";
import { startMockDds } from "./mock-dds.mjs";

const VERIFY = "/internal/v1/auth/siwe/verify";
const WALLET = "/internal/v1/nodes/register-wallet";
let dds;

before(async () => {
  dds = await startMockDds();
});
after(async () => {
  await dds?.stop();
});
beforeEach(async () => {
  await dds.clearFaults();
  await dds.reset();
});

function registrar(extra = {}) {
  const key = PrivateKey.fromHex(bytesToHex(secp.utils.randomSecretKey()));
  return new Registrar(key, {
    ddsUrl: dds.url,
    version: "1.0.0",
    capabilities: ["/reconstruction/global-refinement/v1"],
    registrationCredentials: `wasm-session-${Math.random().toString(36).slice(2)}`,
    ...extra,
  });
}

const signIns = async () => (await dds.registrations()).sign_ins;
const accepted = async (path) =>
  (await dds.registrations()).received.filter((r) => r.accepted && r.path === path).length;

test("a token the DDS accepts and nothing shows", async () => {
  const r = registrar();
  const token = await r.accessToken();
  assert.equal(await dds.checkToken(token), 200);
  assert.equal(r.status, "registered");
  const secret = token.expose();
  for (const shown of [String(token), JSON.stringify(token), inspect(token), JSON.stringify({ token })]) {
    assert.ok(!shown.includes(secret), shown);
  }
  assert.ok(token.expiresAt instanceof Date && token.expiresAt > new Date());
  assert.equal((await r.accessToken()).expose(), secret, "the same token, no new sign-in");
  assert.equal(await signIns(), 1);
});

test("a hundred callers share one sign-in", async () => {
  const r = registrar();
  const tokens = await Promise.all(Array.from({ length: 100 }, () => r.accessToken()));
  assert.equal(new Set(tokens.map((t) => t.expose())).size, 1);
  assert.equal(await signIns(), 1);
  assert.equal(await accepted(WALLET), 1);
});

test("a running loop refreshes a short-lived token before it expires", async () => {
  await dds.tokenLifetime(1500);
  const r = registrar();
  await r.start();
  try {
    const seen = new Set();
    const until = Date.now() + 4000;
    while (Date.now() < until) {
      const token = await r.accessToken({ signal: AbortSignal.timeout(10_000) });
      seen.add(token.expose());
      assert.equal(await dds.checkToken(token), 200, "every token handed out is live");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(seen.size >= 2, "refreshed before it expired");
  } finally {
    await r.stop();
  }
});

test("forbidden from verify registers again", async () => {
  const r = registrar();
  assert.equal(await r.registerOnce(), "registered");
  await dds.faults([{ status: 403, path: VERIFY }]);
  const token = await r.accessToken();
  assert.equal(await dds.checkToken(token), 200);
  assert.equal(await accepted(WALLET), 2);
});

test("a refused token is replaced, and a failed round rejects", async () => {
  const r = registrar();
  const first = await r.accessToken();
  await Promise.all(Array.from({ length: 5 }, () => r.accessTokenRefused(first)));
  const second = await r.accessToken();
  assert.notEqual(second.expose(), first.expose());
  assert.equal(await signIns(), 2);
  await assert.rejects(r.accessTokenRefused(42), PosemeshError);

  await r.accessTokenRefused(second.expose()); // its text works too
  await dds.faults(Array.from({ length: 4 }, () => ({ status: 500, path: VERIFY })));
  await assert.rejects(r.accessToken(), (err) => err instanceof RegistrationError && err.status === 500);
});

test("an abort ends the wait", async () => {
  const r = registrar();
  await r.registerOnce();
  await dds.faults([{ status: 200, delay_ms: 3000, path: VERIFY }]);
  const started = Date.now();
  await assert.rejects(r.accessToken({ signal: AbortSignal.timeout(300) }));
  assert.ok(Date.now() - started < 2500);
});
