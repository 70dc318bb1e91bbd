// Deno entry point: reads (or, for a remote package, fetches) the module and instantiates
// it at import, with top-level await. `init()` exists and resolves at once.
import init, { initSync } from "./posemesh_registration.js";

const url = new URL("./posemesh_registration_bg.wasm", import.meta.url);
const bytes =
  url.protocol === "file:"
    ? await Deno.readFile(url)
    : new Uint8Array(await (await fetch(url)).arrayBuffer());
initSync({ module: bytes });

export * from "./common.js";
export default init;
