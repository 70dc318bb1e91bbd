// The examples in examples/js, run as users run them, against the conformance DDS:
// the Node example (exits 0 once registered) and the browser page in headless Chromium.
// (The Worker example runs in worker.test.mjs.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { cpSync, existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { REPO } from "./helpers.mjs";
import { startMockDds, eventually } from "./mock-dds.mjs";

const SCRATCH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CREDENTIALS = "example-registration-credentials";
let dds;

before(async () => {
  dds = await startMockDds(["--probe-interval-ms", "200"]);
  cpSync(path.join(REPO, "examples/js/node-register.mjs"), path.join(SCRATCH, "node-register.mjs"));
  cpSync(path.join(REPO, "examples/js/browser"), path.join(SCRATCH, "browser"), { recursive: true });
});

after(async () => {
  await dds?.stop();
});

function run(command, args, env, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: SCRATCH, env: { ...process.env, ...env } });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

test("examples/js/node-register.mjs registers and exits 0", async () => {
  const { code, output } = await run(
    process.execPath,
    ["node-register.mjs"],
    { POSEMESH_DDS_URL: dds.url, POSEMESH_REGISTRATION_CREDENTIALS: CREDENTIALS, POSEMESH_TIMEOUT_MS: "20000" },
    30_000,
  );
  assert.equal(code, 0, output);
  assert.match(output, /registered: registered/);
  assert.match(output, /registration\.success/);
  assert.ok(!output.includes(CREDENTIALS), output);
  const seen = await dds.registrations();
  for (const secret of seen.issued_secrets) assert.ok(!output.includes(secret), "DDS secret leaked");
  assert.ok(seen.callbacks.some((c) => c.status === 200), JSON.stringify(seen.callbacks));
});

test("examples/js/node-register.mjs exits 1 when the DDS is unreachable", async () => {
  const { code, output } = await run(
    process.execPath,
    ["node-register.mjs"],
    { POSEMESH_DDS_URL: "http://127.0.0.1:1", POSEMESH_TIMEOUT_MS: "1500" },
    15_000,
  );
  assert.equal(code, 1, output);
  assert.match(output, /not registered within/);
});

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].find(existsSync);

test("examples/js/browser registers from headless Chromium (web entry, init())", async () => {
  assert.ok(CHROMIUM, "chromium is installed (scripts/setup-wasm.sh)");
  const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };
  // Serves the page and the installed package; /dds/* goes to the DDS (same origin: no CORS).
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname.startsWith("/dds/")) {
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      const answer = await fetch(dds.url + url.pathname.slice(4), {
        method: req.method,
        headers: { "content-type": req.headers["content-type"] ?? "application/json" },
        body: req.method === "POST" ? Buffer.concat(chunks) : undefined,
      });
      res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "text/plain" });
      res.end(Buffer.from(await answer.arrayBuffer()));
      return;
    }
    const file = path.join(SCRATCH, path.normalize(url.pathname.endsWith("/") ? url.pathname + "index.html" : url.pathname));
    if (!file.startsWith(SCRATCH) || !existsSync(file)) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  try {
    const before = (await dds.registrations()).received.length;
    // The DDS's SIWE challenge names its own authority, not this proxy's: trust it by name.
    const siweDomain = new URL(dds.url).host;
    const page = `${origin}/browser/?auto=1&credentials=${CREDENTIALS}&dds=${encodeURIComponent(origin + "/dds")}&siweDomain=${siweDomain}`;
    const chromium = () =>
      run(
        CHROMIUM,
        ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=20000", "--dump-dom", page],
        {},
        60_000,
      );
    let { output } = await chromium();
    if (!/data-status="registered"/.test(output)) {
      // Headless Chromium's virtual-time budget occasionally stalls a page on a
      // pending fetch (seen about once in 15 loaded runs, before and after the
      // package changed); one fresh browser process settles it. A second
      // failure is a real one.
      console.log("# browser example did not finish under virtual time; retrying once");
      ({ output } = await chromium());
    }
    assert.match(output, /data-status="registered"/, output.slice(-3000));
    await eventually(async () => (await dds.registrations()).received.length >= before + 2, 5_000, "the DDS log");
    const wallet = (await dds.registrations()).received.filter((r) => r.path === "/internal/v1/nodes/register-wallet");
    assert.ok(wallet.some((r) => r.accepted && r.capabilities?.includes("/capture/v1")));
  } finally {
    server.close();
  }
});
