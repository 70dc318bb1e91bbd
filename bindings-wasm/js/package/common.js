// Shared by every entry point: the WebAssembly API, the JavaScript helpers, `util.inspect`
// support for the classes that hold a key, and the checks wasm-bindgen's glue leaves out.
import {
  PrivateKey,
  Registrar as WasmRegistrar,
  buildRegistrationRequest as wasmBuildRegistrationRequest,
  buildWalletRegistrationRequest as wasmBuildWalletRegistrationRequest,
} from "./posemesh_registration.js";
import { PosemeshError, StateError } from "./support.js";

export * from "./posemesh_registration.js";
export {
  PosemeshError,
  KeyError,
  ConfigError,
  RegistrationError,
  StorageError,
  StateError,
  HttpRequest,
  MemoryStorage,
  WebStorage,
  KvStorage,
} from "./support.js";

const INSPECT = Symbol.for("nodejs.util.inspect.custom");
const ASYNC = new Set(["start", "stop", "registerOnce", "registerAgain", "tick", "handleCallback"]);
// wasm-bindgen's objects hold their Rust value's address in `__wbg_ptr`, 0 once freed.
const live = (object) => Boolean(object.__wbg_ptr);

function disposed(name) {
  return new StateError(`this ${name} was disposed (free() or Symbol.dispose)`, "disposed");
}

function needKey(key, what) {
  if (!(key instanceof PrivateKey)) {
    throw new PosemeshError(`${what} needs a PrivateKey (PrivateKey.fromHex(…))`, "invalid_argument");
  }
  if (!live(key)) throw disposed("PrivateKey");
}

// Every method and getter of a freed object throws (or rejects with) a `StateError`
// (`disposed`) rather than reaching the module with a null pointer.
for (const [Class, name] of [[PrivateKey, "PrivateKey"], [WasmRegistrar, "Registrar"]]) {
  const proto = Class.prototype;
  for (const key of Reflect.ownKeys(proto)) {
    if (key === "constructor" || key === "free" || key === "__destroy_into_raw" || key === "__halt") continue;
    if (key === Symbol.dispose) continue;
    const descriptor = Object.getOwnPropertyDescriptor(proto, key);
    const guard = (f) =>
      function (...args) {
        let error = null;
        if (!(this instanceof Class)) {
          error = new PosemeshError(`${String(key)} called on something that is not a ${name}`, "invalid_argument");
        } else if (!live(this)) {
          error = disposed(name);
        }
        if (error) {
          if (ASYNC.has(key)) return Promise.reject(error);
          throw error;
        }
        return f.apply(this, args);
      };
    if (descriptor.get) descriptor.get = guard(descriptor.get);
    else if (typeof descriptor.value === "function") descriptor.value = guard(descriptor.value);
    else continue;
    Object.defineProperty(proto, key, descriptor);
  }
  Object.defineProperty(proto, INSPECT, {
    value() {
      return live(this) ? this.toString() : `${name}(<disposed>)`;
    },
  });
}

// free() and Symbol.dispose: idempotent; a registrar's stops its loop, timers and request
// first (otherwise the loop would outlive the object and keep the process alive).
const freeKey = PrivateKey.prototype.free;
function free() {
  if (live(this)) freeKey.call(this);
}
Object.defineProperty(PrivateKey.prototype, "free", { value: free, writable: true, configurable: true });

const freeRegistrar = WasmRegistrar.prototype.free;
function dispose() {
  if (!live(this)) return;
  this.__halt();
  freeRegistrar.call(this);
}
async function asyncDispose() {
  if (!live(this)) return;
  try {
    await this.stop();
  } finally {
    dispose.call(this);
  }
}
Object.defineProperty(WasmRegistrar.prototype, "free", { value: dispose, writable: true, configurable: true });

// Node < 20.4 and older browsers have no Symbol.dispose: `using` is unavailable there anyway.
if (typeof Symbol.dispose === "symbol") {
  for (const [Class, f] of [[PrivateKey, free], [WasmRegistrar, dispose]]) {
    Object.defineProperty(Class.prototype, Symbol.dispose, { value: f, writable: true, configurable: true });
  }
}
if (typeof Symbol.asyncDispose === "symbol") {
  Object.defineProperty(WasmRegistrar.prototype, Symbol.asyncDispose, {
    value: asyncDispose,
    writable: true,
    configurable: true,
  });
}

/** The registrar; see `posemesh_registration.d.ts`. Checks its key before the module sees it. */
export class Registrar extends WasmRegistrar {
  constructor(key, options) {
    needKey(key, "new Registrar");
    super(key, options);
  }
}

export function buildRegistrationRequest(key, options) {
  needKey(key, "buildRegistrationRequest");
  return wasmBuildRegistrationRequest(key, options);
}

export function buildWalletRegistrationRequest(key, options) {
  needKey(key, "buildWalletRegistrationRequest");
  return wasmBuildWalletRegistrationRequest(key, options);
}
