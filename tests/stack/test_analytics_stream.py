"""Issue 4 end to end: a known stream through Kafka, ingest, the logger and the analytics workers, checked
against values computed here independently (numpy, scipy), then redelivered whole to change nothing.

The stream lives on one far-future UTC day of its own, so no other test's events share its windows,
cost days or experiment period.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pytest
from scipy import stats

from schemas import topics
from services.analytics.metrics.windows import MetricsWindow, merge_windows
from shared.settings import Settings
from tests.stack.analytics_helpers import read_topic, teppan, teppan_json
from tests.stack.helpers import (
    WorkerProcesses,
    produce_events,
    produce_raw,
    wait_until_caught_up,
    wait_until_logged,
)

pytestmark = pytest.mark.stack

# Seed document 004's prices, as shipped in services/analytics/config/prices.yaml (USD per 1M tokens).
PRICES = {
    ("openai", "gpt-4o-mini"): (0.15, 0.60),
    ("groq", "llama-3.1-8b-instant"): (0.27, 0.27),
    ("ollama", "llama3.2"): (0.0, 0.0),
}
BACKENDS = list(PRICES)
UNKNOWN = ("acme", "mystery-1")
CONVERSATIONS = 48
PHONE = "415-555-0123"


@dataclass
class Conversation:
    id: str
    customer_id: int | None
    messages: list[dict[str, Any]] = field(default_factory=list)
    analyses: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    outcome: dict[str, Any] = field(default_factory=dict)
    survey: dict[str, Any] | None = None

    @property
    def unit(self) -> str:
        return f"customer:{self.customer_id}" if self.customer_id is not None else f"conversation:{self.id}"


@dataclass
class Stream:
    day: date
    conversations: list[Conversation]
    labels: list[dict[str, Any]]

    def all_analyses(self) -> list[dict[str, Any]]:
        return [a for c in self.conversations for a in c.analyses]

    def all_calls(self) -> list[dict[str, Any]]:
        return [call for c in self.conversations for call in c.calls]


def _envelope(event_type: str, conversation: Conversation, at: datetime) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": at.isoformat(),
        "conversation_id": conversation.id,
        "customer_id": conversation.customer_id,
        "source": "test",
    }


def build_stream() -> Stream:
    unique = random.Random()  # a fresh day and customer range per run; the content below is seeded
    day = date(2031, 1, 1) + timedelta(days=unique.randint(0, 3000))
    customer_base = unique.randint(10**6, 10**9)
    rng = random.Random(4)
    t0 = datetime.combine(day, time(10), UTC)
    conversations = []
    for i in range(CONVERSATIONS):
        # Some customers come back (n counts units, not conversations); a few have no customer id.
        customer = None if i % 12 == 11 else customer_base + i % 40
        c = Conversation(str(uuid.uuid4()), customer)
        at = t0 + timedelta(seconds=5 * i)
        corrections = i % 9 == 4
        handoff = i % 7 == 3
        provider, model = UNKNOWN if i == 5 else BACKENDS[i % 3]
        people = rng.randint(10, 60)
        for turn in range(8 if corrections else 2 * rng.randint(2, 4)):
            at += timedelta(seconds=rng.uniform(0.5, 3))
            message = _envelope("chat.message", c, at)
            if turn % 2 == 0:
                text = f"hi, we need hibachi catering for {people} people"
                if corrections and turn >= 2:
                    text = f"actually make it {people + turn} people"
                elif i == 7 and turn == 0:
                    text = f"hi, call me at {PHONE} about {people} people"
                message.update(role="customer", text=text, channel="web")
                confidence = rng.choice([0.55, 0.65, 0.75, 0.85, 0.9, 0.95])
                analysis = _envelope("nlp.analysis", c, at + timedelta(milliseconds=200))
                analysis.update(
                    message_event_id=message["event_id"],
                    turn_index=turn,
                    tone=rng.choice(["casual", "formal", "warm"]),
                    intent=rng.choice(["booking_inquiry", "booking_inquiry", "menu_question"]),
                    sentiment=rng.choices(["positive", "neutral", "negative"], weights=(4, 5, 1))[0],
                    frustrated=rng.random() < 0.05,
                    entities={}
                    if rng.random() < 0.2
                    else {"party_size": {"surface": f"{people} people", "value": people, "confidence": 0.9}},
                    confidence=confidence,
                    escalate=confidence < 0.8,
                    latency_ms=round(rng.lognormvariate(4.0, 0.8), 3),
                )
                c.analyses.append(analysis)
                stt = _envelope("service.call", c, at)
                ok = rng.random() > 0.1
                stt.update(service="stt", provider="openai", model="whisper-1", ok=ok,
                           error=None if ok else "timeout", latency_ms=round(rng.uniform(100, 900), 3))  # fmt: skip
                c.calls.append(stt)
            else:
                tokens_in, tokens_out = rng.randint(300, 900), rng.randint(20, 120)
                message.update(role="ai", text="Happy to help! What date?", channel="web", tone_used="warm",
                               requested_slots=["date"], model=model, provider=provider,
                               prompt_version="v1.0", tokens_in=tokens_in, tokens_out=tokens_out,
                               latency_ms=round(rng.uniform(200, 900), 1))  # fmt: skip
                if i % 2 == 0:
                    # This conversation reports its LLM calls, which then price it (and a failed retry).
                    if i % 10 == 0 and turn == 1:
                        failed = _envelope("service.call", c, at - timedelta(seconds=0.3))
                        failed.update(service="llm", provider=provider, model=model, ok=False,
                                      error="429 rate limit exceeded", latency_ms=round(rng.uniform(2000, 9000), 3),
                                      tokens_in=tokens_in, tokens_out=None)  # fmt: skip
                        c.calls.append(failed)
                    call = _envelope("service.call", c, at - timedelta(seconds=0.1))
                    call.update(service="llm", provider=provider, model=model, ok=True, error=None,
                                latency_ms=round(rng.uniform(150, 2000), 3), tokens_in=tokens_in,
                                tokens_out=tokens_out)  # fmt: skip
                    c.calls.append(call)
            c.messages.append(message)
        if handoff:
            at += timedelta(seconds=2)
            agent = _envelope("chat.message", c, at)
            agent.update(role="human_agent", text="Hi, Sam here, let me sort this out.", channel="web")
            c.messages.append(agent)
        booked = rng.random() < 0.45
        offered = rng.sample(["gyoza", "lobster", "noodles"], rng.randint(0, 3))
        c.outcome = _envelope("booking.outcome", c, at + timedelta(seconds=1))
        c.outcome.update(
            booked=booked,
            booking_id=f"BK{i}" if booked else None,
            total_value=float(people * 55) if booked else None,
            offered_upsells=offered,
            accepted_upsells=offered[: rng.randint(0, len(offered))] if booked else [],
        )
        if rng.random() < 0.6:
            c.survey = _envelope("survey.response", c, at + timedelta(seconds=2))
            c.survey.update(rating=rng.randint(1, 5), understood=True, tone_appropriate=None, free_text=None)
        conversations.append(c)
    labels = []
    for analysis in [a for c in conversations for a in c.analyses][:12]:
        label = {k: analysis[k] for k in ("event_id", "schema_version", "conversation_id", "customer_id")}
        right = rng.random() < 0.7
        label.update(
            event_id=str(uuid.uuid4()),
            event_type="label",
            occurred_at=(datetime.fromisoformat(analysis["occurred_at"]) + timedelta(seconds=5)).isoformat(),
            message_event_id=analysis["message_event_id"],
            field="tone",
            value=analysis["tone"] if right else "anxious",
            labeller="test",
        )
        labels.append(label)
    return Stream(day, conversations, labels)


# --- independent expectations ---------------------------------------------------------------------


def expected_edge_cases(stream: Stream) -> set[tuple[str, str]]:
    expected = set()
    for c in stream.conversations:
        corrections = sum(1 for m in c.messages if m["text"].startswith("actually"))
        if corrections > 2:
            expected.add((c.id, "multiple_corrections"))
        if any(m["role"] == "human_agent" for m in c.messages):
            expected.add((c.id, "escalated_to_human"))
        for a in c.analyses:
            if a["confidence"] < 0.7:
                expected.add((c.id, "low_confidence"))
            # Only messages of an entity-bearing intent count (see EdgeCaseThresholds).
            if not a["entities"] and a["intent"] in (
                "booking_inquiry",
                "modification_request",
                "scheduling_question",
            ):
                expected.add((c.id, "no_entities_found"))
            if a["frustrated"] or a["sentiment"] == "negative":
                expected.add((c.id, "customer_expressed_frustration"))
    return expected


def usd(provider: str, model: str, tokens_in: int, tokens_out: int | None) -> float:
    price_in, price_out = PRICES[(provider, model)]
    return (tokens_in * price_in + (tokens_out or 0) * price_out) / 1e6


def expected_costs(stream: Stream) -> dict[str, Any]:
    by_model: dict[str, float] = defaultdict(float)
    using = 0
    for c in stream.conversations:
        llm_calls = [call for call in c.calls if call["service"] == "llm"]
        # A conversation that reports LLM calls is priced from them; otherwise from its AI messages.
        usage = llm_calls or [m for m in c.messages if m["role"] == "ai"]
        using += bool(usage)
        for u in usage:
            if (u["provider"], u["model"]) in PRICES:
                by_model[f"{u['provider']}/{u['model']}"] += usd(
                    u["provider"], u["model"], u["tokens_in"], u["tokens_out"]
                )
    total = sum(by_model.values())
    bookings = sum(c.outcome["booked"] for c in stream.conversations)
    return {
        "total": total,
        "by_model": by_model,
        "per_conversation": total / using,
        "per_booking": total / bookings,
    }


def variant_of(unit: str) -> str:
    """reply_style's assignment, recomputed from its definition: sha256("reply_style:<unit>") into [0, 1)."""
    point = int.from_bytes(hashlib.sha256(f"reply_style:{unit}".encode()).digest()[:8], "big") / 2**64
    return "control" if point < 0.5 else "nlp_enhanced"


