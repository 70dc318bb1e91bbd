// Types of js/support.js: the error classes, the request object and the storage adapters.
import type { FailureClass, SnapshotStorage } from "./posemesh_registration.js";

/**
 * Base class of every error this package throws. `code` is a stable identifier; the
 * message never contains a private key or a secret.
 */
export class PosemeshError extends Error {
  /** A stable identifier, e.g. `key_not_hex`, `invalid_dds_url`, `registration_conflict`. */
  readonly code: string;
  /** The error behind this one, where there is one (`fetch`'s, for a network failure). */
  readonly cause?: unknown;
}

/** A private key could not be loaded: `key_not_hex`, `key_wrong_length`, `key_out_of_range`. */
export class KeyError extends PosemeshError {
  readonly code: "key_not_hex" | "key_wrong_length" | "key_out_of_range";
}

/** An option is invalid: `invalid_option` (a value of the wrong type) or the core's code. */
export class ConfigError extends PosemeshError {
  readonly code:
    | "invalid_option"
    | "invalid_dds_url"
    | "invalid_node_url"
    | "no_capabilities"
    | "empty_version"
    | "empty_credentials"
    | "short_credentials"
    | "blank_capability"
    | "zero_request_timeout"
    | "interval_too_short"
    | "unknown_flow"
    | "missing_node_url"
    | "node_url_with_wallet"
    | "invalid_siwe_domain"
    | "plaintext_dds"
    | "capability_not_a_path"
    | "invalid_capability_character";
}

/**
 * The DDS refused a registration (`registration_conflict` for 409,
 * `registration_rejected` for other 4xx) or could not be reached or failed
 * (`registration_unavailable`: 408, 429, 5xx, network errors, timeouts).
 */
export class RegistrationError extends PosemeshError {
  readonly code: "registration_conflict" | "registration_rejected" | "registration_unavailable";
  /** `conflict`, `retry_later` or `retry_fast`. */
  readonly failureClass: FailureClass;
  /** The HTTP status, when there was a response. */
  readonly status?: number;
  /** The server's `Retry-After` in milliseconds. */
  readonly retryAfterMs?: number;
  /**
   * What to do, for a 409 (usually another instance registered with the same wallet) or a
   * 402 (the wallet lacks the stake the network requires); `message` ends with it too.
   */
  readonly hint?: string;
}

/** The storage failed: `storage_load_failed`, `storage_save_failed`. */
export class StorageError extends PosemeshError {
  readonly code: "storage_load_failed" | "storage_save_failed";
}

/**
 * A call that does not fit the registrar's state: `already_running`, `stopped`, or
 * `disposed` (the key or registrar was freed: `free()`, `Symbol.dispose`).
 */
export class StateError extends PosemeshError {
  readonly code: "already_running" | "stopped" | "disposed";
}

/**
 * An HTTP request to send, as plain data. `fetch(request.url, request)` sends it.
 * `JSON.stringify`, `toString()` and `util.inspect` redact the body: it carries the
 * registration credentials.
 */
export class HttpRequest {
  private constructor();
  readonly method: "GET" | "POST";
  readonly url: string;
  /** Lower-case header names and their values. */
  readonly headers: Record<string, string>;
  /** The exact body text (JSON). */
  readonly body: string;
  /**
   * Tells `fetch` not to follow a redirect: a 307 or 308 would carry the signed body, with
   * the registration credentials, to another host. Node answers the 3xx itself (which
   * `classifyResponse` reports); a browser answers `type: "opaqueredirect"` with status 0.
   */
  readonly redirect: "manual";
  toJSON(): {
    method: string;
    url: string;
    headers: Record<string, string>;
    body: "<redacted>";
    redirect: "manual";
  };
  toString(): string;
}

/** Keeps the snapshot in memory, as long as this object lives. */
export class MemoryStorage implements SnapshotStorage {
  /** @param initial a snapshot to start from */
  constructor(initial?: Uint8Array | null);
  load(): Promise<Uint8Array | null>;
  save(bytes: Uint8Array): Promise<void>;
}

/**
 * Keeps the snapshot in a Web Storage area (`localStorage` by default) under `key`.
 * The snapshot holds the DDS-issued node secret.
 */
export class WebStorage implements SnapshotStorage {
  /** @param area a Web Storage area (`localStorage`, `sessionStorage`) or anything with its
   *  `getItem` and `setItem` */
  constructor(key?: string, area?: { getItem(key: string): string | null; setItem(key: string, value: string): void });
  load(): Promise<Uint8Array | null>;
  save(bytes: Uint8Array): Promise<void>;
}

/** The part of a Workers KV namespace binding that `KvStorage` uses. */
export interface KvNamespaceLike {
  get(key: string, options: { type: "arrayBuffer" }): Promise<ArrayBuffer | null>;
  put(key: string, value: ArrayBuffer | ArrayBufferView | string): Promise<void>;
}

/** Keeps the snapshot in a Cloudflare Workers KV namespace under `key`. */
export class KvStorage implements SnapshotStorage {
  constructor(namespace: KvNamespaceLike, key?: string);
  load(): Promise<Uint8Array | null>;
  save(bytes: Uint8Array): Promise<void>;
}
