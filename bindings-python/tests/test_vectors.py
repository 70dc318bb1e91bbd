"""Every shared vector in tests/vectors/, and signatures verified with code we did
not write: coincurve (libsecp256k1), eth-keys and eth-account, pycryptodome's Keccak."""

from __future__ import annotations

import hashlib
import json
import os

import coincurve
import pytest
from coincurve.ecdsa import cdata_to_der, der_to_cdata, deserialize_compact, serialize_compact
from Crypto.Hash import keccak
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys import keys as eth_keys

import posemesh_registration as pr

from conftest import load_vectors

KEYS = load_vectors("keys.json")
SIGNATURES = load_vectors("signatures.json")
TIMESTAMPS = load_vectors("timestamps.json")
REQUESTS = load_vectors("requests.json")


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def recover_registration(message: bytes, signature_hex: str) -> str:
    """The uncompressed public key (hex) that made a registration signature, by libsecp256k1."""
    signature = bytes.fromhex(signature_hex)
    assert len(signature) == 65 and signature[64] in (0, 1)
    public = coincurve.PublicKey.from_signature_and_message(signature, keccak256(message), hasher=None)
    return public.format(compressed=False).hex()


def eth_keys_recover(message_hash: bytes, signature: bytes) -> str:
    """The same recovery with eth-keys' pure-Python backend (a second implementation)."""
    sig = eth_keys.Signature(signature_bytes=signature[:64] + bytes([signature[64] % 27]))
    return "04" + sig.recover_public_key_from_msg_hash(message_hash).to_bytes().hex()


def test_vector_files_are_complete() -> None:
    assert len(KEYS["valid"]) == 12 and len(KEYS["invalid"]) == 13 and len(KEYS["valid_spellings"]) == 9
    for kind in ("registration", "eip191", "compact"):
        assert len(SIGNATURES[kind]) == 52
    assert len(TIMESTAMPS["cases"]) == 22
    assert len(REQUESTS["legacy"]) == 7 and len(REQUESTS["siwe"]) == 4


@pytest.mark.parametrize("case", KEYS["valid"], ids=lambda c: c["eth_address"])
def test_valid_keys(case: dict) -> None:
    key = pr.PrivateKey.from_hex(case["private_key_hex"])
    assert key.public_key_hex == case["public_key_hex"]
    assert key.public_key_bytes.hex() == case["public_key_hex"]
    assert key.eth_address == case["eth_address"]
    assert pr.PrivateKey.from_bytes(bytes.fromhex(case["private_key_hex"])).eth_address == case["eth_address"]
    # Independently: libsecp256k1 derives the same public key, eth-keys the same address.
    secret = bytes.fromhex(case["private_key_hex"])
    assert coincurve.PrivateKey(secret).public_key.format(compressed=False).hex() == case["public_key_hex"]
    assert eth_keys.PrivateKey(secret).public_key.to_address() == case["eth_address"]


@pytest.mark.parametrize("case", KEYS["invalid"], ids=lambda c: c["reason"])
def test_invalid_keys(case: dict) -> None:
    with pytest.raises(pr.InvalidKeyError) as info:
        pr.PrivateKey.from_hex(case["input"])
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, pr.RegistrationError)
    digits = case["input"].strip()
    if len(digits) >= 8:
        assert digits.lower() not in str(info.value).lower()
        assert digits.lower() not in repr(info.value).lower()


@pytest.mark.parametrize("case", KEYS["valid_spellings"], ids=lambda c: repr(c["input"])[:40])
def test_valid_spellings(case: dict) -> None:
    key = pr.PrivateKey.from_hex(case["input"])
    assert key == pr.PrivateKey.from_hex(case["private_key_hex"])
    assert key.to_bytes().hex() == case["private_key_hex"]


@pytest.mark.parametrize("index", range(52))
def test_registration_signatures(index: int) -> None:
    case = SIGNATURES["registration"][index]
    key = pr.PrivateKey.from_hex(case["private_key_hex"])
    message = case["message"].encode("utf-8")
    assert keccak256(message).hex() == case["keccak256_hex"]
    signature = key.sign_registration(message)
    assert signature == case["signature_hex"]
    assert key.sign_registration(case["message"]) == signature  # str is signed as UTF-8
    assert recover_registration(message, signature) == key.public_key_hex
    assert eth_keys_recover(keccak256(message), bytes.fromhex(signature)) == key.public_key_hex


@pytest.mark.parametrize("index", range(52))
def test_eip191_signatures(index: int) -> None:
    case = SIGNATURES["eip191"][index]
    key = pr.PrivateKey.from_hex(case["private_key_hex"])
    signature = key.sign_eip191(case["message"].encode("utf-8"))
    assert signature == case["signature_hex"]
    assert signature.startswith("0x") and int(signature[-2:], 16) in (27, 28)
    recovered = Account.recover_message(encode_defunct(text=case["message"]), signature=signature)
    assert recovered.lower() == key.eth_address


