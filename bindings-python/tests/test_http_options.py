"""proxy=, env_proxy= and ca_bundle=: the native HTTP client's settings."""

from __future__ import annotations

import http.client
import http.server
import threading
import urllib.parse
from pathlib import Path
from typing import Iterator

import pytest

import posemesh_registration as pr

from conftest import Dds, new_key, new_secret

CAPABILITIES = ["/reconstruction/global-refinement/v1"]
PROXY_VARIABLES = ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                   "ALL_PROXY", "no_proxy", "NO_PROXY"]


class Proxy:
    """A forwarding HTTP proxy on loopback that records the URLs it was asked for."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        seen = self.seen

        class Handler(http.server.BaseHTTPRequestHandler):
            def forward(self) -> None:
                seen.append(self.path)  # absolute-form: http://host:port/path
                url = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                upstream = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("proxy-connection", "connection")}
                upstream.request(self.command, url.path + ("?" + url.query if url.query else ""),
                                 body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = forward

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    server = Proxy()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES + ["SSL_CERT_FILE"]:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def options(dds: Dds, **kwargs: object) -> dict:
    result = dict(dds_url=dds.url, node_version="2.0.0", capabilities=CAPABILITIES,
                  registration_secret=new_secret(), private_key=new_key())
    result.update(kwargs)
    return result


def test_proxy_argument_sends_requests_through_the_proxy(dds: Dds, proxy: Proxy, clean_env) -> None:
    registrar = pr.Registrar(**options(dds, proxy=proxy.url))
    assert registrar.register_once() == "registered"
    assert proxy.seen and all(url.startswith(dds.url + "/") for url in proxy.seen)


@pytest.mark.asyncio
async def test_proxy_argument_applies_to_async_registrar(dds: Dds, proxy: Proxy, clean_env) -> None:
    registrar = pr.AsyncRegistrar(**options(dds, proxy=proxy.url))
    assert await registrar.register_once() == "registered"
    assert proxy.seen


def test_env_proxy_false_ignores_proxy_variables(dds: Dds, proxy: Proxy, clean_env) -> None:
    clean_env.setenv("http_proxy", proxy.url)
    assert pr.Registrar(**options(dds)).register_once() == "registered"
    through_env = len(proxy.seen)
    assert through_env > 0  # env_proxy=True by default: the variable is honoured
    assert pr.Registrar(**options(dds, env_proxy=False)).register_once() == "registered"
    assert len(proxy.seen) == through_env


def test_bad_ca_bundle_path_is_a_clear_config_error(dds: Dds, tmp_path: Path, clean_env) -> None:
    missing = tmp_path / "missing-ca.pem"
    with pytest.raises(pr.ConfigError) as info:
        pr.Registrar(**options(dds, ca_bundle=missing))
    assert "CA bundle" in str(info.value) and str(missing) in str(info.value)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(pr.ConfigError, match="no usable PEM certificate"):
        pr.Registrar(**options(dds, ca_bundle=str(garbage)))
    with pytest.raises(TypeError, match="ca_bundle"):
        pr.Registrar(**options(dds, ca_bundle=42))


def test_bad_ssl_cert_file_is_a_clear_config_error(dds: Dds, tmp_path: Path, clean_env) -> None:
    clean_env.setenv("SSL_CERT_FILE", str(tmp_path / "nope.pem"))
    with pytest.raises(pr.ConfigError, match="SSL_CERT_FILE"):
        pr.Registrar(**options(dds))


def test_invalid_proxy_url_is_refused_without_showing_it(dds: Dds, clean_env) -> None:
    with pytest.raises(pr.ConfigError) as info:
        pr.Registrar(**options(dds, proxy="http://user:proxy-password@[::1"))
    assert "proxy" in str(info.value) and "proxy-password" not in str(info.value)


def test_siwe_domains_trust_the_name_the_dds_gives_itself(dds: Dds) -> None:
    """A DDS that names its public domain in its SIWE challenges is refused
    unless siwe_domains names it; a URL there is a ConfigError (the core's
    rule). Reached as localhost, a DDS naming itself 127.0.0.1 is the same
    machine: no option needed."""
    own_port = dds.url.rsplit(":", 1)[1]

    def registrar(**extra: object) -> pr.Registrar:
        return pr.Registrar(**options(dds, env_proxy=False, **extra))

    assert registrar(dds_url="http://localhost:" + own_port).register_once() == "registered"
    dds.client.post("/_control/session", json={"siwe_domain": "dds.public.example"}).raise_for_status()
    # The DDS answered; its challenge is refused, not lost in transport.
    with pytest.raises(pr.DdsRejectedError, match="not the DDS") as info:
        registrar().register_once()
    assert info.value.kind == "retry_later"
    assert registrar(siwe_domains=["dds.public.example"]).register_once() == "registered"
    with pytest.raises(pr.ConfigError, match="SIWE domain"):
        registrar(siwe_domains=["https://dds.public.example"])
    with pytest.raises(TypeError):
        registrar(siwe_domains=[42])
