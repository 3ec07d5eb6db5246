"""The one settings model: every environment variable Teppan reads is named here.

Unset server URLs mean "use the embedded server"; `teppan up` writes the URLs it started into
`$TEPPAN_DATA_DIR/stack.env`, which every later command reads when the variables are not set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

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
    # How long a consumer group waits for a member that stopped heartbeating before it hands that member's
    # partitions to the others: a SIGKILLed worker's partitions stall this long before its restart (or a peer)
    # takes them over. 6 s is the least an Apache Kafka broker accepts (group.min.session.timeout.ms); Tansu
    # accepts less, which the tests use. Heartbeats go every third of it, as Kafka advises.
    kafka_session_timeout_ms: int = Field(default=6000, ge=1000, le=300_000, alias="TEPPAN_KAFKA_SESSION_TIMEOUT_MS")
    # How long a fetch of a worker on the latency path (ingest, nlp, escalation, logger) waits for records.
    # Tansu answers a fetch only when this expires, so it is paid on each hop, and an idle worker sends a
    # fetch this often: 20 ms keeps the hops short at the cost of polling (on 2 cores the idle stack's broker
    # and three latency-path workers take about a third of a core). A broker that answers as soon as records
    # arrive, as Apache Kafka does, costs no latency at a longer wait (500, say) and far less polling.
    kafka_fetch_wait_ms: int = Field(default=20, ge=1, le=10_000, alias="TEPPAN_KAFKA_FETCH_WAIT_MS")
    # How long ingest remembers an event_id to drop redeliveries; longer than any replay window we expect.
    dedup_ttl_seconds: int = Field(default=7 * 24 * 3600, alias="TEPPAN_DEDUP_TTL_SECONDS")
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("TEPPAN_LOG_LEVEL", "LOG_LEVEL"))
    # Unset: logs go to stderr. `teppan up` sets it per child: $TEPPAN_DATA_DIR/logs/<kind>.log, rotated.
    log_file: Path | None = Field(default=None, alias="TEPPAN_LOG_FILE")
    # The NLP fast path's trained artefacts; `$TEPPAN_DATA_DIR/models/nlp` when unset.
    nlp_artifacts_dir: Path | None = Field(default=None, alias="TEPPAN_NLP_ARTIFACTS_DIR")
    escalation_threshold: float = Field(default=0.8, gt=0, le=1, alias="TEPPAN_ESCALATION_THRESHOLD")
    # The slow path: the fine-tuned escalation model and its dynamic batcher.
    escalation_model_dir: Path | None = Field(default=None, alias="TEPPAN_ESCALATION_MODEL_DIR")
    # Below this the escalation model is unsure too, and the turn is flagged for a human (low_confidence).
    escalation_model_threshold: float = Field(default=0.6, gt=0, le=1, alias="TEPPAN_ESCALATION_MODEL_THRESHOLD")
    # The most requests one group takes; the model runs it in length-sorted calls of 16. 128 was the fastest
    # measured (`teppan bench escalation --batch-size 1..256`, docs/benchmarks.md). A group waits at most the
    # queue delay for more requests, so the maximum only comes into play under load.
    escalation_max_batch_size: int = Field(default=128, ge=1, le=4096, alias="TEPPAN_ESCALATION_MAX_BATCH_SIZE")
    escalation_max_queue_delay_ms: float = Field(default=5.0, ge=0, le=10_000, alias="TEPPAN_ESCALATION_MAX_QUEUE_DELAY_MS")
    # One thread by default, so that on a 2-core machine the slow path cannot starve the fast path.
    escalation_threads: int = Field(default=1, ge=1, le=256, alias="TEPPAN_ESCALATION_THREADS")
    # "auto": CUDA (torch, fp16) when available, else the CPU backend training measured as faster.
    escalation_backend: Literal["auto", "torch", "onnx-int8"] = Field(default="auto", alias="TEPPAN_ESCALATION_BACKEND")
    # The model registry (MLflow). Unset: a SQLite file under $TEPPAN_DATA_DIR/mlflow; a postgresql:// URL
    # keeps it in that database's own `mlflow` schema. Artefacts: a folder or URI; unset, under the data dir.
    mlflow_tracking_uri: str | None = Field(default=None, alias="TEPPAN_MLFLOW_TRACKING_URI")
    mlflow_artifacts: str | None = Field(default=None, alias="TEPPAN_MLFLOW_ARTIFACTS")
    # How often a worker asks the registry whether its model's champion moved (a promotion is then served
    # without a restart); 0 turns the registry off for workers, which then serve the built folders only.
    model_refresh_s: float = Field(default=30.0, ge=0, alias="TEPPAN_MODEL_REFRESH_S")
    # Analytics. Unset: the file shipped beside the code that reads it; point these at edited copies.
    experiments_file: Path | None = Field(default=None, alias="TEPPAN_EXPERIMENTS_FILE")
    prices_file: Path | None = Field(default=None, alias="TEPPAN_PRICES_FILE")
    budget_daily_usd: float | None = Field(default=None, gt=0, alias="TEPPAN_BUDGET_DAILY_USD")
    budget_monthly_usd: float | None = Field(default=None, gt=0, alias="TEPPAN_BUDGET_MONTHLY_USD")
    # Edge-case and alert thresholds; the defaults are the ML guide's.
    edge_min_confidence: float = Field(default=0.7, alias="TEPPAN_EDGE_MIN_CONFIDENCE")
    edge_max_corrections: int = Field(default=2, alias="TEPPAN_EDGE_MAX_CORRECTIONS")
    alert_ml_ready_conversations: int = Field(default=10_000, alias="TEPPAN_ALERT_ML_READY_CONVERSATIONS")
    alert_min_tone_accuracy: float = Field(default=0.75, alias="TEPPAN_ALERT_MIN_TONE_ACCURACY")
    alert_max_p95_latency_ms: float = Field(default=200.0, alias="TEPPAN_ALERT_MAX_P95_LATENCY_MS")
    alert_gpu_conversations_per_day: int = Field(
        default=1_000, alias="TEPPAN_ALERT_GPU_CONVERSATIONS_PER_DAY"
    )
    alert_max_accuracy_drop: float = Field(default=0.10, alias="TEPPAN_ALERT_MAX_ACCURACY_DROP")
    alert_cooldown_seconds: float = Field(default=3600.0, gt=0, alias="TEPPAN_ALERT_COOLDOWN_SECONDS")
    # HTTP front door limits; larger bodies or batches get 413. 1 MiB holds 500 typical events (~0.5 KB
    # each) or several maximal ones (16,000 chars is ≤ 96 KB even if every char is sent as \uXXXX), and
    # stays far under the broker's 8 MiB message limit; it bounds the memory one request can make the
    # server parse into.
    http_max_body_bytes: int = Field(default=1024 * 1024, ge=1024, alias="TEPPAN_HTTP_MAX_BODY_BYTES")
    http_max_events: int = Field(default=500, ge=1, alias="TEPPAN_HTTP_MAX_EVENTS")
    # How long a request waits for the broker's acknowledgement before answering 503.
    http_send_timeout_s: float = Field(default=10.0, gt=0, alias="TEPPAN_HTTP_SEND_TIMEOUT_S")
    # `teppan retention apply`: raw text and per-message rows go after the first age, aggregates
    # (metrics windows, LLM usage, alert history, conversation summaries) after the second.
    retention_days_raw: int = Field(default=90, ge=1, alias="TEPPAN_RETENTION_DAYS_RAW")
    retention_days_aggregates: int = Field(default=730, ge=1, alias="TEPPAN_RETENTION_DAYS_AGGREGATES")

    @property
    def nlp_artifacts_path(self) -> Path:
        return self.nlp_artifacts_dir or self.data_dir / "models" / "nlp"

    @property
    def escalation_model_path(self) -> Path:
        return self.escalation_model_dir or self.data_dir / "models" / "escalation"

    @property
    def upsell_model_path(self) -> Path:
        """Where `teppan ml train upsell` builds the upsell model; the nlp worker serves it when nothing is
        registered (and the rules when it is not built either)."""
        return self.data_dir / "models" / "upsell"

    @property
    def stack_env_path(self) -> Path:
        return self.data_dir / STACK_ENV_NAME


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, falling back to `$TEPPAN_DATA_DIR/stack.env` for what is unset.

    A stack.env left behind by a `teppan up` that no longer runs is ignored: its URLs point at nothing.
    """
    data_dir = Path(os.environ.get("TEPPAN_DATA_DIR", DEFAULT_DATA_DIR))
    stack_env = data_dir / STACK_ENV_NAME
    env_file = stack_env if stack_env.is_file() and stack_env_is_live(read_stack_env(stack_env)) else None
    return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]


# `teppan up` records itself in stack.env, so a later start can tell its own stale file from a live stack.
STACK_PID_KEY = "TEPPAN_STACK_PID"
STACK_PID_STARTED_KEY = "TEPPAN_STACK_PID_STARTED"


def read_stack_env(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return {}
    return dict(line.split("=", 1) for line in lines if "=" in line)


def process_is_alive(pid: int, started_at: float) -> bool:
    """True if `pid` runs and is the same process that started at `started_at` (PIDs get reused)."""
    import psutil

    try:
        return abs(psutil.Process(pid).create_time() - started_at) < 1.0
    except psutil.Error:
        return False


def stack_env_is_live(values: dict[str, str]) -> bool:
    """Whether the `teppan up` that wrote these values still runs; a file without a PID is an operator's."""
    if STACK_PID_KEY not in values:
        return True
    try:
        return process_is_alive(int(values[STACK_PID_KEY]), float(values.get(STACK_PID_STARTED_KEY, "0")))
    except ValueError:
        return False


def write_stack_env(path: Path, values: dict[str, str]) -> None:
    """Write the running stack's URLs so other programs can find them; atomic so readers never see half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    tmp.replace(path)
