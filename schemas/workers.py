"""Every worker kind, declared once: its name, consumer group, the topics it reads and writes, and its room.

The runner (`teppan worker KIND`), `teppan up`, the AsyncAPI export, the status view and the deploy tests
all iterate this one list, so a kind cannot be run, documented or deployed without being declared here.
A test registers each kind's real handlers and checks they read and write exactly what is declared.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas import topics


@dataclass(frozen=True)
class WorkerSpec:
    kind: str
    # The module whose `lifespan(settings, broker)` builds the worker's adapters and registers its handler,
    # and whose `register(broker, ...)` does the registering alone; imported only for the kind being run.
    module: str
    consumes: tuple[str, ...]
    publishes: tuple[str, ...]
    summary: str

    @property
    def group(self) -> str:
        return consumer_group(self.kind)


def consumer_group(kind: str) -> str:
    """Each kind is its own consumer group, so scaling out is starting more processes of one kind."""
    return f"teppan-{kind}"


WORKERS: tuple[WorkerSpec, ...] = (
    WorkerSpec(
        kind="ingest",
        module="services.ingest.worker",
        consumes=(topics.CHAT_MESSAGES, topics.CHAT_OUTCOMES, topics.CHAT_SURVEYS, topics.CHAT_SERVICE_CALLS),
        publishes=(
            topics.CHAT_TURNS,
            topics.INGEST_OUTCOMES,
            topics.INGEST_SURVEYS,
            topics.INGEST_SERVICE_CALLS,
            topics.INGEST_DLQ,
        ),
        summary="validates and de-duplicates chat input, numbers turns, stamps experiment variants",
    ),
    WorkerSpec(
        kind="nlp",
        module="services.nlp.worker",
        consumes=(topics.CHAT_TURNS,),
        publishes=(topics.NLP_ANALYSES, topics.ML_ESCALATIONS, topics.NLP_DLQ),
        summary="the fast path: tone, intent, sentiment and slots for every customer turn",
    ),
    WorkerSpec(
        kind="escalation",
        module="services.ml.escalation.worker",
        consumes=(topics.ML_ESCALATIONS,),
        publishes=(topics.NLP_ANALYSES, topics.ML_DLQ),
        summary="the slow path: a fine-tuned transformer answers every escalated turn, batched on GPU or CPU",
    ),
    WorkerSpec(
        kind="logger",
        module="services.analytics.conversation_log.worker",
        consumes=(topics.CHAT_TURNS, topics.NLP_ANALYSES, topics.INGEST_OUTCOMES),
        publishes=(topics.ANALYTICS_DLQ,),
        summary="writes messages, analyses and outcomes to PostgreSQL and rebuilds conversation_logs",
    ),
    WorkerSpec(
        kind="edge-cases",
        module="services.analytics.edge_cases.worker",
        consumes=(topics.CHAT_TURNS, topics.NLP_ANALYSES),
        publishes=(topics.ANALYTICS_EDGE_CASES, topics.ANALYTICS_DLQ),
        summary="flags edge-case conversations and writes the prediction log",
    ),
    WorkerSpec(
        kind="metrics",
        module="services.analytics.metrics.worker",
        consumes=(
            topics.CHAT_TURNS,
            topics.NLP_ANALYSES,
            topics.INGEST_OUTCOMES,
            topics.INGEST_SURVEYS,
            topics.INGEST_SERVICE_CALLS,
            topics.LABELS,
        ),
        publishes=(topics.ANALYTICS_METRICS, topics.ANALYTICS_DLQ),
        summary="one-minute metric windows with mergeable sketches, LLM usage, surveys and labels",
    ),
    WorkerSpec(
        kind="alerts",
        module="services.analytics.alert_rules.worker",
        consumes=(topics.ANALYTICS_METRICS,),
        publishes=(topics.ANALYTICS_ALERTS, topics.ANALYTICS_DLQ),
        summary="evaluates the alert rules and budgets on each metrics snapshot",
    ),
    WorkerSpec(
        kind="alerting",
        module="services.analytics.paging.worker",
        consumes=(topics.ANALYTICS_ALERTS,),
        publishes=(topics.ANALYTICS_DLQ,),
        summary="pages Sentry once per alert",
    ),
)

WORKERS_BY_KIND: dict[str, WorkerSpec] = {spec.kind: spec for spec in WORKERS}
WORKER_KINDS: tuple[str, ...] = tuple(WORKERS_BY_KIND)
