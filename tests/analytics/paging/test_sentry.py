"""Alerts reach a real local HTTP endpoint acting as Sentry: one issue per rule, once per episode, no PII."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from services.analytics.alert_rules.core import HIGH_LATENCY, AlertEngine, FiredAlert, Observations
from services.analytics.paging.core import scrub
from services.analytics.paging.sentry import AlertSink, before_send
from shared.pii import scrub_pii
from tests.analytics.paging.fake_sentry import FakeSentry

T0 = datetime(2026, 11, 22, 12, tzinfo=UTC)
PHONE, EMAIL = "+1 (415) 555-0123", "jane.doe@example.com"
CUSTOMER_TEXT = f"hi it's Jane, call me on {PHONE} or mail {EMAIL}"


@pytest.fixture
def sentry() -> Iterator[FakeSentry]:
    server = FakeSentry()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_scrubbers() -> None:
    assert scrub_pii(CUSTOMER_TEXT) == "hi it's Jane, call me on [phone] or mail [email]"
    assert scrub_pii("party of 30 on 2026-11-29, booking BK123 for $1950.00") == (
        "party of 30 on 2026-11-29, booking BK123 for $1950.00"
    )
    assert scrub({"text": "anything", "n": 3, "notes": [f"ring {PHONE}"]}) == {
        "text": "[Filtered]",
        "n": 3,
        "notes": ["ring [phone]"],
    }
    event = before_send({"message": f"from {EMAIL}", "user": {"ip_address": "1.2.3.4"}}, {})
    assert event == {"message": "from [email]"}


def test_alert_reaches_local_sentry_once_per_episode_without_pii(sentry: FakeSentry) -> None:
    sink = AlertSink(sentry.dsn, environment="test")
    engine = AlertEngine()
    try:
        for minute in range(5):  # one latency episode observed five times
            for alert in engine.evaluate(Observations(p95_latency_ms=250.0), T0 + timedelta(minutes=minute)):
                sink.send(
                    alert,
                    extra={"text": CUSTOMER_TEXT, "note": f"customer {EMAIL} at {PHONE}", "window": "1m"},
                )
        sink.flush(timeout=5)
    finally:
        sink.close(timeout=5)

    events = sentry.events()
    assert len(events) == 1
    assert all(path == "/api/1/envelope/" for path in sentry.paths)
    (event,) = events
    assert event["level"] == "warning"
    assert event["fingerprint"] == [HIGH_LATENCY]
    assert event["tags"]["rule"] == HIGH_LATENCY
    assert event["environment"] == "test"
    assert event["extra"]["value"] == 250.0 and event["extra"]["window"] == "1m"
    assert event["extra"]["text"] == "[Filtered]"
    raw = b"".join(sentry.bodies).decode()
    for pii in ("555-0123", "(415)", EMAIL, "jane.doe", "call me on"):
        assert pii not in raw


def test_each_rule_is_its_own_issue(sentry: FakeSentry) -> None:
    sink = AlertSink(sentry.dsn)
    try:
        for alert in AlertEngine().evaluate(Observations(p95_latency_ms=900.0, tone_accuracy=0.5), T0):
            sink.send(alert)
        sink.flush(timeout=5)
    finally:
        sink.close(timeout=5)
    assert sorted((e["fingerprint"][0], e["level"]) for e in sentry.events()) == [
        ("high_latency", "warning"),
        ("performance_degradation", "error"),
    ]


def test_without_dsn_alerts_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    sink = AlertSink(None)
    assert not sink.enabled
    alert = FiredAlert(
        "model_drift", "error", f"drift seen by {EMAIL}", 0.2, 0.1, T0, {"rule": "model_drift"}
    )
    with caplog.at_level(logging.INFO, logger="teppan.alerts"):
        assert sink.send(alert) is None
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert "model_drift" in record.getMessage() and EMAIL not in record.getMessage()
    sink.flush()
    sink.close()
