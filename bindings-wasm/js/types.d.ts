/// <reference lib="esnext.disposable" />
// The package's option, result and event types. posemesh_registration.d.ts (wasm-bindgen's
// declarations of the Rust API) re-exports them and names them in its signatures.
//
// The lib reference: the classes are disposable (`[Symbol.dispose]`, `[Symbol.asyncDispose]`),
// which TypeScript declares in its `esnext.disposable` lib; it is pulled in here so that a
// set-up whose `lib` lacks it (TypeScript's defaults, `"lib": ["es2022"]`) still compiles.
import type { RegistrationError } from "./support.js";
import type { AddEventListenerOptions, EventListenerOptions } from "./platform.js";

// ---- Requests and responses (the low-level API) --------------------------------------------

/** A wall-clock time: a `Date`, milliseconds since 1970, or seconds and nanoseconds. */
export type TimeInput = Date | number | { seconds: number; nanos?: number };

/** Headers as `fetch` accepts them. */
export type HeadersLike = Headers | [string, string][] | Record<string, string>;

/** What the node tells the DDS in a legacy registration. */
export interface RegistrationRequestOptions {
  /** The DDS base URL (`https://dds.example.com`; trailing slashes are removed). */
  ddsUrl: string;
  /** Allow an `http://` DDS that is not loopback, as the registrar's option does. */
  allowPlaintextDds?: boolean;
  /** The node's public URL, signed and sent verbatim. */
  nodeUrl: string;
  /** The node's software version (not blank). */
  version: string;
  /** Capability paths such as `/reconstruction/global-refinement/v1` (sent as given). */
  capabilities?: string[];
  /** The registration credentials (a secret). */
  registrationCredentials: string;
  /** The signed timestamp; default: now. */
  timestamp?: TimeInput;
}

/** The DDS's answer to a SIWE nonce request. */
export interface SiweChallenge {
  nonce: string;
  domain: string;
  uri: string;
  version: string;
  chainId: number;
  issuedAt: string;
}

/** What the node sends in a wallet registration. */
export interface WalletRequestOptions {
  ddsUrl: string;
  /** Allow an `http://` DDS that is not loopback, as the registrar's option does. */
  allowPlaintextDds?: boolean;
  /** The nonce response: its parsed JSON, or its body text or bytes. */
  challenge: SiweChallenge | string | Uint8Array;
  version: string;
  /** At least one capability. */
  capabilities: string[];
  registrationCredentials: string;
  /** Domains besides the DDS URL's own that a challenge may name (as the registrar's
   * `siweDomains`). */
  siweDomains?: string[];
}

/** A response as received, for `classifyResponse`. */
export interface ResponseLike {
  /** The HTTP status; 0 for a redirect a browser did not follow (`redirect: "manual"`). */
  status: number;
  headers?: HeadersLike;
  /** The body: text, or bytes (a `Uint8Array`, another view or an `ArrayBuffer`); only its
   *  first 64 KiB are read. */
  body?: string | ArrayBufferView | ArrayBuffer;
}

/** Why an attempt failed and what to do about it. */
export type FailureClass = "conflict" | "retry_fast" | "retry_later";

/** A classified failure. */
export interface FailureInfo {
  /** `conflict` (409), `retry_fast` (408, 429, 5xx, transport), `retry_later` (other 4xx). */
  failureClass: FailureClass;
  /** The HTTP status, when there was a response. */
  status?: number;
  /** The server's `Retry-After` in milliseconds (capped by the core, currently to one hour). */
  retryAfterMs?: number;
  /** A one-line description, safe to log (at most 512 bytes of the body). */
  message: string;
  /** What to do, for a 409 (usually another instance registered with the same wallet), a
   *  402 (the wallet lacks the stake the network requires), or a legacy registration
   *  refused while the DDS's `Date` is more than 10 s from this machine's clock. */
  hint?: string;
}

/** Options of `buildSiweNonceRequest`. */
export interface SiweNonceRequestOptions {
  /** Allow an `http://` DDS that is not loopback, as the registrar's option does. */
  allowPlaintextDds?: boolean;
}

/** The result of `classifyResponse`. */
export type Classification = ({ ok: true }) | ({ ok: false } & FailureInfo);

// ---- The registrar ----------------------------------------------------------------------------

/** Where the registration stands. */
export type RegistrationStatus = "disconnected" | "registering" | "registered";

/**
 * Where the registrar keeps its snapshot (a few hundred bytes of JSON, including the
 * DDS-issued node secret). `MemoryStorage`, `WebStorage` (localStorage) and `KvStorage`
 * (Workers KV) are ready-made; any object with these two methods works.
 */
