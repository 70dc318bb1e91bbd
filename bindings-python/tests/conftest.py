"""Shared fixtures: the conformance DDS as a subprocess, a uvicorn-served node on
loopback, and a guard that no key or secret ever reaches logs or output."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import httpx
import pytest
import uvicorn

import posemesh_registration as pr

REPO = Path(__file__).resolve().parents[2]
VECTORS = REPO / "tests" / "vectors"

# Known-answer key of the protocol; tests that only need "a key" use fresh ones.
KNOWN_KEY_HEX = "4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90"

# Every secret a test used: the guard checks that none shows up anywhere.
SECRETS: set[str] = {KNOWN_KEY_HEX}


def track(secret: str) -> str:
    """Remembers a secret so the guard looks for it in logs and output."""
    if len(secret) >= 8:
        SECRETS.add(secret)
    return secret


def new_key() -> pr.PrivateKey:
    """A fresh random key, tracked as a secret."""
    key = pr.PrivateKey.generate()
    track(key.to_bytes().hex())
    return key


def new_secret() -> str:
    """A fresh registration secret with characters JSON must escape, tracked."""
    return track("reg-secret-%s-\"q\"/é" % os.urandom(8).hex())


def load_vectors(name: str) -> Any:
    with open(VECTORS / name, encoding="utf-8") as f:
        return json.load(f)


def cli_binary() -> str:
    """The `posemesh-registration` binary (its `mock-dds` is the conformance DDS)."""
    explicit = os.environ.get("POSEMESH_REGISTRATION_BIN")
    if explicit:
        return explicit
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    for profile in ("debug", "release"):
        candidate = target / profile / "posemesh-registration"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("posemesh-registration")
    if found:
        return found
    pytest.fail(
        "posemesh-registration binary not found: build it with "
        "`cargo build -p posemesh-registration-cli` or set POSEMESH_REGISTRATION_BIN"
    )


class Dds:
    """The conformance DDS subprocess and its control API."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [
                cli_binary(),
                "mock-dds",
                "--listen",
                "127.0.0.1:0",
                "--probe-interval-ms",
                "300",
                "--exit-on-stdin-eof",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), f"unexpected first line {self.url!r}"
        self.client = httpx.Client(base_url=self.url, timeout=10, trust_env=False)
        self.issued: set[str] = set()

    def faults(self, *faults: dict) -> None:
        self.client.post("/_control/faults", json={"faults": list(faults)}).raise_for_status()

    def clear_faults(self) -> None:
        self.client.delete("/_control/faults").raise_for_status()

    def reset(self) -> None:
        self.readout()  # remember issued secrets before they are forgotten
        self.client.post("/_control/reset").raise_for_status()

    def readout(self) -> dict:
        response = self.client.get("/_control/registrations")
        response.raise_for_status()
        data = response.json()
        for secret in data.get("issued_secrets", []):
            self.issued.add(secret)
            SECRETS.add(secret)
        return data

    def accepted(self, path: str = "/internal/v1/nodes/register") -> list:
        return [r for r in self.readout()["received"] if r["path"] == path and r["accepted"]]

    def close(self) -> None:
        self.client.close()
        if self.process.stdin:
            self.process.stdin.close()  # --exit-on-stdin-eof
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="session")
def dds_process() -> Iterator[Dds]:
    dds = Dds()
    try:
        yield dds
    finally:
        dds.close()


@pytest.fixture
def dds(dds_process: Dds) -> Iterator[Dds]:
    """The conformance DDS, reset (no faults, nothing recorded) for this test."""
    dds_process.clear_faults()
    dds_process.reset()
    yield dds_process
    dds_process.readout()
    dds_process.clear_faults()


class NodeServer:
    """A uvicorn server on a loopback port bound up front, so the node URL is
    known before the registrar (and hence the app) exists."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.server: Optional[uvicorn.Server] = None
        self.thread: Optional[threading.Thread] = None

    def config(self, app: Any, lifespan: str = "off") -> uvicorn.Config:
        return uvicorn.Config(app, log_config=None, log_level="warning", lifespan=lifespan,
                              access_log=False)

    def serve_in_thread(self, app: Any, lifespan: str = "off") -> None:
        self.server = uvicorn.Server(self.config(app, lifespan))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert self.thread.is_alive(), "uvicorn thread died"
            time.sleep(0.02)

    async def serve_in_task(self, app: Any, lifespan: str = "off") -> "asyncio.Task[None]":
        self.server = uvicorn.Server(self.config(app, lifespan))
        task = asyncio.ensure_future(self.server.serve(sockets=[self.sock]))
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert not task.done(), "uvicorn task ended"
            await asyncio.sleep(0.02)
        return task

    def close(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(10)
            assert not self.thread.is_alive(), "uvicorn thread did not stop"
        self.sock.close()


@pytest.fixture
def node_server() -> Iterator[NodeServer]:
    server = NodeServer()
    try:
        yield server
    finally:
        server.close()


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05, what: str = "condition"):
    """Polls `predicate` until it returns a truthy value (returned) or fails the test."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def events(caplog: pytest.LogCaptureFixture, name: Optional[str] = None) -> list:
    """The package's log records (optionally one event), from caplog."""
    records = [r for r in caplog.records if r.name == "posemesh_registration"]
    if name is not None:
        records = [r for r in records if getattr(r, "event", None) == name]
    return records


def _record_text(record: logging.LogRecord) -> str:
    parts = [record.getMessage()]
    parts.extend(repr(v) for v in vars(record).values())
    if record.exc_info and record.exc_info[1] is not None:
        parts.append(repr(record.exc_info[1]))
    return "\n".join(parts)


@pytest.fixture(autouse=True)
def no_secret_leaks(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """After every test: neither logs (at DEBUG, with every record attribute) nor
    captured stdout/stderr (Python and file-descriptor level) contain any private
    key, registration secret or DDS-issued secret used anywhere in the suite."""
    uses_capsys = "capsys" in request.fixturenames
    capture = request.getfixturevalue("capsys" if uses_capsys else "capfd")
    caplog.set_level(logging.DEBUG, logger="posemesh_registration")
    yield
    # (The `dds` fixture's teardown, which ran before this, recorded the secrets it issued.)
    out, err = capture.readouterr()
    texts = {"log": "\n".join(_record_text(r) for r in caplog.records), "stdout": out, "stderr": err}
    for where, text in texts.items():
        lowered = text.lower()
        for secret in SECRETS:
            assert secret.lower() not in lowered, f"a secret leaked into {where}"