def chance_to_beat_mc(x1: int, n1: int, x0: int, n0: int) -> float:
    draws = np.random.default_rng(1)
    size = 400_000
    return float(np.mean(draws.beta(1 + x1, 1 + n1 - x1, size) > draws.beta(1 + x0, 1 + n0 - x0, size)))


# --- the test -------------------------------------------------------------------------------------


async def produce_stream(settings: Settings, db: asyncpg.Pool, stream: Stream) -> None:
    messages = [m for c in stream.conversations for m in c.messages]
    await produce_events(settings, topics.CHAT_MESSAGES, messages)
    await wait_until_logged(db, [m["event_id"] for m in messages], timeout_s=60)
    # Outcomes read the turn counts the metrics worker keeps, so the turns go first, as they do live.
    await wait_until_caught_up(settings, ("ingest", "metrics"), timeout_s=60)
    await produce_events(settings, topics.NLP_ANALYSES, stream.all_analyses())
    await produce_events(settings, topics.CHAT_SERVICE_CALLS, stream.all_calls())
    await produce_events(settings, topics.CHAT_OUTCOMES, [c.outcome for c in stream.conversations])
    await produce_events(settings, topics.CHAT_SURVEYS, [c.survey for c in stream.conversations if c.survey])
    # Labels are checked against the logged analyses, so those must be in first.
    await wait_until_caught_up(settings, ("ingest", "logger"), timeout_s=60)
    await produce_events(settings, topics.LABELS, stream.labels)
    await wait_until_caught_up(settings, ("ingest", "logger", "edge-cases", "metrics"), timeout_s=60)


