"""Operator metrics: the numbers every runtime gives (core's MetricsSnapshot), as a
dict and as Prometheus text a prometheus_client registry serves."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import posemesh_registration as pr
from posemesh_registration.prometheus import PrometheusCollector

from conftest import Dds, new_key, new_secret, track


def make(dds: Dds) -> pr.Registrar:
    return pr.Registrar(
        dds_url=dds.url,
        node_version="1.0.0",
        capabilities=["/reconstruction/global-refinement/v1"],
        registration_secret=new_secret(),
        private_key=new_key(),
    )


def samples(text: str) -> dict:
    """(name, frozenset(labels)) → value, read with prometheus_client's parser."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def test_metrics_count_failures_successes_and_sign_ins(dds: Dds) -> None:
    registrar = make(dds)
    before = registrar.metrics()
    assert before["status"] == "disconnected"
    assert before["since_last_success_ms"] is None and before["time_to_registered_ms"] is None

    dds.faults({"status": 503, "path": "/internal/v1/auth/siwe/request"})
    try:
        registrar.register_once()
    except pr.DdsRejectedError:
        pass
    assert registrar.metrics()["consecutive_failures"] == 1
    assert registrar.register_once() == "registered"
    track(registrar.token().expose())

    metrics = registrar.metrics()
    assert metrics["status"] == "registered"
    assert metrics["attempts"] == {
        "registered": 1, "adopted": 0, "retry_fast": 1, "retry_later": 0, "conflict": 0,
    }
    assert metrics["consecutive_failures"] == 0
    assert 0 <= metrics["since_last_success_ms"] < 10_000
    assert metrics["time_to_registered_ms"] >= 0
    assert metrics["sign_ins"] == 1 and metrics["sign_in_failures"] == 0
    assert metrics["callbacks_refused"] == {}

    # The same numbers in the Prometheus text.
    found = samples(registrar.prometheus_text())
    assert found[("posemesh_registration_status", frozenset({("status", "registered")}))] == 1
    assert found[("posemesh_registration_status", frozenset({("status", "registering")}))] == 0
    registered = frozenset({("result", "registered")})
    assert found[("posemesh_registration_attempts_total", registered)] == 1
    assert found[("posemesh_registration_sign_ins_total", frozenset())] == 1


def test_refused_callbacks_are_counted_by_status(dds: Dds) -> None:
    registrar = pr.Registrar(
        dds_url=dds.url, flow="legacy", node_url="http://127.0.0.1:9", node_version="1.0.0",
        capabilities=["/c/v1"], registration_secret=new_secret(), private_key=new_key(),
    )
    for body in (b"not json", b"{}", b'{"id":"x","secret":"y"}'):
        status, _, _ = registrar.handle_node_request("POST", "/internal/v1/registrations", None, body)
        assert status >= 400
    refused = registrar.metrics()["callbacks_refused"]
    assert sum(refused.values()) == 3, refused
    assert all(isinstance(code, int) for code in refused)


def test_a_prometheus_client_registry_serves_them(dds: Dds) -> None:
    registrar = make(dds)
    registrar.register_once()
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(registrar))
    text = generate_latest(registry).decode()
    assert 'posemesh_registration_status{status="registered"} 1.0' in text
    assert "# TYPE posemesh_registration_attempts_total counter" in text
    assert 'posemesh_registration_attempts_total{result="registered"} 1.0' in text