export interface SnapshotStorage {
  /** The stored snapshot (a `Uint8Array`, another view, an `ArrayBuffer` or its text), or
   *  `null`/`undefined` if there is none. */
  load(): Promise<ArrayBufferView | ArrayBuffer | string | null | undefined> | ArrayBufferView | ArrayBuffer | string | null | undefined;
  /** Stores the snapshot, replacing the previous one (atomically, if the store can). */
  save(bytes: Uint8Array): Promise<void> | void;
}

/** Receives one line per event (`console` fits). */
export interface RegistrarLogger {
  debug?(line: string): void;
  info?(line: string): void;
  warn?(line: string): void;
}

/** How the registrar is configured. */
export interface RegistrarOptions {
  /** The DDS base URL: `https://dds.example.com`, or `http://` to a loopback host
   *  (`localhost`, `*.localhost`, `127.0.0.0/8`, `::1`). */
  ddsUrl: string;
  /** Allow an `http://` DDS whose host is not loopback: the signed request and the
   *  registration credentials then travel unencrypted. Default `false` (`plaintext_dds`). */
  allowPlaintextDds?: boolean;
  /**
   * `wallet` (default): SIWE + EIP-191 on `nodes/register-wallet`; no callbacks, the
   * simplest choice for edge workers. `legacy`: `nodes/register` signed over `nodeUrl`; the
   * DDS calls the node back (serve them with `handleCallback`) and probes its health.
   */
  flow?: "legacy" | "wallet";
  /** The node's public URL: required by the legacy flow, refused with the wallet flow. */
  nodeUrl?: string;
  /** The node's software version. */
  version: string;
  /** Capability paths such as `/reconstruction/global-refinement/v1` (a leading `/`, no
   *  whitespace or control characters); at least one. */
  capabilities?: string[];
  /** The registration credentials (a secret, never logged). */
  registrationCredentials: string;
  /** Health-check TTL and interval between checks, in ms (default 60 000; at least 1000). */
  registerIntervalMs?: number;
  /** Consecutive fast failures before pausing a full interval; default: never pause. */
  maxRetry?: number | null;
  /** How long a request may take, in ms (default 30 000; more than 0). */
  requestTimeoutMs?: number;
  /** Domains besides the DDS URL's own whose SIWE challenges may be signed (a DDS reached
   *  through a proxy that names its public domain). Default: only the DDS URL's. */
  siweDomains?: string[];
  /** Where to keep the snapshot; default: memory only. */
  storage?: SnapshotStorage;
  /** Called with every event (check `event.name` to reach its fields). Exceptions it
   *  throws, and the rejection of a promise it returns, are ignored. */
  onEvent?: (event: RegistrarEvent) => void | Promise<void>;
  /** Logs every event as one line (pass `console`); default: silent. */
  logger?: RegistrarLogger;
  /** Seeds the retry jitter (tests, simulations); default: `crypto.getRandomValues`. */
  seed?: number | bigint;
}

/** Options of the calls that take an `AbortSignal` (`start`, `registerOnce`, `tick`). */
export interface CallOptions {
  /**
   * Aborting rejects the call with `signal.reason` itself (not a `PosemeshError`: the
   * reason you gave, or the `AbortError`/`TimeoutError` `DOMException` of
   * `AbortController.abort()`/`AbortSignal.timeout()`) and abandons the work in progress:
   * the request is aborted. For `start()`, aborting later stops the loop, as `stop()` does.
   */
  signal?: AbortSignal;
}

/** How `registerOnce()` made sure the node is registered. */
export type RegisterOutcome = "registered" | "adopted";

/** What `tick()` did. */
export interface TickResult {
  /** The status after the tick. */
  status: RegistrationStatus;
  /** Whether a registration was attempted. */
  attempted: boolean;
  /** The failed attempt's error, if the attempt failed. */
  error: RegistrationError | null;
  /** When the registrar would check again (ms since 1970): schedule the next tick by then. */
  nextCheckAt: number;
}

/** What `registrar.metrics()` resolves with: the same numbers in every runtime. */
export interface RegistrarMetrics {
  status: RegistrationStatus;
  /** Attempts by how they ended. */
  attempts: { registered: number; adopted: number; retryFast: number; retryLater: number; conflict: number };
  /** Failed attempts since the last success. */
  consecutiveFailures: number;
  /** Since the last success, if there was one. */
  sinceLastSuccessMs?: number;
  /** From the start to the first success, once there was one. */
  timeToRegisteredMs?: number;
  healthChecks: number;
  callbacksAccepted: number;
  /** Refused DDS callbacks by the status answered, e.g. `{ "409": 2 }`. */
  callbacksRefused: Record<string, number>;
  lockBusy: number;
  signIns: number;
  signInFailures: number;
}