@pytest.mark.parametrize("index", range(52))
def test_compact_signatures(index: int) -> None:
    case = SIGNATURES["compact"][index]
    key = pr.PrivateKey.from_hex(case["private_key_hex"])
    message = case["message"].encode("utf-8")
    assert hashlib.sha256(message).hexdigest() == case["sha256_hex"]
    signature = key.sign_compact(message)
    assert signature == case["signature_hex"]
    der = cdata_to_der(deserialize_compact(bytes.fromhex(signature)))
    public = coincurve.PublicKey(bytes.fromhex(key.public_key_hex))
    assert public.verify(der, message, hasher=sha256)
    # A different message must not verify: the check can fail.
    assert not public.verify(der, message + b"!", hasher=sha256)


@pytest.mark.parametrize("case", TIMESTAMPS["cases"], ids=lambda c: c["rfc3339"])
def test_timestamps(case: dict) -> None:
    assert pr.format_timestamp(case["seconds"] * 10**9 + case["nanos"]) == case["rfc3339"]


def _header(request: pr.HttpRequest, name: str) -> str:
    values = [v for k, v in request.headers if k.lower() == name]
    assert len(values) == 1
    return values[0]


@pytest.mark.parametrize("case", REQUESTS["legacy"], ids=lambda c: c["name"])
def test_legacy_requests(case: dict) -> None:
    expected = case["expected"]
    request = pr.build_registration_request(
        dds_url=case["dds_base_url"],
        node_url=case["node_url"],
        node_version=case["node_version"],
        capabilities=case["capabilities"],
        registration_secret=case["registration_credentials"],
        private_key=case["private_key_hex"],
        timestamp_ns=case["timestamp_seconds"] * 10**9 + case["timestamp_nanos"],
    )
    assert request.method == expected["method"]
    assert request.url == expected["url"]
    assert _header(request, "content-type") == expected["content_type"]
    assert request.body.decode("utf-8") == expected["body"]  # as text: key order and escaping
    body = json.loads(request.body)
    assert body["url"] + body["timestamp"] == expected["signed_message"]
    assert recover_registration(expected["signed_message"].encode("utf-8"), body["signature"]) == body["public_key"]
    assert body["public_key"] == pr.PrivateKey.from_hex(case["private_key_hex"]).public_key_hex


@pytest.mark.parametrize("case", REQUESTS["siwe"], ids=lambda c: c["name"])
def test_siwe_requests(case: dict) -> None:
    expected = case["expected"]
    key = pr.PrivateKey.from_hex(case["private_key_hex"])
    nonce = pr.build_siwe_nonce_request(dds_url=case["dds_base_url"], private_key=key)
    assert (nonce.method, nonce.url) == (expected["nonce_request"]["method"], expected["nonce_request"]["url"])
    assert nonce.body.decode("utf-8") == expected["nonce_request"]["body"]

    challenge_text = json.dumps(case["challenge"])
    for challenge in (challenge_text, challenge_text.encode("utf-8"), case["challenge"]):
        register = pr.build_wallet_registration_request(
            dds_url=case["dds_base_url"],
            challenge=challenge,
            node_version=case["node_version"],
            capabilities=case["capabilities"],
            registration_secret=case["registration_credentials"],
            private_key=key,
        )
        assert (register.method, register.url) == (expected["register"]["method"], expected["register"]["url"])
        assert register.body.decode("utf-8") == expected["register"]["body"]
    body = json.loads(register.body)
    assert body["message"] == expected["message"]
    assert body["signature"] == expected["signature"]
    assert key.sign_eip191(expected["message"]) == expected["signature"]
    recovered = Account.recover_message(encode_defunct(text=body["message"]), signature=body["signature"])
    assert recovered.lower() == key.eth_address


def test_signatures_match_libsecp256k1_on_random_keys_and_messages() -> None:
    """Beyond the vectors: random keys and messages, compared byte for byte with
    libsecp256k1 (also RFC 6979, low-S) and recovered by it."""
    for _ in range(200):
        secret = os.urandom(32)
        try:
            theirs = coincurve.PrivateKey(secret)
        except ValueError:
            continue
        ours = pr.PrivateKey.from_bytes(secret)
        message = os.urandom(int.from_bytes(os.urandom(1), "big"))
        assert ours.sign_registration(message) == theirs.sign_recoverable(message, hasher=keccak256).hex()
        der = theirs.sign(message, hasher=sha256)
        assert ours.sign_compact(message) == serialize_compact(der_to_cdata(der)).hex()
        assert ours.public_key_hex == theirs.public_key.format(compressed=False).hex()
