// Cloudflare Workers (workerd) entry point: the `.wasm` import is a compiled
// WebAssembly.Module (wrangler's default rule), instantiated at import.
// `init()` exists and resolves at once.
import wasmModule from "./posemesh_registration_bg.wasm";
import init, { initSync } from "./posemesh_registration.js";

initSync({ module: wasmModule });

export * from "./common.js";
export default init;
