// The README's bundler recipes, run. esbuild bundles an app using the installed package for
// Node (platform node: the .wasm copied next to the bundle) and for browsers (platform
// browser: the .wasm inlined with the binary loader, or emitted with the file loader);
// webpack 5 bundles it for both targets with no configuration (it emits the .wasm the glue
// names with new URL(…, import.meta.url)), Rollup 4 with node-resolve and
// import-meta-assets. Each bundle then runs from a folder without node_modules, so only what
// was bundled is there, and registers with the conformance DDS.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { build } from "esbuild";
import webpack from "webpack";
import { rollup } from "rollup";
import { nodeResolve } from "@rollup/plugin-node-resolve";
import { importMetaAssets } from "@web/rollup-plugin-import-meta-assets";
import { writeFileSync } from "node:fs";
import { startMockDds } from "./mock-dds.mjs";

const KEY_HEX = "4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90";
const require = createRequire(path.join(process.cwd(), "package.json"));
const PACKAGE = path.dirname(require.resolve("posemesh-registration/package.json"));
const WASM = path.join(PACKAGE, "posemesh_registration_bg.wasm");
let dds;
const dirs = [];

before(async () => {
  dds = await startMockDds();
});

after(async () => {
  await dds?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function scratchDir() {
  const dir = mkdtempSync(path.join(tmpdir(), "posemesh-bundle-"));
  dirs.push(dir);
  return dir;
}

/** Bundles `contents` (resolved from the scratch project, where the package is installed). */
async function bundle(contents, options) {
  const result = await build({
    stdin: { contents, resolveDir: process.cwd(), sourcefile: "app.mjs", loader: "js" },
    bundle: true,
    format: "esm",
    logLevel: "silent",
    ...options,
  });
  assert.deepEqual(result.errors, []);
  return result;
}

function run(file, env = {}, nodeArgs = []) {
  const result = spawnSync(process.execPath, [...nodeArgs, file], {
    cwd: path.dirname(file),
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout;
}

// The app: a key, a registration against the conformance DDS, an error class that survived
// bundling.
const APP = `
  const key = PrivateKey.fromHex("${KEY_HEX}");
  const registrar = new Registrar(key, {
    ddsUrl: process.env.DDS_URL, version: "1.0.0", capabilities: ["/x/v1"],
    registrationCredentials: "bundled-credentials",
  });
  console.log(key.ethAddress, await registrar.registerOnce());
  try { PrivateKey.fromHex(42); } catch (err) { console.log(err instanceof PosemeshError, err.code); }
`;

test("esbuild bundles the package for node, the .wasm copied next to the bundle", async () => {
  const out = scratchDir();
  await bundle(`import { PrivateKey, Registrar, PosemeshError } from "posemesh-registration";\n${APP}`, {
    platform: "node",
    outfile: path.join(out, "app.mjs"),
  });
  // The node entry reads the .wasm next to itself, now the bundle: the copy step.
  copyFileSync(WASM, path.join(out, "posemesh_registration_bg.wasm"));
  const stdout = run(path.join(out, "app.mjs"), { DDS_URL: dds.url });
  assert.match(stdout, /^0x[0-9a-f]{40} (registered|adopted)\ntrue invalid_argument\n$/);
});

test("esbuild bundles the package for browsers, the .wasm inlined (binary loader)", async () => {
  const out = scratchDir();
  await bundle(
    `import init, { PrivateKey, Registrar, PosemeshError } from "posemesh-registration";
     import wasm from "posemesh-registration/posemesh_registration_bg.wasm";
     await init({ module_or_path: wasm });
     ${APP}`,
    // A target: for esnext, esbuild 0.28 decodes with Uint8Array.fromBase64 (not in Node 20).
    { platform: "browser", target: "es2022", outfile: path.join(out, "app.mjs"), loader: { ".wasm": "binary" } },
  );
  const text = readFileSync(path.join(out, "app.mjs"), "utf8");
  assert.doesNotMatch(text, /node:fs/, "the browser build has no Node import");
  // One file: run it (Node has fetch; `process.env` is read by the test app only).
  assert.deepEqual(readdirSync(out), ["app.mjs"]);
  const stdout = run(path.join(out, "app.mjs"), { DDS_URL: dds.url });
  assert.match(stdout, /^0x[0-9a-f]{40} (registered|adopted)\ntrue invalid_argument\n$/);
});

test("esbuild bundles the package for browsers, the .wasm emitted as a file (file loader)", async () => {
  const out = scratchDir();
  await bundle(
    `import init, { PrivateKey, Registrar, PosemeshError } from "posemesh-registration";
     import wasmUrl from "posemesh-registration/posemesh_registration_bg.wasm";
     // Browsers: await init({ module_or_path: new URL(wasmUrl, import.meta.url) }).
     // Node has no fetch for file: URLs, so this test reads the emitted file itself.
     const { readFile } = await import("node:fs/promises");
     await init({ module_or_path: await readFile(new URL(wasmUrl, import.meta.url)) });
     ${APP}`,
    {
      platform: "browser",
      outdir: out,
      entryNames: "app",
      outExtension: { ".js": ".mjs" },
      loader: { ".wasm": "file" },
      external: ["node:fs/promises"],
    },
  );
  const emitted = readdirSync(out).filter((f) => f.endsWith(".wasm"));
  assert.equal(emitted.length, 1, readdirSync(out).join(", "));
  assert.deepEqual(readFileSync(path.join(out, emitted[0])), readFileSync(WASM));
  const stdout = run(path.join(out, "app.mjs"), { DDS_URL: dds.url });
  assert.match(stdout, /^0x[0-9a-f]{40} (registered|adopted)\ntrue invalid_argument\n$/);
});

/**
 * A module for `node --import` that lets fetch read file: URLs: Node's fetch has none, and a
 * browser bundle fetches its emitted .wasm (from the page's server, in a browser).
 */
function fetchFileUrls(dir) {
  const shim = path.join(dir, "fetch-file-urls.mjs");
  writeFileSync(
    shim,
    `import { readFileSync } from "node:fs";
     const original = globalThis.fetch;
     globalThis.fetch = (input, init) => String(input).startsWith("file:")
       ? Promise.resolve(new Response(readFileSync(new URL(String(input))), { headers: { "content-type": "application/wasm" } }))
       : original(input, init);`,
  );
  return shim;
}

/** Bundles `contents` with webpack 5 (its API; no CLI), as an ES module `app.mjs` in `out`. */
async function webpackBundle(contents, out, target) {
  // webpack wants a file for its entry, resolved from the scratch project.
  const src = mkdtempSync(path.join(process.cwd(), ".webpack-"));
  dirs.push(src);
  writeFileSync(path.join(src, "app.mjs"), contents);
  const compiler = webpack({
    mode: "production",
    target,
    entry: path.join(src, "app.mjs"),
    output: { path: out, filename: "app.mjs", module: true, chunkFormat: "module" },
    experiments: { outputModule: true },
    optimization: { minimize: false },
  });
  const stats = await new Promise((resolve, reject) =>
    compiler.run((err, result) => (err ? reject(err) : resolve(result))),
  );
  await new Promise((resolve) => compiler.close(resolve));
  assert.ok(!stats.hasErrors(), stats.toString("errors-only"));
  const emitted = readdirSync(out).filter((f) => f.endsWith(".wasm"));
  assert.equal(emitted.length, 1, readdirSync(out).join(", "));
  assert.deepEqual(readFileSync(path.join(out, emitted[0])), readFileSync(WASM));
}

test("webpack bundles the package for browsers and emits the .wasm (no configuration)", async () => {
  const out = scratchDir();
  // init() without arguments: the glue's new URL("…_bg.wasm", import.meta.url) is an asset
  // webpack emits and rewrites.
  await webpackBundle(
    `import init, { PrivateKey, Registrar, PosemeshError } from "posemesh-registration";
     await init();
     ${APP}`,
    out,
    "web",
  );
  const stdout = run(path.join(out, "app.mjs"), { DDS_URL: dds.url }, ["--import", fetchFileUrls(out)]);
  assert.match(stdout, /^0x[0-9a-f]{40} (registered|adopted)\ntrue invalid_argument\n$/);
});

test("webpack bundles the package for node and emits the .wasm (no configuration)", async () => {
  const out = scratchDir();
  await webpackBundle(
    `import { PrivateKey, Registrar, PosemeshError } from "posemesh-registration";\n${APP}`,
    out,
    "node",
  );
  const stdout = run(path.join(out, "app.mjs"), { DDS_URL: dds.url });
  assert.match(stdout, /^0x[0-9a-f]{40} (registered|adopted)\ntrue invalid_argument\n$/);
});

/** Bundles `contents` with Rollup 4, node-resolve and import-meta-assets, as `app.mjs` in `out`. */
async function rollupBundle(contents, out, exportConditions) {
  const src = mkdtempSync(path.join(process.cwd(), ".rollup-"));
  dirs.push(src);
  writeFileSync(path.join(src, "app.mjs"), contents);
  const bundle = await rollup({
    input: path.join(src, "app.mjs"),
    plugins: [nodeResolve({ exportConditions, browser: exportConditions.includes("browser") }), importMetaAssets()],
    external: [/^node:/],
    onwarn(warning, warn) {
      if (warning.code !== "CIRCULAR_DEPENDENCY") warn(warning);
    },
  });
  await bundle.write({ dir: out, format: "es", entryFileNames: "app.mjs" });
  await bundle.close();
  const emitted = readdirSync(out, { recursive: true }).filter((f) => String(f).endsWith(".wasm"));
  assert.equal(emitted.length, 1, readdirSync(out, { recursive: true }).join(", "));
  assert.deepEqual(readFileSync(path.join(out, String(emitted[0]))), readFileSync(WASM));
}

test("rollup bundles the package for browsers and emits the .wasm (node-resolve, import-meta-assets)", async () => {
  const out = scratchDir();
  await rollupBundle(
    `import init, { PrivateKey, Registrar, PosemeshError } from "posemesh-registration";
     await init();
     ${APP}`,
    out,
    ["browser"],
  );
  assert.doesNotMatch(readFileSync(path.join(out, "app.mjs"), "utf8"), /node:fs/);
  const stdout = run(path.join(out, "app.mjs"), { DDS_URL: dds.url }, ["--import", fetchFileUrls(out)]);
  assert.match(stdout, /^0x[0-9a-f]{40} (registered|adopted)\ntrue invalid_argument\n$/);
});

test("rollup bundles the package for node and emits the .wasm (node-resolve, import-meta-assets)", async () => {
  const out = scratchDir();
  await rollupBundle(
    `import { PrivateKey, Registrar, PosemeshError } from "posemesh-registration";\n${APP}`,
    out,
    ["node"],
  );
  const stdout = run(path.join(out, "app.mjs"), { DDS_URL: dds.url });
  assert.match(stdout, /^0x[0-9a-f]{40} (registered|adopted)\ntrue invalid_argument\n$/);
});
