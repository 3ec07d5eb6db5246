"""The model registry: MLflow's, the registry ML engineers already know, for Teppan's models.

Where it lives (settings):
- the tracking and registry store: `TEPPAN_MLFLOW_TRACKING_URI`; unset, a SQLite file
  `$TEPPAN_DATA_DIR/mlflow/registry.db` (the embedded default). A `postgresql://` URL keeps it in that
  database's own `mlflow` schema (created on first use), beside, never inside, the project's tables;
- the registered versions' files: `TEPPAN_MLFLOW_ARTIFACTS` (a folder or any URI MLflow can write, such as
  `s3://...`); unset, `$TEPPAN_DATA_DIR/mlflow/artifacts`.

What a version is: one MLflow run in the experiment `teppan-<name>`, holding the built model folder as its
artefacts, its parameters, and its metrics (the gold sets' figures), and a registered model version that
points at those artefacts, tagged with its data lineage (JSON). A new version becomes `champion` when the
model has none, `challenger` otherwise; promotion moves `champion` (see `services.ml.promotion`).
Workers serve `models:/<name>@champion`, fetched once into
`$TEPPAN_DATA_DIR/models/registry/<name>/<version>-<digest of its artefact URI>`.

The MLflow client is synchronous; async callers run these methods in a thread.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

log = logging.getLogger(__name__)

MODEL_NAMES = ("nlp", "escalation", "upsell")
CHAMPION = "champion"
CHALLENGER = "challenger"
ALIASES = (CHAMPION, CHALLENGER)
POSTGRES_SCHEMA = "mlflow"
LINEAGE_TAG = "teppan.lineage"
# The shares of the version's answers on its reference set, per head ("tone", "intent", "confidence" tenths):
# what the drift check compares live answers with.
REFERENCE_TAG = "teppan.reference"
MODEL_VERSION_TAG = "teppan.model_version"
# MLflow keeps a tag value in at most 5,000 characters (8,000 on some stores); a longer lineage is kept
# as an artefact only, and the tag then says where.
MAX_TAG_CHARS = 5000


class RegistryError(Exception):
    """A registry operation that cannot be done (unknown model or version, no such alias)."""


@dataclass(frozen=True)
class RegisteredVersion:
    """One registered version, as `teppan ml registry list --json` prints it."""

    name: str
    version: int
    aliases: tuple[str, ...]
    metrics: dict[str, float]
    lineage: dict[str, Any]
    params: dict[str, str] = field(default_factory=dict)
    model_version: str | None = None
    source: str = ""
    run_id: str | None = None
    reference: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "aliases": list(self.aliases),
            "metrics": self.metrics,
            "lineage": self.lineage,
            "params": self.params,
            "model_version": self.model_version,
            "reference": self.reference,
        }


def default_tracking_uri(data_dir: Path) -> str:
    return f"sqlite:///{(data_dir / 'mlflow' / 'registry.db').resolve()}"


def default_artifact_root(data_dir: Path) -> str:
    return (data_dir / "mlflow" / "artifacts").resolve().as_uri()


def store_uri(tracking_uri: str) -> str:
    """The SQLAlchemy URI MLflow gets: a PostgreSQL URL is pointed at psycopg and the `mlflow` schema."""
    parts = urlsplit(tracking_uri)
    if parts.scheme not in ("postgres", "postgresql", "postgresql+psycopg"):
        return tracking_uri
    query = "&".join(q for q in parts.query.split("&") if q and not q.startswith("options="))
    options = "options=" + quote(f"-csearch_path={POSTGRES_SCHEMA}")
    return urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, f"{query}&{options}".lstrip("&"), ""))


def _ensure_postgres_schema(tracking_uri: str) -> None:
    import psycopg

    parts = urlsplit(tracking_uri)
    # Keep the query (a socket folder in `host=`, `sslmode`, ...) but not the schema option added for MLflow.
    query = "&".join(q for q in parts.query.split("&") if q and not q.startswith("options="))
    plain = urlunsplit(("postgresql", parts.netloc, parts.path, query, ""))
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{POSTGRES_SCHEMA}"')


class ModelRegistry:
    def __init__(self, tracking_uri: str, artifact_root: str, cache_dir: Path) -> None:
        # MLflow's SQL store logs every Alembic migration at INFO on first use; Teppan reports progress itself.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
        # Nor its per-file download bars, which would land in the workers' JSON logs.
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        from mlflow import MlflowClient

        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self.cache_dir = cache_dir
        uri = store_uri(tracking_uri)
        if uri.startswith("postgresql+psycopg"):
            _ensure_postgres_schema(tracking_uri)
        elif uri.startswith("sqlite:///"):
            Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self._client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    @classmethod
    def from_settings(cls, settings: Any) -> ModelRegistry:
        return cls(
            settings.mlflow_tracking_uri or default_tracking_uri(settings.data_dir),
            settings.mlflow_artifacts or default_artifact_root(settings.data_dir),
            settings.data_dir / "models" / "registry",
        )

    # --- writing ------------------------------------------------------------------------------------

    def register(
        self,
        name: str,
        model_dir: Path,
        *,
        metrics: Mapping[str, float],
        params: Mapping[str, Any],
        lineage: Mapping[str, Any],
        model_version: str,
        reference: Mapping[str, Any] | None = None,
    ) -> RegisteredVersion:
        """Logs `model_dir` with its figures as a run and registers it as the next version of `name`."""
        _check_name(name)
        experiment_id = self._experiment(name)
        run = self._client.create_run(experiment_id, run_name=model_version, tags={MODEL_VERSION_TAG: model_version})
        run_id = run.info.run_id
        try:
            for key, value in metrics.items():
                self._client.log_metric(run_id, key, float(value))
            for key, value in params.items():
                self._client.log_param(run_id, key, str(value)[:6000])
            with tempfile.TemporaryDirectory() as scratch:
                lineage_file = Path(scratch) / "lineage.json"
                lineage_file.write_text(json.dumps(lineage, indent=1, sort_keys=True), encoding="utf-8")
                self._client.log_artifact(run_id, str(lineage_file))
            self._client.log_artifacts(run_id, str(model_dir), "model")
        except Exception:
            self._client.set_terminated(run_id, "FAILED")
            raise
        self._client.set_terminated(run_id)
        if not self._client.search_registered_models(filter_string=f"name = '{name}'"):
            self._client.create_registered_model(name, description=f"Teppan's {name} model")
        lineage_text = json.dumps(lineage, sort_keys=True)
        tags = {
            MODEL_VERSION_TAG: model_version,
            REFERENCE_TAG: json.dumps(reference or {}, sort_keys=True),
            LINEAGE_TAG: lineage_text if len(lineage_text) <= MAX_TAG_CHARS else json.dumps({"artifact": "lineage.json"}),
        }
        created = self._client.create_model_version(
            name, f"{run.info.artifact_uri}/model", run_id, tags=tags
        )
        version = int(created.version)
        has_champion = self.by_alias(name, CHAMPION) is not None
        self._client.set_registered_model_alias(name, CHALLENGER if has_champion else CHAMPION, str(version))
        registered = self.get(name, version)
        log.info("registered %s version %d (%s) as %s", name, version, model_version, ", ".join(registered.aliases))
        return registered

    def set_alias(self, name: str, alias: str, version: int) -> None:
        self.get(name, version)  # raises RegistryError for an unknown version
        self._client.set_registered_model_alias(name, alias, str(version))

    def delete_alias(self, name: str, alias: str) -> None:
        if self.by_alias(name, alias) is not None:
            self._client.delete_registered_model_alias(name, alias)

    # --- reading ------------------------------------------------------------------------------------

    def get(self, name: str, version: int) -> RegisteredVersion:
        from mlflow.exceptions import MlflowException

        try:
            found = self._client.get_model_version(name, str(version))
        except MlflowException as error:
            raise RegistryError(f"{name} has no version {version}") from error
        return self._described(found)

    def by_alias(self, name: str, alias: str) -> RegisteredVersion | None:
        from mlflow.exceptions import MlflowException

        try:
            found = self._client.get_model_version_by_alias(name, alias)
        except MlflowException:
            return None
        return self._described(found)

    def versions(self, name: str | None = None) -> list[RegisteredVersion]:
        """Every registered version (of `name`, or of every model), by name and version."""
        from mlflow.exceptions import MlflowException

        names = [name] if name else [m.name for m in self._client.search_registered_models()]
        found = []
        for model in names:
            try:
                # A search answers without aliases; the registered model holds them.
                aliases = self._client.get_registered_model(model).aliases or {}
            except MlflowException:
                continue
            for version in self._client.search_model_versions(filter_string=f"name = '{model}'"):
                described = self._described(version)
                held = tuple(sorted(a for a, v in aliases.items() if int(v) == described.version))
                found.append(dataclasses.replace(described, aliases=held))
        return sorted(found, key=lambda v: (v.name, v.version))

    def fetch(self, version: RegisteredVersion) -> Path:
        """The version's model folder on this machine: downloaded once, then reused (it never changes)."""
        import mlflow.artifacts

        # Keyed by the version's artefact location as well as its number: another registry (or this one,
        # recreated) numbers its versions from 1 again, and must not be served a folder fetched from before.
        source_digest = hashlib.sha256(version.source.encode()).hexdigest()[:12]
        target = self.cache_dir / version.name / f"{version.version}-{source_digest}"
        if target.is_dir():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        # Download beside the target and rename: a reader never sees half a model, and two workers
        # fetching at once both end with the same complete folder.
        scratch = Path(tempfile.mkdtemp(prefix=f".{version.version}-", dir=target.parent))
        try:
            mlflow.artifacts.download_artifacts(
                artifact_uri=version.source, dst_path=str(scratch), tracking_uri=store_uri(self.tracking_uri)
            )
            downloaded = scratch / "model"
            try:
                os.replace(downloaded, target)
            except OSError:
                if not target.is_dir():
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return target

    # --- helpers ------------------------------------------------------------------------------------

    def _experiment(self, name: str) -> str:
        experiment_name = f"teppan-{name}"
        existing = self._client.get_experiment_by_name(experiment_name)
        if existing is not None:
            return str(existing.experiment_id)
        location = f"{self.artifact_root.rstrip('/')}/{name}"
        return str(self._client.create_experiment(experiment_name, artifact_location=location))

    def _described(self, found: Any) -> RegisteredVersion:
        run = self._client.get_run(found.run_id) if found.run_id else None
        lineage_text = (found.tags or {}).get(LINEAGE_TAG, "{}")
        lineage = json.loads(lineage_text)
        if lineage == {"artifact": "lineage.json"} and run is not None:
            import mlflow.artifacts

            lineage = json.loads(
                mlflow.artifacts.load_text(f"{run.info.artifact_uri}/lineage.json")
            )
        return RegisteredVersion(
            name=found.name,
            version=int(found.version),
            aliases=tuple(sorted(found.aliases or ())),
            metrics=dict(run.data.metrics) if run else {},
            lineage=lineage,
            params=dict(run.data.params) if run else {},
            model_version=(found.tags or {}).get(MODEL_VERSION_TAG),
            source=found.source,
            run_id=found.run_id,
            reference=json.loads((found.tags or {}).get(REFERENCE_TAG, "{}")),
        )


def _check_name(name: str) -> None:
    if name not in MODEL_NAMES:
        raise RegistryError(f"unknown model {name!r}; Teppan registers {', '.join(MODEL_NAMES)}")
