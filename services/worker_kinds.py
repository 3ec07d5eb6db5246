"""The worker kinds `teppan worker KIND` can run; `teppan up` starts one process per kind.

Each kind is its own Kafka consumer group, named `teppan-<kind>`, so scaling out is starting more
processes of one kind. Each entry names the module whose `lifespan(settings, broker)` builds that
worker's adapters and registers its handlers; modules are imported only for the kind being run.
"""

WORKER_LIFESPANS: dict[str, str] = {
    "ingest": "services.ingest.worker",
    "nlp": "services.nlp.worker",
    "logger": "services.analytics.conversation_log.worker",
    "edge-cases": "services.analytics.edge_cases.worker",
    "metrics": "services.analytics.metrics.worker",
    "alerts": "services.analytics.alert_rules.worker",
    "alerting": "services.analytics.paging.worker",
}

WORKER_KINDS: tuple[str, ...] = tuple(WORKER_LIFESPANS)


def consumer_group(kind: str) -> str:
    return f"teppan-{kind}"