async def redeliver_stream(settings: Settings, stream: Stream) -> None:
    """Everything again: the input (ingest drops it), and every record the analytics workers read, as is."""
    ids = {c.id for c in stream.conversations}
    await produce_events(
        settings, topics.CHAT_MESSAGES, [m for c in stream.conversations for m in c.messages]
    )
    turns = await read_topic(settings, topics.CHAT_TURNS, lambda e: e.get("conversation_id") in ids)
    assert len(turns) == sum(len(c.messages) for c in stream.conversations)
    await produce_raw(settings, topics.CHAT_TURNS, turns)
    await produce_events(settings, topics.NLP_ANALYSES, stream.all_analyses())
    await produce_events(settings, topics.INGEST_SERVICE_CALLS, stream.all_calls())
    await produce_events(settings, topics.INGEST_OUTCOMES, [c.outcome for c in stream.conversations])
    await produce_events(
        settings, topics.INGEST_SURVEYS, [c.survey for c in stream.conversations if c.survey]
    )
    await produce_events(settings, topics.LABELS, stream.labels)
    await wait_until_caught_up(settings, ("ingest", "logger", "edge-cases", "metrics"), timeout_s=60)


async def figures(
    settings: Settings, db: asyncpg.Pool, stream: Stream, experiments_file: Path
) -> dict[str, Any]:
    """Every figure the analytics produce for the stream, as stored or reported."""
    ids = [c.id for c in stream.conversations]
    day = stream.day.isoformat()
    windows = await db.fetch(
        "SELECT state FROM metrics_windows WHERE window_start >= $1 AND window_start < $2 ORDER BY window_start",
        datetime.combine(stream.day, time(), UTC),
        datetime.combine(stream.day + timedelta(days=1), time(), UTC),
    )
    edge_rows = await db.fetch(
        "SELECT conversation_id::text AS c, reason, event_id::text AS e FROM edge_cases "
        "WHERE conversation_id = ANY($1::uuid[]) ORDER BY 1, 2",
        ids,
    )
    log_file = settings.data_dir / "predictions" / f"predictions-{day}.jsonl"
    return {
        "windows": [json.loads(row["state"]) for row in windows],
        "edge_cases": [tuple(row) for row in edge_rows],
        "costs": await teppan_json(settings, "costs", "report", "--since", day, "--until", day),
        "experiment": await teppan_json(
            settings, "experiments", "report", "reply_style", TEPPAN_EXPERIMENTS_FILE=str(experiments_file)
        ),
        "readiness": (await teppan_json(settings, "ml", "readiness"))["counts"],
        "prediction_lines": log_file.read_text().splitlines() if log_file.exists() else [],
        "surveys": await db.fetchval(
            "SELECT count(*) FROM conversation_surveys WHERE conversation_id = ANY($1)", ids
        ),
    }


