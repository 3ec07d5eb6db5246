"""Settings come from the environment, then from `$TEPPAN_DATA_DIR/stack.env`; secrets stay hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.pii import scrub_pii
from shared.settings import load_settings, write_stack_env


def test_stack_env_fills_what_the_environment_leaves_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "REDIS_URL", "HTTP_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEPPAN_DATA_DIR", str(tmp_path))
    write_stack_env(
        tmp_path / "stack.env",
        {
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
            "DATABASE_URL": "postgresql://x/y",
            "REDIS_URL": "redis://z",
        },
    )
    monkeypatch.setenv("REDIS_URL", "redis://from-env")
    settings = load_settings()
    assert settings.kafka_bootstrap_servers == "127.0.0.1:1"
    assert settings.database_url == "postgresql://x/y"
    assert settings.redis_url == "redis://from-env"


def test_secrets_are_not_printed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TEPPAN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TEPPAN_API_TOKEN", "hunter2")
    monkeypatch.setenv("SENTRY_DSN", "https://key@sentry.example/1")
    settings = load_settings()
    assert "hunter2" not in repr(settings) and "key@" not in repr(settings)
    assert settings.api_token is not None and settings.api_token.get_secret_value() == "hunter2"


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TEPPAN_PARTITIONS", raising=False)
    monkeypatch.setenv("TEPPAN_DATA_DIR", str(tmp_path))
    assert load_settings().partitions == 6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail me at dana.lee@example.com", "mail me at [email]"),
        ("call 555-123-4567 please", "call [phone] please"),
        ("call (555) 123-4567", "call [phone]"),
        ("we are 30 people on the 4th", "we are 30 people on the 4th"),
    ],
)
def test_pii_scrubbing(text: str, expected: str) -> None:
    assert scrub_pii(text) == expected
