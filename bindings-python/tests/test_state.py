"""Where registration state lives: the native file store (atomic, locked), and
Python objects with load()/save()."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Optional

import pytest

import posemesh_registration as pr

from conftest import Dds, NodeServer, events, new_key, new_secret, wait_for

CAPABILITIES = ["/reconstruction/global-refinement/v1"]


def make(dds: Dds, **kwargs) -> pr.Registrar:
    options = dict(
        dds_url=dds.url,
        node_url="http://127.0.0.1:9",
        flow="legacy",
        node_version="1.0.0",
        capabilities=CAPABILITIES,
        registration_secret=new_secret(),
        private_key=new_key(),
    )
    options.update(kwargs)
    return pr.Registrar(**options)


def test_state_file_resumes_after_restart(dds: Dds, node_server: NodeServer, tmp_path: Path) -> None:
    state = tmp_path / "sub" / "registration.json"
    key, secret = new_key(), new_secret()
    first = make(dds, node_url=node_server.url, private_key=key, registration_secret=secret, state=state)
    node_server.serve_in_thread(first.asgi_app())
    with first:
        assert first.wait_until_registered(timeout=20)
        credentials = wait_for(lambda: first.credentials, what="the DDS callback")
    stored = json.loads(state.read_bytes())
    assert stored["status"] == "registered" and stored["version"] == 1
    assert stored["credentials"]["id"] == credentials.id
    registrations = len(dds.accepted())

    # "Restart": a new registrar on the same file picks up where the first left.
    second = make(dds, node_url=node_server.url, private_key=key, registration_secret=secret,
                  state=str(state))
    assert second.status == "registered"
    assert second.state_error is None
    assert second.credentials is not None and second.credentials.id == credentials.id
    assert second.credentials.secret == credentials.secret
    second.start()
    try:
        time.sleep(2.0)  # past the first check (1 s after start)
        assert second.status == "registered"
        assert len(dds.accepted()) == registrations  # it did not register again
    finally:
        second.stop()


def test_corrupt_state_file_is_set_aside_and_reregisters(
    dds: Dds, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "registration.json"
    state.write_bytes(b'{"status": "registered", "last_health_check_ms": "oops"')
    registrar = make(dds, state=state)
    [warning] = events(caplog, "state.corrupt")
    assert warning.levelname == "WARNING"
    assert str(state) in warning.getMessage() and "corrupt" in warning.getMessage()
    assert registrar.state_error is not None and "corrupt" in registrar.state_error
    assert registrar.status == "disconnected"
    assert (tmp_path / "registration.json.corrupt").read_bytes().startswith(b'{"status": "registered"')
    registrar.register_once()
    assert json.loads(state.read_bytes())["status"] == "registered"
    assert len(dds.accepted()) == 1


def test_state_from_a_newer_version_is_set_aside(dds: Dds, tmp_path: Path, caplog) -> None:
    state = tmp_path / "registration.json"
    state.write_text('{"version": 99, "status": "registered"}')
    registrar = make(dds, state=state)
    assert registrar.state_error is not None and "99" in registrar.state_error
    assert events(caplog, "state.corrupt")
    assert registrar.status == "disconnected"


def test_reference_format_still_loads(dds: Dds, tmp_path: Path) -> None:
    state = tmp_path / "registration.json"
    state.write_text('{"status": "registered", "last_healthcheck": %d}' % int(time.time()))
    registrar = make(dds, state=state)
    assert registrar.state_error is None
    # It loads, but does not record what was registered: the node registers again
    # (nothing registers before a call or the loop does).
    assert registrar.status == "disconnected"
    assert registrar.register_once() == "registered"
    assert len(dds.accepted()) == 1


class DictStore:
    """A state store kept in a Python attribute (think Redis or a database row)."""

    def __init__(self, data: Optional[bytes] = None) -> None:
        self.data = data
        self.loads = 0
        self.saves = 0

    def load(self) -> Optional[bytes]:
        self.loads += 1
        return self.data

    def save(self, data: bytes) -> None:
        assert isinstance(data, bytes)
        self.saves += 1
        self.data = data


def test_python_store_object(dds: Dds) -> None:
    store = DictStore()
    key = new_key()
    registrar = make(dds, private_key=key, state=store, flow="wallet", node_url=None)
    assert store.loads == 1
    registrar.register_once()
    assert store.saves >= 1
    assert json.loads(store.data)["status"] == "registered"
    again = make(dds, private_key=key, state=store, flow="wallet", node_url=None)
    assert again.status == "registered"
    assert "python object" in repr(again)


def test_python_store_save_errors_are_logged(dds: Dds, caplog: pytest.LogCaptureFixture) -> None:
    class FailingStore(DictStore):
        def save(self, data: bytes) -> None:
            raise OSError("disk full")

    registrar = make(dds, state=FailingStore())
    registrar.register_once()  # registering does not depend on persisting
    assert registrar.status == "registered"
    warnings = events(caplog, "state.save.error")
    assert warnings and "OSError: disk full" in warnings[0].getMessage()
    assert warnings[0].levelname == "WARNING"


def test_python_store_load_errors(dds: Dds) -> None:
    class BrokenStore(DictStore):
        def load(self) -> Optional[bytes]:
            raise RuntimeError("database unreachable")

    with pytest.raises(pr.StateError, match="RuntimeError: database unreachable"):
        make(dds, state=BrokenStore())

    class WrongType(DictStore):
        def load(self):  # type: ignore[override]
            return "not bytes"

    with pytest.raises(pr.StateError, match="str"):
        make(dds, state=WrongType())

    with pytest.raises(TypeError, match="load"):
        make(dds, state=42)


def test_corrupt_python_store_is_recovered(dds: Dds, caplog) -> None:
    store = DictStore(b"\xff\xfe not json")
    registrar = make(dds, state=store)
    assert events(caplog, "state.corrupt") and registrar.state_error
    registrar.register_once()
    assert json.loads(store.data)["status"] == "registered"


def test_file_lock_lets_one_registrar_register(dds: Dds, tmp_path: Path, caplog) -> None:
    """Two registrars (think two worker processes) share a state file: while one
    registers, the other finds the lock busy, then adopts the stored registration."""
    state = tmp_path / "shared.json"
    key, secret = new_key(), new_secret()
    dds.faults({"delay_ms": 2500, "pass_through": True, "path": "/internal/v1/auth/siwe/request"})
    common = dict(private_key=key, registration_secret=secret, state=state, flow="wallet",
                  node_url=None, interval=2)
    first, second = make(dds, **common), make(dds, **common)
    first.start()
    try:
        wait_for(lambda: dds.readout()["faults_queued"] == 0, what="the first attempt")
        second.start()
        assert first.wait_until_registered(timeout=20)
        assert second.wait_until_registered(timeout=20)
    finally:
        first.stop()
        second.stop()
    assert events(caplog, "lock.busy")
    assert len(dds.accepted("/internal/v1/nodes/register-wallet")) == 1


def test_unusable_state_path_fails_clearly(dds: Dds, tmp_path: Path) -> None:
    started = time.monotonic()
    if os.path.exists("/proc/version"):
        with pytest.raises(pr.StateError, match="/proc/version") as info:
            make(dds, state="/proc/version")
        assert "lock file" in str(info.value)
    with pytest.raises(pr.StateError, match="folder"):
        make(dds, state=tmp_path)
    assert time.monotonic() - started < 5
    # A usable path still works, its folder made on first use.
    registrar = make(dds, state=tmp_path / "new" / "registration.json")
    assert registrar.register_once() == "registered"


def test_a_path_naming_no_file_and_a_refused_configuration_touch_no_file(
    dds: Dds, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for nameless in ["", " "]:
        with pytest.raises(pr.StateError, match="names no file"):
            make(dds, state=nameless)
    # Checked after the configuration and the proxy: what they refuse leaves no lock file.
    with pytest.raises(pr.ConfigError):
        make(dds, state=tmp_path / "s.json", registration_secret="abc")
    with pytest.raises(pr.ConfigError):
        make(dds, state=tmp_path / "s.json", proxy="not a proxy url")
    assert os.listdir(tmp_path) == []
