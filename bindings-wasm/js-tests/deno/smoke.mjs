// Run by deno.test.mjs with Deno, in the scratch project: the package as Deno resolves it
// (the `deno` entry), a vector, and a wallet registration with the conformance DDS.
// Prints one JSON line with what it saw; exits non-zero on any failure.
import init, { PrivateKey, Registrar, MemoryStorage, KeyError } from "posemesh-registration";

const entry = import.meta.resolve("posemesh-registration");
await init();
const key = PrivateKey.fromHex("4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90");
if (key.ethAddress !== "0xfdbb6caf01414300c16ea14859fec7736d95355f") throw new Error("wrong address");
let keyError = null;
try {
  PrivateKey.fromHex("nope");
} catch (err) {
  keyError = err instanceof KeyError ? err.code : String(err);
}

const fresh = PrivateKey.fromBytes(crypto.getRandomValues(new Uint8Array(32)));
const registrar = new Registrar(fresh, {
  ddsUrl: Deno.env.get("POSEMESH_DDS_URL"),
  flow: "wallet",
  version: "9.9.9",
  capabilities: ["/deno/v1"],
  registrationCredentials: "deno-credentials",
  storage: new MemoryStorage(),
});
await registrar.registerOnce();
console.log(JSON.stringify({ entry, keyError, status: registrar.status, address: fresh.ethAddress }));
