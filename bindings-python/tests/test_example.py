"""examples/python/register.py, run the way a user runs it, against the conformance DDS."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO, Dds, new_key, new_secret

EXAMPLE = REPO / "examples" / "python" / "register.py"


def run(env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("POSEMESH_")}
    return subprocess.run([sys.executable, str(EXAMPLE)], env={**clean, **env},
                          capture_output=True, text=True, timeout=60)


def test_example_registers_and_exits_zero(dds: Dds, tmp_path) -> None:
    key, secret = new_key(), new_secret()
    key_hex = key.to_bytes().hex()
    result = run({"POSEMESH_DDS_URL": dds.url, "POSEMESH_REGISTRATION_SECRET": secret,
                  "POSEMESH_PRIVATE_KEY": key_hex, "POSEMESH_STATE_FILE": str(tmp_path / "state.json")})
    assert result.returncode == 0, result.stderr
    assert f"registered {key.eth_address} with {dds.url}: registered" in result.stdout
    assert "registration.success" in result.stderr  # the logging events
    assert "signed in; access token valid until " in result.stdout
    assert "session.signed_in" in result.stderr
    assert dds.readout()["sign_ins"] == 1
    [entry] = dds.accepted("/internal/v1/nodes/register-wallet")  # the default flow
    assert entry["address"] == key.eth_address
    assert (tmp_path / "state.json").exists()
    for text in (result.stdout, result.stderr):
        assert key_hex not in text and secret not in text
    # Run again on the same state: the fresh registration is adopted, not repeated.
    again = run({"POSEMESH_DDS_URL": dds.url, "POSEMESH_REGISTRATION_SECRET": secret,
                 "POSEMESH_PRIVATE_KEY": key_hex, "POSEMESH_STATE_FILE": str(tmp_path / "state.json")})
    assert again.returncode == 0, again.stderr
    assert f"with {dds.url}: adopted" in again.stdout
    assert len(dds.accepted("/internal/v1/nodes/register-wallet")) == 1


def test_example_legacy_flow_with_a_node_url(dds: Dds) -> None:
    key = new_key()
    result = run({"POSEMESH_DDS_URL": dds.url, "POSEMESH_REGISTRATION_SECRET": new_secret(),
                  "POSEMESH_PRIVATE_KEY": key.to_bytes().hex(), "POSEMESH_NODE_URL": "http://127.0.0.1:9"})
    assert result.returncode == 0, result.stderr
    [entry] = dds.accepted()
    assert entry["public_key"] == key.public_key_hex and entry["node_url"] == "http://127.0.0.1:9"


def test_example_reports_failures(dds: Dds) -> None:
    secret = new_secret()
    dds.faults({"status": 409, "body": "already registered"})
    result = run({"POSEMESH_DDS_URL": dds.url, "POSEMESH_REGISTRATION_SECRET": secret})
    assert result.returncode == 1
    assert "registration failed" in result.stderr and "409" in result.stderr
    assert secret not in result.stderr + result.stdout
    assert run({}).returncode == 2
