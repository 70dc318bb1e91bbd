"""The node's DDS session (docs/behaviour.md, "The DDS session"): a token the
conformance DDS accepts, refreshed before it expires, one sign-in for many
callers, a new registration when verify says the node is gone, and never shown."""

from __future__ import annotations

import asyncio
import datetime
import pickle
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import posemesh_registration as pr

from conftest import Dds, new_key, new_secret, track

CAPABILITIES = ["/reconstruction/global-refinement/v1"]
VERIFY = "/internal/v1/auth/siwe/verify"
WALLET = "/internal/v1/nodes/register-wallet"


def options(dds: Dds, **kwargs) -> dict:
    return dict(
        dds_url=dds.url,
        node_version="1.0.0",
        capabilities=CAPABILITIES,
        registration_secret=new_secret(),
        private_key=new_key(),
        **kwargs,
    )


def check(dds: Dds, token: pr.AccessToken) -> int:
    """The status the DDS answers a call made with the token."""
    headers = {"authorization": "Bearer " + token.expose()}
    return dds.client.get("/internal/v1/auth/check", headers=headers).status_code


def sign_ins(dds: Dds) -> int:
    return dds.readout()["sign_ins"]


def test_a_token_the_dds_accepts_and_never_shows(dds: Dds) -> None:
    registrar = pr.Registrar(**options(dds))
    token = registrar.token()
    track(token.expose())
    assert check(dds, token) == 200
    assert registrar.status == "registered", "registered first"
    assert token.expose() not in repr(token) + str(token) + repr(registrar)
    assert "<redacted>" in repr(token)
    assert token.expires_at.tzinfo is not None
    assert token.expires_at > datetime.datetime.now(datetime.timezone.utc)
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(token)
    # Asked again: the same token, no new sign-in.
    assert registrar.token().expose() == token.expose()
    assert sign_ins(dds) == 1


def test_a_running_loop_refreshes_a_short_lived_token(dds: Dds) -> None:
    dds.client.post("/_control/session", json={"token_lifetime_ms": 1500}).raise_for_status()
    with pr.Registrar(**options(dds)) as registrar:
        first = registrar.token(timeout=10)
        seen = {track(first.expose())}
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            token = registrar.token(timeout=10)
            seen.add(track(token.expose()))
            assert check(dds, token) == 200, "every token handed out is live"
            time.sleep(0.1)
    assert len(seen) >= 2, "refreshed before it expired"


@pytest.mark.asyncio
async def test_a_hundred_tasks_share_one_sign_in(dds: Dds) -> None:
    async with pr.AsyncRegistrar(**options(dds)) as registrar:
        tokens = await asyncio.wait_for(
            asyncio.gather(*(registrar.token() for _ in range(100))), timeout=20
        )
    assert len({track(t.expose()) for t in tokens}) == 1
    assert sign_ins(dds) == 1


def test_threads_share_one_sign_in_without_a_loop(dds: Dds) -> None:
    registrar = pr.Registrar(**options(dds))
    with ThreadPoolExecutor(max_workers=16) as pool:
        tokens = list(pool.map(lambda _: registrar.token(timeout=20), range(32)))
    assert len({track(t.expose()) for t in tokens}) == 1
    assert sign_ins(dds) == 1
    assert len(dds.accepted(WALLET)) == 1, "one registration too"


def test_forbidden_from_verify_registers_again(dds: Dds) -> None:
    registrar = pr.Registrar(**options(dds))
    assert registrar.register_once() == "registered"
    dds.faults({"status": 403, "path": VERIFY})
    token = registrar.token(timeout=20)
    track(token.expose())
    assert check(dds, token) == 200
    assert len(dds.accepted(WALLET)) == 2


def test_a_refused_token_is_replaced_and_a_failed_round_raises(dds: Dds) -> None:
    registrar = pr.Registrar(**options(dds))
    first = registrar.token()
    track(first.expose())
    for _ in range(5):
        registrar.token_refused(first)
    second = registrar.token()
    track(second.expose())
    assert second.expose() != first.expose()
    assert sign_ins(dds) == 2
    with pytest.raises(TypeError, match="AccessToken"):
        registrar.token_refused(42)  # type: ignore[arg-type]

    registrar.token_refused(second.expose())  # its text works too
    dds.faults(*[{"status": 500, "path": VERIFY}] * 4)
    with pytest.raises(pr.DdsRejectedError) as failed:
        registrar.token(timeout=30)
    assert failed.value.status == 500


def test_token_times_out_as_asked(dds: Dds) -> None:
    registrar = pr.Registrar(**options(dds))
    registrar.register_once()
    dds.faults({"status": 200, "delay_ms": 3000, "path": VERIFY})
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        registrar.token(timeout=0.3)
    assert time.monotonic() - started < 2.5
