#!/usr/bin/env python3
"""Deterministic generator for the shared posemesh-registration test vectors.

Every expected value is computed here with third-party libraries that are
independent of the project's own code:

* coincurve      - Python bindings to libsecp256k1 (keys, RFC 6979 ECDSA, recovery)
* eth-keys       - its *pure-Python* "native" backend is used as a second,
                   independent secp256k1/RFC 6979 implementation
* eth-account    - EIP-191 ``personal_sign`` reference (``sign_message``)
* pycryptodome   - original Keccak-256 (not SHA3-256)
* hashlib        - SHA-256

Every value is cross-checked between at least two implementations; any
disagreement aborts with an AssertionError, so the JSON files are never
rewritten from a single unchecked source.

Usage (from the repository root, inside the venv):

    python scripts/vectors/generate.py

It rewrites tests/vectors/{keys,signatures,timestamps,requests}.json. There is
no randomness: running it again produces byte-identical files.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import sys
from importlib.metadata import version as _pkg_version

import coincurve
from Crypto.Hash import SHA3_256, keccak
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_defunct
from eth_keys import KeyAPI
from eth_keys.backends import CoinCurveECCBackend, NativeECCBackend
from eth_keys.backends.native import ecdsa as native_ecdsa

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_DIR = os.path.join(REPO_ROOT, "tests", "vectors")

# secp256k1 group order
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_N = N // 2

NATIVE = KeyAPI(NativeECCBackend)  # pure Python, independent of libsecp256k1
ETHKEYS_CC = KeyAPI(CoinCurveECCBackend)  # eth-keys wrapper over coincurve

LIB_VERSIONS = {
    name: _pkg_version(name)
    for name in ("coincurve", "eth-keys", "eth-account", "pycryptodome")
}
GENERATED_BY = "scripts/vectors/generate.py with " + ", ".join(
    f"{k} {v}" for k, v in LIB_VERSIONS.items()
) + f", Python {sys.version_info.major}.{sys.version_info.minor}"


# ---------------------------------------------------------------- hashing ---

def keccak256(data: bytes) -> bytes:
    h = keccak.new(digest_bits=256)
    h.update(data)
    return h.digest()


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# Known answers: original Keccak-256 differs from FIPS SHA3-256.
assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
assert SHA3_256.new(b"").hexdigest() == "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"
assert hashlib.sha3_256(b"").hexdigest() == SHA3_256.new(b"").hexdigest()
assert keccak256(b"").hex() != hashlib.sha3_256(b"").hexdigest()
assert sha256(b"").hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


# ------------------------------------------------------------------- keys ---

_HEX_RE = re.compile(r"\A[0-9a-fA-F]*\Z")


def parse_private_key(text: str) -> bytes:
    """Model of the protocol's loader: trim, strip one optional 0x, strict hex,
    exactly 32 bytes, 1 <= k < n. Raises ValueError."""
    s = text.strip()
    if s.startswith("0x"):
        s = s[2:]
    if not _HEX_RE.match(s) or len(s) % 2:
        raise ValueError("not hex")
    raw = bytes.fromhex(s)
    if len(raw) != 32:
        raise ValueError("length")
    k = int.from_bytes(raw, "big")
    if not 1 <= k < N:
        raise ValueError("scalar out of range")
    return raw


def coincurve_accepts(raw: bytes) -> bool:
    try:
        coincurve.PrivateKey(raw)
        return True
    except Exception:
        return False


def public_key(sk: bytes) -> bytes:
    pub = coincurve.PrivateKey(sk).public_key.format(compressed=False)
    assert len(pub) == 65 and pub[0] == 4
    native_pub = NATIVE.PrivateKey(sk).public_key.to_bytes()
    assert native_pub == pub[1:], "coincurve vs eth-keys native public key mismatch"
    return pub


def eth_address(sk: bytes) -> str:
    pub = public_key(sk)
    addr = "0x" + keccak256(pub[1:])[-20:].hex()
    assert NATIVE.PrivateKey(sk).public_key.to_canonical_address().hex() == addr[2:]
    assert ETHKEYS_CC.PrivateKey(sk).public_key.to_checksum_address().lower() == addr
    assert Account.from_key(sk).address.lower() == addr
    return addr


def derived_key(i: int) -> bytes:
    k = int.from_bytes(keccak256(f"posemesh-vector-key-{i}".encode()), "big") % (N - 1) + 1
    return k.to_bytes(32, "big")


KNOWN_SK = "4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90"
KNOWN_ADDR = "0xfdbb6caf01414300c16ea14859fec7736d95355f"
FIXED_KEYS = [
    KNOWN_SK,
    "e331b6d69882b4ed5bb7f55b585d7d0f7dc3aeca4a3deee8d16bde3eca51aace",
    "0000000000000000000000000000000000000000000000000000000000000001",
    "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140",
]
DERIVED_KEYS = [derived_key(i).hex() for i in range(1, 9)]
ALL_KEYS = FIXED_KEYS + DERIVED_KEYS

assert eth_address(bytes.fromhex(KNOWN_SK)) == KNOWN_ADDR, "known-answer address mismatch"
# scalar 1 -> generator point G
assert public_key(bytes.fromhex(FIXED_KEYS[2])).hex() == (
    "0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
    "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"
)
# n-1 -> -G (same X, negated Y)
_g = public_key(bytes.fromhex(FIXED_KEYS[2]))
_mg = public_key(bytes.fromhex(FIXED_KEYS[3]))
assert _mg[1:33] == _g[1:33] and int.from_bytes(_mg[33:], "big") + int.from_bytes(_g[33:], "big") == 2**256 - 2**32 - 977


# ------------------------------------------------------------- signatures ---

def _der_decode_sig(der: bytes) -> tuple[int, int]:
    assert der[0] == 0x30 and der[1] == len(der) - 2
    i = 2
    out = []
    for _ in range(2):
        assert der[i] == 0x02
        ln = der[i + 1]
        out.append(int.from_bytes(der[i + 2 : i + 2 + ln], "big"))
        i += 2 + ln
    assert i == len(der)
    return out[0], out[1]


def sign_recoverable(sk: bytes, digest: bytes) -> bytes:
    """RFC 6979, low-S, r||s||recid (65 bytes); cross-checked and recovered."""
    assert len(digest) == 32
    sig = coincurve.PrivateKey(sk).sign_recoverable(digest, hasher=None)
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:64], "big")
    v = sig[64]
    assert v in (0, 1) and 1 <= r < N and 1 <= s <= HALF_N, "not low-S / bad recid"
    # independent pure-Python RFC 6979 implementation
    nv, nr, ns = native_ecdsa.ecdsa_raw_sign(digest, sk)
    assert (nv, nr, ns) == (v, r, s), "coincurve vs eth-keys native signature mismatch"
    assert ETHKEYS_CC.PrivateKey(sk).sign_msg_hash(digest).to_bytes() == sig
    # recovery, both implementations
    pub = public_key(sk)
    rec = coincurve.PublicKey.from_signature_and_message(sig, digest, hasher=None)
    assert rec.format(compressed=False) == pub, "coincurve recovery mismatch"
    assert native_ecdsa.ecdsa_raw_recover(digest, (v, r, s)) == pub[1:], "native recovery mismatch"
    # the non-recoverable DER signature must be the same (r, s)
    der = coincurve.PrivateKey(sk).sign(digest, hasher=None)
    assert _der_decode_sig(der) == (r, s)
    return sig


def registration_signature(sk: bytes, message: str) -> tuple[str, str]:
    digest = keccak256(message.encode("utf-8"))
    sig = sign_recoverable(sk, digest)
    return digest.hex(), sig.hex()


def eip191_signature(sk: bytes, message: str) -> str:
    body = message.encode("utf-8")
    prefixed = b"\x19Ethereum Signed Message:\n" + str(len(body)).encode("ascii") + body
    digest = keccak256(prefixed)
    sig = sign_recoverable(sk, digest)
    out = sig[:64] + bytes([sig[64] + 27])
    # eth-account reference
    signable = encode_defunct(text=message)
    assert bytes(_hash_eip191_message(signable)) == digest, "EIP-191 hash mismatch"
    signed = Account.sign_message(signable, private_key=sk)
    assert bytes(signed.signature) == out, "eth-account EIP-191 signature mismatch"
    assert Account.recover_message(signable, signature=out).lower() == eth_address(sk)
    return "0x" + out.hex()


def compact_signature(sk: bytes, message: str) -> tuple[str, str]:
    digest = sha256(message.encode("utf-8"))
    sig = sign_recoverable(sk, digest)[:64]
    pub = coincurve.PublicKey(public_key(sk))
    der = coincurve.PrivateKey(sk).sign(digest, hasher=None)
    assert pub.verify(der, digest, hasher=None)
    # coincurve's own sha256 hashing path must agree
    assert coincurve.PrivateKey(sk).sign(message.encode("utf-8")) == der
    assert native_ecdsa.ecdsa_raw_verify(
        digest, (int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")), pub.format(False)[1:]
    )
    return digest.hex(), sig.hex()


# ------------------------------------------------------------- timestamps ---

def _civil_from_days(z: int) -> tuple[int, int, int]:
    # Howard Hinnant's days -> (y, m, d) algorithm, independent of datetime.
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + (m <= 2), m, d)


def rfc3339(seconds: int, nanos: int) -> str:
    assert seconds >= 0 and 0 <= nanos <= 999_999_999
    dt = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(seconds=seconds)
    a = dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"
    days, rem = divmod(seconds, 86400)
    y, m, d = _civil_from_days(days)
    b = f"{y:04d}-{m:02d}-{d:02d}T{rem // 3600:02d}:{rem // 60 % 60:02d}:{rem % 60:02d}.{nanos:09d}Z"
    assert a == b, (a, b)
    return a


def _secs(*ymdhms: int) -> int:
    dt = _dt.datetime(*ymdhms, tzinfo=_dt.timezone.utc)
    return int((dt - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)).total_seconds())


assert rfc3339(1704164645, 6007008) == "2024-01-02T03:04:05.006007008Z"


# ------------------------------------------------------------------- JSON ---

def serde_compact(obj) -> str:
    """Compact JSON text exactly as serde_json::to_string writes it."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    assert text == _serde_like(obj), "json.dumps differs from serde_json model"
    return text


