// Benchmarks of the npm package, printed (not asserted):
//   - gzipped size of the .wasm and the JavaScript a user loads;
//   - instantiate + first signed request in a fresh Node process (median of several);
//   - signatures per second against @noble/secp256k1 on the same message.
//
// Usage: bindings-wasm/build.sh && node bindings-wasm/bench.mjs [--runs N]
// Needs scripts/setup-node.sh (noble, from bindings-wasm/js-tests/node_modules).
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { gzipSync } from "node:zlib";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.join(here, "pkg");
const modules = path.join(here, "js-tests/node_modules");
if (!existsSync(path.join(pkg, "node.js"))) {
  console.error("bench.mjs: build the package first: bindings-wasm/build.sh");
  process.exit(1);
}
const runsArg = process.argv.indexOf("--runs");
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 15;

// 1. Size.
const gz = (file) => gzipSync(readFileSync(path.join(pkg, file)), { level: 9 }).length;
const wasmGz = gz("posemesh_registration_bg.wasm");
const nodeJs = ["posemesh_registration.js", "support.js", "common.js", "node.js"];
const jsGz = nodeJs.reduce((sum, f) => sum + gz(f), 0);
const wasmRaw = readFileSync(path.join(pkg, "posemesh_registration_bg.wasm")).length;
console.log(`size: .wasm ${(wasmRaw / 1024).toFixed(1)} KiB raw, ${(wasmGz / 1024).toFixed(1)} KiB gzipped; ` +
  `JS glue ${(jsGz / 1024).toFixed(1)} KiB gzipped; total ${((wasmGz + jsGz) / 1024).toFixed(1)} KiB gzipped (target <= 64 KiB)`);

// 2. Cold start: a fresh process imports the package (read + compile + instantiate) and
// builds one signed registration request.
const cold = `
  const t0 = performance.now();
  const { PrivateKey, buildRegistrationRequest } = await import(${JSON.stringify(pathToFileURL(path.join(pkg, "node.js")).href)});
  const t1 = performance.now();
  const key = PrivateKey.fromHex("4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90");
  buildRegistrationRequest(key, { ddsUrl: "https://dds.example.com", nodeUrl: "https://node.example.com",
    version: "1.2.3", capabilities: ["/reconstruction/global-refinement/v1"], registrationCredentials: "s" });
  const t2 = performance.now();
  console.log(JSON.stringify({ instantiate: t1 - t0, firstRequest: t2 - t1 }));
`;
// What any package pays: Node's ESM loader importing an empty module the same way.
const emptyDir = mkdtempSync(path.join(tmpdir(), "posemesh-bench-"));
writeFileSync(path.join(emptyDir, "empty.mjs"), "export {};\n");
const empty = `
  const t0 = performance.now();
  await import(${JSON.stringify(pathToFileURL(path.join(emptyDir, "empty.mjs")).href)});
  console.log(JSON.stringify({ instantiate: performance.now() - t0 }));
`;
const samples = [];
const baseline = [];
const run = (script) => JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" }));
for (let i = 0; i < runs; i++) {
  samples.push(run(cold));
  baseline.push(run(empty));
}
rmSync(emptyDir, { recursive: true, force: true });
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const inst = median(samples.map((s) => s.instantiate));
const first = median(samples.map((s) => s.firstRequest));
const loader = median(baseline.map((s) => s.instantiate));
console.log(`cold start (median of ${runs} processes): import+instantiate ${inst.toFixed(2)} ms, ` +
  `first signed request ${first.toFixed(2)} ms, total ${(inst + first).toFixed(2)} ms (target <= 10 ms); ` +
  `Node's ESM loader alone (an empty module): ${loader.toFixed(2)} ms`);

// 3. Throughput against noble, same key and message (keccak256 + RFC 6979 recoverable sign).
const { PrivateKey } = await import(pathToFileURL(path.join(pkg, "node.js")).href);
const secp = await import(pathToFileURL(path.join(modules, "@noble/secp256k1/index.js")).href);
const { keccak_256 } = await import(pathToFileURL(path.join(modules, "@noble/hashes/sha3.js")).href);
const { sha256 } = await import(pathToFileURL(path.join(modules, "@noble/hashes/sha2.js")).href);
const { hmac } = await import(pathToFileURL(path.join(modules, "@noble/hashes/hmac.js")).href);
secp.hashes.sha256 = sha256;
secp.hashes.hmacSha256 = (k, m) => hmac(sha256, k, m);

const keyHex = "4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90";
const message = "https://node.example.com2024-01-02T03:04:05.006007008Z";
const messageBytes = new TextEncoder().encode(message);
const keyBytes = Uint8Array.from(keyHex.match(/../g), (h) => parseInt(h, 16));
const key = PrivateKey.fromHex(keyHex);

function rate(fn, ms = 1000) {
  for (let i = 0; i < 50; i++) fn(); // warm up
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    for (let i = 0; i < 20; i++) fn();
    n += 20;
  }
  return (n * 1000) / (performance.now() - start);
}
const ours = rate(() => key.signRegistration(message));
const noble = rate(() => secp.sign(keccak_256(messageBytes), keyBytes, { prehash: false, format: "recovered" }));
console.log(`signatures/s (keccak256 + recoverable ECDSA): posemesh-registration (wasm) ${ours.toFixed(0)}, ` +
  `@noble/secp256k1 ${noble.toFixed(0)} (x${(ours / noble).toFixed(2)})`);
console.log(`node ${process.version}; package files: ${readdirSync(pkg).join(", ")}`);
