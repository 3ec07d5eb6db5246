"""The escalation worker's pure core: an escalated turn plus the model's answer make the ML analysis.

No I/O: the worker hands in the request and the prediction; unit tests call this directly.
"""

from __future__ import annotations

import uuid

from schemas.events import EscalationRequest, MessageAnalysis
from schemas.vocabulary import reply_tone
from services.ml.escalation.model import EscalationPrediction

# Fixed namespace: the same escalated message always yields the same ML analysis id, so a redelivered
# request republishes the very same event and every consumer drops the repeat.
ML_ANALYSIS_NAMESPACE = uuid.UUID("8d3c2b9e-4a61-4f0e-b7d5-2c9a1e6f3b70")


def ml_analysis_id(message_event_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(ML_ANALYSIS_NAMESPACE, f"{message_event_id}:ml-analysis")


def ml_analysis(
    request: EscalationRequest,
    prediction: EscalationPrediction,
    *,
    model_version: str,
    unsure_below: float,
    latency_ms: float,
) -> MessageAnalysis:
    """The analysis the slow path publishes: the model's tone, intent, sentiment and confidence over the
    fast path's slots, PII, corrections and upsells. `escalate` here means the model is unsure as well
    (below `unsure_below`): the turn needs a human, and the edge-case flagger says so."""
    fast = request.fast_analysis
    frustrated = fast.frustrated if fast is not None else prediction.sentiment == "negative"
    confidence = prediction.confidence
    return MessageAnalysis(
        event_id=ml_analysis_id(request.message_event_id),
        conversation_id=request.conversation_id,
        customer_id=request.customer_id,
        occurred_at=request.occurred_at,
        source="teppan-escalation",
        message_event_id=request.message_event_id,
        turn_index=request.turn_index,
        tone=prediction.tone,
        tone_probs=prediction.tone_probs,
        intent=prediction.intent,
        intent_probs=prediction.intent_probs,
        sentiment=prediction.sentiment,  # type: ignore[arg-type]
        frustrated=frustrated,
        entities=dict(fast.entities) if fast is not None else {},
        correction=fast.correction if fast is not None else False,
        pii_detected=list(fast.pii_detected) if fast is not None else [],
        confidence=round(confidence, 4),
        escalate=confidence < unsure_below,
        path="ml",
        model_versions={**(fast.model_versions if fast is not None else {}), "escalation": model_version},
        latency_ms=round(latency_ms, 3),
        suggested_reply_tone=reply_tone(prediction.tone, frustrated),
        suggested_upsells=list(fast.suggested_upsells) if fast is not None else [],
    )
