"""A ``prometheus_client`` collector for a registrar's metrics.

``prometheus_client.REGISTRY.register(PrometheusCollector(registrar))`` exposes,
at every scrape, the numbers ``registrar.metrics()`` gives and the CLI's
``--metrics-listen`` serves: one Prometheus text, written by the Rust core, read
back with ``prometheus_client``'s own parser. ``prometheus_client`` is imported
on the first scrape, not with this package.
"""

__all__ = ["PrometheusCollector"]


class PrometheusCollector:
    """Collects ``registrar.prometheus_text()`` for a ``prometheus_client`` registry."""

    __slots__ = ("_registrar",)

    def __init__(self, registrar):
        self._registrar = registrar

    def collect(self):
        from prometheus_client.parser import text_string_to_metric_families

        yield from text_string_to_metric_families(self._registrar.prometheus_text())
