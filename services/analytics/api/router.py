"""`/api/...`: the JSON API of the owner's dashboard and labelling queue (docs/api.md), as a router to mount.

The app layer mounts it behind the front door's token and session check. Its connection pool lives in the
router's lifespan, as /metrics' does: a database that is down costs these routes a 503 and never stops the
server from starting. Figures read rollups and indexed queries only (see queries.py); the reports that
scan whole tables (readiness, experiments, the costs report) and the broker's dead-letter count are served
from a copy at most a minute old that is refreshed in the background, so a page refreshing every few seconds
never waits on them twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse, Response

from schemas import topics
from services.analytics.api import core, queries
from services.analytics.reports import queries as reports
from services.analytics.reports.costs import DEFAULT_PRICES_FILE, Budgets, PriceTable
from services.analytics.reports.experiments import wilson_interval
from services.common.experiments import DEFAULT_EXPERIMENTS_FILE, load_experiments
from services.devtools.stack_status import DLQ_TOPICS, StatusReader
from shared.db import create_pool
from shared.http_body import BodyTooLarge, read_body
from shared.json_input import InvalidJson, loads_bounded
from shared.settings import Settings

log = logging.getLogger(__name__)

# A database that does not answer must not hold a page's refresh: it gets a 503 instead.
QUERY_TIMEOUT_S = 5.0
# The whole-table reports run in the background (stale-while-revalidate): they may take longer than a request
# should wait (2.5 s for the experiments at 1,000,000 messages), but must still end.
REPORT_QUERY_TIMEOUT_S = 60.0
# The broker's dead-letter count: a broker that does not answer within this is reported as null.
DEAD_LETTERS_TIMEOUT_S = 1.0
DEAD_LETTERS_MAX_AGE_S = 10.0
# The whole-table reports (readiness, experiments) change slowly: a copy up to this old is served as it is, one
# up to STALE_LIMIT times as old is served while a fresh one is computed, an older one is recomputed first.
REPORTS_MAX_AGE_S = 30.0
STALE_LIMIT = 4
HISTORY_WEEKS = 52
DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


class Refreshed:
    """Values computed at most once per `max_age_s` per key; a stale value (up to `stale_limit` times that
    old) is served while one task computes its successor (stale-while-revalidate). Only a request that finds
    no value, or one too old, waits for the computation."""

    def __init__(self, max_age_s: float, stale_limit: float = STALE_LIMIT) -> None:
        self._max_age_s = max_age_s
        self._stale_s = max_age_s * stale_limit
        self._values: dict[Hashable, tuple[float, Any]] = {}
        self._tasks: dict[Hashable, asyncio.Task[Any]] = {}

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        entry = self._values.get(key)
        age = time.monotonic() - entry[0] if entry is not None else None
        if entry is not None and age is not None and age < self._max_age_s:
            return entry[1]
        if age is not None and age >= self._stale_s:
            entry = None  # too old to show: this request waits for the fresh one
        task = self._tasks.get(key)
        if task is None:
            task = self._tasks[key] = asyncio.ensure_future(compute())
            task.add_done_callback(lambda done: self._finished(key, done))
        if entry is not None:
            return entry[1]
        # Shielded: a client that goes away does not cancel the computation the next request will use.
        return await asyncio.shield(task)

    def _finished(self, key: Hashable, task: asyncio.Task[Any]) -> None:
        self._tasks.pop(key, None)
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            self._values[key] = (time.monotonic(), task.result())
        else:
            log.warning("refreshing a report failed", extra={"error": type(error).__name__})

    def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()


class FileCache:
    """A file's parsed content, read again only when its modification time changes."""

    def __init__(self, load: Callable[[Path | None], Any], path: Path | None, default: Path | None) -> None:
        self._load, self._path, self._stat_path = load, path, path or default
        self._seen: tuple[float | None, Any] | None = None

    def get(self) -> Any:
        try:
            stamp: float | None = self._stat_path.stat().st_mtime if self._stat_path else None
        except OSError:
            stamp = None
        if self._seen is None or self._seen[0] != stamp or stamp is None:
            self._seen = (stamp, self._load(self._path))
        return self._seen[1]


