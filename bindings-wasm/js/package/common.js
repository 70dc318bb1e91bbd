// Shared by every entry point: the WebAssembly API, the JavaScript helpers, and
// `util.inspect` support for the classes that hold a key.
import { PrivateKey, Registrar } from "./posemesh_registration.js";

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
for (const Class of [PrivateKey, Registrar]) {
  Object.defineProperty(Class.prototype, INSPECT, {
    value() {
      return this.toString();
    },
  });
}
