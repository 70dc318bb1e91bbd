// Type-checked with `tsc --noEmit` against the packed package's declarations (test.sh).
// Lines marked @ts-expect-error must fail to type-check: the declarations are not `any`.
import init, {
  PrivateKey,
  Registrar,
  MemoryStorage,
  KvStorage,
  WebStorage,
  RegistrationError,
  PosemeshError,
  buildRegistrationRequest,
  buildSiweNonceRequest,
  buildWalletRegistrationRequest,
  classifyResponse,
  formatTimestamp,
  type HttpRequest,
  type RegistrarEvent,
  type RegistrarOptions,
  type SnapshotStorage,
  type TickResult,
  type Classification,
  type RegistrationStatus,
  type RegisterOutcome,
  type RegistrarEventName,
  type RegistrarEventMap,
  type FailureInfo,
  type CallOptions,
  type AccessToken,
  type RegistrarMetrics,
  type FailureClass,
} from "posemesh-registration";

await init();

const key: PrivateKey = PrivateKey.fromHex("4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90");
const address: string = key.ethAddress;
const signature: string = key.signRegistration(new Uint8Array([1, 2]));
// @ts-expect-error a number is not a message
key.signEip191(42);
// Key bytes: any ArrayBuffer or view of one, as convert.rs::bytes takes them.
PrivateKey.fromBytes(new ArrayBuffer(32));
PrivateKey.fromBytes(new Uint8Array(32));
PrivateKey.fromBytes(new DataView(new ArrayBuffer(32)));
// @ts-expect-error hex goes to fromHex
PrivateKey.fromBytes("4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90");

const request: HttpRequest = buildRegistrationRequest(key, {
  ddsUrl: "https://dds.example.com",
  nodeUrl: "https://node.example.com",
  version: "1.2.3",
  capabilities: ["/x/v1"],
  registrationCredentials: "secret",
  timestamp: { seconds: 1, nanos: 2 },
});
const method: "GET" | "POST" = request.method;
const body: string = request.body;
void fetch(request.url, request);

// @ts-expect-error ddsUrl is required
buildRegistrationRequest(key, { nodeUrl: "x", version: "1", registrationCredentials: "s" });

const wallet = buildWalletRegistrationRequest(key, {
  ddsUrl: "https://dds.example.com",
  challenge: { nonce: "n", domain: "d", uri: "u", version: "1", chainId: 1, issuedAt: "t" },
  version: "1",
  capabilities: ["/x/v1"],
  registrationCredentials: "s",
});

const classified: Classification = classifyResponse("https://x", { status: 503, headers: new Headers() });
classifyResponse("https://x", { status: 200, body: new ArrayBuffer(0) });
classifyResponse("https://x", { status: 200, body: new DataView(new ArrayBuffer(0)) });
// @ts-expect-error a body is text or bytes
classifyResponse("https://x", { status: 200, body: 42 });
if (!classified.ok) {
  const retry: number | undefined = classified.retryAfterMs;
  const klass: "conflict" | "retry_fast" | "retry_later" = classified.failureClass;
}
const stamp: string = formatTimestamp(new Date());

const storage: SnapshotStorage = new MemoryStorage();
const custom: SnapshotStorage = { load: async () => null, save: async (_bytes: Uint8Array) => {} };
const buffered: SnapshotStorage = { load: () => new DataView(new ArrayBuffer(0)), save: () => {} };
// @ts-expect-error load() gives bytes, text or nothing
const numeric: SnapshotStorage = { load: () => 42, save: () => {} };
declare const kvNamespace: { get(k: string, o: { type: "arrayBuffer" }): Promise<ArrayBuffer | null>; put(k: string, v: Uint8Array): Promise<void> };
const kv = new KvStorage(kvNamespace, "key");
const web = new WebStorage("key");

const options: RegistrarOptions = {
  ddsUrl: "https://dds.example.com",
  flow: "wallet",
  version: "1.2.3",
  capabilities: ["/x/v1"],
  registrationCredentials: "secret",
  registerIntervalMs: 60_000,
  maxRetry: null,
  storage: custom,
  logger: console,
  onEvent: (event: RegistrarEvent) => {
    const name: string = event.name;
    const level: "debug" | "info" | "warn" = event.level;
    // A discriminated union: checking `name` narrows to that event's fields.
    if (event.name === "status.transition") {
      const to: RegistrationStatus = event.to;
    } else if (event.name === "registration.conflict") {
      const error: string = event.error;
      const blocked: number = event.blockedMs;
      const http: string | undefined = event.status;
    }
    const registrarStatus: RegistrationStatus = event.registrarStatus;
    // Not narrowed: a field only some events carry may be absent.
    const maybe: RegistrationStatus | undefined = event.to;
    // @ts-expect-error not narrowed
    const to: RegistrationStatus = event.to;
    // @ts-expect-error no such event
    if (event.name === "registration.sucess") return;
  },
  seed: 42n,
};
const plaintext: RegistrarOptions = { ...options, ddsUrl: "http://dds.internal", allowPlaintextDds: true };
const nonce: HttpRequest = buildSiweNonceRequest("http://dds.internal", address, { allowPlaintextDds: true });
// @ts-expect-error the opt-in is a boolean
const plaintextString: RegistrarOptions = { ...options, allowPlaintextDds: "yes" };
// @ts-expect-error flows are a closed set
const badFlow: RegistrarOptions = { ...options, flow: "pigeon" };