// ---- Events -----------------------------------------------------------------------------------

/** The name of a registrar event (the reference crate's log event names). */
export type RegistrarEventName =
  | "registration.loop.start" | "lock.acquired" | "lock.busy" | "lock.error"
  | "status.transition" | "registration.success" | "registration.error"
  | "registration.conflict" | "registration.max_retry_reached" | "healthcheck.expired"
  | "status.unknown" | "healthcheck.touch" | "registration.callback"
  | "registration.callback.rejected" | "request.cancelled" | "response.ignored"
  | "registration.attempt" | "registration.adopted" | "registration.stale" | "registration.callback.conflict"
  | "registration.rearm" | "state.corrupt" | "state.save.error"
  | "session.signed_in" | "session.error";

/** What every event carries. Never a key or a secret. */
export interface RegistrarEventBase<K extends RegistrarEventName = RegistrarEventName> {
  /** Which event this is: checking it narrows a `RegistrarEvent` to that event's fields. */
  name: K;
  level: "debug" | "info" | "warn";
  /** A human-readable line. */
  message: string;
  /** The registrar's status after the event. */
  registrarStatus: RegistrationStatus;
}

/**
 * Every field an event may carry beyond `RegistrarEventBase`'s: the core's event fields,
 * the same in every runtime (docs/behaviour.md, "Event fields"), with camelCase names.
 */
export interface RegistrarEventData {
  /** `status.transition`: the old status. */
  from: RegistrationStatus;
  /** `status.transition`: the new status. */
  to: RegistrationStatus;
  /** `registration.loop.start`: the health-check TTL. */
  ttlMs: number;
  /** `registration.success`: how long the attempt took. */
  elapsedMs: number;
  /** `registration.attempt`, `registration.error`, `session.error`: the attempt's number. */
  attempt: number;
  /** `registration.attempt`: the first endpoint the attempt calls. */
  endpoint: string;
  /** What failed (`lock.error`, `state.*`, a refused callback), or the failure's text. */
  error: string;
  /** `registration.error`, `session.error`: how the failure is retried. */
  failureClass: FailureClass;
  /** When the next attempt is due: only while a loop runs (only then is a retry coming). */
  retryInMs: number;
  /** The HTTP answer's status line (`503 Service Unavailable`), when there was an answer. */
  status: string;
  /** The usual cause of this answer, when it is known (a 409, a 402, a clock the DDS disagrees with). */
  hint: string;
  /** `registration.conflict`: how long the conflict has lasted. */
  blockedMs: number;
  /** `registration.max_retry_reached`: the configured cap. */
  maxRetry: number;
  /** `healthcheck.expired`: time since the last health check (absent: never checked). */
  sinceLastMs: number;
  /** `status.unknown`: the stored status text. */
  stored: string;
  /** `registration.callback`: the node's id; `registration.callback.conflict`: the refused one's. */
  id: string;
  /** `registration.callback`: the node's organisation, if the DDS gave it. */
  organizationId: string;
  /** `registration.callback`: the secret's length (never the secret). */
  secretLen: number;
  /** `registration.callback.rejected`: refusals since the last one logged at warning level,
   *  not counting this one. */
  suppressed: number;
  /** `registration.stale`: why the stored registration was not adopted. */
  reason: string;
  /** `request.cancelled`, `response.ignored`: the request id. */
  requestId: number;
  /** `registration.adopted`: time since the adopted registration was last confirmed. */
  ageMs: number;
  /** `session.signed_in`: how long the new access token is valid. */
  expiresInMs: number;
  /** `state.corrupt`: where the store moved the unusable bytes, if it says. */
  movedTo: string;
}

type Fields<Always extends keyof RegistrarEventData, Sometimes extends keyof RegistrarEventData = never> =
  Pick<RegistrarEventData, Always> & Partial<Pick<RegistrarEventData, Sometimes>>;

/** The fields each event carries, beyond `RegistrarEventBase`'s (the second list only
 *  sometimes); an event not listed carries none. Checked against the core's table. */