def _json(document: Any, status_code: int = 200) -> Response:
    return Response(json.dumps(document), status_code=status_code, media_type="application/json")


def _problem(status_code: int, error_type: str, message: str) -> JSONResponse:
    return JSONResponse({"detail": [{"loc": ["body"], "type": error_type, "msg": message}]}, status_code)


def _unavailable(error: BaseException) -> HTTPException:
    log.warning("owner API query failed", extra={"error": type(error).__name__})
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the database is unavailable")


def api_router(settings: Settings) -> APIRouter:
    pool: asyncpg.Pool | None = None
    reader: StatusReader | None = None
    dead_letter_cache = Refreshed(DEAD_LETTERS_MAX_AGE_S, stale_limit=30)
    report_cache = Refreshed(REPORTS_MAX_AGE_S)
    budgets = Budgets(settings.budget_daily_usd, settings.budget_monthly_usd)
    prices = FileCache(PriceTable.load, settings.prices_file, DEFAULT_PRICES_FILE)
    experiment_definitions = FileCache(load_experiments, settings.experiments_file, DEFAULT_EXPERIMENTS_FILE)

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        nonlocal pool, reader
        pool = await create_pool(settings, min_size=0, max_size=4) if settings.database_url else None
        # The slow reports are computed as the server starts, so the first page load does not wait for them.
        warming = asyncio.ensure_future(warm_reports()) if pool is not None else None
        try:
            yield
        finally:
            if warming is not None:
                warming.cancel()
            dead_letter_cache.close()
            report_cache.close()
            if reader is not None:
                await _close_reader()
            if pool is not None:
                await pool.close()

    async def _close_reader() -> None:
        nonlocal reader
        closing, reader = reader, None
        if closing is not None:
            try:
                await asyncio.wait_for(closing.close(), DEAD_LETTERS_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - a broker gone away while closing changes nothing
                log.debug("closing the dead-letter reader failed")

    async def count_dead_letters() -> int | None:
        nonlocal reader
        if pool is None or not settings.kafka_bootstrap_servers:
            return None
        try:
            async with asyncio.timeout(DEAD_LETTERS_TIMEOUT_S):
                if reader is None:
                    reader = StatusReader(settings, pool)
                ends = await reader.end_offsets(DLQ_TOPICS)
        except Exception as error:  # noqa: BLE001 - any broker failure reads as "unknown", never a 500
            log.info("the broker did not report its dead letters", extra={"error": type(error).__name__})
            await _close_reader()
            return None
        return sum(ends.values())

    def connected() -> asyncpg.Pool:
        if pool is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no database is configured")
        return pool

    async def read(
        query: Callable[[asyncpg.Connection], Awaitable[Any]], timeout_s: float = QUERY_TIMEOUT_S
    ) -> Any:
        """`query` on a pooled connection, bounded in time; 503 when the database fails or does not answer."""
        database = connected()
        try:
            async with asyncio.timeout(timeout_s), database.acquire() as connection:
                return await query(connection)
        except DB_ERRORS as error:
            raise _unavailable(error) from None

    async def cached(key: Hashable, query: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
        connected()
        try:
            # A request waits no longer than any other; the computation itself goes on (shielded).
            async with asyncio.timeout(QUERY_TIMEOUT_S):
                return await report_cache.get(key, lambda: read(query, REPORT_QUERY_TIMEOUT_S))
        except DB_ERRORS as error:
            raise _unavailable(error) from None

    def parameters(parse: Callable[[], Any]) -> Any:
        try:
            return parse()
        except core.ParameterError as error:
            raise HTTPException(422, error.detail) from None

    router = APIRouter(prefix="/api", lifespan=lifespan, tags=["owner"])

    @router.get("/overview")
    async def overview(range: str | None = None) -> Response:  # noqa: A002 - the documented parameter name
        """The figures over the last day, week or month, and their trend per hour or day."""
        name = parameters(lambda: core.parse_range(range))
        now = datetime.now(UTC)
        span = core.span_of(name, now)
        month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)

        async def figures(connection: asyncpg.Connection) -> Any:
            hours = await queries.rollup_states(connection, span.bucket, span.since, span.until)
            usage = await queries.hourly_usage(connection, min(span.since, month_start), span.until)
            return hours, usage

        (hours, usage), dead_letters = await asyncio.gather(
            read(figures), dead_letter_cache.get("dead_letters", count_dead_letters)
        )
        document = core.overview_document(
            span,
            hours,
            [row for row in usage if row.hour_start >= span.since],
            [row for row in usage if row.hour_start >= month_start],
            prices.get(),
            budgets,
            today=now.date(),
            dead_letters=dead_letters,
        )
        return _json(document)

    @router.get("/readiness")
    async def readiness() -> Response:
        """The ML readiness report, with the counts of the stored weekly reports as its history."""

        async def compute(connection: asyncpg.Connection) -> Any:
            now = datetime.now(UTC)
            document = await reports.readiness(connection, now)
            history = [
                {"at": week["period_end"], "counts": week["readiness"].get("counts", {})}
                for week in await reports.weekly_history(connection, HISTORY_WEEKS)
            ]
            history.append({"at": now.isoformat(), "counts": document["counts"]})
            return {**document, "history": history}

        return _json(await cached("readiness", compute))

    async def warm_reports() -> None:
        for report in (readiness, experiments):
            try:
                await report()
            except Exception as error:  # noqa: BLE001 - a request will compute it, or say why, later
                log.info("warming a report failed", extra={"error": type(error).__name__})

    @router.get("/experiments")
    async def experiments() -> Response:
        """Every configured experiment's report, with a Wilson 95% interval on each variant's conversion."""
        definitions = experiment_definitions.get()

        async def compute(connection: asyncpg.Connection) -> Any:
            documents = []
            for definition in definitions:
                document = await reports.experiment(connection, definition)
                for variant in document["variants"].values():
                    low, high = wilson_interval(int(variant["conversions"]), int(variant["n"]))
                    variant["ci95"] = [low, high]
                documents.append(document)
            return {"experiments": documents}

        return _json(await cached(("experiments", tuple(d.name for d in definitions)), compute))

    @router.get("/costs")
    async def costs(range: str | None = None) -> Response:  # noqa: A002 - the documented parameter name
        """The costs report over the UTC days the range touches, from the hourly rollups."""
        name = parameters(lambda: core.parse_range(range))
        now = datetime.now(UTC)
        today = now.date()
        since = core.truncate(now - core.RANGES[name][0], "day")
        until = core.truncate(now, "day") + core.BUCKETS["day"]
        month_start = since.replace(year=today.year, month=today.month, day=1)

        async def read_costs(connection: asyncpg.Connection) -> Any:
            usage = await queries.hourly_usage(connection, min(since, month_start), until)
            days = await queries.rollup_states(connection, "day", since, until)
            return usage, days

        usage, days = await read(read_costs)
        tally = core.Tally()
        for _, state in days:
            tally.add_state(state)
        document = core.costs_document(
            [row for row in usage if row.hour_start >= since],
            [row for row in usage if row.hour_start >= month_start],
            prices.get(),
            budgets,
            conversations=int(tally.counts["conversations"]),
            bookings=int(tally.counts["booked"]),
            today=today,
        )
        return _json(
            {"range": name, "since": since.date().isoformat(), "until": today.isoformat(), **document}
        )

    @router.get("/alerts")
    async def alerts(limit: str | None = None) -> Response:
        """The alerts the alerting worker sent, newest first."""
        count = parameters(lambda: core.parse_limit(limit, default=50, maximum=500))
        return _json({"alerts": await read(lambda connection: queries.alerts(connection, count))})

    @router.get("/conversations")
    async def conversations(
        q: str | None = None, customer_id: str | None = None, limit: str | None = None
    ) -> Response:
        """Conversations by id (whole, or a prefix of 8+ hex digits), by a word of their text, by customer."""
        count = parameters(lambda: core.parse_limit(limit, default=20, maximum=200))
        customer = parameters(lambda: core.parse_customer_id(customer_id))
        words = core.search_words(q) if q else None
        ids = core.id_match(q) if q else None
        if q and words is None and ids is None:
            return _json({"conversations": []})
        found = await read(
            lambda connection: queries.find_conversations(
                connection, words=words, ids=ids, customer_id=customer, limit=count
            )
        )
        return _json({"conversations": found})

    @router.get("/conversations/{conversation_id}")
    async def conversation(conversation_id: str) -> Response:
        """One conversation turn by turn, with its analyses, labels, edge cases and outcome."""
        parsed = core.parse_conversation_id(conversation_id)
        document = None if parsed is None else await read(lambda c: queries.conversation(c, parsed))
        if document is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such conversation")
        return _json(document)

    @router.get("/queue")
    async def queue(
        reason: str | None = None, labeller: str | None = None, limit: str | None = None
    ) -> Response:
        """Customer turns to label: edge cases' first (newest flag first), then the least confident."""
        count = parameters(lambda: core.parse_limit(limit, default=20, maximum=200))
        if reason is not None and reason not in core.EDGE_CASE_REASONS:
            raise HTTPException(
                422,
                [{"loc": ["query", "reason"], "type": "literal_error", "msg": "must be an edge-case reason"}],
            )
        who = labeller.strip() if labeller and labeller.strip() else None
        if who is not None and len(who) > core.MAX_LABELLER_CHARS:
            raise HTTPException(
                422,
                [
                    {
                        "loc": ["query", "labeller"],
                        "type": "string_too_long",
                        "msg": "must have at most 64 characters",
                    }
                ],
            )
        document = await read(lambda c: queries.queue(c, reason=reason, labeller=who, limit=count))
        return _json(document)

    @router.get("/vocabulary")
    async def vocabulary() -> Response:
        """What a label may say: the tones, intents and slot names."""
        return _json(core.vocabulary())

    @router.post(
        "/labels",
        status_code=status.HTTP_202_ACCEPTED,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": core.LabelRequest.model_json_schema()}},
            }
        },
    )
    async def post_labels(request: Request) -> Response:
        """Publishes one Label event on labels.v1 per field given; answers the events' ids."""
        try:
            body = await read_body(request, core.MAX_LABEL_BODY_BYTES)
        except BodyTooLarge:
            return _problem(
                413, "body_too_large", f"the body is larger than {core.MAX_LABEL_BODY_BYTES} bytes"
            )
        try:
            document = loads_bounded(body)
            label = core.parse_label_request(document)
        except InvalidJson as error:
            return _problem(422, "json_invalid", str(error))
        except core.LabelProblem as problem:
            return JSONResponse(problem.body, problem.status)
        owner = await read(lambda c: queries.message_owner(c, label.message_event_id))
        if owner is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such message")
        events = core.label_events(
            label, conversation_id=owner[0], customer_id=owner[1], now=datetime.now(UTC)
        )
        try:
            await _produce(request.app.state.producer, events)
        except MessageSizeTooLargeError:
            return _problem(413, "event_too_large", "a label is larger than the broker accepts")
        except KafkaError as error:
            log.warning("producing labels failed", extra={"error": type(error).__name__})
            return _problem(
                503, "broker_unavailable", "the event broker did not acknowledge the labels; retry"
            )
        return _json({"published": [str(event.event_id) for event in events]}, status.HTTP_202_ACCEPTED)

    @router.get("/labelling")
    async def labelling() -> Response:
        """Progress towards the labelled tone examples the ML path needs, and agreement between labellers."""
        labelled, answers = await read(lambda c: queries.labelling(c, list(core.LABEL_FIELDS)))
        return _json(
            {
                "progress": {"labelled_tone_examples": labelled, "target": core.LABELLED_TONE_TARGET},
                "agreement": core.agreement(answers),
            }
        )

    return router


async def _produce(producer: Any, events: list[Any]) -> None:
    """Sends every event (keyed by conversation), then waits for the broker to acknowledge them together."""
    futures: list[asyncio.Future[Any]] = []
    try:
        for event in events:
            futures.append(
                await producer.send(
                    topics.LABELS, event.model_dump_json().encode(), key=str(event.conversation_id).encode()
                )
            )
        await asyncio.gather(*futures)
    except BaseException:
        for future in futures:
            future.add_done_callback(lambda done: done.cancelled() or done.exception())
        raise