@dataclass
class StreamRun:
    """The known stream, produced once for the module, with the figures read back before and after it."""

    stream: Stream
    experiments_file: Path
    before: dict[str, Any]
    first: dict[str, Any]
    # EdgeCaseFlagged events on the topic for the stream's conversations, before any redelivery.
    flagged_events: int


@pytest.fixture(scope="module")
async def run(
    stack: Settings, db: asyncpg.Pool, analytics: WorkerProcesses, tmp_path_factory: pytest.TempPathFactory
) -> StreamRun:
    stream = build_stream()
    experiments_file = tmp_path_factory.mktemp("stream") / "experiments.yaml"
    # The shipped reply_style experiment, restricted to the stream's day so only its conversations count.
    experiments_file.write_text(
        "experiments:\n  - name: reply_style\n    unit: customer_id\n"
        f"    variants: {{control: 0.5, nlp_enhanced: 0.5}}\n    start: {stream.day}\n    end: {stream.day}\n"
    )
    before = (await teppan_json(stack, "ml", "readiness"))["counts"]
    await produce_stream(stack, db, stream)
    first = await figures(stack, db, stream, experiments_file)
    ids = {c.id for c in stream.conversations}
    flagged = await read_topic(stack, topics.ANALYTICS_EDGE_CASES, lambda e: e["conversation_id"] in ids)
    return StreamRun(stream, experiments_file, before, first, len(flagged))


async def test_ingest_stamps_each_turn_with_its_sticky_variant(stack: Settings, db: asyncpg.Pool, run: StreamRun) -> None:
    conversations = run.stream.conversations
    # Ingest stamped each turn with its variant (sticky per customer).
    stamped = await db.fetch(
        "SELECT conversation_id::text AS c, experiments FROM messages WHERE conversation_id = ANY($1::uuid[])",
        [c.id for c in conversations],
    )
    units = {c.id: c.unit for c in conversations}
    assert len(stamped) == sum(len(c.messages) for c in conversations)
    for row in stamped:
        assert json.loads(row["experiments"])["reply_style"] == variant_of(units[row["c"]])


async def test_edge_cases_are_one_row_per_conversation_and_reason_and_published(stack: Settings, db: asyncpg.Pool, run: StreamRun) -> None:
    stream = run.stream
    first = run.first
    conversations = run.stream.conversations
    units = {c.id: c.unit for c in run.stream.conversations}
    # Edge cases: one row per conversation and reason, each naming one of the conversation's messages.
    assert {(c, reason) for c, reason, _ in first["edge_cases"]} == expected_edge_cases(stream)
    message_ids = {m["event_id"]: c.id for c in conversations for m in c.messages}
    assert all(message_ids[event_id] == c for c, _, event_id in first["edge_cases"])
    flagged = await read_topic(stack, topics.ANALYTICS_EDGE_CASES, lambda e: e["conversation_id"] in units)
    published = {(json.loads(v)["conversation_id"], r) for _, v in flagged for r in json.loads(v)["reasons"]}
    assert published == expected_edge_cases(stream)


