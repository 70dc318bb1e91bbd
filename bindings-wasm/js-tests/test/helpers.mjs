// Shared helpers of the JS tests: paths, vectors, and the independent checkers
// (@noble/secp256k1 + @noble/hashes, code this project did not write).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import * as secp from "@noble/secp256k1";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex, hexToBytes, utf8ToBytes, concatBytes } from "@noble/hashes/utils.js";
import { inspect } from "node:util";

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

secp.hashes.sha256 = sha256;
secp.hashes.hmacSha256 = (key, msg) => hmac(sha256, key, msg);

/** The repository root (POSEMESH_REPO, set by test.sh; else found from this file). */
export const REPO =
  process.env.POSEMESH_REPO ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../..");

export function vectors(name) {
  return JSON.parse(readFileSync(path.join(REPO, "tests/vectors", `${name}.json`), "utf8"));
}

export { secp, keccak_256, sha256, bytesToHex, hexToBytes, utf8ToBytes };

/** The uncompressed public key of a private key, by noble. */
export function noblePublicKey(privateKeyHex) {
  return bytesToHex(secp.getPublicKey(hexToBytes(privateKeyHex), false));
}

/** The Ethereum address of an uncompressed public key, by noble. */
export function nobleAddress(publicKeyHex) {
  return "0x" + bytesToHex(keccak_256(hexToBytes(publicKeyHex).slice(1)).slice(-20));
}

function eip191Hash(message) {
  const bytes = utf8ToBytes(message);
  return keccak_256(
    concatBytes(utf8ToBytes(`\x19Ethereum Signed Message:\n${bytes.length}`), bytes),
  );
}

/** Recovers the uncompressed public key from an `r ‖ s ‖ v` signature over a prehash. */
function recover(signatureHex, prehash, vOffset) {
  const sig = hexToBytes(signatureHex.replace(/^0x/, ""));
  if (sig.length !== 65) throw new Error(`expected 65 bytes, got ${sig.length}`);
  const v = sig[64] - vOffset;
  if (v !== 0 && v !== 1) throw new Error(`recovery byte out of range: ${sig[64]}`);
  const recovered = concatBytes(Uint8Array.of(v), sig.slice(0, 64));
  const s = BigInt("0x" + bytesToHex(sig.slice(32, 64)));
  if (s > SECP256K1_N / 2n) throw new Error("high-S signature");
  const compressed = secp.recoverPublicKey(recovered, prehash, { prehash: false });
  return bytesToHex(secp.Point.fromBytes(compressed).toBytes(false));
}

/** The signer of a legacy registration signature over `message`. */
export function recoverRegistrationSigner(message, signatureHex) {
  return recover(signatureHex, keccak_256(utf8ToBytes(message)), 0);
}

/** The signer of an EIP-191 signature over `message`. */
export function recoverEip191Signer(message, signatureHex) {
  return recover(signatureHex, eip191Hash(message), 27);
}

/** Whether a compact `r ‖ s` signature over sha256(message) verifies (low-S required). */
export function verifyCompact(message, signatureHex, publicKeyHex) {
  return secp.verify(hexToBytes(signatureHex), utf8ToBytes(message), hexToBytes(publicKeyHex), {
    lowS: true,
  });
}

/** Noble's own deterministic registration signature, `r ‖ s ‖ v`. */
export function nobleRegistrationSignature(privateKeyHex, message) {
  const rec = secp.sign(keccak_256(utf8ToBytes(message)), hexToBytes(privateKeyHex), {
    prehash: false,
    format: "recovered",
  });
  return bytesToHex(concatBytes(rec.slice(1), rec.slice(0, 1)));
}

/**
 * Captures everything written through `console` while `fn` runs (the package logs through
 * the logger it is given, `console` here); returns [fn's result, the captured text].
 */
export async function captureConsole(fn) {
  const chunks = [];
  const saved = {};
  const methods = ["log", "info", "warn", "error", "debug", "trace"];
  for (const m of methods) {
    saved[m] = console[m];
    console[m] = (...args) => {
      chunks.push(args.map((a) => (typeof a === "string" ? a : inspect(a))).join(" "));
    };
  }
  try {
    const result = await fn();
    return [result, chunks.join("\n")];
  } finally {
    for (const m of methods) console[m] = saved[m];
  }
}
