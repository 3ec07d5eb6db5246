"""The one settings model: every environment variable Teppan reads is named here.

Unset server URLs mean "use the embedded server"; `teppan up` writes the URLs it started into
`$TEPPAN_DATA_DIR/stack.env`, which every later command reads when the variables are not set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = ".teppan"
STACK_ENV_NAME = "stack.env"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str | None = Field(default=None, alias="KAFKA_BOOTSTRAP_SERVERS")
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    http_url: str | None = Field(default=None, alias="HTTP_URL")
    sentry_dsn: SecretStr | None = Field(default=None, alias="SENTRY_DSN")
    api_token: SecretStr | None = Field(default=None, alias="TEPPAN_API_TOKEN")
    partitions: int = Field(default=6, ge=1, alias="TEPPAN_PARTITIONS")
    data_dir: Path = Field(default=Path(DEFAULT_DATA_DIR), alias="TEPPAN_DATA_DIR")
    http_host: str = Field(default="127.0.0.1", alias="TEPPAN_HTTP_HOST")
    http_port: int = Field(default=8000, alias="TEPPAN_HTTP_PORT")
    # How long ingest remembers an event_id to drop redeliveries; longer than any replay window we expect.
    dedup_ttl_seconds: int = Field(default=7 * 24 * 3600, alias="TEPPAN_DEDUP_TTL_SECONDS")
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("TEPPAN_LOG_LEVEL", "LOG_LEVEL"))

    @property
    def stack_env_path(self) -> Path:
        return self.data_dir / STACK_ENV_NAME


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, falling back to `$TEPPAN_DATA_DIR/stack.env` for what is unset."""
    data_dir = Path(os.environ.get("TEPPAN_DATA_DIR", DEFAULT_DATA_DIR))
    stack_env = data_dir / STACK_ENV_NAME
    env_file = stack_env if stack_env.is_file() else None
    return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]


def write_stack_env(path: Path, values: dict[str, str]) -> None:
    """Write the running stack's URLs so other programs can find them; atomic so readers never see half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    tmp.replace(path)
