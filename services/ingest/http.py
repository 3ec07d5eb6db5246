"""The HTTP front door: `POST /v1/events` validates events and produces them to their `chat.*` topics.

It only produces; the ingest worker de-duplicates and numbers them like any other Kafka input.
`GET /metrics` serves the analytics figures of the last hour in Prometheus' text format.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from aiokafka import AIOKafkaProducer
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import TypeAdapter, ValidationError

from schemas.events import InputEvent
from services.analytics.metrics import render_prometheus
from services.analytics.queries import merged_window
from services.ingest.core import EVENT_TYPE_TOPICS
from shared.db import create_pool
from shared.kafka import create_producer
from shared.settings import Settings

EVENTS_ADAPTER: TypeAdapter[Any] = TypeAdapter(InputEvent | list[InputEvent])
bearer = HTTPBearer(auto_error=False)
# `/metrics` shows the stored one-minute windows of this span merged: enough traffic for stable rates
# and percentiles, recent enough to be "current".
METRICS_SPAN = timedelta(hours=1)
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def create_app(settings: Settings, *, producer: AIOKafkaProducer | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.producer = producer or create_producer(settings)
        await app.state.producer.start()
        # Only /metrics reads the database; without one configured the front door still takes events.
        app.state.pool = await create_pool(settings, max_size=2) if settings.database_url else None
        try:
            yield
        finally:
            if app.state.pool is not None:
                await app.state.pool.close()
            await app.state.producer.stop()

    app = FastAPI(title="Teppan", version="1", lifespan=lifespan)

    def require_token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        if settings.api_token is None:
            return
        expected = settings.api_token.get_secret_value().encode()
        given = credentials.credentials.encode() if credentials else b""
        if not hmac.compare_digest(given, expected):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a valid bearer token is required",
                {"WWW-Authenticate": "Bearer"},
            )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", dependencies=[Depends(require_token)])
    async def metrics(request: Request) -> Response:
        pool = request.app.state.pool
        if pool is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no database is configured")
        now = datetime.now(UTC)
        window = await merged_window(pool, now - METRICS_SPAN, now)
        body = render_prometheus(window.figures() if window else None)
        return Response(body, media_type=PROMETHEUS_CONTENT_TYPE)

    @app.post("/v1/events", status_code=status.HTTP_202_ACCEPTED, dependencies=[Depends(require_token)])
    async def post_events(request: Request) -> Any:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"detail": [{"loc": ["body"], "msg": "body is not JSON"}]}, status_code=422)
        try:
            parsed = EVENTS_ADAPTER.validate_python(body)
        except ValidationError as error:
            return JSONResponse(
                {"detail": error.errors(include_url=False, include_input=False, include_context=False)},
                status_code=422,
            )
        events = parsed if isinstance(parsed, list) else [parsed]
        futures = [
            await request.app.state.producer.send(
                EVENT_TYPE_TOPICS[event.event_type],
                event.model_dump_json().encode(),
                key=str(event.conversation_id).encode(),
            )
            for event in events
        ]
        for future in futures:
            await future
        return {"accepted": [str(event.event_id) for event in events]}

    return app
