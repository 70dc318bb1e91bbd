"""Smoke test of an installed posemesh-registration Python package (a built wheel or an
sdist installed from scratch), with nothing but the standard library beside it, so it also
runs on an arm64 CPython under qemu-user (scripts/release-check).

    python release-smoke.py VECTORS_DIR DDS_URL [EXPECTED_VERSION]

Checks: the import; a shared vector's signature and Ethereum address; one register_once
(legacy flow) against the conformance DDS, which must have accepted it. Prints one line.
"""

import json
import os
import platform
import sys
import urllib.request

import posemesh_registration as pr

vectors, dds_url = sys.argv[1], sys.argv[2]
expected_version = sys.argv[3] if len(sys.argv) > 3 else None

if expected_version is not None:
    assert pr.__version__ == expected_version, (pr.__version__, expected_version)

with open(os.path.join(vectors, "keys.json"), encoding="utf-8") as f:
    key_vector = json.load(f)["valid"][0]
with open(os.path.join(vectors, "signatures.json"), encoding="utf-8") as f:
    sig_vector = [v for v in json.load(f)["registration"] if v["message"]][0]

key = pr.PrivateKey.from_hex(key_vector["private_key_hex"])
assert key.eth_address == key_vector["eth_address"], key.eth_address
assert key.public_key_hex == key_vector["public_key_hex"]
signer = pr.PrivateKey.from_hex(sig_vector["private_key_hex"])
assert signer.sign_registration(sig_vector["message"]) == sig_vector["signature_hex"]

fresh = pr.PrivateKey.generate()
registrar = pr.Registrar(
    dds_url=dds_url,
    node_url="http://127.0.0.1:9",
    flow="legacy",
    node_version="1.2.3",
    capabilities=["/reconstruction/global-refinement/v1"],
    registration_secret="release-smoke-secret",
    private_key=fresh,
)
registrar.register_once()
assert registrar.status == "registered", registrar.status
with urllib.request.urlopen(dds_url + "/_control/registrations", timeout=10) as response:
    received = json.load(response)["received"]
accepted = [r for r in received if r["accepted"] and r.get("public_key") == fresh.public_key_hex]
assert len(accepted) == 1, received

print(
    "smoke OK: posemesh_registration %s on %s %s (%s): vectors match, register_once accepted"
    % (pr.__version__, platform.python_implementation(), platform.python_version(),
       platform.machine())
)
