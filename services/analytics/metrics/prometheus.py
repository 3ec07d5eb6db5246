"""The metrics figures in Prometheus' text format, for `GET /metrics`: one collector read on each scrape."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.analytics.metrics.sketches import PERCENTILES

_QUANTILE_LABELS = {name: str(q) for name, q in PERCENTILES.items()}


class FiguresCollector(Collector):
    """A Prometheus collector reading the current figures (a `MetricsWindow.figures()` dict) on each scrape."""

    def __init__(self, get_figures: Callable[[], Mapping[str, Any] | None]) -> None:
        self._get_figures = get_figures

    def collect(self) -> Iterator[Metric]:
        figures = self._get_figures()
        if figures is None:
            return
        conversation, model, business = figures["conversation"], figures["model"], figures["business"]
        yield from _gauges(
            ("teppan_conversations", "Conversations started in the window", conversation["conversations"]),
            (
                "teppan_conversations_ended",
                "Conversations with an outcome in the window",
                conversation["ended"],
            ),
            (
                "teppan_conversion_ratio",
                "Booked share of ended conversations",
                conversation["conversion_rate"],
            ),
            ("teppan_avg_turns", "Average turns of ended conversations", conversation["avg_turns"]),
            (
                "teppan_task_completion_ratio",
                "Task completion of ended conversations",
                conversation["task_completion_rate"],
            ),
            ("teppan_nlp_analyses", "NLP analyses in the window", model["analyses"]),
            ("teppan_nlp_mean_confidence", "Mean NLP confidence", model["mean_confidence"]),
            (
                "teppan_nlp_escalation_ratio",
                "Share of analyses escalated to the ML path",
                model["escalation_rate"],
            ),
            (
                "teppan_upsell_acceptance_ratio",
                "Upsells accepted / offered",
                business["upsell_acceptance_rate"],
            ),
            ("teppan_avg_booking_value_usd", "Average booking value", business["avg_booking_value"]),
            ("teppan_csat_ratio", "Share of survey ratings of 4 or 5", business["csat"]),
        )
        latency = GaugeMetricFamily(
            "teppan_nlp_latency_ms", "NLP latency quantiles from the merged sketch", labels=["quantile"]
        )
        for name, value in model["nlp_latency_ms"].items():
            if value is not None:
                latency.add_metric([_QUANTILE_LABELS[name]], value)
        yield latency
        accuracy = GaugeMetricFamily(
            "teppan_model_accuracy_ratio", "Accuracy against human labels", labels=["task"]
        )
        for task, value in model["accuracy"].items():
            if value is not None:
                accuracy.add_metric([task], value)
        yield accuracy
        errors = GaugeMetricFamily(
            "teppan_service_error_ratio", "Agent service call error rate", labels=["service"]
        )
        calls = GaugeMetricFamily(
            "teppan_service_calls", "Agent service calls in the window", labels=["service"]
        )
        service_latency = GaugeMetricFamily(
            "teppan_service_latency_ms",
            "Agent service call latency quantiles",
            labels=["service", "quantile"],
        )
        for service, stats in figures["service"].items():
            calls.add_metric([service], stats["calls"])
            if stats["error_rate"] is not None:
                errors.add_metric([service], stats["error_rate"])
            for name, value in stats["latency_ms"].items():
                if value is not None:
                    service_latency.add_metric([service, _QUANTILE_LABELS[name]], value)
        yield from (calls, errors, service_latency)


def _gauges(*specs: tuple[str, str, float | None]) -> Iterator[GaugeMetricFamily]:
    # A figure without data is left out rather than exported as 0, which would read as a real value.
    for name, documentation, value in specs:
        if value is not None:
            yield GaugeMetricFamily(name, documentation, value=value)


def prometheus_registry(get_figures: Callable[[], Mapping[str, Any] | None]) -> CollectorRegistry:
    """A registry of its own (not the global one) holding only the figures collector, for `/metrics`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FiguresCollector(get_figures))
    return registry


def render_prometheus(figures: Mapping[str, Any] | None) -> bytes:
    """The Prometheus text exposition of `figures`."""
    return generate_latest(prometheus_registry(lambda: figures))
