// Web platform types that the package's declarations name but that not every TypeScript
// set-up declares: a Node project with `"lib": ["es2022"]` and `@types/node` has no DOM lib,
// and @types/node lacks these. Imported by the declarations only: nothing here is global,
// and the package does not export these names.
//
// The web platform's own type is used wherever the set-up has it (found on `globalThis`);
// otherwise the structural shape below, which accepts what the package accepts.

/** Options of `removeEventListener` (the DOM's `EventListenerOptions`). */
export interface EventListenerOptions {
  capture?: boolean;
}

/** Options of `addEventListener` (the DOM's `AddEventListenerOptions`). */
export interface AddEventListenerOptions extends EventListenerOptions {
  once?: boolean;
  passive?: boolean;
  signal?: AbortSignal;
}

/** Bytes: an `ArrayBuffer` or a view of one (the DOM's `BufferSource`). */
export type BufferSource = ArrayBuffer | ArrayBufferView;

/** What `fetch` takes as its first argument (the DOM's `RequestInfo`). */
export type RequestInfo = Request | string;

/** The WebAssembly types the glue names. */
export declare namespace WebAssembly {
  /** A compiled module: `WebAssembly.Module`. */
  type Module = typeof globalThis extends { WebAssembly: { Module: { prototype: infer M } } }
    ? M
    : object;
  /** The module's memory: `WebAssembly.Memory`. */
  type Memory = typeof globalThis extends { WebAssembly: { Memory: { prototype: infer M } } }
    ? M
    : { readonly buffer: ArrayBuffer; grow(delta: number): number };
  /** A table of references: `WebAssembly.Table`. */
  type Table = typeof globalThis extends { WebAssembly: { Table: { prototype: infer T } } }
    ? T
    : { readonly length: number };
}

export {};
