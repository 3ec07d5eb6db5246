"""The HTTP server `teppan serve` runs: ingest's front door, with the analytics room's `/metrics` mounted."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from services.analytics.http import metrics_router
from services.ingest.http import create_app as create_front_door
from shared.settings import Settings


def create_app(settings: Settings, *, producer: AIOKafkaProducer | None = None) -> FastAPI:
    return create_front_door(settings, producer=producer, routers=[metrics_router(settings)])
