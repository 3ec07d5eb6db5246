"""The HTTP front door: `POST /v1/events` validates events and produces them to their `chat.*` topics.

It only produces; the ingest worker de-duplicates and numbers them like any other Kafka input.
Other rooms' routes (analytics' `GET /metrics`) are mounted by the app layer behind the same token.

Everything here faces untrusted clients, so every failure has a status of its own: 413 for a body or a
batch over the limits, 422 (naming the field and the rule, never quoting the input) for anything that
is not valid events, 503 when the broker does not answer. A 202 means the broker acknowledged every
event of the request.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any, get_args

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, TypeAdapter, ValidationError

from schemas.events import BookingOutcome, ChatMessage, InputEvent, ServiceCall, SurveyResponse
from services.ingest.core import EVENT_TYPE_TOPICS
from shared.http_body import BodyTooLarge, read_body
from shared.json_input import InvalidJson, loads_bounded
from shared.kafka import MAX_MESSAGE_BYTES, bootstrap
from shared.settings import Settings
from shared.web_auth import csrf_is_satisfied, is_authenticated

log = logging.getLogger(__name__)

# A list is validated as a list and a single event as one, so error locations read `[body, 3, field]`
# rather than naming pydantic's union branches, and the event count is checked before any validation.
EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(InputEvent)
EVENT_LIST_ADAPTER: TypeAdapter[Any] = TypeAdapter(list[InputEvent])
# Only for the OpenAPI document: what a body may be.
EVENTS_DOCUMENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(InputEvent | list[InputEvent])
bearer = HTTPBearer(auto_error=False)
# One list with 100,000 wrong items would otherwise answer with 100,000 errors: a tiny request
# amplified into megabytes. The first few are what a client fixes first anyway.
MAX_REPORTED_ERRORS = 20
RETRY_AFTER_S = "1"
UNAUTHORIZED = "a valid bearer token is required"
CSRF_REFUSED = "a write from a browser session must carry the X-CSRF-Token header (the teppan_csrf cookie)"

INPUT_MODELS: tuple[type[BaseModel], ...] = (ChatMessage, BookingOutcome, SurveyResponse, ServiceCall)
# The only strings a 422 location may show: Teppan's own field names and event types. Anything else in
# a location came from the client (an unknown field's name), so it is replaced, never echoed.
KNOWN_LOCATION_NAMES = frozenset(
    {"body"}
    | {name for model in INPUT_MODELS for name in model.model_fields}
    | {get_args(model.model_fields["event_type"].annotation)[0] for model in INPUT_MODELS}
)
UNKNOWN_NAME = "(unknown field)"

# 422 messages in Teppan's own words, per pydantic error type. pydantic's `msg` is not used: for some
# types it quotes the input (`union_tag_invalid` quotes the tag, `uuid_parsing` the offending character,
# `value_error` whatever a validator said). A template may only use context keys that come from the
# schema, never from the input; those are listed in SCHEMA_CONTEXT_KEYS.
SCHEMA_CONTEXT_KEYS = frozenset(
    {"max_length", "min_length", "ge", "gt", "le", "lt", "multiple_of", "expected", "expected_tags"}
)
ERROR_MESSAGES: dict[str, str] = {
    "missing": "field required",
    "extra_forbidden": "unknown field; only the documented fields are accepted",
    "union_tag_invalid": "event_type must be one of {expected_tags}",
    "union_tag_not_found": "event_type is required",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a JSON array",
    "literal_error": "must be {expected}",
    "enum": "must be {expected}",
    "string_type": "must be a string",
    "string_unicode": "must be a valid Unicode string",
    "string_too_short": "must have at least {min_length} characters",
    "string_too_long": "must have at most {max_length} characters",
    "string_pattern_mismatch": "does not have the required format",
    "too_short": "must have at least {min_length} items",
    "too_long": "must have at most {max_length} items",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_parsing_size": "integer is too large",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be greater than or equal to {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be less than or equal to {le}",
    "multiple_of": "must be a multiple of {multiple_of}",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "none_required": "must be null",
    "datetime_type": "must be an ISO 8601 date-time",
    "datetime_parsing": "must be an ISO 8601 date-time",
    "datetime_from_date_parsing": "must be an ISO 8601 date-time",
    "datetime_object_invalid": "must be an existing date-time",
    "timezone_naive": "must not have a time zone",
    "timezone_aware": "must have a time zone",
    "uuid_type": "must be a UUID",
    "uuid_parsing": "must be a UUID",
    "uuid_version": "must be a UUID of another version",
    "value_error": "invalid value",
    "assertion_error": "invalid value",
}
FALLBACK_MESSAGE = "invalid value"


def _safe_location(loc: Sequence[int | str]) -> list[int | str]:
    return [
        "body",
        *(part if isinstance(part, int) or part in KNOWN_LOCATION_NAMES else UNKNOWN_NAME for part in loc),
    ]


def _safe_message(error_type: str, context: Mapping[str, Any] | None) -> str:
    template = ERROR_MESSAGES.get(error_type, FALLBACK_MESSAGE)
    schema_context = {key: value for key, value in (context or {}).items() if key in SCHEMA_CONTEXT_KEYS}
    try:
        return template.format(**schema_context)
    except (KeyError, IndexError):
        # A context without the key the template names: say less rather than fail the request.
        return FALLBACK_MESSAGE


def _validator_message(context: Mapping[str, Any] | None, value: Any) -> str | None:
    """The sentence a schema validator raised, unless it quotes the input.

    The validators in schemas/events.py raise fixed sentences ("must be between 1970 and 2100 (UTC)"),
    which say the rule better than any generic text. As a guard against one that someday quotes its
    input, the sentence is dropped if it shares any four characters in a row with the input.
    """
    error = (context or {}).get("error")
    message = str(error) if isinstance(error, ValueError) else ""
    text = value if isinstance(value, str) else repr(value)
    if not message or len(message) > 200 or len(text) > 1000:
        return None
    grams = {message[i : i + 4] for i in range(len(message) - 3)}
    if len(text) < 4 and text in message or any(text[i : i + 4] in grams for i in range(len(text) - 3)):
        return None
    return message


def validation_errors(error: ValidationError) -> dict[str, Any]:
    """A 422 body naming each field and rule, built only from locations, types and the schema."""
    errors = error.errors(include_url=False)
    detail = [
        {
            "loc": _safe_location(item["loc"]),
            "type": item["type"],
            "msg": (item["type"] == "value_error" and _validator_message(item.get("ctx"), item.get("input")))
            or _safe_message(item["type"], item.get("ctx")),
        }
        for item in errors[:MAX_REPORTED_ERRORS]
    ]
    return {"detail": detail, "error_count": len(errors)}


def _problem(status_code: int, error_type: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"detail": [{"loc": ["body"], "type": error_type, "msg": message}]},
        status_code=status_code,
        headers=headers or None,
    )


def create_http_producer(settings: Settings) -> AIOKafkaProducer:
    """The front door's producer: tuned for request latency, where the workers' is tuned for batches.

    `linger_ms=0`: the shared producer lingers 5 ms to fill batches, which put a 5 ms floor under every
    request and, with a client that waits for its 202 before the next post, capped each client at
    about 130 events/s. Without linger a request's events leave at once; under concurrent load they
    still batch, because aiokafka keeps one produce request in flight per broker and everything sent
    meanwhile goes into the next one.
    """
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap(settings),
        enable_idempotence=False,
        max_request_size=MAX_MESSAGE_BYTES,
        linger_ms=0,
        # Also bounds how long a request waits for a broker that went away before it answers 503.
        request_timeout_ms=int(settings.http_send_timeout_s * 1000),
    )


async def produce(producer: AIOKafkaProducer, events: Sequence[Any]) -> None:
    """Send every event, then wait for the broker's acknowledgement of all of them together.

    `send` only appends to the producer's batch; the events of one request (and of concurrent
    requests) travel in the same produce request, so waiting for them together costs one round trip.
    """
    futures: list[asyncio.Future[Any]] = []
    try:
        for event in events:
            futures.append(
                await producer.send(
                    EVENT_TYPE_TOPICS[event.event_type],
                    event.model_dump_json().encode(),
                    key=str(event.conversation_id).encode(),
                )
            )
        await asyncio.gather(*futures)
    except BaseException:
        # Futures left behind by a failed send or a cancelled request still complete later; retrieving
        # their outcome keeps asyncio from logging "exception was never retrieved" for each.
        for future in futures:
            future.add_done_callback(lambda done: done.cancelled() or done.exception())
        raise


def create_app(
    settings: Settings,
    *,
    producer: AIOKafkaProducer | None = None,
    routers: Sequence[APIRouter] = (),
    public_routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The front door, with `routers` (other rooms' endpoints) mounted behind the same bearer token.

    `public_routers` are mounted without it: the owner's pages, which check the session themselves so
    that a browser without one is sent to the login page rather than answered 401.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.producer = producer or create_http_producer(settings)
        await app.state.producer.start()
        try:
            yield
        finally:
            await app.state.producer.stop()

    # The documentation routes are declared below behind the token, not by FastAPI's defaults, which
    # would answer anyone.
    app = FastAPI(
        title="Teppan", version="1", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )

    def token_is_valid(authorization: str | None) -> bool:
        """`Authorization: Bearer <TEPPAN_API_TOKEN>`, parsed as FastAPI's HTTPBearer parses it."""
        if settings.api_token is None:
            return True
        scheme, credentials = get_authorization_scheme_param(authorization)
        given = credentials.encode() if scheme.lower() == "bearer" else b""
        return hmac.compare_digest(given, settings.api_token.get_secret_value().encode())

    # `async def`: FastAPI runs a plain `def` dependency in its thread pool, a thread hop (and GIL
    # hand-over) on every request for a check that takes microseconds. `bearer` is declared so that
    # the OpenAPI document shows the scheme; the header is checked by token_is_valid like /v1/events.
    # Mounted routes (the owner's API and pages, /metrics, the docs) also take the login page's session
    # cookie, and a write made with it must echo the CSRF cookie (shared/web_auth.py says why).
    # `/v1/events` stays bearer-only: it is for producers, never for a browser.
    async def require_token(
        request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> None:
        token = settings.api_token.get_secret_value() if settings.api_token is not None else None
        if not is_authenticated(token, request.headers, request.cookies):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, UNAUTHORIZED, {"WWW-Authenticate": "Bearer"})
        if not csrf_is_satisfied(request.method, request.headers, request.cookies):
            raise HTTPException(status.HTTP_403_FORBIDDEN, CSRF_REFUSED)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_token)])
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(require_token)])
    async def swagger_docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Teppan API")

    @app.get("/redoc", include_in_schema=False, dependencies=[Depends(require_token)])
    async def redoc_docs() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title="Teppan API")

    for router in routers:
        app.include_router(router, dependencies=[Depends(require_token)])
    for router in public_routers:
        app.include_router(router)

    async def post_events(request: Request) -> Response:
        """Validate, produce, and answer 202 once the broker acknowledged every event."""
        if not token_is_valid(request.headers.get("authorization")):
            return JSONResponse({"detail": UNAUTHORIZED}, 401, {"WWW-Authenticate": "Bearer"})
        try:
            body = await read_body(request, settings.http_max_body_bytes)
        except BodyTooLarge:
            return _problem(
                413, "body_too_large", f"the body is larger than {settings.http_max_body_bytes} bytes"
            )
        try:
            document = loads_bounded(body)
        except InvalidJson as error:
            # InvalidJson's message says why without quoting the input.
            return _problem(422, "json_invalid", str(error))
        if isinstance(document, list) and len(document) > settings.http_max_events:
            return _problem(
                413, "too_many_events", f"a request carries at most {settings.http_max_events} events"
            )
        try:
            if isinstance(document, list):
                events = EVENT_LIST_ADAPTER.validate_python(document)
            else:
                events = [EVENT_ADAPTER.validate_python(document)]
        except ValidationError as error:
            return JSONResponse(validation_errors(error), status_code=422)
        try:
            await produce(request.app.state.producer, events)
        except MessageSizeTooLargeError:
            return _problem(413, "event_too_large", "an event is larger than the broker accepts")
        except KafkaError as error:
            log.warning("producing to the broker failed", extra={"error": type(error).__name__})
            # Some events of the request may have been written; a retry is safe because ingest drops
            # event_ids it has already seen.
            return _problem(
                503,
                "broker_unavailable",
                "the event broker did not acknowledge the events; retry (events are de-duplicated by event_id)",
                **{"Retry-After": RETRY_AFTER_S},
            )
        # Encoded here rather than returned as a dict: FastAPI's generic encoder walks the value in Python.
        accepted = json.dumps({"accepted": [str(event.event_id) for event in events]}).encode()
        return Response(accepted, status_code=status.HTTP_202_ACCEPTED, media_type="application/json")

    # A plain Starlette route, not a FastAPI one: FastAPI's per-request machinery (dependency solving,
    # telemetry, exit stacks) was a sixth of the server's CPU per event, for an endpoint that reads
    # its body itself. Measured with `teppan bench http`: 0.40 -> 0.33 ms of server CPU per request.
    app.router.add_route("/v1/events", post_events, methods=["POST"])
    app.openapi = lambda: _openapi_with_events(app)  # type: ignore[method-assign]
    return app


def _openapi_with_events(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus `POST /v1/events`, which FastAPI does not see, with its body schema."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
    body = EVENTS_DOCUMENT_ADAPTER.json_schema(ref_template="#/components/schemas/{model}")
    schema.setdefault("components", {}).setdefault("schemas", {}).update(body.pop("$defs", {}))
    schema["components"].setdefault("securitySchemes", {})["HTTPBearer"] = {
        "type": "http",
        "scheme": "bearer",
    }
    problem = {"description": "`detail` lists `loc`, `type` and `msg`; input is never quoted"}
    schema["paths"]["/v1/events"] = {
        "post": {
            "summary": "Post one event or a list of events",
            "operationId": "post_events",
            "security": [{"HTTPBearer": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {
                "202": {"description": "The broker acknowledged every event; `accepted` lists their ids"},
                "401": {"description": UNAUTHORIZED},
                "413": {"description": "Body or batch over TEPPAN_HTTP_MAX_BODY_BYTES / _MAX_EVENTS"},
                "422": problem,
                "503": {"description": "The broker did not acknowledge; retry after Retry-After seconds"},
            },
        }
    }
    app.openapi_schema = schema
    return schema
