// JavaScript half of the posemesh-registration bindings: what is more natural in JS than in
// Rust. The error classes, the request object, events, randomness and the storage adapters.
// The WebAssembly module imports this file; the package re-exports it.

const INSPECT = Symbol.for("nodejs.util.inspect.custom");
const REDACTED = "<redacted>";

/**
 * Base class of every error this package throws. `code` is a stable identifier; the
 * message never contains a private key or a secret.
 */
export class PosemeshError extends Error {
  constructor(message, code, details, cause) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    if (details) Object.assign(this, details);
  }
}
PosemeshError.prototype.name = "PosemeshError";

/** A private key could not be loaded. */
export class KeyError extends PosemeshError {}
KeyError.prototype.name = "KeyError";

/** An option or argument is invalid. */
export class ConfigError extends PosemeshError {}
ConfigError.prototype.name = "ConfigError";

/** The DDS refused a registration or could not be reached. */
export class RegistrationError extends PosemeshError {}
RegistrationError.prototype.name = "RegistrationError";

/** The storage object failed to load or save the snapshot. */
export class StorageError extends PosemeshError {}
StorageError.prototype.name = "StorageError";

/** A call that does not fit the registrar's current state (already running, stopped). */
export class StateError extends PosemeshError {}
StateError.prototype.name = "StateError";

const ERRORS = {
  base: PosemeshError,
  key: KeyError,
  config: ConfigError,
  registration: RegistrationError,
  storage: StorageError,
  state: StateError,
};

/** @internal Used by the WebAssembly module. */
export function makeError(kind, code, message, details, cause) {
  const Class = ERRORS[kind] ?? PosemeshError;
  return new Class(message, code, details ?? undefined, cause ?? undefined);
}

/**
 * An HTTP request to send, as plain data: `method`, `url`, `headers` (a record), `body`
 * (a string) and `redirect: "manual"`. `fetch(request.url, request)` sends it and never
 * follows a redirect, which would carry the signed body to another host. `JSON.stringify`,
 * `toString()` and `util.inspect` redact the body, which carries the registration credentials.
 */
export class HttpRequest {
  constructor(method, url, headers, body) {
    this.method = method;
    this.url = url;
    this.headers = headers;
    this.body = body;
    this.redirect = "manual";
  }

  toJSON() {
    const { method, url, headers, redirect } = this;
    return { method, url, headers, body: REDACTED, redirect };
  }

  toString() {
    return `${this.method} ${this.url}`;
  }

  [INSPECT]() {
    return `HttpRequest ${JSON.stringify(this.toJSON())}`;
  }
}

/** @internal */
export function makeRequest(method, url, headers, body) {
  return new HttpRequest(method, url, headers, body);
}

/**
 * @internal Calls a host's `onEvent` or logger method, if it is a function: what it throws,
 * and the rejection of a promise it returns, are dropped (an unhandled rejection would end
 * a Node process).
 */
export function callHostHook(hook, thisArg, argument) {
  if (typeof hook !== "function") return;
  try {
    const returned = hook.call(thisArg, argument);
    if (typeof returned?.then === "function") returned.then(undefined, () => {});
  } catch {
    // The host's own hook failed; the registrar goes on.
  }
}

/** @internal */
export function makeEventTarget() {
  return new EventTarget();
}

/** @internal An event of type `name` with the registrar event as `detail`. */
export function makeEvent(name, detail) {
  if (typeof CustomEvent === "function") return new CustomEvent(name, { detail });
  const event = new Event(name);
  Object.defineProperty(event, "detail", { value: detail, enumerable: true });
  return event;
}

/** @internal Why `signal` aborted: its reason, or an `AbortError` where it has none. */
export function abortReason(signal) {
  if (signal.reason !== undefined) return signal.reason;
  return new DOMException("This operation was aborted", "AbortError");
}

/** @internal `[promise of the reason, remove the listener]`. */
export function abortWait(signal) {
  let cancel;
  const promise = new Promise((resolve) => {
    const listener = () => resolve(abortReason(signal));
    signal.addEventListener("abort", listener, { once: true });
    cancel = () => signal.removeEventListener("abort", listener);
  });
  return [promise, cancel];
}

/** @internal `n` bytes from the runtime's CSPRNG. */
export function randomBytes(n) {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

function copyBytes(bytes) {
  if (bytes instanceof Uint8Array) return bytes.slice();
  throw new PosemeshError("snapshot bytes must be a Uint8Array", "invalid_argument");
}

/**
 * Keeps the snapshot in memory: it lasts as long as this object. The default when a
 * registrar gets no storage; useful in tests.
 */
export class MemoryStorage {
  #bytes = null;

  /** @param {Uint8Array | null} [initial] a snapshot to start from */
  constructor(initial = null) {
    this.#bytes = initial == null ? null : copyBytes(initial);
  }

  async load() {
    return this.#bytes === null ? null : this.#bytes.slice();
  }

  async save(bytes) {
    this.#bytes = copyBytes(bytes);
  }

  toString() {
    return "MemoryStorage";
  }
}

/**
 * Keeps the snapshot in a Web Storage area (`localStorage` by default) under `key`, as its
 * JSON text. The snapshot holds the DDS-issued node secret: use it where that is acceptable.
 */
export class WebStorage {
  #area;
  #key;

  constructor(key = "posemesh-registration", area = globalThis.localStorage) {
    if (!area || typeof area.getItem !== "function") {
      throw new PosemeshError("WebStorage needs a Storage area such as localStorage", "invalid_argument");
    }
    this.#key = key;
    this.#area = area;
  }

  async load() {
    const text = this.#area.getItem(this.#key);
    return text === null ? null : new TextEncoder().encode(text);
  }

  async save(bytes) {
    this.#area.setItem(this.#key, new TextDecoder().decode(bytes));
  }

  toString() {
    return `WebStorage(${this.#key})`;
  }
}

/**
 * Keeps the snapshot in a Cloudflare Workers KV namespace binding under `key`.
 * KV is eventually consistent: fine for a cron-triggered `tick()`, whose period is far
 * longer than KV's propagation delay.
 */
export class KvStorage {
  #namespace;
  #key;

  constructor(namespace, key = "posemesh-registration") {
    if (!namespace || typeof namespace.get !== "function" || typeof namespace.put !== "function") {
      throw new PosemeshError("KvStorage needs a KV namespace binding", "invalid_argument");
    }
    this.#namespace = namespace;
    this.#key = key;
  }

  async load() {
    const buffer = await this.#namespace.get(this.#key, { type: "arrayBuffer" });
    return buffer === null ? null : new Uint8Array(buffer);
  }

  async save(bytes) {
    await this.#namespace.put(this.#key, copyBytes(bytes));
  }

  toString() {
    return `KvStorage(${this.#key})`;
  }
}
