"""The HTTP server `teppan serve` runs: ingest's front door, with the analytics room's routes mounted.

Behind the token: `/metrics` and the owner's API under `/api/`. Public: the owner's pages, which send a
browser without a session to the login page themselves. Every `/api/` answer says its handler's time in
`Server-Timing`, which a browser's developer tools and `teppan bench dashboard` read.
"""

from __future__ import annotations

from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from services.analytics.api.router import api_router
from services.analytics.http import metrics_router
from services.analytics.web.pages import pages_router
from services.ingest.http import create_app as create_front_door
from shared.server_timing import ServerTiming
from shared.settings import Settings


def create_app(settings: Settings, *, producer: AIOKafkaProducer | None = None) -> FastAPI:
    app = create_front_door(
        settings,
        producer=producer,
        routers=[metrics_router(settings), api_router(settings)],
        public_routers=[pages_router(settings)],
    )
    app.add_middleware(ServerTiming, prefix="/api/")
    return app
