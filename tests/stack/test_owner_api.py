"""The owner's `/api/` over real HTTP (uvicorn), against the real PostgreSQL and broker: figures from the
hourly rollups the metrics store writes, conversation search and detail, the labelling queue, labels
produced to labels.v1, and the 404/413/422/503 answers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from schemas import topics
from services.analytics.conversation_log.store import refresh_conversation_logs
from services.analytics.metrics.core import UsageRow
from services.analytics.metrics.store import PostgresMetricsWrites, rebuild_rollups, rebuild_usage_hourly
from services.analytics.metrics.windows import MetricsAggregator
from services.http_app import create_app
from shared.embedded import free_port
from shared.settings import Settings
from tests.stack.analytics_helpers import read_topic
from tests.stack.helpers import serving_app

pytestmark = pytest.mark.stack
TOKEN = "owner-api-token-5a1e"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def with_token(settings: Settings, **values: Any) -> Settings:
    return Settings(**{**settings.model_dump(by_alias=True), "TEPPAN_API_TOKEN": TOKEN, **values})


@pytest.fixture
async def api(stack: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serving_app(create_app(with_token(stack))) as url,
        httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as client,
    ):
        yield client


async def get_json(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


# --- Rows as the workers write them -------------------------------------------------------------------------


async def insert_conversation(
    db: asyncpg.Pool, *, customer_id: int, word: str, at: datetime, confidence: float = 0.31
) -> tuple[uuid.UUID, uuid.UUID]:
    """A two-turn conversation (customer, then AI) with the customer turn's analysis; (conversation, turn)."""
    conversation, turn, reply = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with db.acquire() as connection, connection.transaction():
        await connection.executemany(
            "INSERT INTO messages (event_id, conversation_id, customer_id, role, text, turn_index, occurred_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [
                (turn, conversation, customer_id, "customer", f"we want {word} for 12 guests", 0, at),
                (
                    reply,
                    conversation,
                    customer_id,
                    "ai",
                    "Happy to help with that!",
                    1,
                    at + timedelta(seconds=2),
                ),
            ],
        )
        await connection.execute(
            "INSERT INTO message_analyses (message_event_id, analysis_event_id, conversation_id, path, detected_tone,"
            " detected_intent, entities_extracted, confidence, escalate, latency_ms, analysis, occurred_at) "
            "VALUES ($1, $2, $3, 'fast', 'casual', 'booking_inquiry', $4::jsonb, $5, false, 3.0, $6::jsonb, $7)",
            turn,
            uuid.uuid4(),
            conversation,
            json.dumps({"party_size": {"text": "12 guests", "value": 12}}),
            confidence,
            json.dumps({"sentiment": "positive"}),
            at,
        )
        await refresh_conversation_logs(connection, [conversation])
    return conversation, turn


# --- The overview -------------------------------------------------------------------------------------------


