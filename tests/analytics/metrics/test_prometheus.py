"""`/metrics` text: the figures of a window in Prometheus' exposition format."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.analytics.metrics.prometheus import render_prometheus
from services.analytics.metrics.sketches import RELATIVE_ACCURACY
from services.analytics.metrics.windows import MetricsAggregator


def test_prometheus_text(aggregator: MetricsAggregator) -> None:
    figures = aggregator.open_windows()[0].figures()
    text = render_prometheus(figures).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("teppan_conversations", ())] == 2
    assert samples[("teppan_nlp_escalation_ratio", ())] == pytest.approx(1 / 3)
    assert samples[("teppan_nlp_latency_ms", (("quantile", "0.95"),))] == pytest.approx(
        30.0, rel=RELATIVE_ACCURACY
    )
    assert samples[("teppan_service_error_ratio", (("service", "llm"),))] == 0.5
    assert samples[("teppan_service_latency_ms", (("quantile", "0.5"), ("service", "stt")))] == pytest.approx(
        80.0, rel=0.01
    )
    assert samples[("teppan_model_accuracy_ratio", (("task", "tone"),))] == 0.5
    # No outcome in this minute: conversion is absent, not a misleading 0.
    assert ("teppan_conversion_ratio", ()) not in samples
    assert render_prometheus(None) == b""
