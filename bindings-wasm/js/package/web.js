// Browser and bundler entry point: call `await init()` once before anything else.
// `init()` fetches `posemesh_registration_bg.wasm` next to this file (bundlers rewrite that
// URL); pass `{ module_or_path }` with your own URL, Response or WebAssembly.Module instead.
export * from "./common.js";
export { default } from "./posemesh_registration.js";