async def test_overview_reads_the_hourly_rollup_the_metrics_store_writes(
    api: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    before = await get_json(api, "/api/overview", range="day")
    now = datetime.now(UTC)
    aggregator = MetricsAggregator()
    for index in range(3):
        aggregator.record_turn(now, turn_index=0)
        aggregator.record_turn(now, turn_index=1)
        aggregator.record_analysis(now, latency_ms=2.0, confidence=0.9, escalated=False, path="fast")
        aggregator.record_analysis(now, latency_ms=900.0 + index, confidence=0.4, escalated=True, path="ml")
    async with db.acquire() as connection, connection.transaction():
        await PostgresMetricsWrites(connection).merge(aggregator.open_windows())
    after = await get_json(api, "/api/overview", range="day")

    assert after["bucket"] == "hour" and len(after["series"]["bucket_starts"]) == 24
    assert after["figures"]["conversations"] - before["figures"]["conversations"] == 3
    assert after["figures"]["messages"] - before["figures"]["messages"] == 6
    assert after["series"]["conversations"][-1] - before["series"]["conversations"][-1] == 3
    assert after["figures"]["ml_latency_ms"]["p95"] is not None
    assert after["figures"]["fast_latency_ms"]["p50"] < after["figures"]["ml_latency_ms"]["p50"]
    assert after["figures"]["dead_letters"] is None or after["figures"]["dead_letters"] >= 0
    assert set(after["figures"]["budget"]) == {"daily_usd", "daily_used", "monthly_usd", "monthly_used"}
    for name in ("week", "month"):
        document = await get_json(api, "/api/overview", range=name)
        assert document["bucket"] == "day" and len(document["series"]["bucket_starts"]) == (
            7 if name == "week" else 30
        )
        assert document["figures"]["conversations"] >= 3
    bad = await api.get("/api/overview", params={"range": "decade"})
    assert bad.status_code == 422 and "decade" not in bad.text

    # A rebuild from the minute windows gives the same figures.
    async with db.acquire() as connection, connection.transaction():
        assert await rebuild_rollups(connection) >= 1
    rebuilt = await get_json(api, "/api/overview", range="day")
    assert rebuilt["figures"]["conversations"] == after["figures"]["conversations"]


async def test_hourly_llm_usage_follows_the_costs_reports_rule(db: asyncpg.Pool) -> None:
    provider, conversation = f"test-{uuid.uuid4().hex[:8]}", uuid.uuid4()
    at = datetime.now(UTC).replace(minute=5)

    def usage(source: str, tokens: int) -> UsageRow:
        return UsageRow(uuid.uuid4(), conversation, None, source, provider, "m", tokens, 0, True, at)

    async def stored() -> int:
        return int(
            await db.fetchval(
                "SELECT coalesce(sum(tokens_in), 0) FROM llm_usage_hourly WHERE provider = $1", provider
            )
        )

    async def write(rows: list[UsageRow]) -> None:
        async with db.acquire() as connection, connection.transaction():
            await PostgresMetricsWrites(connection)._store_usage(rows)

    message = usage("message", 100)
    await write([message])
    assert await stored() == 100
    await write([message])  # a redelivery adds nothing
    assert await stored() == 100
    await write(
        [usage("service_call", 40)]
    )  # the conversation reports its calls: its messages no longer count
    assert await stored() == 40
    await write([usage("message", 7), usage("service_call", 2)])
    assert await stored() == 42
    async with db.acquire() as connection, connection.transaction():
        await rebuild_usage_hourly(connection)
    assert await stored() == 42


async def test_costs_come_from_the_hourly_usage(api: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    before = await get_json(api, "/api/costs", range="day")
    row = UsageRow(
        uuid.uuid4(),
        uuid.uuid4(),
        None,
        "message",
        "openai",
        "gpt-4o-mini",
        2_000_000,
        0,
        True,
        datetime.now(UTC),
    )
    async with db.acquire() as connection, connection.transaction():
        await PostgresMetricsWrites(connection)._store_usage([row])
    after = await get_json(api, "/api/costs", range="day")
    assert after["total_usd"] > before["total_usd"]
    assert after["by_model"]["openai/gpt-4o-mini"] > before["by_model"].get("openai/gpt-4o-mini", 0.0)
    assert after["budget"]["daily_used"] >= after["by_day"][datetime.now(UTC).date().isoformat()] - 1e-6
    overview = await get_json(api, "/api/overview", range="day")
    assert overview["figures"]["llm_cost_usd"] > 0


# --- Conversations ------------------------------------------------------------------------------------------


async def test_conversations_found_by_word_id_prefix_and_customer(
    api: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    customer = 700_000 + uuid.uuid4().int % 100_000
    word = "okonomiyaki" + uuid.uuid4().hex[:6]
    conversation, turn = await insert_conversation(db, customer_id=customer, word=word, at=datetime.now(UTC))
    await db.execute(
        "INSERT INTO edge_cases (conversation_id, reason, event_id, customer_id, flagged_at) "
        "VALUES ($1, 'low_confidence', $2, $3, $4)",
        conversation,
        turn,
        customer,
        datetime.now(UTC),
    )

    by_word = await get_json(api, "/api/conversations", q=word)
    assert [c["conversation_id"] for c in by_word["conversations"]] == [str(conversation)]
    found = by_word["conversations"][0]
    assert found["customer_id"] == customer and found["messages"] == 2 and found["booked"] is None
    by_prefix = await get_json(api, "/api/conversations", q=str(conversation)[:8])
    assert str(conversation) in [c["conversation_id"] for c in by_prefix["conversations"]]
    by_id = await get_json(api, "/api/conversations", q=str(conversation))
    assert [c["conversation_id"] for c in by_id["conversations"]] == [str(conversation)]
    by_customer = await get_json(api, "/api/conversations", customer_id=str(customer))
    assert [c["conversation_id"] for c in by_customer["conversations"]] == [str(conversation)]
    recent = await get_json(api, "/api/conversations", limit="5")
    assert len(recent["conversations"]) <= 5

    detail = await get_json(api, f"/api/conversations/{conversation}")
    assert detail["customer_id"] == customer and detail["edge_cases"] == ["low_confidence"]
    assert detail["outcome"] is None and [t["role"] for t in detail["turns"]] == ["customer", "ai"]
    first = detail["turns"][0]
    assert first["message_event_id"] == str(turn) and word in first["text"]
    assert first["analysis"] == {
        "path": "fast",
        "tone": "casual",
        "intent": "booking_inquiry",
        "sentiment": "positive",
        "slots": {"party_size": 12},
        "confidence": 0.31,
        "escalate": False,
    }
    assert detail["turns"][1]["analysis"] is None and first["labels"] == []
    assert (await api.get(f"/api/conversations/{uuid.uuid4()}")).status_code == 404
    assert (await api.get("/api/conversations/not-an-id")).status_code == 404
    assert (await api.get("/api/conversations", params={"limit": "0"})).status_code == 422


# --- Labelling ----------------------------------------------------------------------------------------------


async def test_queue_labels_and_agreement(api: httpx.AsyncClient, db: asyncpg.Pool, stack: Settings) -> None:
    customer = 800_000 + uuid.uuid4().int % 100_000
    conversation, turn = await insert_conversation(
        db, customer_id=customer, word="teriyaki", at=datetime.now(UTC), confidence=0.0
    )
    # The newest flag of any test's (other tests' records may carry times far ahead of now).
    latest = await db.fetchval("SELECT max(flagged_at) FROM edge_cases")
    newest_flag = max(latest or datetime.now(UTC), datetime.now(UTC) + timedelta(days=365)) + timedelta(seconds=1)
    await db.execute(
        "INSERT INTO edge_cases (conversation_id, reason, event_id, customer_id, flagged_at) "
        "VALUES ($1, 'customer_expressed_frustration', $2, $3, $4)",
        conversation,
        turn,
        customer,
        newest_flag,
    )
    labeller = f"ana-{uuid.uuid4().hex[:6]}"
    queue = await get_json(api, "/api/queue", reason="customer_expressed_frustration", labeller=labeller)
    assert queue["reasons"]["customer_expressed_frustration"] >= 1
    item = queue["items"][0]
    assert item["message_event_id"] == str(turn) and item["reason"] == "customer_expressed_frustration"
    assert item["guess"] == {"tone": "casual", "intent": "booking_inquiry", "slots": {"party_size": 12}}
    unsure = await get_json(api, "/api/queue", labeller=labeller, limit="200")
    assert str(turn) in [i["message_event_id"] for i in unsure["items"]]
    assert (await api.get("/api/queue", params={"reason": "boredom"})).status_code == 422

    label = {
        "message_event_id": str(turn),
        "labeller": labeller,
        "tone": "anxious",
        "slots": {"party_size": "12"},
    }
    first = await api.post("/api/labels", json=label)
    assert first.status_code == 202, first.text
    published = first.json()["published"]
    assert len(published) == 2
    again = await api.post("/api/labels", json=label)
    assert again.status_code == 202 and again.json()["published"] == published
    events = await read_topic(stack, topics.LABELS, lambda e: e.get("event_id") in published)
    assert {key for key, _ in events} == {str(conversation).encode()}
    values = [json.loads(value) for _, value in events]
    assert {(v["field"], v["entity_name"], v["value"]) for v in values} == {
        ("tone", None, "anxious"),
        ("entity", "party_size", "12"),
    }
    assert all(v["labeller"] == labeller and v["message_event_id"] == str(turn) for v in values)

    unknown = await api.post("/api/labels", json={**label, "message_event_id": str(uuid.uuid4())})
    assert unknown.status_code == 404
    invalid = await api.post("/api/labels", json={**label, "tone": "hangry-xyz"})
    assert invalid.status_code == 422 and "hangry" not in invalid.text
    assert invalid.json()["detail"][0]["loc"] == ["body", "tone"]
    too_big = await api.post(
        "/api/labels",
        content=b'{"labeller": "' + b"a" * 17_000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert too_big.status_code == 413
    assert (await api.post("/api/labels", content=b"{nope")).status_code == 422

    # As the metrics worker stores them: two labellers on the turn.
    for who, tone in ((labeller, "anxious"), (labeller + "-b", "anxious")):
        await db.execute(
            "INSERT INTO labels (event_id, message_event_id, conversation_id, field, value, labeller, occurred_at) "
            "VALUES ($1, $2, $3, 'tone', $4::jsonb, $5, now())",
            uuid.uuid4(),
            turn,
            conversation,
            json.dumps(tone),
            who,
        )
    after = await get_json(api, "/api/queue", reason="customer_expressed_frustration", labeller=labeller)
    assert str(turn) not in [i["message_event_id"] for i in after["items"]]
    labelling = await get_json(api, "/api/labelling")
    assert labelling["progress"]["target"] == 5000 and labelling["progress"]["labelled_tone_examples"] >= 1
    assert (
        labelling["agreement"]["tone"]["turns"] >= 1 and labelling["agreement"]["tone"]["kappa"] is not None
    )
    detail = await get_json(api, f"/api/conversations/{conversation}")
    assert {label["labeller"] for label in detail["turns"][0]["labels"]} == {labeller, labeller + "-b"}


# --- The rest -----------------------------------------------------------------------------------------------


async def test_alerts_reports_and_vocabulary(api: httpx.AsyncClient, db: asyncpg.Pool) -> None:
    alert = uuid.uuid4()
    await db.execute(
        "INSERT INTO alerts_sent (event_id, rule, level, message, fired_at) VALUES ($1, 'slow', 'warning', $2, $3)",
        alert,
        "p95 over 200 ms",
        datetime.now(UTC) + timedelta(days=400),
    )
    alerts = await get_json(api, "/api/alerts", limit="3")
    assert alerts["alerts"][0]["event_id"] == str(alert) and len(alerts["alerts"]) <= 3
    assert set(alerts["alerts"][0]) == {
        "event_id",
        "rule",
        "level",
        "message",
        "fired_at",
        "sent_at",
        "sentry_event_id",
    }
    readiness = await get_json(api, "/api/readiness")
    assert {"counts", "thresholds", "met", "ml_ready", "history"} <= set(readiness)
    assert readiness["history"][-1]["counts"] == readiness["counts"]
    experiments = await get_json(api, "/api/experiments")
    for document in experiments["experiments"]:
        for variant in document["variants"].values():
            low, high = variant["ci95"]
            assert 0.0 <= low <= high <= 1.0
    costs = await get_json(api, "/api/costs", range="week")
    assert {"total_usd", "by_model", "by_day", "budget", "unknown_models"} <= set(costs)
    vocabulary = await get_json(api, "/api/vocabulary")
    assert "anxious" in vocabulary["tones"] and "party_size" in vocabulary["slots"]
    assert (await api.get("/api/alerts", params={"limit": "lots"})).status_code == 422


async def test_api_needs_the_token(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/vocabulary", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401


async def test_unreachable_database_is_503(stack: Settings) -> None:
    nothing_listens = f"postgresql://teppan@127.0.0.1:{free_port()}/teppan"
    settings = with_token(stack, DATABASE_URL=nothing_listens)
    async with (
        serving_app(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as client,
    ):
        for path in ("/api/overview", "/api/alerts", "/api/queue", "/api/labelling", "/api/readiness"):
            response = await client.get(path)
            assert response.status_code == 503, path
        assert (await client.get("/api/vocabulary")).status_code == 200
