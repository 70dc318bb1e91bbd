"""Several worker processes of one node, as Python nodes are deployed: uvicorn
--workers, gunicorn --preload with uvicorn's worker class, and os.fork() with a
loop running. Real processes against the conformance DDS, on loopback.

The workers share one state file and one port. One of them registers; the DDS
calls the port back with the node's credentials, which whichever worker
receives stores. Every other worker reads the shared state file about once a
second and takes the registration and its credentials over, so all of them are
`registered`, with the credentials, within a second or two. The registration
interval is 60 s: a worker that waited for its next check, or that never
learnt the credentials, fails these tests' few-second limits.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Optional

import httpx
import pytest

import posemesh_registration as pr

from conftest import SECRETS, Dds, new_key, new_secret, wait_for

CAPABILITIES = ["/reconstruction/global-refinement/v1"]
LEGACY_PATH = "/internal/v1/nodes/register"
WORKERS = 3
# How long the DDS holds the first registration before answering: the workers
# start meanwhile, so all but one find the state file's lock busy.
HOLD_MS = 2500
# Every worker must be registered, with the credentials, this long after the
# credentials were stored: the shared state file is read about once a second.
SETTLE = 5.0
STARTUP = 30.0
STOP = 20.0

# The node: the package's README pattern, written into a temporary folder.
APP = '''\
"""A posemesh node served by several worker processes."""
import logging
import os
from contextlib import asynccontextmanager

import posemesh_registration as pr

logging.basicConfig(level=logging.INFO, format="%(process)d %(name)s %(levelname)s %(message)s")
logging.getLogger("posemesh_registration").setLevel(logging.DEBUG)

options = dict(
    dds_url=os.environ["POSEMESH_DDS_URL"],
    flow="legacy",
    node_url=os.environ["POSEMESH_NODE_URL"],
    node_version="1.0.0",
    capabilities=["/reconstruction/global-refinement/v1"],
    registration_secret=os.environ["POSEMESH_REGISTRATION_SECRET"],
    private_key=os.environ["POSEMESH_PRIVATE_KEY"],
    state=os.environ["POSEMESH_STATE_FILE"],
    interval=60,
)


def describe(registrar):
    """This worker's view; whether it has the credentials, never their secret."""
    credentials = registrar.credentials
    return {
        "pid": os.getpid(),
        "status": registrar.status,
        "is_running": registrar.is_running,
        "credentials": credentials is not None,
        "credentials_id": credentials.id if credentials is not None else None,
    }


if os.environ["NODE_PATTERN"] == "lifespan":
    # Created at import, its loop run by the app's lifespan in each worker.
    from fastapi import FastAPI

    registrar = pr.AsyncRegistrar(**options)

    @asynccontextmanager
    async def lifespan(app):
        async with registrar:
            yield

    app = FastAPI(lifespan=lifespan)
    app.mount("/posemesh", registrar.asgi_app())

    @app.get("/worker")
    async def worker():
        return describe(registrar)

else:
    # Started at import: under gunicorn --preload, in the master, before the fork.
    # The app's lifespan starts it in each worker where it does not run.
    from starlette.responses import JSONResponse

    registrar = pr.Registrar(**options)
    registrar.start()
    callbacks = registrar.asgi_app(manage_registrar=True)

    async def app(scope, receive, send):
        if scope["type"] == "http" and scope["path"] == "/worker":
            await JSONResponse(describe(registrar))(scope, receive, send)
        else:
            await callbacks(scope, receive, send)
