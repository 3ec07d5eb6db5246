"""Every consumer a worker registers keeps its group membership by the configured session timeout, so a
SIGKILLed worker's partitions stall for that long at most, and heartbeats go every third of it; the
latency path's consumers fetch with the configured wait, the workers off it with their own."""

from __future__ import annotations

from typing import Any

import pytest
from faststream.kafka import KafkaBroker
from pydantic import BaseModel, ValidationError

from shared.consumer import (
    BACKGROUND_FETCH_WAIT_MS,
    DEFAULT_SESSION_TIMEOUT_MS,
    LATENCY_PATH_FETCH_WAIT_MS,
    Consumed,
    subscribe_batch,
)
from shared.kafka import create_broker
from shared.settings import Settings


class Probe(BaseModel):
    text: str


async def ignore(batch: list[Consumed[Probe]]) -> None:
    return None


def consumer_arguments(broker: KafkaBroker) -> dict[str, Any]:
    subscribe_batch(broker, models={"test.probe": Probe}, group_id="g", stage="probe", dlq_topic="d", handle=ignore)
    (subscriber,) = broker.subscribers
    # faststream keeps the keyword arguments it will hand to aiokafka's consumer here.
    arguments: dict[str, Any] = subscriber._connection_args  # type: ignore[attr-defined]
    return arguments


def test_the_configured_session_timeout_and_a_third_of_it_as_heartbeat_reach_every_consumer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEPPAN_KAFKA_SESSION_TIMEOUT_MS", "4500")
    arguments = consumer_arguments(create_broker(Settings(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")))
    assert arguments["session_timeout_ms"] == 4500
    assert arguments["heartbeat_interval_ms"] == 1500


def test_the_default_is_the_least_apache_kafka_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEPPAN_KAFKA_SESSION_TIMEOUT_MS", raising=False)
    settings = Settings(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")
    assert settings.kafka_session_timeout_ms == 6000
    assert consumer_arguments(create_broker(settings))["session_timeout_ms"] == 6000


def test_a_broker_made_elsewhere_keeps_aiokafkas_default() -> None:
    arguments = consumer_arguments(KafkaBroker("127.0.0.1:1"))
    assert arguments["session_timeout_ms"] == DEFAULT_SESSION_TIMEOUT_MS == 10_000


@pytest.mark.parametrize("value", ["999", "0", "-1", "300001", "soon"])
def test_a_session_timeout_out_of_range_is_refused_with_its_name(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEPPAN_KAFKA_SESSION_TIMEOUT_MS", value)
    with pytest.raises(ValidationError, match="TEPPAN_KAFKA_SESSION_TIMEOUT_MS"):
        Settings()


def test_the_configured_fetch_wait_reaches_the_latency_path_and_not_the_workers_off_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEPPAN_KAFKA_FETCH_WAIT_MS", "77")
    broker = create_broker(Settings(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1"))
    assert consumer_arguments(broker)["fetch_max_wait_ms"] == 77
    background = create_broker(Settings(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1"))
    subscribe_batch(
        background,
        models={"test.probe": Probe},
        group_id="g",
        stage="probe",
        dlq_topic="d",
        handle=ignore,
        fetch_wait_ms=BACKGROUND_FETCH_WAIT_MS,
    )
    (subscriber,) = background.subscribers
    assert subscriber._connection_args["fetch_max_wait_ms"] == BACKGROUND_FETCH_WAIT_MS  # type: ignore[attr-defined]


def test_the_fetch_wait_defaults_to_the_latency_paths_and_refuses_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEPPAN_KAFKA_FETCH_WAIT_MS", raising=False)
    assert Settings().kafka_fetch_wait_ms == LATENCY_PATH_FETCH_WAIT_MS == 20
    assert consumer_arguments(KafkaBroker("127.0.0.1:1"))["fetch_max_wait_ms"] == LATENCY_PATH_FETCH_WAIT_MS
    for value in ("0", "10001", "soon"):
        monkeypatch.setenv("TEPPAN_KAFKA_FETCH_WAIT_MS", value)
        with pytest.raises(ValidationError, match="TEPPAN_KAFKA_FETCH_WAIT_MS"):
            Settings()