const registrar = new Registrar(key, options);
const status: RegistrationStatus = registrar.status;
registrar.addEventListener("registration.success", (event) => {
  const detail: RegistrarEvent = event.detail;
  const elapsed: number | undefined = detail.elapsedMs;
});
// The README's listener, not annotated: the typed overload is picked, `elapsedMs` is a number.
registrar.addEventListener("registration.success", (e) => {
  const elapsed: number = e.detail.elapsedMs;
  const name: "registration.success" = e.detail.name;
  // @ts-expect-error a number, not any
  const text: string = e.detail.elapsedMs;
  // @ts-expect-error no such field
  void e.detail.elapsedMS;
  // @ts-expect-error another event's field: absent here
  const klass: FailureClass = e.detail.failureClass;
});
registrar.removeEventListener("registration.success", (e) => void e.detail.elapsedMs.toFixed());
// @ts-expect-error unknown event name
registrar.removeEventListener("registration.sucess", () => {});
registrar.addEventListener("registration.error", (e) => {
  const klass: FailureClass = e.detail.failureClass;
  const attempt: number = e.detail.attempt;
  const error: string = e.detail.error;
  // @ts-expect-error only with an HTTP answer
  const http: string = e.detail.status;
  // @ts-expect-error only while start()'s loop runs
  const retry: number = e.detail.retryInMs;
});
registrar.addEventListener("registration.callback.rejected", (e) => {
  const suppressed: number = e.detail.suppressed;
  const status: string = e.detail.status;
});
// The DDS session's events.
registrar.addEventListener("session.signed_in", (e) => {
  const name: "session.signed_in" = e.detail.name;
  const expires: number = e.detail.expiresInMs;
});
registrar.addEventListener("session.error", (e) => void e.detail.message);
// @ts-expect-error unknown event name
registrar.addEventListener("registration.sucess", () => {});
await registrar.start();
await registrar.stop();
try {
  const outcome: RegisterOutcome = await registrar.registerOnce();
  // @ts-expect-error the outcome is "registered" or "adopted"
  const wrong: "failed" = outcome;
  await registrar.registerAgain();
} catch (err) {
  if (err instanceof RegistrationError) {
    const code: "registration_conflict" | "registration_rejected" | "registration_unavailable" = err.code;
    const status: number | undefined = err.status;
    const hint: string | undefined = err.hint;
  } else if (err instanceof PosemeshError) {
    const code: string = err.code;
  }
}
const result: TickResult = await registrar.tick(Date.now());
const next: number = result.nextCheckAt;
const failure: RegistrationError | null = result.error;
const response: Response = await registrar.handleCallback(new Request("http://node/health"));
const newEvents: RegistrarEventName[] = [
  "registration.adopted",
  "registration.stale",
  "registration.callback.conflict",
  "registration.rearm",
];
registrar.addEventListener("registration.adopted", (event) => {
  const age: number | undefined = event.detail.ageMs;
});
// Typed events: each name's `detail` (CustomEvent<RegistrarEventMap[name]>), on the
// registrar and on `registrar.events`.
registrar.addEventListener("registration.success", (event: CustomEvent<RegistrarEventMap["registration.success"]>) => {
  const elapsed: number = event.detail.elapsedMs;
  const name: "registration.success" = event.detail.name;
});
registrar.events.addEventListener("status.transition", (event) => {
  const to: RegistrationStatus = event.detail.to;
  const from: RegistrationStatus = event.detail.from;
});
registrar.events.addEventListener("registration.success", (e) => {
  const elapsed: number = e.detail.elapsedMs;
  // @ts-expect-error a number, not any
  const text: string = e.detail.elapsedMs;
});
registrar.events.addEventListener("registration.error", (event) => {
  const hint: string | undefined = event.detail.hint;
  const retry: number | undefined = event.detail.retryInMs;
  // @ts-expect-error a registration.error has no elapsedMs guarantee
  const elapsed: number = event.detail.elapsedMs;
});
const typedTarget: EventTarget = registrar.events;
// Other names still reach EventTarget's own signature.
registrar.events.addEventListener("something-else", (event: Event) => {});

// AbortSignal on the async calls.
const controller = new AbortController();
await registrar.registerOnce({ signal: controller.signal });
await registrar.start({ signal: AbortSignal.timeout(1000) });
await registrar.tick(undefined, { signal: controller.signal });
const callOptions: CallOptions = { signal: controller.signal };
// @ts-expect-error a signal is an AbortSignal
await registrar.registerOnce({ signal: "soon" });

// Lifetimes: using / await using.
async function scoped(): Promise<void> {
  await using scopedRegistrar = new Registrar(key, options);
  await scopedRegistrar.start();
  using scopedKey = PrivateKey.fromHex("4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90");
  const dispose: () => Promise<void> = registrar[Symbol.asyncDispose];
}

export { plaintext, nonce, plaintextString, buffered, numeric };
export { typedTarget, callOptions, scoped, newEvents, address, signature, method, body, wallet, stamp, storage, kv, web, badFlow, status, next, failure, response };

// The DDS session and the metrics.
const token: AccessToken = await registrar.accessToken({ signal: controller.signal });
const bearer: string = `Bearer ${token.expose()}`;
const expires: Date = token.expiresAt;
await registrar.accessTokenRefused(token);
await registrar.accessTokenRefused(bearer);
// @ts-expect-error: a token or its text
await registrar.accessTokenRefused(42);
const metrics: RegistrarMetrics = await registrar.metrics();
const retries: number = metrics.attempts.retryFast + metrics.consecutiveFailures;
const since: number | undefined = metrics.sinceLastSuccessMs;
void expires;
void retries;
void since;
