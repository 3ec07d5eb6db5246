"""Every Kafka topic name, versioned, in one place.

A breaking change to a topic's payload gets a new `.vN` topic; an old one is never edited in place.
"""

CHAT_MESSAGES = "chat.messages.v1"
CHAT_OUTCOMES = "chat.outcomes.v1"
CHAT_SURVEYS = "chat.surveys.v1"
CHAT_SERVICE_CALLS = "chat.service-calls.v1"

# Ingest republishes validated, de-duplicated input here, so downstream workers trust what they read.
CHAT_TURNS = "chat.turns.v1"
INGEST_OUTCOMES = "ingest.outcomes.v1"
INGEST_SURVEYS = "ingest.surveys.v1"
INGEST_SERVICE_CALLS = "ingest.service-calls.v1"
INGEST_DLQ = "ingest.dlq.v1"

NLP_ANALYSES = "nlp.analyses.v1"
NLP_DLQ = "nlp.dlq.v1"
ML_ESCALATIONS = "ml.escalations.v1"
ML_DLQ = "ml.dlq.v1"
LABELS = "labels.v1"

ANALYTICS_EDGE_CASES = "analytics.edge-cases.v1"
ANALYTICS_METRICS = "analytics.metrics.v1"
ANALYTICS_ALERTS = "analytics.alerts.v1"
ANALYTICS_DLQ = "analytics.dlq.v1"

ALL_TOPICS: tuple[str, ...] = (
    CHAT_MESSAGES,
    CHAT_OUTCOMES,
    CHAT_SURVEYS,
    CHAT_SERVICE_CALLS,
    CHAT_TURNS,
    INGEST_OUTCOMES,
    INGEST_SURVEYS,
    INGEST_SERVICE_CALLS,
    INGEST_DLQ,
    NLP_ANALYSES,
    NLP_DLQ,
    ML_ESCALATIONS,
    ML_DLQ,
    LABELS,
    ANALYTICS_EDGE_CASES,
    ANALYTICS_METRICS,
    ANALYTICS_ALERTS,
    ANALYTICS_DLQ,
)
