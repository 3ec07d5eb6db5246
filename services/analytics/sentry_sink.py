"""Sends fired alerts to Sentry (one issue per rule) with PII scrubbed; logs them when there is no DSN."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sentry_sdk

from services.analytics.alerts import FiredAlert
from shared.pii import scrub_pii

if TYPE_CHECKING:
    from sentry_sdk._types import Event, Hint

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
_LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
               "error": logging.ERROR, "fatal": logging.CRITICAL}  # fmt: skip


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


def before_send(event: Event, hint: Hint) -> Event:
    """sentry-sdk hook: scrub the whole event and drop user and request data, which only carry PII."""
    scrubbed: Event = scrub(event)
    scrubbed.pop("user", None)
    scrubbed.pop("request", None)
    return scrubbed


class AlertSink:
    """Sends each alert to Sentry, or logs it when `dsn` is empty.

    Uses a client of its own rather than `sentry_sdk.init`, so it neither replaces nor is replaced by
    the process's error-reporting client, and installs no integrations (no breadcrumbs of logged
    message text can ride along).
    """

    def __init__(
        self,
        dsn: str | None,
        *,
        environment: str | None = None,
        release: str | None = None,
        logger: logging.Logger | None = None,
        **client_options: Any,
    ) -> None:
        self._logger = logger or logging.getLogger("teppan.alerts")
        self._client: sentry_sdk.Client | None = None
        if dsn:
            self._client = sentry_sdk.Client(
                dsn=dsn,
                environment=environment,
                release=release,
                before_send=before_send,
                default_integrations=False,
                auto_enabling_integrations=False,
                **client_options,
            )

    @property
    def enabled(self) -> bool:
        return self._client is not None

    def send(self, alert: FiredAlert, extra: Mapping[str, Any] | None = None) -> str | None:
        """Sends `alert`; returns the Sentry event id, or None when it was only logged."""
        if self._client is None:
            self._logger.log(
                _LOG_LEVELS.get(alert.level, logging.WARNING),
                "alert %s: %s",
                alert.rule,
                scrub_pii(alert.message),
                extra={
                    "alert_rule": alert.rule,
                    "alert_value": alert.value,
                    "alert_threshold": alert.threshold,
                },
            )
            return None
        event: Event = {
            "message": alert.message,
            "level": alert.level,
            "logger": "teppan.alerts",
            "fingerprint": [alert.rule],
            "tags": {**alert.tags, "rule": alert.rule},
            "extra": {
                "value": alert.value,
                "threshold": alert.threshold,
                "fired_at": alert.fired_at.isoformat(),
                **(extra or {}),
            },
        }
        return self._client.capture_event(event)

    def flush(self, timeout: float = 2.0) -> None:
        if self._client is not None:
            self._client.flush(timeout=timeout)

    def close(self, timeout: float = 2.0) -> None:
        """Sends what is queued and shuts the client's transport down."""
        if self._client is not None:
            self._client.close(timeout=timeout)
            self._client = None