def _serde_str(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif o < 0x20:
            out.append("\\u%04x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _serde_like(obj) -> str:
    if isinstance(obj, str):
        return _serde_str(obj)
    if isinstance(obj, bool) or obj is None:
        raise TypeError("unused")
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, list):
        return "[" + ",".join(_serde_like(x) for x in obj) + "]"
    if isinstance(obj, dict):
        return "{" + ",".join(_serde_str(k) + ":" + _serde_like(v) for k, v in obj.items()) + "}"
    raise TypeError(type(obj))


def write_json(name: str, obj) -> None:
    path = os.path.join(OUT_DIR, name)
    text = json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
    assert json.loads(text) == obj
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


# ---------------------------------------------------------- vector builders --

def build_keys() -> dict:
    valid = []
    for hx in ALL_KEYS:
        sk = parse_private_key(hx)
        assert sk.hex() == hx and coincurve_accepts(sk)
        valid.append({
            "private_key_hex": hx,
            "public_key_hex": public_key(sk).hex(),
            "eth_address": eth_address(sk),
        })

    k = KNOWN_SK
    invalid = [
        ("", "empty string"),
        ("   \t\n", "whitespace only"),
        ("0x", "prefix only, no digits"),
        (k[:-1], "odd number of hex digits (63)"),
        ("zz" + k[2:], "non-hex characters"),
        (k[:62], "31 bytes (too short)"),
        (k + "00", "33 bytes (too long)"),
        ("00" * 32, "zero scalar"),
        ("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", "equal to the curve order n"),
        ("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364142", "curve order n + 1"),
        ("ff" * 32, "all ff, above the curve order"),
        ("0x0x" + k, "double 0x prefix (only one is stripped)"),
        (k[:32] + " " + k[32:], "space inside the hex"),
    ]
    inv = []
    for text, reason in invalid:
        try:
            parse_private_key(text)
        except ValueError:
            pass
        else:
            raise AssertionError(f"expected invalid: {text!r}")
        inv.append({"input": text, "reason": reason})
    # coincurve itself must reject the out-of-range 32-byte scalars
    for text in ("00" * 32, invalid[8][0], invalid[9][0], "ff" * 32):
        assert not coincurve_accepts(bytes.fromhex(text)), text

    spellings = [
        "  0x" + k + "\n",
        k,
        "0x" + k,
        k.upper(),
        "0x" + k.upper(),
        "\t" + k + "\t",
        "\r\n " + k + " \r\n",
        "\n\n0x" + FIXED_KEYS[2] + "  ",
        FIXED_KEYS[3].upper() + "\n",
    ]
    sp = []
    for text in spellings:
        raw = parse_private_key(text)
        sp.append({"input": text, "private_key_hex": raw.hex()})

    return {
        "description": (
            "secp256k1 private keys with their uncompressed SEC1 public key (04||X||Y) and "
            "Ethereum address (0x + last 20 bytes of keccak256(X||Y)), all lowercase hex. "
            "'invalid' inputs must be rejected by the private-key loader (errors must not echo "
            "the input). 'valid_spellings' must load: surrounding whitespace trimmed, one "
            "optional lowercase '0x' prefix stripped, upper/lower case hex accepted."
        ),
        "generated_by": GENERATED_BY,
        "valid": valid,
        "invalid": inv,
        "valid_spellings": sp,
    }


LONG_MESSAGE = ("posemesh registration long message 0123456789 abcdefghijklmnopqrstuvwxyz. " * 14)[:1000]
assert len(LONG_MESSAGE) == 1000

SIWE_CHALLENGE_FOR_SIGS = {
    "nonce": "abc12345",
    "domain": "dds.example.com",
    "uri": "https://dds.example.com",
    "version": "1",
    "chainId": 1,
    "issuedAt": "2026-01-01T00:00:00Z",
}


def siwe_message(challenge: dict, address: str) -> str:
    return (
        f"{challenge['domain']} wants you to sign in with your Ethereum account:\n"
        f"{address}\n\n"
        f"URI: {challenge['uri']}\n"
        f"Version: {challenge['version']}\n"
        f"Chain ID: {challenge['chainId']}\n"
        f"Nonce: {challenge['nonce']}\n"
        f"Issued At: {challenge['issuedAt']}"
    )


def messages_for(key_hex: str) -> list[str]:
    addr = eth_address(bytes.fromhex(key_hex))
    return [
        "",
        "hello",
        "https://node.example.com" + rfc3339(1704164645, 6007008),
        "héllo wörld ✓ 🚀",
        "line one\nline two\ttabbed\r\nend",
        LONG_MESSAGE,
        siwe_message(SIWE_CHALLENGE_FOR_SIGS, addr),
    ]


def build_signatures() -> dict:
    plan: list[tuple[str, str]] = []
    for hx in FIXED_KEYS:
        for m in messages_for(hx):
            plan.append((hx, m))
    for i, hx in enumerate(DERIVED_KEYS):
        msgs = messages_for(hx)
        rotating = [msgs[0], msgs[2], msgs[3], msgs[4], msgs[5]][i % 5]
        for m in ("hello", rotating, msgs[6]):
            plan.append((hx, m))

    reg, e191, comp = [], [], []
    for hx, m in plan:
        sk = bytes.fromhex(hx)
        kh, rs = registration_signature(sk, m)
        reg.append({"private_key_hex": hx, "message": m, "keccak256_hex": kh, "signature_hex": rs})
        e191.append({"private_key_hex": hx, "message": m, "signature_hex": eip191_signature(sk, m)})
        sh, cs = compact_signature(sk, m)
        comp.append({"private_key_hex": hx, "message": m, "sha256_hex": sh, "signature_hex": cs})

    for e in reg:
        assert len(e["signature_hex"]) == 130
    for e in e191:
        assert len(e["signature_hex"]) == 132 and e["signature_hex"][-2:] in ("1b", "1c")
    for e in comp:
        assert len(e["signature_hex"]) == 128

    return {
        "description": (
            "secp256k1 ECDSA signatures with RFC 6979 deterministic nonces and low-S over the "
            "UTF-8 bytes of 'message'. registration: keccak256(message) (original Keccak, not "
            "SHA3), r||s||v with v = recovery id 0/1, 130 hex chars, no 0x. eip191: keccak256("
            "\"\\x19Ethereum Signed Message:\\n\" + decimal byte length + message), r||s||v with "
            "v = recovery id + 27, '0x' + 130 hex chars. compact: sha256(message), r||s, 128 hex "
            "chars, no recovery byte."
        ),
        "generated_by": GENERATED_BY,
        "registration": reg,
        "eip191": e191,
        "compact": comp,
    }


def build_timestamps() -> dict:
    raw = [
        (0, 0),
        (0, 1),
        (1, 999_999_999),
        (1704164645, 6007008),
        (1704164645, 0),
        (1704164645, 999_999_999),
        (1704164645, 100),
        (1704164645, 123_456_789),
        (1_000_000_000, 500_000_000),
        (_secs(2000, 2, 29, 12, 34, 56), 0),
        (_secs(2024, 2, 29, 0, 0, 0), 42),
        (_secs(2024, 2, 29, 23, 59, 59), 999_999_999),
        (_secs(2023, 2, 28, 23, 59, 59), 1),
        (_secs(2016, 12, 31, 23, 59, 59), 999_999_999),
        (_secs(2024, 12, 31, 23, 59, 59), 999_999_999),
        (2**31 - 1, 0),
        (2**31, 0),
        (2**32, 7),
        (_secs(2100, 2, 28, 23, 59, 59), 10),
        (_secs(2100, 3, 1, 0, 0, 0), 0),
        (_secs(2400, 2, 29, 6, 7, 8), 900_000_000),
        (_secs(9999, 12, 31, 23, 59, 59), 999_999_999),
    ]
    cases = [{"seconds": s, "nanos": n, "rfc3339": rfc3339(s, n)} for s, n in raw]
    assert cases[-1]["rfc3339"] == "9999-12-31T23:59:59.999999999Z"
    assert cases[0]["rfc3339"] == "1970-01-01T00:00:00.000000000Z"
    assert cases[10]["rfc3339"].startswith("2024-02-29T")
    return {
        "description": (
            "RFC 3339 UTC timestamps from (seconds since the Unix epoch, nanoseconds), always "
            "with exactly nine fractional digits and a 'Z' suffix."
        ),
        "generated_by": GENERATED_BY,
        "cases": cases,
    }


def trim_base(base: str) -> str:
    return base.rstrip("/")


def build_requests() -> dict:
    legacy_inputs = [
        dict(name="basic_https", dds_base_url="https://dds.example.com",
             node_url="https://node.example.com", node_version="1.2.3",
             registration_credentials="secret-123", private_key_hex=KNOWN_SK,
             capabilities=["/reconstruction/global-refinement/v1"],
             timestamp_seconds=1704164645, timestamp_nanos=6007008),
        dict(name="base_trailing_slash", dds_base_url="https://dds.example.com/",
             node_url="https://node.example.com", node_version="1.2.3",
             registration_credentials="secret-123", private_key_hex=FIXED_KEYS[1],
             capabilities=["/reconstruction/global-refinement/v1", "/reconstruction/local-refinement/v1",
                           "/splatter/v1"],
             timestamp_seconds=1704164645, timestamp_nanos=0),
        dict(name="base_two_trailing_slashes_http_empty_capabilities", dds_base_url="http://localhost:8080//",
             node_url="http://node-1.internal:9090/compute/a", node_version="0.1.0",
             registration_credentials="s", private_key_hex=FIXED_KEYS[2],
             capabilities=[], timestamp_seconds=0, timestamp_nanos=0),
        dict(name="base_with_path_prefix", dds_base_url="https://dds.example.com/api/",
             node_url="https://node.example.com:8443/base/path", node_version="2.0.0-rc.1+build.5",
             registration_credentials="0123456789abcdef0123456789abcdef", private_key_hex=FIXED_KEYS[3],
             capabilities=["/a/v1", "/b/v2"], timestamp_seconds=2**31, timestamp_nanos=999_999_999),
        dict(name="json_escaping_in_secret", dds_base_url="https://dds.example.com",
             node_url="https://node.example.com/", node_version="1.2.3",
             registration_credentials="q\"uote b\\ackslash sl/ash ümlaut ✓ 🚀 nl\n tab\t cr\r bs\b ff\f nul\x00 us\x1f del\x7f",
             private_key_hex=DERIVED_KEYS[0],
             capabilities=["/reconstruction/global-refinement/v1", "cap with \"quotes\" and é"],
             timestamp_seconds=1709164800, timestamp_nanos=123_456_789),
        dict(name="http_base_port_and_path_node", dds_base_url="http://127.0.0.1:4000",
             node_url="http://127.0.0.1:8080/node?x=1&y=2", node_version="v1.0.0",
             registration_credentials="registration-secret", private_key_hex=DERIVED_KEYS[1],
             capabilities=["/reconstruction/global-refinement/v1"],
             timestamp_seconds=_secs(9999, 12, 31, 23, 59, 59), timestamp_nanos=999_999_999),
        dict(name="unicode_node_url_and_version", dds_base_url="https://dds.example.com///",
             node_url="https://nöde.example.com/π", node_version="1.2.3-β",
             registration_credentials="", private_key_hex=DERIVED_KEYS[2],
             capabilities=["/x/v1", "/y/v1", "/z/v1", "/w/v1"],
             timestamp_seconds=1704164645, timestamp_nanos=1),
    ]
    legacy = []
    for c in legacy_inputs:
        sk = parse_private_key(c["private_key_hex"])
        ts = rfc3339(c["timestamp_seconds"], c["timestamp_nanos"])
        signed = c["node_url"] + ts
        _, sig = registration_signature(sk, signed)
        body_obj = {
            "url": c["node_url"],
            "version": c["node_version"],
            "registration_credentials": c["registration_credentials"],
            "signature": sig,
            "timestamp": ts,
            "public_key": public_key(sk).hex(),
            "capabilities": list(c["capabilities"]),
        }
        body = serde_compact(body_obj)
        assert list(json.loads(body).keys()) == [
            "url", "version", "registration_credentials", "signature", "timestamp", "public_key", "capabilities"]
        entry = dict(c)
        entry["expected"] = {
            "method": "POST",
            "url": trim_base(c["dds_base_url"]) + "/internal/v1/nodes/register",
            "content_type": "application/json",
            "signed_message": signed,
            "body": body,
        }
        legacy.append(entry)
    assert legacy[0]["expected"]["url"] == "https://dds.example.com/internal/v1/nodes/register"
    assert legacy[3]["expected"]["url"] == "https://dds.example.com/api/internal/v1/nodes/register"
    assert legacy[2]["expected"]["url"] == "http://localhost:8080/internal/v1/nodes/register"

    siwe_inputs = [
        dict(name="mainnet_chain_1", dds_base_url="https://dds.example.com",
             private_key_hex=KNOWN_SK, registration_credentials="node-registration-secret",
             capabilities=["/reconstruction/global-refinement/v1"], node_version="1.2.3",
             challenge={"nonce": "abc12345", "domain": "dds.example.com", "uri": "https://dds.example.com",
                        "version": "1", "chainId": 1, "issuedAt": "2026-01-01T00:00:00Z"}),
        dict(name="polygon_137_trailing_slash", dds_base_url="https://dds.example.com/",
             private_key_hex=FIXED_KEYS[1], registration_credentials="q\"uote b\\ack ü ✓",
             capabilities=["/reconstruction/global-refinement/v1", "/reconstruction/local-refinement/v1"],
             node_version="2.0.0-rc.1",
             challenge={"nonce": "Zx9Q2mN7pL4kR8sT", "domain": "dds.example.com",
                        "uri": "https://dds.example.com/login", "version": "1", "chainId": 137,
                        "issuedAt": "2024-01-02T03:04:05.006007008Z"}),
        dict(name="large_chain_id_path_prefix", dds_base_url="http://localhost:8080/api//",
             private_key_hex=DERIVED_KEYS[3], registration_credentials="secret",
             capabilities=["/a/v1"], node_version="0.0.1",
             challenge={"nonce": "0000000000000000000000000000000000000000000000000000000000000001",
                        "domain": "localhost:8080", "uri": "http://localhost:8080/api", "version": "1",
                        "chainId": 9007199254740991, "issuedAt": "2099-12-31T23:59:59.999Z"}),
        dict(name="base_8453_scalar_one", dds_base_url="https://dds.auki.example",
             private_key_hex=FIXED_KEYS[2], registration_credentials="node-registration-secret",
             capabilities=["/example/node/v1", "/example/other/v2", "/example/third/v3"], node_version="1.2.3",
             challenge={"nonce": "n0nce-With-Dash_and_underscore", "domain": "dds.auki.example",
                        "uri": "https://dds.auki.example", "version": "1", "chainId": 8453,
                        "issuedAt": "2026-06-30T12:00:00+00:00"}),
    ]
    siwe = []
    for c in siwe_inputs:
        sk = parse_private_key(c["private_key_hex"])
        addr = eth_address(sk)
        base = trim_base(c["dds_base_url"])
        msg = siwe_message(c["challenge"], addr)
        sig = eip191_signature(sk, msg)
        body_obj = {
            "message": msg,
            "signature": sig,
            "registration_credentials": c["registration_credentials"],
            "capabilities": list(c["capabilities"]),
            "version": c["node_version"],
        }
        body = serde_compact(body_obj)
        assert list(json.loads(body).keys()) == [
            "message", "signature", "registration_credentials", "capabilities", "version"]
        entry = dict(c)
        entry["expected"] = {
            "nonce_request": {
                "method": "POST",
                "url": base + "/internal/v1/auth/siwe/request",
                "body": serde_compact({"wallet": addr}),
            },
            "message": msg,
            "signature": sig,
            "register": {
                "method": "POST",
                "url": base + "/internal/v1/nodes/register-wallet",
                "body": body,
            },
            # The DDS session's sign-in: the same signed message, exchanged for a token.
            "sign_in": {
                "method": "POST",
                "url": base + "/internal/v1/auth/siwe/verify",
                "body": serde_compact({"address": addr, "message": msg, "signature": sig}),
            },
        }
        siwe.append(entry)
    assert siwe[0]["expected"]["nonce_request"]["body"] == '{"wallet":"%s"}' % KNOWN_ADDR

    return {
        "description": (
            "Exact HTTP requests for the legacy registration (POST {base}/internal/v1/nodes/register, "
            "body keys url, version, registration_credentials, signature, timestamp, public_key, "
            "capabilities; signature over node_url + timestamp) and the SIWE wallet flow "
            "(POST {base}/internal/v1/auth/siwe/request then POST {base}/internal/v1/nodes/register-wallet, "
            "body keys message, signature, registration_credentials, capabilities, version); the "
            "session's sign-in is POST {base}/internal/v1/auth/siwe/verify with body keys address, "
            "message, signature. "
            "{base} is dds_base_url with all trailing '/' removed. Bodies are compact JSON exactly as "
            "serde_json::to_string writes them (no spaces, non-ASCII and '/' unescaped, control "
            "characters escaped, \\u00XX in lowercase hex). The SIWE address is the lowercase 0x address."
        ),
        "generated_by": GENERATED_BY,
        "legacy": legacy,
        "siwe": siwe,
    }


def verify_files() -> None:
    """Re-read the written files and re-check every value from the file text."""
    def load(name):
        with open(os.path.join(OUT_DIR, name), encoding="utf-8") as f:
            return json.load(f)

    keys = load("keys.json")
    by_key = {}
    for e in keys["valid"]:
        sk = bytes.fromhex(e["private_key_hex"])
        pub = coincurve.PublicKey.from_secret(sk).format(compressed=False)
        assert pub.hex() == e["public_key_hex"]
        assert "0x" + keccak256(pub[1:])[-20:].hex() == e["eth_address"]
        by_key[e["private_key_hex"]] = e
    sigs = load("signatures.json")
    for e in sigs["registration"]:
        d = keccak256(e["message"].encode("utf-8"))
        assert d.hex() == e["keccak256_hex"]
        rec = coincurve.PublicKey.from_signature_and_message(bytes.fromhex(e["signature_hex"]), d, hasher=None)
        assert rec.format(compressed=False).hex() == by_key[e["private_key_hex"]]["public_key_hex"]
    for e in sigs["eip191"]:
        raw = bytes.fromhex(e["signature_hex"][2:])
        rec = Account.recover_message(encode_defunct(text=e["message"]), signature=raw)
        assert rec.lower() == by_key[e["private_key_hex"]]["eth_address"]
    for e in sigs["compact"]:
        d = sha256(e["message"].encode("utf-8"))
        assert d.hex() == e["sha256_hex"]
        raw = bytes.fromhex(e["signature_hex"])
        pub = bytes.fromhex(by_key[e["private_key_hex"]]["public_key_hex"])
        assert coincurve.PublicKey(pub).verify(_to_der(raw), d, hasher=None)
    reqs = load("requests.json")
    for c in reqs["legacy"]:
        body = json.loads(c["expected"]["body"])
        assert body["url"] + body["timestamp"] == c["expected"]["signed_message"]
        d = keccak256(c["expected"]["signed_message"].encode("utf-8"))
        rec = coincurve.PublicKey.from_signature_and_message(bytes.fromhex(body["signature"]), d, hasher=None)
        assert rec.format(compressed=False).hex() == body["public_key"]
    for c in reqs["siwe"]:
        body = json.loads(c["expected"]["register"]["body"])
        wallet = json.loads(c["expected"]["nonce_request"]["body"])["wallet"]
        rec = Account.recover_message(encode_defunct(text=body["message"]), signature=body["signature"])
        assert rec.lower() == wallet and body["message"].split("\n")[1] == wallet


def _to_der(rs: bytes) -> bytes:
    def enc(x: bytes) -> bytes:
        x = x.lstrip(b"\x00") or b"\x00"
        if x[0] & 0x80:
            x = b"\x00" + x
        return b"\x02" + bytes([len(x)]) + x
    body = enc(rs[:32]) + enc(rs[32:])
    return b"\x30" + bytes([len(body)]) + body


def main() -> int:
    os.makedirs(OUT_DIR, exist_ok=True)
    outputs = {
        "keys.json": build_keys(),
        "signatures.json": build_signatures(),
        "timestamps.json": build_timestamps(),
        "requests.json": build_requests(),
    }
    for name, obj in outputs.items():
        write_json(name, obj)
    verify_files()
    sigs = outputs["signatures.json"]
    reqs = outputs["requests.json"]
    keys = outputs["keys.json"]
    print(
        f"keys: {len(keys['valid'])} valid, {len(keys['invalid'])} invalid, "
        f"{len(keys['valid_spellings'])} spellings; signatures: {len(sigs['registration'])} registration, "
        f"{len(sigs['eip191'])} eip191, {len(sigs['compact'])} compact; "
        f"timestamps: {len(outputs['timestamps.json']['cases'])}; "
        f"requests: {len(reqs['legacy'])} legacy, {len(reqs['siwe'])} siwe"
    )
    print(GENERATED_BY)
    return 0


if __name__ == "__main__":
    sys.exit(main())
