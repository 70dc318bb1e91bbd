// A Cloudflare Worker that keeps a posemesh node registered from a cron trigger.
//
// Each scheduled run loads the registration snapshot from a KV namespace, does what is due
// (registers if not registered), and saves the snapshot. The wallet flow needs no callback
// server, which suits Workers. Secrets come from Worker secrets (`wrangler secret put`).
//
// Bindings (see wrangler.toml): REGISTRATION (KV), POSEMESH_DDS_URL, POSEMESH_PRIVATE_KEY,
// POSEMESH_REGISTRATION_CREDENTIALS, and optionally NODE_VERSION, NODE_CAPABILITIES.
import { PrivateKey, Registrar, KvStorage } from "posemesh-registration";

function registrar(env) {
  return new Registrar(PrivateKey.fromHex(env.POSEMESH_PRIVATE_KEY), {
    ddsUrl: env.POSEMESH_DDS_URL,
    flow: "wallet",
    version: env.NODE_VERSION ?? "1.0.0",
    capabilities: (env.NODE_CAPABILITIES ?? "/reconstruction/global-refinement/v1").split(","),
    registrationCredentials: env.POSEMESH_REGISTRATION_CREDENTIALS,
    storage: new KvStorage(env.REGISTRATION, "registration"),
    logger: console,
  });
}

export default {
  async scheduled(controller, env) {
    const node = registrar(env);
    try {
      const result = await node.tick();
      console.log(`posemesh: ${result.status} (attempted: ${result.attempted})`);
      // A failed attempt is saved and retried on the next trigger; report it to the logs.
      if (result.error) console.warn(`posemesh: ${result.error.code}: ${result.error.message}`);
    } finally {
      node.free();
    }
  },

  // GET / shows the node's address and stored status (never a secret).
  async fetch(request, env) {
    const stored = await new KvStorage(env.REGISTRATION, "registration").load();
    const status = stored ? JSON.parse(new TextDecoder().decode(stored)).status : "disconnected";
    const address = PrivateKey.fromHex(env.POSEMESH_PRIVATE_KEY).ethAddress;
    return Response.json({ address, status });
  },
};
