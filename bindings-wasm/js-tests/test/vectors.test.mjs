// Every vector in tests/vectors/*.json against the packed package, imported the way users
// import it; signatures re-checked with @noble/secp256k1 + @noble/hashes.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  PrivateKey,
  KeyError,
  PosemeshError,
  buildRegistrationRequest,
  buildSiweNonceRequest,
  buildWalletRegistrationRequest,
  siweMessage,
  formatTimestamp,
} from "posemesh-registration";
import {
  vectors,
  noblePublicKey,
  nobleAddress,
  nobleRegistrationSignature,
  recoverRegistrationSigner,
  recoverEip191Signer,
  verifyCompact,
} from "./helpers.mjs";

const keys = vectors("keys");
const signatures = vectors("signatures");
const timestamps = vectors("timestamps");
const requests = vectors("requests");

test("vector files are complete", () => {
  assert.equal(keys.valid.length, 12);
  assert.equal(keys.invalid.length, 13);
  assert.equal(keys.valid_spellings.length, 9);
  for (const kind of ["registration", "eip191", "compact"]) assert.equal(signatures[kind].length, 52);
  assert.equal(timestamps.cases.length, 22);
  assert.equal(requests.legacy.length, 7);
  assert.equal(requests.siwe.length, 4);
});

test("keys: public keys and addresses", () => {
  for (const v of keys.valid) {
    const key = PrivateKey.fromHex(v.private_key_hex);
    assert.equal(key.publicKeyHex, v.public_key_hex);
    assert.equal(key.ethAddress, v.eth_address);
    // Independently: noble derives the same.
    assert.equal(noblePublicKey(v.private_key_hex), v.public_key_hex);
    assert.equal(nobleAddress(v.public_key_hex), v.eth_address);
    key.free();
  }
});

test("keys: accepted spellings", () => {
  for (const v of keys.valid_spellings) {
    const key = PrivateKey.fromHex(v.input);
    const expected = PrivateKey.fromHex(v.private_key_hex);
    assert.equal(key.publicKeyHex, expected.publicKeyHex, JSON.stringify(v.input));
  }
});

test("keys: invalid inputs throw KeyError without echoing the input", () => {
  for (const v of keys.invalid) {
    assert.throws(
      () => PrivateKey.fromHex(v.input),
      (err) => {
        assert.ok(err instanceof KeyError, `${v.reason}: ${err}`);
        assert.ok(err instanceof PosemeshError);
        assert.ok(err instanceof Error);
        assert.equal(err.name, "KeyError");
        assert.match(err.code, /^key_(not_hex|wrong_length|out_of_range)$/);
        const trimmed = v.input.trim();
        if (trimmed.length >= 8) assert.ok(!err.message.includes(trimmed), v.reason);
        if (trimmed.length >= 8) assert.ok(!String(err.stack).includes(trimmed), v.reason);
        return true;
      },
      v.reason,
    );
  }
});

test("signatures: registration (keccak256, r‖s‖v)", () => {
  for (const v of signatures.registration) {
    const key = PrivateKey.fromHex(v.private_key_hex);
    const signature = key.signRegistration(v.message);
    assert.equal(signature, v.signature_hex);
    assert.equal(key.signRegistration(new TextEncoder().encode(v.message)), v.signature_hex);
    // Independently: noble signs the same bytes and recovers our key from ours.
    assert.equal(nobleRegistrationSignature(v.private_key_hex, v.message), signature);
    assert.equal(recoverRegistrationSigner(v.message, signature), key.publicKeyHex);
  }
});

test("signatures: EIP-191 (0x, v = 27/28)", () => {
  for (const v of signatures.eip191) {
    const key = PrivateKey.fromHex(v.private_key_hex);
    const signature = key.signEip191(v.message);
    assert.equal(signature, v.signature_hex);
    assert.match(signature, /^0x[0-9a-f]{130}$/);
    assert.equal(recoverEip191Signer(v.message, signature), key.publicKeyHex);
  }
});

test("signatures: compact (sha256, r‖s)", () => {
  for (const v of signatures.compact) {
    const key = PrivateKey.fromHex(v.private_key_hex);
    const signature = key.signCompact(v.message);
    assert.equal(signature, v.signature_hex);
    assert.ok(verifyCompact(v.message, signature, key.publicKeyHex));
    // A different message does not verify: the checker can fail.
    assert.ok(!verifyCompact(v.message + "x", signature, key.publicKeyHex));
  }
});

test("timestamps: RFC 3339 with nine digits", () => {
  for (const v of timestamps.cases) {
    assert.equal(formatTimestamp({ seconds: v.seconds, nanos: v.nanos }), v.rfc3339);
  }
});

test("requests: legacy registrations, byte for byte", () => {
  for (const v of requests.legacy) {
    const key = PrivateKey.fromHex(v.private_key_hex);
    const request = buildRegistrationRequest(key, {
      ddsUrl: v.dds_base_url,
      nodeUrl: v.node_url,
      version: v.node_version,
      capabilities: v.capabilities,
      registrationCredentials: v.registration_credentials,
      timestamp: { seconds: v.timestamp_seconds, nanos: v.timestamp_nanos },
    });
    assert.equal(request.method, v.expected.method, v.name);
    assert.equal(request.url, v.expected.url, v.name);
    assert.equal(request.headers["content-type"], v.expected.content_type, v.name);
    assert.equal(request.body, v.expected.body, v.name);
    // The signature in the body is over node_url ‖ timestamp and recovers to our key.
    const body = JSON.parse(request.body);
    assert.equal(body.url + body.timestamp, v.expected.signed_message);
    assert.equal(recoverRegistrationSigner(v.expected.signed_message, body.signature), body.public_key);
    // The credentials never show.
    const secret = JSON.stringify(v.registration_credentials).slice(1, -1);
    if (secret.length >= 4) {
      assert.ok(!JSON.stringify(request).includes(secret), v.name);
      assert.ok(!String(request).includes(v.registration_credentials), v.name);
    }
  }
});

test("requests: SIWE wallet registrations, byte for byte", () => {
  for (const v of requests.siwe) {
    const key = PrivateKey.fromHex(v.private_key_hex);
    const nonce = buildSiweNonceRequest(v.dds_base_url, key.ethAddress);
    assert.equal(nonce.method, v.expected.nonce_request.method, v.name);
    assert.equal(nonce.url, v.expected.nonce_request.url, v.name);
    assert.equal(nonce.body, v.expected.nonce_request.body, v.name);
    assert.equal(siweMessage(v.challenge, key.ethAddress), v.expected.message, v.name);
    const options = {
      ddsUrl: v.dds_base_url,
      version: v.node_version,
      capabilities: v.capabilities,
      registrationCredentials: v.registration_credentials,
    };
    for (const challenge of [v.challenge, JSON.stringify(v.challenge)]) {
      const register = buildWalletRegistrationRequest(key, { ...options, challenge });
      assert.equal(register.method, v.expected.register.method, v.name);
      assert.equal(register.url, v.expected.register.url, v.name);
      assert.equal(register.body, v.expected.register.body, v.name);
    }
    assert.equal(JSON.parse(v.expected.register.body).signature, v.expected.signature);
    assert.equal(recoverEip191Signer(v.expected.message, v.expected.signature), key.publicKeyHex);
  }
});