'''


_next_port = itertools.count(os.getpid() % 12_000)


def free_port() -> int:
    """A loopback port free now, for a server started later. Taken below Linux's
    ephemeral range (32768-60999), where no outgoing connection or port-0 bind
    can be handed it in the meantime."""
    for _ in range(12_000):
        port = 20_000 + next(_next_port) % 12_000
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port below 32768")


def redacted(text: str, dds: Dds) -> str:
    """`text` without any secret, fit for a failure message."""
    dds.readout()  # learns the secrets it issued
    for secret in SECRETS:
        text = re.sub(re.escape(secret), "<secret>", text, flags=re.IGNORECASE)
    return text


class Node:
    """A node's server (uvicorn or gunicorn) as a subprocess in its own session,
    its output in a file."""

    def __init__(self, dds: Dds, tmp_path: Path, server: str, pattern: str) -> None:
        self.dds = dds
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.node_url = self.base + ("/posemesh" if pattern == "lifespan" else "")
        self.state = tmp_path / "registration.json"
        self.key_hex = new_key().to_bytes().hex()
        (tmp_path / "app.py").write_text(APP, encoding="utf-8")
        if server == "uvicorn":
            argv = ["-m", "uvicorn", "app:app", "--workers", str(WORKERS), "--host", "127.0.0.1",
                    "--port", str(self.port), "--app-dir", str(tmp_path),
                    "--timeout-graceful-shutdown", "5", "--no-access-log"]
        else:
            argv = ["-m", "gunicorn", "--preload", "-w", str(WORKERS),
                    "-k", "uvicorn_worker.UvicornWorker", "-b", "127.0.0.1:%d" % self.port,
                    "--chdir", str(tmp_path), "--graceful-timeout", "10", "--no-control-socket",
                    "app:app"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("POSEMESH_")}
        env.update(
            POSEMESH_DDS_URL=dds.url,
            POSEMESH_NODE_URL=self.node_url,
            POSEMESH_REGISTRATION_SECRET=new_secret(),
            POSEMESH_PRIVATE_KEY=self.key_hex,
            POSEMESH_STATE_FILE=str(self.state),
            NODE_PATTERN=pattern,
            PYTHONUNBUFFERED="1",
        )
        self.log = tmp_path / "server.log"
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen([sys.executable, *argv], cwd=tmp_path, env=env,
                                            stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        self.client = httpx.Client(base_url=self.base, timeout=2, trust_env=False,
                                   limits=httpx.Limits(max_keepalive_connections=0))

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def tail(self) -> str:
        """The output's last lines, less the DDS's health probes, without secrets."""
        lines = [line for line in self.output().splitlines() if "healthcheck.touch" not in line]
        return redacted("\n".join(lines[-60:]), self.dds)

    def worker_pids(self) -> set:
        """The worker processes the server started, from its log."""
        return {int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", self.output())}

    def worker(self) -> Optional[dict]:
        """One worker's view (whichever accepted the connection), or None."""
        try:
            response = self.client.get("/worker")
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    def wait_started(self) -> None:
        def up() -> bool:
            assert self.process.poll() is None, "the server exited:\n" + self.tail()
            return len(self.worker_pids()) >= WORKERS and self.worker() is not None
        wait_for(up, timeout=STARTUP, interval=0.1, what="%d workers to serve" % WORKERS)
        assert len(self.worker_pids()) == WORKERS, self.tail()

    def stop(self) -> Optional[int]:
        """SIGTERM to the server, as a process manager stops it; its exit code, or
        None if it had to be killed."""
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            return None
        finally:
            try:  # anything of the session still alive (a stray worker) goes too
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def stored_credentials(node: Node) -> Optional[dict]:
    """The credentials in the shared state file, once the DDS's are stored there."""
    try:
        stored = json.loads(node.state.read_bytes())
    except (OSError, ValueError):
        return None
    credentials = stored.get("credentials")
    if not credentials or credentials.get("secret") not in node.dds.readout()["issued_secrets"]:
        return None
    return credentials


def check_every_worker_takes_the_registration_over(dds: Dds, node: Node) -> None:
    node.wait_started()
    credentials = wait_for(lambda: stored_credentials(node), timeout=20, interval=0.05,
                           what="the DDS's credentials in the state file")
    stored_at = time.monotonic()
    pids = node.worker_pids()
    # Requests land on whichever worker accepts: ask until each has answered settled.
    last: dict = {}
    settled_after: dict = {}
    while time.monotonic() < stored_at + SETTLE and set(settled_after) != pids:
        view = node.worker()
        if view is not None:
            last[view["pid"]] = view
            if (view["status"] == "registered" and view["credentials"]
                    and view["pid"] not in settled_after):
                settled_after[view["pid"]] = round(time.monotonic() - stored_at, 2)
        time.sleep(0.02)
    assert set(last) <= pids, (last, pids)
    assert set(settled_after) == pids, (
        "within %.0f s of the credentials being stored, not every worker was registered with "
        "them: %r never answered so; last seen %r\n%s"
        % (SETTLE, sorted(pids - set(settled_after)), last, node.tail()))
    # The same registration everywhere: the one the DDS called back, the one stored.
    readout = dds.readout()
    [callback] = readout["callbacks"]
    assert callback["status"] == 200 and callback["node_url"] == node.node_url
    assert credentials["id"] == callback["id"]
    assert {view["credentials_id"] for view in last.values()} == {callback["id"]}
    assert all(view["is_running"] for view in last.values()), last
    registrations = [r for r in readout["received"] if r["path"] == LEGACY_PATH]
    assert len(registrations) == 1 and registrations[0]["accepted"], registrations
    output = node.output()
    assert "lock.busy" in output, "no worker found the lock busy:\n" + node.tail()
    print("workers settled this long after the credentials were stored:", settled_after)


def finish(dds: Dds, node: Node) -> None:
    """Stops the server and checks its output: a clean exit, no secret anywhere."""
    code = node.stop()
    output = node.output()
    assert code is not None, "the server did not stop within %.0f s:\n%s" % (STOP, node.tail())
    assert code == 0, "the server exited with %d:\n%s" % (code, node.tail())
    assert "Traceback" not in output, node.tail()
    dds.readout()
    lowered = output.lower()
    leaked = [s for s in SECRETS if s.lower() in lowered]
    assert not leaked, "%d secret(s) in the server's output" % len(leaked)
    assert "registration.success" in output  # the package's logs were there to check


def run_node(dds: Dds, tmp_path: Path, server: str, pattern: str) -> None:
    dds.faults({"delay_ms": HOLD_MS, "pass_through": True, "path": LEGACY_PATH})
    node = Node(dds, tmp_path, server, pattern)
    try:
        check_every_worker_takes_the_registration_over(dds, node)
    except BaseException:
        node.stop()
        raise
    finish(dds, node)


def test_uvicorn_workers_share_one_registration(dds: Dds, tmp_path: Path) -> None:
    """`uvicorn app:app --workers 3`: each worker imports the app (the README's FastAPI
    recipe, the callbacks mounted under /posemesh, one state file). The DDS holds the
    first registration 2.5 s, so the other workers find the lock busy; the callback
    lands on any worker. Exactly one registration reaches the DDS, and every worker is
    `registered` with the stored credentials within 5 s of their being stored. (Before
    workers read the shared state file, those that lost the lock stayed `disconnected`
    until their next check, ~60 s, and those the callback missed had no credentials
    for 27 s or more: both fail the 5 s limit.)"""
    run_node(dds, tmp_path, "uvicorn", "lifespan")


def gunicorn_available() -> None:
    pytest.importorskip("gunicorn", reason="gunicorn is not installed (it needs CPython 3.10+)")
    pytest.importorskip("uvicorn_worker", reason="uvicorn-worker is not installed")


def test_gunicorn_preload_registrar_started_in_each_worker(dds: Dds, tmp_path: Path) -> None:
    """`gunicorn --preload -w 3 -k uvicorn_worker.UvicornWorker`: the master imports the
    app, creating the registrar, and forks the workers; each runs the loop from the
    app's lifespan. One registration reaches the DDS and every worker is `registered`
    with the credentials within 5 s of their being stored. (Before workers read the
    shared state file, the two that found the lock busy waited ~60 s for their next
    check: this fails.)"""
    gunicorn_available()
    run_node(dds, tmp_path, "gunicorn", "lifespan")


def test_gunicorn_preload_registrar_started_before_the_fork(dds: Dds, tmp_path: Path) -> None:
    """The registrar is started at import, so in gunicorn's master, whose registration
    (held 2.5 s by the DDS) is in flight when the workers are forked; the app is the
    package's with `manage_registrar=True`, whose lifespan starts the registrar where it
    does not run. Each worker's inherited registrar says it is not running, is started
    there, and every worker is `registered` with the credentials within 5 s of their
    being stored; one registration reaches the DDS. (Before, a worker's inherited
    registrar said it was running, as in the master, so its lifespan never started it
    and it never registered: this fails.)"""
    gunicorn_available()
    run_node(dds, tmp_path, "gunicorn", "started-at-import")


# How long a forked child's register_once() may take before its watchdog kills it.
CHILD_LIMIT = 10


def child_of(registrar: pr.Registrar, report_fd: int) -> None:
    """In the forked child: one JSON line per step to the parent, then os._exit."""
    def report(**fields) -> None:
        os.write(report_fd, (json.dumps(fields) + "\n").encode())

    code = 0
    try:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the watchdog kills the child
        signal.alarm(CHILD_LIMIT)
        report(is_running=registrar.is_running, status=registrar.status)
        started = time.monotonic()
        try:
            report(outcome=registrar.register_once(), took=time.monotonic() - started,
                   status=registrar.status)
        except pr.RegistrationError as error:
            report(error="%s: %s" % (type(error).__name__, error))
        registrar.start()
        report(is_running_after_start=registrar.is_running)
        registrar.stop(timeout=5)
        report(is_running_after_stop=registrar.is_running)
    except BaseException as error:  # anything at all: the child must not go back to pytest
        code = 1
        try:
            report(error="%s: %s" % (type(error).__name__, error))
        except OSError:
            pass
    finally:
        os._exit(code)


def fork_and_read(registrar: pr.Registrar, child=None) -> tuple:
    """Forks a child that runs `child` (child_of()); returns its reports and its wait status."""
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():  # 3.12+ warns about fork() in a threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        (child or child_of)(registrar, write_fd)
    os.close(write_fd)
    data = b""
    deadline = time.monotonic() + CHILD_LIMIT + 10
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([read_fd], [], [], 0.1)
            if ready:
                chunk = os.read(read_fd, 65536)
                if not chunk:
                    break
                data += chunk
    finally:
        os.close(read_fd)
        status = None
        while time.monotonic() < deadline and status is None:
            done, wait_status = os.waitpid(pid, os.WNOHANG)
            status = wait_status if done else None
            if status is None:
                time.sleep(0.02)
        if status is None:  # never hangs the suite: the child is ended
            os.kill(pid, signal.SIGKILL)
            status = os.waitpid(pid, 0)[1]
    reports: dict = {}
    for line in data.decode().splitlines():
        reports.update(json.loads(line))
    return reports, status


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork() here")
@pytest.mark.parametrize("moment", ["registered", "attempt-in-flight"])
def test_a_registrar_forked_with_its_loop_running_registers_in_the_child(dds: Dds, moment: str) -> None:
    """The loop runs (`start()`), then `os.fork()`: with the loop registered and idle,
    or with its registration in flight (the DDS holds it 3 s). In the child the
    registrar says it is not running, `register_once()` returns within 10 s (a
    `signal.alarm` watchdog kills the child otherwise) and the registrar can be started
    and stopped again; the parent's loop runs on. Registered, the child keeps what it
    knew (`"adopted"`, no request); mid-attempt it registers itself (the parent's request
    is the parent's). (Before, the child's registrar said it was running and
    `register_once()` waited for the parent's loop, which does not exist in the child,
    for ever: this fails.)"""
    # The legacy flow (no SIWE nonce, which a DDS keeps one of per wallet) to a node URL
    # nothing serves: the DDS's callback fails, the registration stands.
    registrar = pr.Registrar(dds_url=dds.url, flow="legacy", node_url="http://127.0.0.1:9",
                             node_version="1.0.0", capabilities=CAPABILITIES,
                             registration_secret=new_secret(), private_key=new_key(), interval=60)
    if moment == "attempt-in-flight":
        dds.faults({"delay_ms": 3000, "pass_through": True, "path": LEGACY_PATH})
    registrar.start()
    try:
        if moment == "registered":
            assert registrar.wait_until_registered(timeout=20)
        else:
            wait_for(lambda: dds.readout()["faults_queued"] == 0, timeout=20,
                     what="the loop's registration to reach the DDS")
            assert registrar.status == "registering"
        assert registrar.is_running
        reports, status = fork_and_read(registrar)
        assert not (os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGALRM), (
            "the child's register_once() did not return within %d s (its watchdog killed "
            "it); it reported %r" % (CHILD_LIMIT, reports))
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, reports)
        assert reports["is_running"] is False, reports
        assert "error" not in reports, reports
        expected = "adopted" if moment == "registered" else "registered"
        assert reports["outcome"] == expected, reports
        assert reports["status"] == "registered", reports
        assert reports["took"] < CHILD_LIMIT
        assert reports["is_running_after_start"] is True, reports
        assert reports["is_running_after_stop"] is False, reports
        # The parent's loop was not disturbed: it runs, and is (or ends) registered.
        assert registrar.is_running
        assert registrar.wait_until_registered(timeout=20)
        assert registrar.is_running
        registrations = len(dds.accepted(LEGACY_PATH))
        assert registrations == (1 if moment == "registered" else 2), registrations
    finally:
        registrar.stop()


def child_stopping(registrar: pr.Registrar, report_fd: int) -> None:
    """In the forked child: stop() (as a worker's shutdown does) under the watchdog."""
    code = 0
    try:
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.alarm(CHILD_LIMIT)
        registrar.stop(timeout=CHILD_LIMIT * 3)
        os.write(report_fd, (json.dumps({"stopped": True}) + "\n").encode())
    except BaseException:
        code = 1
    finally:
        os._exit(code)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork() here")
def test_stop_in_a_forked_child_does_not_wait_for_the_parents_loop(dds: Dds) -> None:
    """A worker forked from a process whose loop runs (gunicorn --preload) stops the
    registrar it inherited at shutdown. The parent's loop task does not exist in the
    child: stop() has nothing to wait for. (Before, it waited its whole timeout for
    that task to end: the watchdog kills the child and this fails.)"""
    registrar = pr.Registrar(dds_url=dds.url, node_version="1.0.0", capabilities=CAPABILITIES,
                             registration_secret=new_secret(), private_key=new_key())
    registrar.start()
    try:
        assert registrar.wait_until_registered(timeout=20)
        reports, status = fork_and_read(registrar, child_stopping)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, (status, reports)
        assert reports == {"stopped": True}
        assert registrar.is_running, "the parent's loop runs on"
    finally:
        registrar.stop()