async def test_metric_windows_merge_to_the_independently_computed_figures(stack: Settings, db: asyncpg.Pool, run: StreamRun) -> None:
    stream = run.stream
    first = run.first
    conversations = run.stream.conversations
    analyses = run.stream.all_analyses()
    # Metrics: the day's windows merged; percentiles within the sketch's stated relative error.
    assert len(first["windows"]) >= 3  # the stream spans several minutes
    day = merge_windows(MetricsWindow.from_json(w) for w in first["windows"])
    assert day is not None
    got = day.figures()
    latencies = np.array([a["latency_ms"] for a in analyses])
    accuracy = got["sketch_relative_accuracy"]
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        exact = float(np.quantile(latencies, q, method="lower"))
        assert got["model"]["nlp_latency_ms"][name] == pytest.approx(exact, rel=accuracy), name
    llm_calls = [call for call in stream.all_calls() if call["service"] == "llm"]
    exact_llm_p95 = float(np.quantile([call["latency_ms"] for call in llm_calls], 0.95, method="lower"))
    assert got["service"]["llm"]["latency_ms"]["p95"] == pytest.approx(exact_llm_p95, rel=accuracy)
    assert got["service"]["llm"]["error_rate"] == pytest.approx(
        sum(not call["ok"] for call in llm_calls) / len(llm_calls)
    )
    conversation = got["conversation"]
    booked = [c for c in conversations if c.outcome["booked"]]
    assert conversation["conversations"] == conversation["ended"] == len(conversations)
    assert conversation["booked"] == len(booked)
    assert conversation["avg_turns"] == pytest.approx(np.mean([len(c.messages) for c in conversations]))
    assert conversation["task_completion_rate"] == pytest.approx(
        np.mean([all(m["role"] != "human_agent" for m in c.messages) for c in conversations])
    )
    model = got["model"]
    assert model["analyses"] == len(analyses)
    assert model["mean_confidence"] == pytest.approx(np.mean([a["confidence"] for a in analyses]))
    assert model["escalation_rate"] == pytest.approx(np.mean([a["escalate"] for a in analyses]))
    tone = {a["message_event_id"]: a["tone"] for a in analyses}
    assert model["accuracy"]["tone"] == pytest.approx(
        np.mean([label["value"] == tone[label["message_event_id"]] for label in stream.labels])
    )
    business = got["business"]
    offered = sum(len(c.outcome["offered_upsells"]) for c in conversations)
    accepted = sum(len(c.outcome["accepted_upsells"]) for c in conversations)
    assert business["upsell_acceptance_rate"] == pytest.approx(accepted / offered)
    assert business["avg_booking_value"] == pytest.approx(np.mean([c.outcome["total_value"] for c in booked]))
    ratings = [c.survey["rating"] for c in conversations if c.survey]
    assert business["csat"] == pytest.approx(np.mean([r >= 4 for r in ratings]))
    assert first["surveys"] == len(ratings)


async def test_costs_match_an_independent_pricing(stack: Settings, db: asyncpg.Pool, run: StreamRun) -> None:
    stream = run.stream
    first = run.first
    # Costs, priced independently from seed 004's prices; the unknown model is named, never priced at 0.
    costs, expected = first["costs"], expected_costs(stream)
    assert costs["total_usd"] == pytest.approx(expected["total"], abs=1e-5)
    assert costs["by_day"] == {stream.day.isoformat(): pytest.approx(expected["total"], abs=1e-5)}
    assert costs["by_model"] == {k: pytest.approx(v, abs=1e-5) for k, v in expected["by_model"].items()}
    assert costs["unknown_models"] == ["acme/mystery-1"]
    assert costs["per_conversation_avg_usd"] == pytest.approx(expected["per_conversation"], abs=1e-5)
    assert costs["per_booking_usd"] == pytest.approx(expected["per_booking"], abs=1e-5)


