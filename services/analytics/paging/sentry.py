"""The Sentry adapter of paging: sends fired alerts (one issue per rule) with PII scrubbed, or logs them when
there is no DSN.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import sentry_sdk

from services.analytics.alert_rules.core import FiredAlert
from services.analytics.paging.core import scrub
from shared.pii import scrub_pii

if TYPE_CHECKING:
    from sentry_sdk._types import Event, Hint

_LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
               "error": logging.ERROR, "fatal": logging.CRITICAL}  # fmt: skip


def before_send(event: Event, hint: Hint) -> Event:
    """sentry-sdk hook: scrub the whole event and drop user and request data, which only carry PII."""
    scrubbed: Event = scrub(event)
    scrubbed.pop("user", None)
    scrubbed.pop("request", None)
    return scrubbed


class Pager(Protocol):
    """Where pages go: `send` returns the page's id at the receiving end, if it has one."""

    def send(self, alert: FiredAlert, extra: Mapping[str, Any] | None = None) -> str | None: ...

    def flush(self, timeout: float = 2.0) -> None:
        """Blocks until what was sent has left the process (or `timeout` seconds passed)."""
        ...


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
