"""`POST /v1/events` over real HTTP (uvicorn) into the real broker: 202, 401, 413, 422 and 503.

Every status but 202 is a path that used to answer 500 (or accept what it should not): hostile JSON,
oversized bodies and batches, input echoed in 422 bodies, open API documentation, a broker or a
database that does not answer.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from services.http_app import create_app
from services.ingest.http import MAX_REPORTED_ERRORS
from shared.embedded import EmbeddedServers, free_port
from shared.kafka import create_topics
from shared.settings import Settings
from tests.stack.helpers import WorkerProcesses, chat_message, serving_app, wait_until_logged

pytestmark = pytest.mark.stack
TOKEN = "test-token-9f3c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def with_overrides(settings: Settings, **values: Any) -> Settings:
    return Settings(**{**settings.model_dump(by_alias=True), "TEPPAN_API_TOKEN": TOKEN, **values})


@asynccontextmanager
async def serving(settings: Settings, producer: AIOKafkaProducer | None = None) -> AsyncIterator[str]:
    """The app under uvicorn on a free port, as `teppan serve` runs it; yields its base URL."""
    async with serving_app(create_app(settings, producer=producer)) as url:
        yield url


@pytest.fixture
async def http_url(stack: Settings) -> AsyncIterator[str]:
    async with serving(with_overrides(stack)) as url:
        yield url


# Small limits, so that going over them costs a few kilobytes.
SMALL_BODY = 8192
SMALL_BATCH = 5


@pytest.fixture
async def small_limits_url(stack: Settings) -> AsyncIterator[str]:
    settings = with_overrides(
        stack, TEPPAN_HTTP_MAX_BODY_BYTES=SMALL_BODY, TEPPAN_HTTP_MAX_EVENTS=SMALL_BATCH
    )
    async with serving(settings) as url:
        yield url


async def test_accepted_events_are_produced_and_logged(
    http_url: str, db: asyncpg.Pool, pipeline: WorkerProcesses
) -> None:
    conversation = str(uuid.uuid4())
    single = chat_message(conversation, 0)
    batch = [chat_message(conversation, 1), chat_message(conversation, 2)]
    async with httpx.AsyncClient(base_url=http_url) as client:
        one = await client.post("/v1/events", json=single, headers=AUTH)
        many = await client.post("/v1/events", json=batch, headers=AUTH)
    assert one.status_code == 202 and one.json() == {"accepted": [single["event_id"]]}
    assert many.status_code == 202 and many.json() == {"accepted": [event["event_id"] for event in batch]}
    await wait_until_logged(db, [single["event_id"], *(event["event_id"] for event in batch)])


async def test_invalid_events_get_field_errors(http_url: str) -> None:
    bad = {**chat_message(str(uuid.uuid4()), 0), "role": "robot"}
    async with httpx.AsyncClient(base_url=http_url) as client:
        response = await client.post("/v1/events", json=bad, headers=AUTH)
        in_batch = await client.post(
            "/v1/events", json=[chat_message(str(uuid.uuid4()), 0), bad], headers=AUTH
        )
        not_json = await client.post("/v1/events", content=b"{nope", headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["body", "chat.message", "role"],
            "type": "literal_error",
            "msg": "must be 'customer', 'ai' or 'human_agent'",
        }
    ]
    assert in_batch.status_code == 422
    assert in_batch.json()["detail"][0]["loc"] == ["body", 1, "chat.message", "role"]
    assert not_json.status_code == 422 and not_json.json()["detail"][0]["type"] == "json_invalid"


async def test_wrong_or_missing_token_is_401(http_url: str) -> None:
    event = chat_message(str(uuid.uuid4()), 0)
    async with httpx.AsyncClient(base_url=http_url) as client:
        wrong = await client.post("/v1/events", json=event, headers={"Authorization": "Bearer nope"})
        missing = await client.post("/v1/events", json=event)
        health = await client.get("/healthz")
    assert wrong.status_code == 401 and missing.status_code == 401
    assert health.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 5000 + b"]" * 5000, id="5000-levels-deep"),
        pytest.param(b"[" * 5000, id="5000-unclosed-brackets"),
        pytest.param(b'{"customer_id": ' + b"7" * 5000 + b"}", id="5000-digit-integer"),
        pytest.param(b'{"latency_ms": NaN}', id="NaN"),
        pytest.param(b"\xff\xfe not utf-8", id="not-utf-8"),
    ],
)
async def test_hostile_json_is_422_not_500(http_url: str, body: bytes) -> None:
    async with httpx.AsyncClient(base_url=http_url) as client:
        response = await client.post("/v1/events", content=body, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


async def test_year_9999_timestamp_is_422_not_500(http_url: str) -> None:
    event = chat_message(str(uuid.uuid4()), 0, occurred_at="9999-12-31T23:59:59-12:00")
    async with httpx.AsyncClient(base_url=http_url) as client:
        response = await client.post("/v1/events", json=event, headers=AUTH)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "chat.message", "occurred_at"] and error["type"] == "value_error"
    # The schema's own sentence names the rule; it shares nothing with the input, so it is shown.
    assert error["msg"] == "must be between 1970 and 2100 (UTC)"
    assert "9999" not in response.text


ECHO = "ECHO<script>alert(1)</script>jo@example.com"
# Fragments of the hostile values: none may appear anywhere in a 422 body.
ECHO_FRAGMENTS = (
    "ECHO",
    "script",
    "alert",
    "example.com",
    "xxxxxxxx",
    "987654",
    "4294967296",
    "12345.6",
    "`",
)


def hostile_events() -> dict[str, tuple[Any, list[Any], str]]:
    """One event per kind of field, each carrying a hostile value; with the expected loc and type."""
    conversation = str(uuid.uuid4())
    message = chat_message(conversation, 0)
    base = {"event_id": str(uuid.uuid4()), "conversation_id": conversation}
    return {
        "tag": ({**message, "event_type": ECHO}, [], "union_tag_invalid"),
        "literal": ({**message, "role": ECHO}, ["chat.message", "role"], "literal_error"),
        "literal-in-list": (
            {**message, "requested_slots": ["date", ECHO]},
            ["chat.message", "requested_slots", 1],
            "literal_error",
        ),
        "schema-version": (
            {**message, "schema_version": ECHO},
            ["chat.message", "schema_version"],
            "literal_error",
        ),
        "string-too-long": (
            {**message, "text": ECHO + "x" * 16_000},
            ["chat.message", "text"],
            "string_too_long",
        ),
        "string-type": ({**message, "channel": {"ECHO": ECHO}}, ["chat.message", "channel"], "string_type"),
        "int-parsing": ({**message, "customer_id": ECHO}, ["chat.message", "customer_id"], "int_parsing"),
        "int-too-big": (
            {**message, "customer_id": 4294967296},
            ["chat.message", "customer_id"],
            "less_than_equal",
        ),
        "int-range": (
            {**base, "event_type": "survey.response", "rating": 987654},
            ["survey.response", "rating"],
            "less_than_equal",
        ),
        "float-range": (
            {**base, "event_type": "booking.outcome", "booked": True, "total_value": -12345.678},
            ["booking.outcome", "total_value"],
            "greater_than_equal",
        ),
        "bool": (
            {**base, "event_type": "service.call", "service": "llm", "provider": "x", "ok": ECHO},
            ["service.call", "ok"],
            "bool_parsing",
        ),
        "datetime": (
            {**message, "occurred_at": ECHO},
            ["chat.message", "occurred_at"],
            "datetime_from_date_parsing",
        ),
        # pydantic's own message for this one quotes the first bad character: "found `E` at 1".
        "uuid": ({**message, "event_id": ECHO}, ["chat.message", "event_id"], "uuid_parsing"),
        "extra-field-name": ({**message, ECHO: 1}, ["chat.message", "(unknown field)"], "extra_forbidden"),
        "not-an-object": (ECHO, [], "model_attributes_type"),
    }


@pytest.mark.parametrize("case", list(hostile_events()))
async def test_422_names_field_and_rule_without_echoing_input(http_url: str, case: str) -> None:
    event, location, error_type = hostile_events()[case]
    async with httpx.AsyncClient(base_url=http_url) as client:
        single = await client.post("/v1/events", json=event, headers=AUTH)
        batch = await client.post("/v1/events", json=[event], headers=AUTH)
    for response, prefix in ((single, ["body"]), (batch, ["body", 0])):
        assert response.status_code == 422, response.text
        errors = response.json()["detail"]
        assert {"loc": prefix + location, "type": error_type} in [
            {"loc": error["loc"], "type": error["type"]} for error in errors
        ]
        assert all(error["msg"] for error in errors)
        for fragment in ECHO_FRAGMENTS:
            assert fragment not in response.text, (case, fragment, response.text)


async def test_422_reports_a_bounded_number_of_errors(http_url: str) -> None:
    conversation = str(uuid.uuid4())
    bad = [chat_message(conversation, index, role="robot") for index in range(300)]
    async with httpx.AsyncClient(base_url=http_url) as client:
        response = await client.post("/v1/events", json=bad, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["error_count"] == 300
    assert len(response.json()["detail"]) == MAX_REPORTED_ERRORS


def test_default_limits() -> None:
    settings = Settings()
    assert settings.http_max_body_bytes == 1024 * 1024
    assert settings.http_max_events == 500


async def test_too_many_events_is_413(small_limits_url: str) -> None:
    conversation = str(uuid.uuid4())
    events = [chat_message(conversation, index) for index in range(SMALL_BATCH + 1)]
    async with httpx.AsyncClient(base_url=small_limits_url) as client:
        over = await client.post("/v1/events", json=events, headers=AUTH)
        at_limit = await client.post("/v1/events", json=events[:SMALL_BATCH], headers=AUTH)
    assert over.status_code == 413 and over.json()["detail"][0]["type"] == "too_many_events"
    assert at_limit.status_code == 202


async def test_body_over_the_limit_is_413_with_or_without_content_length(small_limits_url: str) -> None:
    big_event = chat_message(str(uuid.uuid4()), 0, text="y" * SMALL_BODY)
    declared = json.dumps(big_event).encode()

    async def chunked() -> AsyncIterator[bytes]:
        # No Content-Length: httpx sends an async iterator with Transfer-Encoding: chunked.
        for start in range(0, len(declared), 1024):
            yield declared[start : start + 1024]

    async with httpx.AsyncClient(base_url=small_limits_url) as client:
        with_length = await client.post("/v1/events", content=declared, headers=AUTH)
        without_length = await client.post(
            "/v1/events", content=chunked(), headers={**AUTH, "Content-Type": "application/json"}
        )
        fits = await client.post("/v1/events", json=chat_message(str(uuid.uuid4()), 0), headers=AUTH)
    assert with_length.status_code == 413 and with_length.json()["detail"][0]["type"] == "body_too_large"
    assert without_length.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in without_length.request.headers
    assert without_length.status_code == 413
    assert fits.status_code == 202


async def test_ten_megabytes_are_refused_unparsed(http_url: str) -> None:
    body = b'{"text": "' + b"z" * (10 * 1024 * 1024) + b'"}'
    async with httpx.AsyncClient(base_url=http_url, timeout=30) as client:
        try:
            response = await client.post("/v1/events", content=body, headers=AUTH)
        except (httpx.WriteError, httpx.ReadError, httpx.RemoteProtocolError):
            # The server may answer 413 and close before the client has written 10 MB; either way the
            # body was never parsed.
            status_code = 413
        else:
            status_code = response.status_code
        health = await client.get("/healthz")
    assert status_code == 413
    assert health.status_code == 200


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
async def test_api_documentation_needs_the_token(http_url: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=http_url) as client:
        missing = await client.get(path)
        wrong = await client.get(path, headers={"Authorization": "Bearer nope"})
        right = await client.get(path, headers=AUTH)
        health = await client.get("/healthz")
    assert missing.status_code == 401 and wrong.status_code == 401
    assert right.status_code == 200
    assert health.status_code == 200


async def test_openapi_lists_the_endpoints_and_docs_are_open_without_a_token(stack: Settings) -> None:
    async with serving(stack) as url, httpx.AsyncClient(base_url=url) as client:
        schema = await client.get("/openapi.json")
        docs = await client.get("/docs")
    assert schema.status_code == 200 and docs.status_code == 200
    paths = schema.json()["paths"]
    assert "/docs" not in paths and "/metrics" in paths
    # /v1/events is a plain Starlette route; the document adds it with the body's schema.
    body = paths["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/ChatMessage"} in body["anyOf"][0]["oneOf"]
    assert "ChatMessage" in schema.json()["components"]["schemas"]


async def test_broker_down_is_503_with_retry_after(tmp_path: Path) -> None:
    servers = EmbeddedServers()
    servers.start_tansu(tmp_path / "logs")
    try:
        assert servers.kafka_bootstrap_servers is not None
        settings = Settings(
            KAFKA_BOOTSTRAP_SERVERS=servers.kafka_bootstrap_servers,
            TEPPAN_DATA_DIR=tmp_path,
            TEPPAN_HTTP_SEND_TIMEOUT_S=1.5,
        )
        await create_topics(settings)
        async with serving(settings) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
            event = chat_message(str(uuid.uuid4()), 0)
            before = await client.post("/v1/events", json=event)
            servers.stop()
            down = await client.post("/v1/events", json=chat_message(str(uuid.uuid4()), 0))
            health = await client.get("/healthz")
    finally:
        servers.stop()
    assert before.status_code == 202
    assert down.status_code == 503, down.text
    assert down.headers["retry-after"] == "1"
    assert down.json()["detail"][0]["type"] == "broker_unavailable"
    assert health.status_code == 200


async def test_event_larger_than_the_producer_takes_is_413(stack: Settings) -> None:
    # A real producer whose request limit is below one event: the send itself raises.
    assert stack.kafka_bootstrap_servers is not None
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, enable_idempotence=False, max_request_size=2048
    )
    event = chat_message(str(uuid.uuid4()), 0, text="w" * 4000)
    async with (
        serving(with_overrides(stack), producer=producer) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        too_big = await client.post(
            "/v1/events", json=[chat_message(str(uuid.uuid4()), 0), event], headers=AUTH
        )
        small = await client.post("/v1/events", json=chat_message(str(uuid.uuid4()), 0), headers=AUTH)
    assert too_big.status_code == 413 and too_big.json()["detail"][0]["type"] == "event_too_large"
    assert small.status_code == 202


async def test_metrics_without_a_database_is_503(stack: Settings) -> None:
    async with (
        serving(with_overrides(stack, DATABASE_URL=None)) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        response = await client.get("/metrics", headers=AUTH)
    assert response.status_code == 503


async def test_unreachable_database_costs_only_metrics(stack: Settings) -> None:
    nothing_listens = f"postgresql://teppan@127.0.0.1:{free_port()}/teppan"
    settings = with_overrides(stack, DATABASE_URL=nothing_listens)
    async with serving(settings) as url, httpx.AsyncClient(base_url=url) as client:
        metrics = await client.get("/metrics", headers=AUTH)
        event = await client.post("/v1/events", json=chat_message(str(uuid.uuid4()), 0), headers=AUTH)
    assert metrics.status_code == 503 and metrics.json() == {"detail": "the database is unavailable"}
    assert event.status_code == 202


async def test_database_without_the_tables_is_503(stack: Settings, db: asyncpg.Pool) -> None:
    name = f"teppan_empty_{uuid.uuid4().hex[:8]}"
    await db.execute(f"CREATE DATABASE {name}")
    try:
        assert stack.database_url is not None
        empty_url = stack.database_url.rsplit("/", 1)[0] + f"/{name}"
        async with serving(with_overrides(stack, DATABASE_URL=empty_url)) as url:
            async with httpx.AsyncClient(base_url=url) as client:
                response = await client.get("/metrics", headers=AUTH)
    finally:
        await db.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    assert response.status_code == 503