async def test_the_experiment_report_matches_scipy(stack: Settings, db: asyncpg.Pool, run: StreamRun) -> None:
    first = run.first
    conversations = run.stream.conversations
    # The experiment report against scipy.
    report = first["experiment"]
    groups: dict[str, list[Conversation]] = defaultdict(list)
    for c in conversations:
        groups[variant_of(c.unit)].append(c)
    n = {v: len({c.unit for c in cs}) for v, cs in groups.items()}
    x = {v: len({c.unit for c in cs if c.outcome["booked"]}) for v, cs in groups.items()}
    for variant, cs in groups.items():
        got_variant = report["variants"][variant]
        assert got_variant["n"] == n[variant] and got_variant["conversions"] == x[variant]
        assert got_variant["conversion_rate"] == pytest.approx(x[variant] / n[variant])
        assert got_variant["avg_turns"] == pytest.approx(np.mean([len(c.messages) for c in cs]))
        rated = [c.survey["rating"] >= 4 for c in cs if c.survey]
        assert got_variant["csat"] == pytest.approx(np.mean(rated))
    srm = stats.chisquare([n["control"], n["nlp_enhanced"]], [sum(n.values()) / 2] * 2).pvalue
    assert report["srm"]["p_value"] == pytest.approx(srm) and report["srm"]["flagged"] == (srm < 0.001)
    comparison = report["comparisons"]["nlp_enhanced"]
    table = [
        [x["nlp_enhanced"], n["nlp_enhanced"] - x["nlp_enhanced"]],
        [x["control"], n["control"] - x["control"]],
    ]
    if stats.contingency.expected_freq(table).min() < 5:
        p_value = stats.fisher_exact(table).pvalue
    else:
        p_value = stats.chi2_contingency(table, correction=False).pvalue  # = the pooled two-proportion z-test
    assert comparison["p_value"] == pytest.approx(p_value)
    rate = {v: x[v] / n[v] for v in n}
    assert comparison["lift_abs"] == pytest.approx(rate["nlp_enhanced"] - rate["control"])
    assert comparison["chance_to_beat_control"] == pytest.approx(
        chance_to_beat_mc(x["nlp_enhanced"], n["nlp_enhanced"], x["control"], n["control"]), abs=0.01
    )
    welch = stats.ttest_ind(
        [len(c.messages) for c in groups["nlp_enhanced"]],
        [len(c.messages) for c in groups["control"]],
        equal_var=False,
    )
    assert comparison["avg_turns"]["p_value"] == pytest.approx(welch.pvalue)


async def test_readiness_counts_grow_by_exactly_the_stream(stack: Settings, db: asyncpg.Pool, run: StreamRun) -> None:
    stream = run.stream
    first = run.first
    conversations = run.stream.conversations
    before = run.before
    ratings = [c.survey["rating"] for c in run.stream.conversations if c.survey]
    # Readiness counts grew by exactly the stream.
    flagged_conversations = len({c for c, _ in expected_edge_cases(stream)})
    customers = {c.customer_id for c in conversations if c.customer_id is not None}
    growth = {
        "conversations": len(conversations),
        "labeled_tone": len({label["message_event_id"] for label in stream.labels}),
        "booking_outcomes": len(conversations),
        "surveys": len(ratings),
        "edge_cases": flagged_conversations,
        "monthly_active_customers": len(customers),
    }
    assert {k: first["readiness"][k] - before[k] for k in before} == growth


async def test_the_prediction_log_has_one_scrubbed_line_per_analysis(stack: Settings, db: asyncpg.Pool, run: StreamRun) -> None:
    first = run.first
    conversations = run.stream.conversations
    analyses = run.stream.all_analyses()
    # The prediction log: one scrubbed line per analysis, in seed 004's shape.
    lines = [json.loads(line) for line in first["prediction_lines"]]
    assert sorted(line["event_id"] for line in lines) == sorted(a["event_id"] for a in analyses)
    assert {"conversation_id", "timestamp", "model", "input", "output", "metadata"} <= set(lines[0])
    assert PHONE not in "\n".join(first["prediction_lines"])
    assert any("[phone]" in line["input"]["user_text"] for line in lines)
    assert await db.fetchval(
        "SELECT count(*) FROM predictions WHERE written_at IS NOT NULL AND conversation_id = ANY($1::uuid[])",
        [c.id for c in conversations],
    ) == len(analyses)


async def test_the_weekly_report_runs(stack: Settings, db: asyncpg.Pool, run: StreamRun) -> None:
    # The weekly report runs and reports the seed's KPI set.
    weekly = await teppan_json(stack, "report", "weekly")
    assert {"conversations_this_week", "total_conversations", "tone_accuracy", "ml_ready"} <= set(weekly)
    assert "Weekly report" in await teppan(stack, "report", "weekly")


async def test_redelivering_the_whole_stream_changes_no_figure(stack: Settings, db: asyncpg.Pool, run: StreamRun) -> None:
    stream = run.stream
    first = run.first
    units = {c.id: c.unit for c in run.stream.conversations}
    experiments_file = run.experiments_file
    # Redelivering the whole stream changes no figure.
    await redeliver_stream(stack, stream)
    again = await figures(stack, db, stream, experiments_file)
    assert again == first
    flagged_again = await read_topic(
        stack, topics.ANALYTICS_EDGE_CASES, lambda e: e["conversation_id"] in units
    )
    # A redelivered message raises no new flag: the topic holds exactly the events it held before.
    assert len(flagged_again) == run.flagged_events > 0
