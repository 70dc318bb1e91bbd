// `posemesh-registration/posemesh_registration_bg.wasm`: the package's WebAssembly, for hosts that
// load it themselves. Imported as a module, it is what Cloudflare Workers (wrangler's CompiledWasm
// rule) and other hosts with WebAssembly module imports give: a compiled module, which
// `init({ module_or_path })` accepts. Elsewhere take its URL instead, e.g.
// `import.meta.resolve("posemesh-registration/posemesh_registration_bg.wasm")`.
import type { WebAssembly } from "./platform.js";

declare const module: WebAssembly.Module;
export default module;
