"""Alerts through the real workers: slow NLP analyses page a real local Sentry endpoint once per episode,
without PII, and `/metrics` shows the same figures in Prometheus format behind the API token.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from schemas import topics
from schemas.events import Alert, MessageAnalysis
from services.http_app import create_app
from shared.settings import Settings
from tests.analytics.paging.fake_sentry import FakeSentry
from tests.stack.analytics_helpers import read_topic
from tests.stack.helpers import (
    WorkerProcesses,
    produce_events,
    produce_raw,
    serving_app,
    wait_for,
    wait_until_caught_up,
)

pytestmark = pytest.mark.stack
TOKEN = "metrics-token-51d2"
SLOW_MS = 450.0
EMAIL, PHONE = "pat.jones@example.com", "+1 (628) 555-0199"


def slow_analyses(count: int) -> list[dict[str, Any]]:
    conversation = uuid.uuid4()
    now = datetime.now(UTC)
    return [
        MessageAnalysis(
            conversation_id=conversation,
            occurred_at=now - timedelta(milliseconds=10 * i),
            message_event_id=uuid.uuid4(),
            turn_index=2 * i,
            tone="casual",
            intent="booking_inquiry",
            sentiment="positive",
            entities={"party_size": {"surface": "30 people", "value": 30, "confidence": 0.95}},
            confidence=0.95,
            latency_ms=SLOW_MS + i,
        ).model_dump(mode="json")
        for i in range(count)
    ]


def latency_events(sentry: FakeSentry) -> list[dict[str, Any]]:
    return [event for event in sentry.events() if event.get("tags", {}).get("rule") == "high_latency"]


async def test_high_latency_pages_sentry_once_per_episode_without_pii(
    stack: Settings, db: asyncpg.Pool, analytics: WorkerProcesses, fake_sentry: FakeSentry
) -> None:
    await produce_events(stack, topics.NLP_ANALYSES, slow_analyses(20))

    async def paged() -> list[dict[str, Any]]:
        return latency_events(fake_sentry)

    events = await wait_for(paged, timeout_s=60)
    assert len(events) == 1
    (event,) = events
    assert event["level"] == "warning"
    assert event["fingerprint"] == ["high_latency"]
    assert event["extra"]["value"] == pytest.approx(SLOW_MS + 18, rel=0.02)  # p95 of 450..469

    # An alert whose text carries a customer's contact details reaches Sentry scrubbed.
    probe = Alert(rule="pii_probe", level="info", message=f"customer {EMAIL} asked to call {PHONE}",
                  tags={"customer": f"{EMAIL} / {PHONE}"})  # fmt: skip
    await produce_raw(stack, topics.ANALYTICS_ALERTS, [(b"pii_probe", probe.model_dump_json().encode())])

    async def probed() -> list[dict[str, Any]]:
        return [e for e in fake_sentry.events() if e.get("fingerprint") == ["pii_probe"]]

    (scrubbed,) = await wait_for(probed, timeout_s=30)
    assert scrubbed["message"] == "customer [email] asked to call [phone]"
    raw = b"".join(fake_sentry.bodies).decode()
    assert EMAIL not in raw and "555-0199" not in raw

    # The same episode continues: more slow analyses, and the alert itself redelivered.
    await produce_events(stack, topics.NLP_ANALYSES, slow_analyses(20))
    sent = await read_topic(stack, topics.ANALYTICS_ALERTS, lambda alert: alert["rule"] == "high_latency")
    assert len(sent) == 1
    await produce_raw(stack, topics.ANALYTICS_ALERTS, sent)
    await wait_until_caught_up(stack, ("metrics", "alerts", "alerting"), timeout_s=60)
    evaluated_before = await db.fetchval("SELECT updated_at FROM alert_state WHERE name = 'rules'")
    await produce_events(stack, topics.NLP_ANALYSES, slow_analyses(5))
    # Caught up kind after kind, so any page the new evaluation caused has reached alerting by then.
    await wait_until_caught_up(stack, ("metrics", "alerts", "alerting"), timeout_s=60)
    evaluated_after = await db.fetchval("SELECT updated_at FROM alert_state WHERE name = 'rules'")
    assert evaluated_after > evaluated_before, "the rules were not evaluated again on the new data"
    assert len(latency_events(fake_sentry)) == 1
    assert await db.fetchval("SELECT count(*) FROM alerts_sent WHERE rule = 'high_latency'") == 1
    state = await db.fetchval("SELECT state->'high_latency'->>'active' FROM alert_state WHERE name = 'rules'")
    assert state == "true"


async def test_metrics_endpoint_serves_prometheus_text_behind_the_token(
    stack: Settings, analytics: WorkerProcesses
) -> None:
    await produce_events(stack, topics.NLP_ANALYSES, slow_analyses(10))
    await wait_until_caught_up(stack, ("metrics",), timeout_s=60)
    settings = Settings(**{**stack.model_dump(by_alias=True), "TEPPAN_API_TOKEN": TOKEN})
    async with serving_app(create_app(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/metrics")).status_code == 401
        response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in response.text.splitlines()
        if line and not line.startswith("#")
    }
    # Every analysis of the last hour here is one of this module's slow ones (450 to 469 ms).
    assert samples['teppan_nlp_latency_ms{quantile="0.95"}'] == pytest.approx(SLOW_MS + 18, rel=0.03)
    assert samples["teppan_nlp_analyses"] >= 10
