// Type-checked with no tsconfig at all, as a user's `npx tsc --strict --noEmit app.ts` would
// (test.sh): each TypeScript version's default target, lib, module and types. So no top-level
// await and no `using` here.
import { PrivateKey, Registrar, type FailureClass, type RegistrationStatus } from "posemesh-registration";

const key = PrivateKey.fromHex("4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90");
const fromBuffer: PrivateKey = PrivateKey.fromBytes(new ArrayBuffer(32));
const registrar = new Registrar(key, {
  ddsUrl: "https://dds.example.com",
  version: "1.2.3",
  capabilities: ["/x/v1"],
  registrationCredentials: "secret",
  onEvent: (event) => {
    const name: string = event.name;
    if (event.name === "registration.error") {
      const klass: FailureClass = event.failureClass;
    }
    // @ts-expect-error not narrowed: most events carry no failure
    const klass: FailureClass = event.failureClass;
  },
});
registrar.addEventListener("registration.success", (e) => {
  const elapsed: number = e.detail.elapsedMs;
  // @ts-expect-error a number, not any
  const text: string = e.detail.elapsedMs;
});
registrar.events.addEventListener("status.transition", (e) => {
  const to: RegistrationStatus = e.detail.to;
});
// @ts-expect-error unknown event name
registrar.addEventListener("registration.sucess", () => {});
registrar.start().then(() => registrar.stop());
// The disposers, whose symbols the declarations' lib reference brings.
registrar[Symbol.dispose]();
const stopped: Promise<void> = registrar[Symbol.asyncDispose]();

export { fromBuffer, stopped };
