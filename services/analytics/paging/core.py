"""Paging's pure core: which alerts of a batch page, as what, and the scrubbing every paged value gets.

Also used for the prediction log's slots: anything leaving Teppan for people to read is scrubbed here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from schemas.events import Alert
from services.analytics.alert_rules.core import FiredAlert
from shared.pii import scrub_pii

FILTERED = "[Filtered]"
# Keys whose values are free text typed or spoken by people: dropped whole, since names,
# addresses and the like cannot all be caught by patterns.
TEXT_KEYS: frozenset[str] = frozenset(
    {
        "text",
        "user_text",
        "response",
        "free_text",
        "content",
        "message_text",
        "transcript",
        "utterance",
        "body",
        "email",
        "phone",
        "phone_number",
        "customer_name",
    }
)


def scrub(value: Any) -> Any:
    """A copy of `value` with strings scrubbed and every TEXT_KEYS entry of a mapping filtered."""
    if isinstance(value, str):
        return scrub_pii(value)
    if isinstance(value, Mapping):
        return {
            key: FILTERED if isinstance(key, str) and key.lower() in TEXT_KEYS else scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


class SentAlertRow(NamedTuple):
    """An `alerts_sent` row: an alert claimed for sending, by its event id."""

    event_id: UUID
    rule: str
    level: str
    message: str
    fired_at: datetime


def unique_alerts(alerts: Iterable[Alert]) -> list[Alert]:
    """Each alert once (a redelivery inside one batch), the last copy kept, in first-seen order."""
    return list({alert.event_id: alert for alert in alerts}.values())


def page_for(alert: Alert) -> FiredAlert:
    """What the pager sends for an Alert event."""
    return FiredAlert(
        rule=alert.rule,
        level=alert.level,
        message=alert.message,
        # Teppan's own rules always set both; an alert from elsewhere without them reads as 0.
        value=alert.value or 0.0,
        threshold=alert.threshold or 0.0,
        fired_at=alert.occurred_at,
        tags=alert.tags,
    )


def sent_row(alert: Alert) -> SentAlertRow:
    return SentAlertRow(alert.event_id, alert.rule, alert.level, alert.message, alert.occurred_at)
