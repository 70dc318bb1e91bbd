// Registers a posemesh node with a DDS from Node.js and exits 0 once registered.
//
//   npm install posemesh-registration
//   POSEMESH_DDS_URL=https://dds.example.com \
//   POSEMESH_PRIVATE_KEY=<64 hex digits> \
//   POSEMESH_REGISTRATION_CREDENTIALS=<secret> \
//   POSEMESH_NODE_URL=https://node.example.com \
//   node node-register.mjs
//
// The legacy flow: the DDS calls the node back at POSEMESH_NODE_URL
// (`POST /internal/v1/registrations`, `GET /health`). This script serves those two paths on
// 127.0.0.1:POSEMESH_NODE_PORT (default: any free port; POSEMESH_NODE_URL then defaults to
// it, which is right for a DDS on the same machine) and routes them to the registrar.
// Without POSEMESH_PRIVATE_KEY a fresh key is generated for the run.
import { createServer } from "node:http";
import { PrivateKey, Registrar, MemoryStorage } from "posemesh-registration";

const env = process.env;
const ddsUrl = env.POSEMESH_DDS_URL;
if (!ddsUrl) {
  console.error("set POSEMESH_DDS_URL to the DDS base URL");
  process.exit(2);
}
const key = env.POSEMESH_PRIVATE_KEY
  ? PrivateKey.fromHex(env.POSEMESH_PRIVATE_KEY)
  : PrivateKey.fromBytes(crypto.getRandomValues(new Uint8Array(32)));
const timeoutMs = Number(env.POSEMESH_TIMEOUT_MS ?? 60_000);

let registrar;
// The node's web server: the two DDS paths go to the registrar.
const server = createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const request = new Request(`http://${req.headers.host ?? "127.0.0.1"}${req.url}`, {
    method: req.method,
    headers: Object.entries(req.headers).filter(([, v]) => typeof v === "string"),
    body: req.method === "GET" || req.method === "HEAD" ? undefined : Buffer.concat(chunks),
  });
  const response = await registrar.handleCallback(request);
  res.writeHead(response.status, Object.fromEntries(response.headers));
  res.end(Buffer.from(await response.arrayBuffer()));
});
await new Promise((resolve) => server.listen(Number(env.POSEMESH_NODE_PORT ?? 0), "127.0.0.1", resolve));
const nodeUrl = env.POSEMESH_NODE_URL ?? `http://127.0.0.1:${server.address().port}`;

registrar = new Registrar(key, {
  ddsUrl,
  flow: "legacy",
  nodeUrl,
  version: env.NODE_VERSION ?? "1.0.0",
  capabilities: (env.NODE_CAPABILITIES ?? "/reconstruction/global-refinement/v1").split(","),
  registrationCredentials: env.POSEMESH_REGISTRATION_CREDENTIALS ?? "example-registration-credentials",
  storage: new MemoryStorage(),
  logger: console,
});
console.log(`node ${registrar.address} registering at ${ddsUrl} as ${nodeUrl}`);

const registered = new Promise((resolve) => registrar.addEventListener("registration.success", resolve, { once: true }));
const timer = setTimeout(() => {
  console.error(`not registered within ${timeoutMs} ms`);
  process.exit(1);
}, timeoutMs);

await registrar.start();
await registered;
// Give the DDS a moment to call back (legacy flow) before shutting the server down.
await new Promise((resolve) => setTimeout(resolve, Number(env.POSEMESH_LINGER_MS ?? 500)));
clearTimeout(timer);
await registrar.stop();
console.log(`registered: ${registrar.status}${registrar.nodeId ? `, node id ${registrar.nodeId}` : ""}`);
server.close();