export interface RegistrarEventFields {
  "registration.attempt": Fields<"attempt" | "endpoint">;
  "registration.loop.start": Fields<"ttlMs">;
  "lock.error": Fields<"error">;
  "status.transition": Fields<"from" | "to">;
  "registration.success": Fields<"elapsedMs">;
  "registration.error": Fields<"attempt" | "error" | "failureClass", "retryInMs" | "status" | "hint">;
  "registration.conflict": Fields<"error" | "blockedMs", "status" | "hint">;
  "registration.max_retry_reached": Fields<"maxRetry">;
  "healthcheck.expired": Fields<never, "sinceLastMs">;
  "status.unknown": Fields<"stored">;
  "registration.callback": Fields<"id" | "secretLen", "organizationId">;
  "registration.callback.rejected": Fields<"status" | "error" | "suppressed">;
  "request.cancelled": Fields<"requestId">;
  "response.ignored": Fields<"requestId">;
  "registration.adopted": Fields<"ageMs">;
  "registration.stale": Fields<"reason">;
  "registration.callback.conflict": Fields<"id">;
  "state.corrupt": Fields<"error", "movedTo">;
  "state.save.error": Fields<"error">;
  "session.signed_in": Fields<"expiresInMs">;
  "session.error": Fields<"attempt" | "error" | "failureClass", "retryInMs" | "status">;
}

/** The fields of the event named `K`. */
type FieldsOf<K extends RegistrarEventName> = K extends keyof RegistrarEventFields ? RegistrarEventFields[K] : {};

/**
 * The event named `K`, as `onEvent` and listeners get it: its own fields, and every other
 * event's field declared absent (so reading one without checking `name` first still gives
 * `T | undefined`).
 */
type EventOf<K extends RegistrarEventName> = RegistrarEventBase<K> &
  FieldsOf<K> & { [F in Exclude<keyof RegistrarEventData, keyof FieldsOf<K>>]?: undefined };

/** The `detail` of each event, by name: `CustomEvent<RegistrarEventMap[name]>`. */
export type RegistrarEventMap = { [K in RegistrarEventName]: EventOf<K> };

/**
 * Something that happened, as `onEvent` gets it and as each `CustomEvent`'s `detail`: one
 * member per event name, so that checking `event.name` narrows it to that event's fields
 * (`if (event.name === "registration.error") event.failureClass`). Never carries a
 * key or a secret.
 */
export type RegistrarEvent = RegistrarEventMap[RegistrarEventName];

/** A listener of the event named `K`. */
export type RegistrarEventListener<K extends RegistrarEventName> =
  | ((event: CustomEvent<RegistrarEventMap[K]>) => void)
  | { handleEvent(event: CustomEvent<RegistrarEventMap[K]>): void };

/** A listener of any event (the DOM's `EventListenerOrEventListenerObject`). */
type AnyEventListener = ((event: Event) => void) | { handleEvent(event: Event): void };

/** `registrar.events`: an `EventTarget` whose events are typed `CustomEvent`s. */
export interface RegistrarEventTarget extends EventTarget {
  addEventListener<K extends RegistrarEventName>(
    name: K,
    listener: RegistrarEventListener<K> | null,
    options?: AddEventListenerOptions | boolean,
  ): void;
  addEventListener(
    name: string,
    listener: AnyEventListener | null,
    options?: AddEventListenerOptions | boolean,
  ): void;
  removeEventListener<K extends RegistrarEventName>(
    name: K,
    listener: RegistrarEventListener<K> | null,
    options?: EventListenerOptions | boolean,
  ): void;
  removeEventListener(
    name: string,
    listener: AnyEventListener | null,
    options?: EventListenerOptions | boolean,
  ): void;
}

// Members of the `Registrar` class that wasm-bindgen cannot declare. Declared in an
// augmentation, their overloads come before the class's own: `addEventListener(name, e => …)`
// picks the typed one.
declare module "./posemesh_registration.js" {
  interface Registrar {
    /** Typed: `event.detail` is `RegistrarEventMap[name]`. */
    addEventListener<K extends RegistrarEventName>(
      name: K,
      listener: RegistrarEventListener<K>,
      options?: AddEventListenerOptions | boolean,
    ): void;
    removeEventListener<K extends RegistrarEventName>(
      name: K,
      listener: RegistrarEventListener<K>,
      options?: EventListenerOptions | boolean,
    ): void;
    /**
     * Stops the loop (as `stop()`, awaited), then frees the registrar: `await using
     * registrar = new Registrar(…)`. Calls after that reject with a `StateError`
     * (`disposed`).
     */
    [Symbol.asyncDispose](): Promise<void>;
  }
}

export {};
