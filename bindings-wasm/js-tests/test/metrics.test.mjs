// Operator metrics: the numbers every runtime gives (core's MetricsSnapshot), camelCase.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { PrivateKey, Registrar, RegistrationError } from "posemesh-registration";
import { secp, bytesToHex } from "./helpers.mjs";
import { startMockDds } from "./mock-dds.mjs";

let dds;
before(async () => {
  dds = await startMockDds();
});
after(async () => {
  await dds?.stop();
});

test("metrics count failures, successes and sign-ins", async () => {
  const key = PrivateKey.fromHex(bytesToHex(secp.utils.randomSecretKey()));
  const registrar = new Registrar(key, {
    ddsUrl: dds.url,
    version: "1.0.0",
    capabilities: ["/reconstruction/global-refinement/v1"],
    registrationCredentials: `wasm-metrics-${Math.random().toString(36).slice(2)}`,
  });
  const fresh = await registrar.metrics();
  assert.equal(fresh.status, "disconnected");
  assert.equal(fresh.sinceLastSuccessMs, undefined);

  await dds.faults([{ status: 503, path: "/internal/v1/auth/siwe/request" }]);
  await assert.rejects(registrar.registerOnce(), RegistrationError);
  assert.equal((await registrar.metrics()).consecutiveFailures, 1);
  assert.equal(await registrar.registerOnce(), "registered");
  await registrar.accessToken();

  const metrics = await registrar.metrics();
  assert.equal(metrics.status, "registered");
  assert.deepEqual(metrics.attempts, { registered: 1, adopted: 0, retryFast: 1, retryLater: 0, conflict: 0 });
  assert.equal(metrics.consecutiveFailures, 0);
  assert.ok(metrics.sinceLastSuccessMs >= 0 && metrics.sinceLastSuccessMs < 10_000);
  assert.ok(metrics.timeToRegisteredMs >= 0);
  assert.equal(metrics.signIns, 1);
  assert.equal(metrics.signInFailures, 0);
  assert.deepEqual(metrics.callbacksRefused, {});
  assert.equal(metrics.healthChecks, 0);
});
