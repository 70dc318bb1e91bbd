// Starts the conformance DDS (`posemesh-registration mock-dds`) on loopback for a test, and
// talks to its control API. The process exits when its stdin closes.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { createServer } from "node:http";
import path from "node:path";
import { REPO } from "./helpers.mjs";

const BINARY = process.env.POSEMESH_CLI ?? path.join(REPO, "target/debug/posemesh-registration");

export async function startMockDds(args = []) {
  const child = spawn(BINARY, ["mock-dds", "--listen", "127.0.0.1:0", "--exit-on-stdin-eof", ...args], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mock DDS did not start: ${stderr}`)), 15_000);
    lines.once("line", (line) => {
      clearTimeout(timer);
      resolve(line.trim());
    });
    child.once("exit", (code) => reject(new Error(`mock DDS exited with ${code}: ${stderr}`)));
  });
  if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(url)) throw new Error(`unexpected mock DDS URL: ${url}`);
  const control = async (method, route, body) => {
    const response = await fetch(url + route, {
      method,
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${await response.text()}`);
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  };
  return {
    url,
    registrations: () => control("GET", "/_control/registrations"),
    faults: (faults) => control("POST", "/_control/faults", { faults }),
    clearFaults: () => control("DELETE", "/_control/faults"),
    reset: () => control("POST", "/_control/reset"),
    tokenLifetime: (ms) => control("POST", "/_control/session", { token_lifetime_ms: ms }),
    /** The status the DDS answers a call made with `token` (an AccessToken). */
    async checkToken(token) {
      const response = await fetch(url + "/internal/v1/auth/check", {
        headers: { authorization: `Bearer ${token.expose()}` },
      });
      return response.status;
    },
    async stop() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.stdin.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * A node's web server on 127.0.0.1 that forwards every request to
 * `registrar.handleCallback` (as a user's node would for the two DDS paths).
 */
export async function startCallbackServer(getRegistrar) {
  const server = createServer(async (req, res) => {
    try {
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      const hasBody = !["GET", "HEAD"].includes(req.method);
      const request = new Request(`http://127.0.0.1${req.url}`, {
        method: req.method,
        headers: Object.entries(req.headers).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v]])),
        body: hasBody ? Buffer.concat(chunks) : undefined,
      });
      const response = await getRegistrar().handleCallback(request);
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(Buffer.from(await response.arrayBuffer()));
    } catch (err) {
      res.writeHead(500);
      res.end(String(err));
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Resolves with the first event named `name` (rejects after `ms`). */
export function nextEvent(registrar, name, ms = 15_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${name} event within ${ms} ms`)), ms);
    registrar.addEventListener(
      name,
      (event) => {
        clearTimeout(timer);
        resolve(event.detail);
      },
      { once: true },
    );
  });
}

/** Polls `check` until it returns a truthy value (rejects after `ms`). */
export async function eventually(check, ms = 15_000, what = "condition") {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
