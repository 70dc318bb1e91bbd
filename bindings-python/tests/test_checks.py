"""The checks Auki's newer clients make: a plaintext DDS only on loopback or with
allow_plaintext_dds=True, capabilities that are paths, and 409/402 answers that say
what to do. The rules are the core's; these tests prove Python passes them on."""

from __future__ import annotations

import json
import pickle
import urllib.parse

import pytest

import posemesh_registration as pr

from conftest import Dds, events, new_key, new_secret

CAPS = ["/reconstruction/global-refinement/v1"]
PLAIN = "http://dds.example.com"


def challenge(dds_url: str) -> dict:
    """A SIWE challenge as the DDS at `dds_url` would give it."""
    domain = urllib.parse.urlsplit(dds_url).netloc.rsplit("@", 1)[-1].lower()
    return dict(nonce="n0nce42x", domain=domain, uri=dds_url, version="1", chainId=1,
                issuedAt="2024-01-01T00:00:00Z")


def registrar(cls=pr.Registrar, **change) -> pr.BaseRegistrar:
    options = dict(dds_url="https://dds.example.com", node_version="1.0.0", capabilities=CAPS,
                   registration_secret=new_secret(), private_key=new_key())
    options.update(change)
    return cls(**options)


def builders(dds_url: str, key: pr.PrivateKey, **extra) -> list:
    """Each low-level builder, called with this DDS URL."""
    common = dict(dds_url=dds_url, private_key=key, **extra)
    description = dict(node_version="1", capabilities=CAPS, registration_secret="s3cret")
    return [
        lambda: pr.build_registration_request(node_url="https://node.example.com", **description, **common),
        lambda: pr.build_siwe_nonce_request(**common),
        lambda: pr.build_wallet_registration_request(challenge=challenge(dds_url), **description, **common),
    ]


@pytest.mark.parametrize("cls", [pr.Registrar, pr.AsyncRegistrar])
def test_plaintext_dds_is_refused_unless_loopback_or_allowed(cls) -> None:
    for url in (PLAIN, "http://10.0.0.5:8080", "HTTP://dds.example.com/api"):
        with pytest.raises(pr.InvalidUrlError, match="unencrypted") as info:
            registrar(cls, dds_url=url)
        assert "allow_plaintext_dds" in str(info.value) and isinstance(info.value, pr.ConfigError)
        assert registrar(cls, dds_url=url, allow_plaintext_dds=True).dds_url == url.rstrip("/")
    for url in ("http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1", "http://dds.localhost:1",
                "https://dds.example.com"):
        registrar(cls, dds_url=url)


def test_low_level_builders_refuse_a_plaintext_dds_unless_allowed() -> None:
    key = new_key()
    for build in builders(PLAIN, key):
        with pytest.raises(pr.InvalidUrlError, match="unencrypted"):
            build()
    for build in builders(PLAIN, key, allow_plaintext_dds=True):
        assert build().url.startswith(PLAIN + "/internal/v1/")
    for build in builders("http://127.0.0.1:8080", key):
        assert build().url.startswith("http://127.0.0.1:8080/internal/v1/")


def test_dds_urls_with_userinfo_a_query_or_a_fragment_are_refused_everywhere() -> None:
    key = new_key()
    for url in ("https://user:pw@dds.example.com", "https://dds.example.com?x=1",
                "https://dds.example.com#top"):
        with pytest.raises(pr.InvalidUrlError) as info:
            registrar(dds_url=url)
        assert "pw@" not in str(info.value)
        with pytest.raises(pr.InvalidUrlError):
            registrar(pr.AsyncRegistrar, dds_url=url)
        for build in builders(url, key, allow_plaintext_dds=True):
            with pytest.raises(pr.InvalidUrlError):
                build()


@pytest.mark.parametrize("flow", ["wallet", "legacy"])
def test_capabilities_are_paths(flow: str) -> None:
    node_url = "https://node.example.com" if flow == "legacy" else None
    for good in (CAPS, ["/splatter/colmap/v1", "/a"]):
        registrar(flow=flow, node_url=node_url, capabilities=good)
    cases = [
        ([], "at least one capability"),
        (["c"], 'capability "c" is not a path'),
        (["/ok/v1", "test"], 'capability "test" is not a path'),
        (["/splatter colmap/v1"], "whitespace or a control character"),
        (["/a\tb"], "whitespace or a control character"),
        (["/a\x7f"], "whitespace or a control character"),
    ]
    for capabilities, message in cases:
        with pytest.raises(pr.ConfigError, match=message):
            registrar(flow=flow, node_url=node_url, capabilities=capabilities)


def test_low_level_builders_send_the_capabilities_they_are_given() -> None:
    # The reference's vectors hold a capability with spaces and an empty legacy list:
    # the builders send what the caller gives; only a registrar refuses them.
    key = new_key()
    for capabilities in (["c"], ["cap with spaces"], []):
        request = pr.build_registration_request(
            dds_url="https://dds.example.com", node_url="https://node", node_version="1",
            capabilities=capabilities, registration_secret="s3cret", private_key=key)
        assert json.loads(request.body)["capabilities"] == capabilities


@pytest.mark.parametrize("status, cls, hint", [
    (409, pr.ConflictError, "same wallet"),
    (402, pr.DdsRejectedError, "lacks the stake"),
])
def test_conflict_and_missing_stake_say_what_to_do(
    dds: Dds, caplog: pytest.LogCaptureFixture, status: int, cls: type, hint: str
) -> None:
    dds.faults({"status": status, "body": "refused"})
    node = registrar(dds_url=dds.url)
    with pytest.raises(cls) as info:
        node.register_once()
    error = info.value
    assert error.status == status and error.hint is not None and hint in error.hint
    # The reference's message first, then the advice.
    assert str(error).endswith("body_snippet: refused (hint: %s)" % error.hint)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.hint) == (cls, str(error), error.hint)
    name = "registration.conflict" if status == 409 else "registration.error"
    [record] = events(caplog, name)
    assert record.hint == error.hint
    assert record.error.endswith("body_snippet: refused")
    assert record.getMessage().endswith("(hint: %s)" % error.hint)


def test_classified_failures_carry_the_hint() -> None:
    for status, hint in ((409, "same wallet"), (402, "stake")):
        failure = pr.classify_response("https://dds.example.com/x", status, None, b"no")
        assert failure is not None and failure.hint is not None and hint in failure.hint
        assert str(failure) == "%s (hint: %s)" % (failure.message, failure.hint)
        assert failure.to_exception().hint == failure.hint
        assert "hint=" in repr(failure)
    busy = pr.classify_response("e", 503)
    assert busy is not None and busy.hint is None and str(busy) == busy.message
    assert busy.to_exception().hint is None
