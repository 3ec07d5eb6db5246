"""`teppan schemas export`: one JSON Schema per event, and the AsyncAPI document faststream generates.

App layer, not `schemas/`: documenting the workers means registering them on a broker, and the event
vocabulary must not import the service rooms.
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from schemas import topics
from schemas.events import EVENT_MODELS, BookingOutcome, ChatMessage, ServiceCall, SurveyResponse
from schemas.workers import WORKERS

# Topics that front ends produce to are documented as published by the front end.
FRONT_END_TOPICS = {
    topics.CHAT_MESSAGES: ChatMessage,
    topics.CHAT_OUTCOMES: BookingOutcome,
    topics.CHAT_SURVEYS: SurveyResponse,
    topics.CHAT_SERVICE_CALLS: ServiceCall,
}


def documentation_broker() -> KafkaBroker:
    """A broker with every declared worker kind's real handlers registered, never connected.

    Each kind's `register(broker, *adapters)` is called with no adapters (None): registering only wires
    handlers to topics, and the specification is all that is read, so nothing ever calls them.
    """
    broker = KafkaBroker("kafka:9092")
    for spec in WORKERS:
        register = importlib.import_module(spec.module).register
        adapters = [
            None
            for parameter in list(inspect.signature(register).parameters.values())[1:]
            if parameter.default is inspect.Parameter.empty
        ]
        register(broker, *adapters)
    for topic, model in FRONT_END_TOPICS.items():
        broker.publisher(topic, schema=model, title=f"front end -> {topic}", description=model.__doc__)
    return broker


def export_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for model in EVENT_MODELS:
        path = directory / f"{model.__name__}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2) + "\n")
        written.append(path)
    specification = AsyncAPI(documentation_broker(), title="Teppan", version="1.0.0").to_specification()
    path = directory / "asyncapi.json"
    path.write_text(specification.to_json() + "\n")
    written.append(path)
    return written
