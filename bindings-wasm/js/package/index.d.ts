// Types of every entry point (node, web, deno, workerd): the same API everywhere.
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
export { default } from "./posemesh_registration.js";
