"""`POST /v1/events` over real HTTP (uvicorn) into the real broker: 202, 422 and 401."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import uvicorn

from services.ingest.http import create_app
from shared.embedded import free_port
from shared.settings import Settings
from tests.conftest import WorkerProcesses
from tests.stack.helpers import chat_message, wait_until_logged

pytestmark = pytest.mark.stack
TOKEN = "test-token-9f3c"


@pytest.fixture
async def http_url(stack: Settings) -> AsyncIterator[str]:
    settings = Settings(**{**stack.model_dump(by_alias=True), "TEPPAN_API_TOKEN": TOKEN})
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def test_accepted_events_are_produced_and_logged(
    http_url: str, db: asyncpg.Pool, pipeline: WorkerProcesses
) -> None:
    conversation = str(uuid.uuid4())
    single = chat_message(conversation, 0)
    batch = [chat_message(conversation, 1), chat_message(conversation, 2)]
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=http_url) as client:
        one = await client.post("/v1/events", json=single, headers=headers)
        many = await client.post("/v1/events", json=batch, headers=headers)
    assert one.status_code == 202 and one.json() == {"accepted": [single["event_id"]]}
    assert many.status_code == 202 and many.json() == {"accepted": [event["event_id"] for event in batch]}
    await wait_until_logged(db, [single["event_id"], *(event["event_id"] for event in batch)])


async def test_invalid_events_get_field_errors(http_url: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    bad = {**chat_message(str(uuid.uuid4()), 0), "role": "robot"}
    async with httpx.AsyncClient(base_url=http_url) as client:
        response = await client.post("/v1/events", json=bad, headers=headers)
        not_json = await client.post("/v1/events", content=b"{nope", headers=headers)
    assert response.status_code == 422
    locations = [error["loc"] for error in response.json()["detail"]]
    assert any("role" in location for location in locations)
    assert not_json.status_code == 422


async def test_wrong_or_missing_token_is_401(http_url: str) -> None:
    event = chat_message(str(uuid.uuid4()), 0)
    async with httpx.AsyncClient(base_url=http_url) as client:
        wrong = await client.post("/v1/events", json=event, headers={"Authorization": "Bearer nope"})
        missing = await client.post("/v1/events", json=event)
        health = await client.get("/healthz")
    assert wrong.status_code == 401 and missing.status_code == 401
    assert health.status_code == 200
