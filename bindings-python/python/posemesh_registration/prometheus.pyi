"""A prometheus_client collector for a registrar's metrics."""

from collections.abc import Iterator
from typing import Any

from ._native import BaseRegistrar

__all__ = ["PrometheusCollector"]

class PrometheusCollector:
    """Collects registrar.prometheus_text() for a prometheus_client registry."""

    def __init__(self, registrar: BaseRegistrar) -> None: ...
    def collect(self) -> Iterator[Any]:
        """The metric families of one scrape (prometheus_client's Metric objects)."""
