"""The package's surface: typing (stubs checked by stubtest and mypy), docstrings,
argument validation, redacted repr()/str(), pickling, import cost."""

from __future__ import annotations

import inspect
import json
import math
import pickle
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import pytest

import posemesh_registration as pr
from posemesh_registration import asgi

from conftest import KNOWN_KEY_HEX, REPO, new_key, new_secret, track

EXAMPLE = REPO / "examples" / "python" / "register.py"
CAPS = ["/reconstruction/global-refinement/v1"]


def run_python(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_stubs_match_the_runtime(tmp_path: Path) -> None:
    result = run_python("-m", "mypy.stubtest", "posemesh_registration", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout


def test_typed_usage_and_the_example_pass_mypy_strict(tmp_path: Path) -> None:
    usage = tmp_path / "usage.py"
    usage.write_text(textwrap.dedent('''
        import asyncio
        from typing import Optional
        import posemesh_registration as pr
        from posemesh_registration.asgi import RegistrationApp

        class Store:
            def __init__(self) -> None:
                self.data: Optional[bytes] = None
            def load(self) -> Optional[bytes]:
                return self.data
            def save(self, data: bytes) -> None:
                self.data = data

        def blocking(key: pr.PrivateKey) -> str:
            registrar = pr.Registrar(dds_url="http://127.0.0.1:1", node_url="http://127.0.0.1:2", flow="legacy",
                                     node_version="1", capabilities=["/c"], registration_secret="s",
                                     private_key=key, state=Store(), interval=5, max_retry=None)
            status: pr.Status = registrar.status
            app: RegistrationApp = registrar.asgi_app()
            code, headers, body = registrar.handle_node_request("GET", "/health", {"user-agent": "x"}, b"")
            try:
                outcome: pr.Outcome = registrar.register_once()
                registrar.register_again()
            except pr.ConflictError as err:
                code = err.status or 0
            except pr.DdsRejectedError as err:
                retry: Optional[float] = err.retry_after
            except pr.RegistrationError:
                pass
            with registrar:
                registered: bool = registrar.wait_until_registered(timeout=1.0)
            creds = registrar.credentials
            return status + str(code) + (creds.id if creds else "") + body.decode()

        async def non_blocking() -> bool:
            async with pr.AsyncRegistrar(dds_url="http://127.0.0.1:1", node_version="1",
                                         capabilities=["/c"], registration_secret="s",
                                         private_key=pr.PrivateKey.generate(), flow="wallet") as r:
                outcome: pr.Outcome = await r.register_once()
                r.register_again()
                # Coroutines: create_task takes them (Awaitable stubs would not pass).
                task: "asyncio.Task[pr.Outcome]" = asyncio.create_task(r.register_once())
                loop_task: "asyncio.Task[None]" = asyncio.create_task(r.run_forever())
                async for status in r.statuses():
                    current: pr.Status = status
                return await r.wait_until_registered(timeout=2)

        def http_options(key: pr.PrivateKey) -> pr.Registrar:
            return pr.Registrar(dds_url="https://dds", node_version="1", capabilities=["/c"],
                                registration_secret="s", private_key=key,
                                proxy="http://proxy:3128", env_proxy=False, ca_bundle="/etc/ca.pem")

        def low_level() -> None:
            key = pr.PrivateKey.from_hex("00" * 31 + "01")
            request: pr.HttpRequest = pr.build_registration_request(
                dds_url="https://dds", node_url="https://node", node_version="1", capabilities=["/c"],
                registration_secret="s", private_key=key, timestamp_ns=0)
            failure = pr.classify_response(request.url, 409, [(b"retry-after", b"1")], b"")
            if failure is not None:
                kind: pr.FailureKind = failure.kind
                raise failure.to_exception()
    '''))
    result = run_python("-m", "mypy", "--strict", "--no-incremental", str(usage), str(EXAMPLE), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    # And a type error is caught (the check can fail).
    bad = tmp_path / "bad.py"
    bad.write_text("import posemesh_registration as pr\npr.PrivateKey.from_hex(b'00')\n")
    result = run_python("-m", "mypy", "--strict", "--no-incremental", str(bad), cwd=tmp_path)
    assert result.returncode != 0 and "from_hex" in result.stdout


def test_package_ships_py_typed() -> None:
    package = Path(pr.__file__).parent
    assert (package / "py.typed").exists()
    assert (package / "__init__.pyi").exists() and (package / "_native.pyi").exists()


def _public_members(obj: object) -> list[tuple[str, object]]:
    return [(name, value) for name, value in vars(obj).items() if not name.startswith("_")]


def test_every_public_item_has_a_docstring() -> None:
    missing = []
    modules = [pr, asgi]
    for module in modules:
        assert (module.__doc__ or "").strip(), module.__name__
        for name in module.__all__:
            if name.startswith("__"):
                continue
            item = getattr(module, name)
            if typing.get_origin(item) is typing.Union:
                continue  # type aliases (documented by `#:` comments in _types.py)
            if not (getattr(item, "__doc__", None) or "").strip():
                missing.append(f"{module.__name__}.{name}")
            if inspect.isclass(item):
                for member, value in _public_members(item):
                    if not (getattr(value, "__doc__", None) or "").strip():
                        missing.append(f"{module.__name__}.{name}.{member}")
    assert missing == []
    assert pr.StateStore.__doc__ and pr.StateStore.load.__doc__


def test_version() -> None:
    assert pr.__version__ == "0.1.0"


def test_import_stays_light() -> None:
    code = "import sys, posemesh_registration; print(sorted(m for m in ('asyncio', 'logging', 'typing', 'json', 'ssl') if m in sys.modules))"
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_registrar_argument_validation() -> None:
    good = dict(dds_url="http://127.0.0.1:1", node_url="http://127.0.0.1:2", flow="legacy", node_version="1.0",
                capabilities=CAPS, registration_secret=new_secret(), private_key=new_key())

    def build(**changes):
        return pr.Registrar(**{**good, **changes})

    build()  # the baseline is valid
    with pytest.raises(TypeError, match="list of str"):
        build(capabilities="/just/one")
    with pytest.raises(TypeError):
        build(capabilities=[1])
    # The core's rules and messages (RegistrarConfig::validate, Flow::from_options).
    with pytest.raises(pr.ConfigError, match='flow must be "wallet" or "legacy"'):
        build(flow="carrier-pigeon")
    with pytest.raises(pr.ConfigError, match="the legacy flow needs a node URL"):
        build(node_url=None)
    with pytest.raises(pr.ConfigError, match="the wallet flow takes no node URL"):
        build(flow="wallet")
    with pytest.raises(pr.ConfigError, match="the wallet flow takes no node URL"):
        build(flow=None)
    with pytest.raises(pr.ConfigError, match="capability"):
        build(flow="wallet", node_url=None, capabilities=[])
    for interval in (0, -1, 0.999):
        with pytest.raises(pr.ConfigError, match="registration interval must be at least 1 second"):
            build(interval=interval)
    for timeout in (0, -1):
        with pytest.raises(pr.ConfigError, match="request timeout must be greater than zero"):
            build(request_timeout=timeout)
    # Not a number: the message names the argument (not only a traceback note).
    for name in ("interval", "request_timeout"):
        with pytest.raises(TypeError) as info:
            build(**{name: "60"})
        assert str(info.value) == f"{name} must be a number of seconds (int or float), not str"
    # Not a duration at all: refused naming the argument (NaN used to run as zero).
    for name in ("interval", "request_timeout"):
        for value in (math.nan, math.inf, -math.inf):
            with pytest.raises(pr.ConfigError, match=f"^{name} must be a finite number of seconds$"):
                build(**{name: value})
    with pytest.raises(pr.ConfigError, match="max_retry"):
        build(max_retry=-1)
    with pytest.raises(pr.ConfigError, match="version"):
        build(node_version="  ")
    with pytest.raises(TypeError, match="registration_secret"):
        build(registration_secret=b"bytes")
    with pytest.raises(TypeError, match="private_key"):
        build(private_key=12345)
    with pytest.raises(pr.InvalidKeyError):
        build(private_key="00" * 32)
    with pytest.raises(TypeError):
        build(unknown=1)
    with pytest.raises(TypeError):
        pr.Registrar("http://127.0.0.1:1")  # keyword-only
    for bad in ("ftp://dds", "dds.example.com", "", "http://", "http://dds/ x", "http://dds?q=1"):
        with pytest.raises(pr.InvalidUrlError):
            build(dds_url=bad)
    with pytest.raises(pr.InvalidUrlError) as info:
        build(node_url="https://user:hunter2-password@node.example.com")
    assert "hunter2" not in str(info.value) and isinstance(info.value, pr.ConfigError)
    assert build(private_key=bytes.fromhex(KNOWN_KEY_HEX)).eth_address == pr.PrivateKey.from_hex(KNOWN_KEY_HEX).eth_address
    assert build(dds_url="http://127.0.0.1:1///").dds_url == "http://127.0.0.1:1"


def test_low_level_argument_validation() -> None:
    key = new_key()
    with pytest.raises(TypeError):
        pr.PrivateKey.from_hex(b"00" * 32)
    with pytest.raises(pr.InvalidKeyError):
        pr.PrivateKey.from_bytes(b"\x01" * 31)
    with pytest.raises(TypeError):
        pr.PrivateKey.from_bytes("01" * 32)
    with pytest.raises(TypeError):
        pr.PrivateKey()
    with pytest.raises(TypeError):
        key.sign_registration(123)
    assert key.sign_registration(bytearray(b"abc")) == key.sign_registration(memoryview(b"abc")) == key.sign_registration("abc")
    with pytest.raises(pr.InvalidUrlError):
        pr.build_siwe_nonce_request(dds_url="nope", private_key=key)
    with pytest.raises(ValueError, match="nonce"):
        pr.build_wallet_registration_request(
            dds_url="https://dds", challenge=b'{"nonce":"","domain":"d","uri":"u","version":"1","chainId":1,"issuedAt":"t"}',
            node_version="1", capabilities=CAPS, registration_secret="s", private_key=key)
    with pytest.raises(ValueError, match="malformed"):
        pr.build_wallet_registration_request(
            dds_url="https://dds", challenge="not json", node_version="1", capabilities=CAPS,
            registration_secret="s", private_key=key)
    with pytest.raises(ValueError):
        pr.classify_response("e", 42)
    with pytest.raises(ValueError):
        pr.classify_response("e", 200, [("only-a-name",)])
    with pytest.raises(ValueError, match="too large"):
        pr.format_timestamp(2**100)
    for out_of_range in (10**40, -1):
        with pytest.raises(OverflowError):
            pr.format_timestamp(out_of_range)


def test_low_level_builders_follow_the_registrars_rules() -> None:
    """The request builders refuse what the Registrar refuses, with the same message."""
    key = new_key()
    cases = [
        (dict(node_version=" "), "node version must not be empty"),
        (dict(capabilities=[" "]), "capabilities must not be blank"),
        (dict(node_url="ftp://node"), "invalid node URL"),
    ]
    for change, message in cases:
        legacy = dict(dds_url="https://dds", node_url="https://node", node_version="1",
                      capabilities=CAPS, registration_secret="s", private_key=key)
        legacy.update(change)
        with pytest.raises(pr.ConfigError, match=message):
            pr.build_registration_request(**legacy)
        with pytest.raises(pr.ConfigError, match=message):
            pr.Registrar(flow="legacy", **legacy)
    challenge = b'{"nonce":"n0nce42x","domain":"dds","uri":"https://dds","version":"1","chainId":1,"issuedAt":"t"}'
    with pytest.raises(pr.ConfigError, match="a node needs at least one capability"):
        pr.build_wallet_registration_request(
            dds_url="https://dds", challenge=challenge, node_version="1", capabilities=[],
            registration_secret="s", private_key=key)


def test_private_key_helpers() -> None:
    first, second = pr.PrivateKey.generate(), pr.PrivateKey.generate()
    assert first != second and first.eth_address != second.eth_address
    assert pr.PrivateKey.from_bytes(first.to_bytes()) == first
    assert hash(pr.PrivateKey.from_bytes(first.to_bytes())) == hash(first)
    assert len({first, pr.PrivateKey.from_bytes(first.to_bytes())}) == 1
    assert (first == "not a key") is False


def test_classify_response() -> None:
    assert pr.classify_response("e", 200) is None
    assert pr.classify_response("e", 204, {}, b"") is None
    conflict = pr.classify_response("https://dds/x", 409, {"Content-Type": "text/plain"}, b"taken")
    assert conflict is not None
    assert (conflict.kind, conflict.status, conflict.retry_after) == ("conflict", 409, None)
    assert "taken" in conflict.message and "https://dds/x" in conflict.message
    assert isinstance(conflict.to_exception(), pr.ConflictError)
    busy = pr.classify_response("e", 503, [(b"Retry-After", b"12")], "down")
    assert busy is not None and (busy.kind, busy.retry_after) == ("retry_fast", 12.0)
    rejected = pr.classify_response("e", 401)
    assert rejected is not None and rejected.kind == "retry_later"
    error = rejected.to_exception()
    assert type(error) is pr.DdsRejectedError and error.status == 401
    # HTTP-date Retry-After relative to now_ns.
    dated = pr.classify_response("e", 429, {"retry-after": "Sun, 06 Nov 1994 08:49:37 GMT"},
                                 now_ns=784111767 * 10**9)
    assert dated is not None and dated.retry_after == 10.0
    # Absurd values are capped by the core (not rejected, not overflowing).
    capped = pr.classify_response("e", 503, {"retry-after": "99999999999999999999"})
    also_capped = pr.classify_response("e", 503, {"retry-after": "4000000000"})
    assert capped is not None and also_capped is not None and capped.retry_after is not None
    assert 600 <= capped.retry_after == also_capped.retry_after < 4000000000
    # A multi-byte character across byte 512 (the reference panics there) and invalid UTF-8.
    body = ("x" * 511 + "é" * 10).encode()
    long = pr.classify_response("e", 500, None, body)
    assert long is not None and "é" not in long.message and long.message.endswith("x")
    garbage = pr.classify_response("e", 500, None, b"\xff\xfe\n\x80")
    assert garbage is not None and "\n" not in garbage.message
    assert str(garbage) == garbage.message


def test_repr_and_str_never_show_secrets() -> None:
    key_hex = KNOWN_KEY_HEX
    secret = track("top-secret-registration-credential")
    dds_secret = track("dds-issued-secret-0123456789abcdef")
    key = pr.PrivateKey.from_hex(key_hex)
    request = pr.build_registration_request(dds_url="https://dds.example.com", node_url="https://node",
                                            node_version="1", capabilities=CAPS,
                                            registration_secret=secret, private_key=key)
    failure = pr.classify_response("https://dds.example.com/x", 409, None, b"no")
    stored = json.dumps({"version": 1, "status": "registered", "last_health_check_ms": 1,
                         "credentials": {"id": "node-7", "secret": dds_secret, "organization_id": "org"}})

    class Store:
        def load(self) -> bytes:
            return stored.encode()

        def save(self, data: bytes) -> None:
            pass

    registrar = pr.Registrar(dds_url="https://dds.example.com", node_url="https://node", flow="legacy", node_version="1",
                             capabilities=CAPS, registration_secret=secret, private_key=key, state=Store())
    async_registrar = pr.AsyncRegistrar(dds_url="https://dds.example.com", node_version="1",
                                        capabilities=CAPS, registration_secret=secret,
                                        private_key=key_hex, flow="wallet")
    credentials = registrar.credentials
    assert credentials is not None and credentials.secret == dds_secret and credentials.id == "node-7"
    objects = [key, request, failure, registrar, async_registrar, credentials, registrar.asgi_app(),
               pr.ConflictError("x", retry_after=1.0), pr.TransportError("y"), pr.StateError("z")]
    for obj in objects:
        for text in (repr(obj), str(obj)):
            assert key_hex not in text.lower()
            assert secret not in text and dds_secret not in text
    assert repr(key) == "PrivateKey(<redacted>, address='0xfdbb6caf01414300c16ea14859fec7736d95355f')"
    assert "<redacted>" in repr(credentials) and "node-7" in repr(credentials)
    assert repr(request).endswith("body=<%d bytes>)" % len(request.body))
    assert repr(registrar).startswith("Registrar(flow='legacy', dds_url='https://dds.example.com'")
    # The stored registration does not record what it was for: not adopted (and
    # with nothing registering yet, not "registering" either).
    assert "status='disconnected'" in repr(registrar)
    assert repr(async_registrar).startswith("AsyncRegistrar(flow='wallet'")
    # The secret is where it must be, and only there.
    assert secret.encode() in request.body


def test_secrets_are_not_picklable() -> None:
    for obj in (new_key(),
                pr.build_siwe_nonce_request(dds_url="https://dds", private_key=new_key())):
        with pytest.raises(TypeError, match="pickle"):
            pickle.dumps(obj)
    # Exceptions carry their fields through pickling (e.g. across processes).
    error = pickle.loads(pickle.dumps(pr.DdsRejectedError("m", status=503, kind="retry_fast", retry_after=2.0)))
    assert (type(error), error.status, error.kind, error.retry_after, str(error)) == (
        pr.DdsRejectedError, 503, "retry_fast", 2.0, "m")
    conflict = pickle.loads(pickle.dumps(pr.ConflictError("c")))
    assert type(conflict) is pr.ConflictError and conflict.status == 409


def test_exception_hierarchy() -> None:
    assert issubclass(pr.InvalidKeyError, pr.RegistrationError) and issubclass(pr.InvalidKeyError, ValueError)
    assert issubclass(pr.InvalidUrlError, pr.ConfigError) and issubclass(pr.ConfigError, ValueError)
    assert issubclass(pr.ConflictError, pr.DdsRejectedError)
    assert issubclass(pr.TransportError, ConnectionError) and issubclass(pr.TransportError, pr.RegistrationError)
    assert issubclass(pr.StateError, pr.RegistrationError)
    assert pr.ConflictError.__module__ == "posemesh_registration"


def test_output_capture_with_capsys(capsys: pytest.CaptureFixture) -> None:
    """Printing everything a user might print keeps secrets out (checked by the guard with capsys)."""
    key = new_key()
    request = pr.build_registration_request(dds_url="https://dds", node_url="https://node", node_version="1",
                                            capabilities=CAPS, registration_secret=new_secret(), private_key=key)
    print(key, request, repr(key), repr(request))
    assert "<redacted>" in capsys.readouterr().out


def _challenge(domain: str, uri: str) -> dict:
    return {"nonce": "n0nce42x", "domain": domain, "uri": uri, "version": "1", "chainId": 1,
            "issuedAt": "2024-01-02T03:04:05Z"}


def test_the_wallet_builder_refuses_what_the_registrar_refuses() -> None:
    """Nothing is signed for a challenge the Registrar would refuse: another site's domain,
    or a field whose line break would rewrite the message's lines."""
    key = new_key()
    args = dict(dds_url="https://dds.example.com", node_version="1", capabilities=CAPS,
                registration_secret=new_secret(), private_key=key)
    refused = [
        (_challenge("app.evil.example", "https://app.evil.example/"), "not the DDS"),
        (_challenge("dds.example.com\nURI: https://evil.example/", "https://dds.example.com/"),
         "line break"),
        (_challenge("dds.example.com", "https://evil.example/login"), "URI is not on domain"),
    ]
    for challenge, why in refused:
        with pytest.raises(ValueError, match=why):
            pr.build_wallet_registration_request(challenge=challenge, **args)
    # A domain named by siwe_domains is trusted, as the Registrar's siwe_domains is.
    public = _challenge("dds.public.example", "https://dds.public.example/")
    with pytest.raises(ValueError, match="not the DDS"):
        pr.build_wallet_registration_request(challenge=public, **args)
    request = pr.build_wallet_registration_request(challenge=public, siwe_domains=["dds.public.example"],
                                                   **args)
    assert request.url == "https://dds.example.com/internal/v1/nodes/register-wallet"
    assert json.loads(request.body)["message"].startswith("dds.public.example wants you to sign in")
    with pytest.raises(pr.ConfigError, match="SIWE domain"):
        pr.build_wallet_registration_request(challenge=public, siwe_domains=["https://x"], **args)


def test_a_validators_echo_never_reaches_a_failure_message() -> None:
    """A real FastAPI/pydantic validator answers a refused field with its value under `input`;
    classify_response, which knows no secret, keeps it out of the message."""
    import asyncio

    import httpx
    from fastapi import FastAPI
    from pydantic import BaseModel, Field

    class Registration(BaseModel):
        registration_credentials: str = Field(max_length=4)

    def register(body):  # type: ignore[no-untyped-def]
        return {}

    # Real types, not this module's postponed (string) annotations: FastAPI could not
    # resolve a class defined in this function, and would read `body` as a query parameter.
    register.__annotations__ = {"body": Registration, "return": dict}
    app = FastAPI()
    app.post("/internal/v1/nodes/register-wallet")(register)

    secret = new_secret()
    request = pr.build_wallet_registration_request(
        dds_url="https://dds.example.com", node_version="1", capabilities=CAPS,
        registration_secret=secret, private_key=new_key(),
        challenge=_challenge("dds.example.com", "https://dds.example.com/"))

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.post(request.url, content=request.body, headers=request.headers)

    answer = asyncio.run(send())
    escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
    assert answer.status_code == 422 and escaped in answer.text, "the validator echoes the secret"
    failure = pr.classify_response(request.url, answer.status_code, answer.headers.raw, answer.content)
    assert failure is not None and failure.status == 422
    assert "registration_credentials" in failure.message, failure.message
    for form in (secret, escaped, json.dumps(secret)[1:-1]):
        assert form not in failure.message, failure.message
