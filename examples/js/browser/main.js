// Browser example: await init() once, then register with the wallet flow.
// `?dds=<url>&auto=1` registers on load (the repository's tests use that, with
// `&siweDomain=<host:port>` as the DDS sits behind the test's same-origin proxy).
import init, { PrivateKey, Registrar, WebStorage, PosemeshError } from "posemesh-registration";

const $ = (id) => document.getElementById(id);
const log = (line) => ($("log").textContent += line + "\n");
const setStatus = (status) => {
  $("status").textContent = status;
  $("status").dataset.status = status;
};

await init(); // fetches posemesh_registration_bg.wasm next to the package's web.js

async function register({ dds, key, credentials, siweDomain }) {
  const privateKey = key ? PrivateKey.fromHex(key) : PrivateKey.fromBytes(crypto.getRandomValues(new Uint8Array(32)));
  $("address").textContent = privateKey.ethAddress;
  const registrar = new Registrar(privateKey, {
    ddsUrl: dds,
    flow: "wallet",
    version: "1.0.0",
    capabilities: ["/capture/v1"],
    registrationCredentials: credentials,
    // Only when the DDS is reached through another origin (a proxy): its own domain.
    siweDomains: siweDomain ? [siweDomain] : [],
    storage: new WebStorage(`posemesh-registration:${privateKey.ethAddress}`),
    onEvent: (event) => {
      log(`${event.name}: ${event.message}`);
      setStatus(event.registrarStatus);
    },
  });
  try {
    const result = await registrar.tick();
    setStatus(result.status);
    if (result.error) log(`failed: ${result.error.code}`);
  } catch (err) {
    log(err instanceof PosemeshError ? `${err.name} ${err.code}: ${err.message}` : String(err));
    setStatus("error");
  }
}

$("form").addEventListener("submit", (event) => {
  event.preventDefault();
  const data = new FormData(event.target);
  register({ dds: data.get("dds"), key: data.get("key"), credentials: data.get("credentials") });
});

const params = new URLSearchParams(location.search);
if (params.get("auto") === "1") {
  register({
    dds: params.get("dds"),
    key: "",
    credentials: params.get("credentials") ?? "browser-demo",
    siweDomain: params.get("siweDomain"),
  });
}
