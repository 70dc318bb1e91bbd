// Node.js entry point: the module is compiled and instantiated synchronously at import,
// so the API is ready as soon as `import` returns. `init()` exists and resolves at once.
import { readFileSync } from "node:fs";
import init, { initSync } from "./posemesh_registration.js";

initSync({ module: readFileSync(new URL("./posemesh_registration_bg.wasm", import.meta.url)) });

export * from "./common.js";
export default init;
