"""The model registry (MLflow, its SQLite store as on the embedded default): registering built folders with
their figures and lineage, aliases, `teppan ml registry list`, `teppan ml promote` and its refusal, and a
served model that picks up a promotion without a restart."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from services.cli import app
from services.common.champion import ServedModel, open_registry_for_workers
from services.common.registry import CHALLENGER, CHAMPION, ModelRegistry, RegistryError, store_uri
from shared.settings import Settings

LINEAGE = {"domain_train": "f66550b5c26a", "public": {"snips.jsonl": "2fbfb526e8cd"}}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "data"
    for name in ("TEPPAN_MLFLOW_TRACKING_URI", "TEPPAN_MLFLOW_ARTIFACTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEPPAN_DATA_DIR", str(directory))
    return directory


@pytest.fixture
def registry(data_dir: Path, empty_registry_file: Path) -> ModelRegistry:
    """The embedded default's registry in the test's data folder, empty."""
    (data_dir / "mlflow").mkdir(parents=True)
    shutil.copyfile(empty_registry_file, data_dir / "mlflow" / "registry.db")
    return ModelRegistry.from_settings(Settings(TEPPAN_DATA_DIR=data_dir))


def built_folder(tmp_path: Path, name: str, version: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "meta.json").write_text(json.dumps({"model_version": version}))
    (folder / "weights.bin").write_bytes(bytes(range(256)) * 4)
    return folder


def register(registry: ModelRegistry, folder: Path, gold_intent: float, version: str = "m-1") -> int:
    return registry.register(
        "escalation",
        folder,
        metrics={"gold_intent_accuracy": gold_intent, "gold_tone_macro_f1": 0.7, "held_out_intent": 0.95},
        params={"layers": 6},
        lineage=LINEAGE,
        model_version=version,
    ).version


def test_the_first_version_is_champion_later_ones_challengers_and_a_fetch_gives_the_same_files(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    first = built_folder(tmp_path, "first", "m-1")
    assert register(registry, first, 0.80) == 1
    assert register(registry, built_folder(tmp_path, "second", "m-2"), 0.85, "m-2") == 2
    champion, challenger = registry.by_alias("escalation", CHAMPION), registry.by_alias("escalation", CHALLENGER)
    assert champion is not None and champion.version == 1 and champion.model_version == "m-1"
    assert challenger is not None and challenger.version == 2
    assert champion.metrics == {"gold_intent_accuracy": 0.80, "gold_tone_macro_f1": 0.7, "held_out_intent": 0.95}
    assert champion.lineage == LINEAGE and champion.params == {"layers": "6"}

    fetched = registry.fetch(champion)
    assert sorted(p.name for p in fetched.iterdir()) == ["meta.json", "weights.bin"]
    assert (fetched / "weights.bin").read_bytes() == (first / "weights.bin").read_bytes()
    assert registry.fetch(champion) == fetched  # cached: fetched once
    with pytest.raises(RegistryError, match="no version 9"):
        registry.get("escalation", 9)
    with pytest.raises(RegistryError, match="unknown model"):
        registry.register("telepathy", first, metrics={}, params={}, lineage={}, model_version="x")


def test_a_long_lineage_is_kept_as_an_artefact(registry: ModelRegistry, tmp_path: Path) -> None:
    lineage = {"topics": {f"topic-{i}": {"0": {"start_offset": i, "end_offset": i + 10}} for i in range(300)}}
    version = registry.register(
        "nlp", built_folder(tmp_path, "big", "n-1"), metrics={}, params={}, lineage=lineage, model_version="n-1"
    )
    assert registry.get("nlp", version.version).lineage == lineage


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_registry_list_and_promote_through_the_cli(registry: ModelRegistry, tmp_path: Path) -> None:
    assert run_cli("ml", "registry", "list", "--json").stdout.strip() == "[]"
    register(registry, built_folder(tmp_path, "a", "m-1"), 0.80)
    register(registry, built_folder(tmp_path, "b", "m-2"), 0.70, "m-2")  # worse on the gold set
    register(registry, built_folder(tmp_path, "c", "m-3"), 0.83, "m-3")  # better

    listed = json.loads(run_cli("ml", "registry", "list", "--json").stdout)
    assert [(v["name"], v["version"], v["aliases"]) for v in listed] == [
        ("escalation", 1, ["champion"]),
        ("escalation", 2, []),
        ("escalation", 3, ["challenger"]),
    ]
    assert set(listed[0]) >= {"name", "version", "aliases", "metrics", "lineage"}
    assert listed[0]["lineage"] == LINEAGE and listed[0]["metrics"]["gold_intent_accuracy"] == 0.80

    refused = run_cli("ml", "promote", "escalation", "--version", "2")
    assert refused.exit_code == 1
    assert "gold_intent_accuracy 0.7000 < champion's 0.8000" in refused.stderr
    assert registry.by_alias("escalation", CHAMPION).version == 1  # type: ignore[union-attr]

    promoted = run_cli("ml", "promote", "escalation", "--version", "3")
    assert promoted.exit_code == 0, promoted.stderr
    assert registry.by_alias("escalation", CHAMPION).version == 3  # type: ignore[union-attr]
    assert registry.by_alias("escalation", CHALLENGER) is None  # the challenger won

    forced = run_cli("ml", "promote", "escalation", "--version", "2", "--force")
    assert forced.exit_code == 0 and "(forced)" in forced.stdout
    assert registry.by_alias("escalation", CHAMPION).version == 2  # type: ignore[union-attr]
    assert run_cli("ml", "promote", "escalation", "--version", "7").exit_code == 2
    assert "escalation v2 @champion" in run_cli("ml", "registry", "list").stdout


def test_the_postgres_url_points_mlflow_at_psycopg_and_its_own_schema() -> None:
    uri = store_uri("postgresql://teppan:secret@db:5432/teppan?sslmode=require")
    assert uri == "postgresql+psycopg://teppan:secret@db:5432/teppan?sslmode=require&options=-csearch_path%3Dmlflow"
    assert store_uri("sqlite:////data/mlflow/registry.db") == "sqlite:////data/mlflow/registry.db"


class Loaded:
    def __init__(self, folder: Path) -> None:
        self.version = json.loads((folder / "meta.json").read_text())["model_version"]


async def test_a_served_model_switches_to_a_promoted_champion_and_survives_a_registry_outage(
    registry: ModelRegistry, data_dir: Path, tmp_path: Path
) -> None:
    built = built_folder(tmp_path, "built", "built-0")
    settings = Settings(TEPPAN_DATA_DIR=data_dir, TEPPAN_MODEL_REFRESH_S=0.1)

    def served() -> ServedModel[Loaded]:
        return ServedModel(
            "escalation", built, Loaded, lambda m: m.version, lambda: open_registry_for_workers(settings), refresh_s=0.1
        )

    before = served()
    await before.start()
    assert before.label == "built-0"  # nothing registered: the built folder

    register(registry, built_folder(tmp_path, "v1", "m-1"), 0.8)
    register(registry, built_folder(tmp_path, "v2", "m-2"), 0.9, "m-2")
    model = served()
    await model.start()
    assert model.label == "m-1/v1"
    assert await model.refresh() is False  # the champion did not move
    registry.set_alias("escalation", CHAMPION, 2)
    assert await model.refresh() is True
    assert model.label == "m-2/v2" and model.model.version == "m-2"

    # The registry's store disappears: the worker keeps serving what it has.
    shutil.rmtree(data_dir / "mlflow")
    registry_gone = served()
    registry_gone._registry = model._registry  # the same, now broken, client
    registry_gone._servings = dict(model._servings)
    assert await registry_gone.refresh() is False
    assert registry_gone.label == "m-2/v2"


async def test_a_served_model_answers_an_experiments_alias_with_its_version_and_falls_back_to_the_champion(
    registry: ModelRegistry, data_dir: Path, tmp_path: Path
) -> None:
    built = built_folder(tmp_path, "built", "built-0")
    settings = Settings(TEPPAN_DATA_DIR=data_dir, TEPPAN_MODEL_REFRESH_S=0.1)
    loads: list[Path] = []

    def counting_load(folder: Path) -> Loaded:
        loads.append(folder)
        return Loaded(folder)

    register(registry, built_folder(tmp_path, "v1", "m-1"), 0.8)
    model = ServedModel(
        "escalation",
        built,
        counting_load,
        lambda m: m.version,
        lambda: open_registry_for_workers(settings),
        refresh_s=0.1,
        aliases={"challenger", "champion"},
    )
    await model.start()
    assert model.aliases == ("champion", "challenger")
    # No challenger yet: its units get the champion.
    assert model.serving_for("challenger").label == "m-1/v1"
    assert model.serving_for("no-such-alias").label == "m-1/v1"

    register(registry, built_folder(tmp_path, "v2", "m-2"), 0.9, "m-2")  # registered as challenger
    assert await model.refresh() is True
    assert model.serving_for("challenger").label == "m-2/v2"
    assert model.serving_for("champion").label == "m-1/v1"
    assert len(loads) == 2

    # Promoted: the champion moves to v2 without loading it again, and the challenger alias goes away.
    registry.set_alias("escalation", CHAMPION, 2)
    registry.delete_alias("escalation", "challenger")
    assert await model.refresh() is True
    assert model.serving_for("champion").label == "m-2/v2"
    assert model.serving_for("challenger").label == "m-2/v2"
    assert model.serving_for("challenger") is model.serving
    assert len(loads) == 2


def test_workers_do_not_create_a_registry_where_none_was_made(data_dir: Path) -> None:
    assert open_registry_for_workers(Settings(TEPPAN_DATA_DIR=data_dir)) is None
    assert not (data_dir / "mlflow").exists()
    assert open_registry_for_workers(Settings(TEPPAN_DATA_DIR=data_dir, TEPPAN_MODEL_REFRESH_S=0)) is None


def test_training_registers_the_version_with_its_gold_figures_and_lineage(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "escalation"
    result = CliRunner().invoke(
        app,
        ["ml", "train", "escalation", "--out", str(out), "--domain-only", "--layers", "1", "--max-rows", "320",
         "--epochs", "1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    meta = json.loads(result.stdout)
    registered = meta["registered"]
    assert (registered["name"], registered["version"], registered["aliases"]) == ("escalation", 1, ["champion"])
    assert registered["model_version"] == meta["model_version"]
    assert registered["lineage"] == meta["data"]
    gold = {k: v for k, v in registered["metrics"].items() if k.startswith("gold_")}
    assert set(gold) == {"gold_intent_accuracy", "gold_tone_macro_f1", "gold_sentiment_macro_f1"}
    assert all(0 <= value <= 1 for value in gold.values())
    assert "registered escalation version 1 as champion" in result.stderr
    # The drift check's reference: the model's answer shares on the domain held-out rows (all of them here,
    # where no fast path is built to say which it would escalate).
    reference = registered["reference"]
    assert reference["source"] == "domain_heldout.jsonl" and reference["rows"] > 100
    for head in ("tone", "intent", "confidence"):
        assert sum(reference[head].values()) == pytest.approx(1.0, abs=1e-4)


def test_nlp_artefacts_are_scored_on_the_gold_set_and_registered(data_dir: Path, nlp_artifacts_dir: Path) -> None:
    from services.ml_cli import nlp_gold_metrics, nlp_reference, register_built

    metrics = nlp_gold_metrics(nlp_artifacts_dir)
    assert set(metrics) == {"gold_intent_accuracy", "gold_tone_macro_f1", "gold_slot_f1", "escalation_rate_gold"}
    reference = nlp_reference(nlp_artifacts_dir)
    entry = register_built("nlp", nlp_artifacts_dir, "nlp-test", metrics, {}, {"domain_train": "x"}, reference)
    assert entry["aliases"] == ["champion"] and entry["metrics"] == pytest.approx(metrics)
    assert entry["reference"] == reference and set(reference["tone"]) <= {
        "casual", "formal", "warm", "anxious", "direct"
    }  # fmt: skip


class CollectedDataset:
    """A built dataset's reading interface, with `count` distinct customer texts."""

    def __init__(self, count: int) -> None:
        self.manifest = {"sha256": "d2c0f812" + "0" * 56, "since": "2026-12-06T14:00Z", "until": "2026-12-06T15:00Z"}
        self._texts = [f"hi, we're {n} people for a birthday" for n in range(count)]

    def tone_rows(self) -> list[dict[str, Any]]:
        return [{"text": text, "tone": "casual"} for text in self._texts[:10]]

    def intent_rows(self) -> list[dict[str, Any]]:
        return [{"text": text, "intent": "booking_inquiry"} for text in self._texts[:10]]

    def upsell_rows(self) -> list[dict[str, Any]]:
        return [{"customer_texts": self._texts[i : i + 5]} for i in range(0, len(self._texts), 5)]


def test_a_version_trained_on_collected_traffic_takes_its_drift_reference_from_that_traffic(
    nlp_artifacts_dir: Path,
) -> None:
    from services.ml_cli import MIN_COLLECTED_REFERENCE_TEXTS, nlp_reference, reference_texts

    texts, source = reference_texts(CollectedDataset(MIN_COLLECTED_REFERENCE_TEXTS))
    assert len(texts) == MIN_COLLECTED_REFERENCE_TEXTS  # every distinct customer text, once
    assert source == "collected dataset d2c0f812 (2026-12-06T14:00Z to 2026-12-06T15:00Z)"
    reference = nlp_reference(nlp_artifacts_dir, CollectedDataset(MIN_COLLECTED_REFERENCE_TEXTS))
    assert reference["rows"] == MIN_COLLECTED_REFERENCE_TEXTS and reference["source"] == source
    # Mostly booking requests, as the collected traffic was: nothing like the balanced generated set.
    assert reference["intent"].get("booking_inquiry", 0) > 0.5
    # Too little collected: the generated held-out set stays the reference.
    assert reference_texts(CollectedDataset(MIN_COLLECTED_REFERENCE_TEXTS - 1))[1] == "domain_heldout.jsonl"
    assert reference_texts(None)[1] == "domain_heldout.jsonl"


def test_two_registries_sharing_a_cache_never_serve_each_others_version_1(tmp_path: Path) -> None:
    """Found by the stack tests: a worker whose data folder had fetched `escalation` v1 from one registry
    served that folder for another registry's v1."""
    cache = tmp_path / "shared-cache"
    fetched = []
    for name in ("first", "second"):
        registry = ModelRegistry(
            f"sqlite:///{tmp_path / name}.db", (tmp_path / f"{name}-artifacts").as_uri(), cache
        )
        register(registry, built_folder(tmp_path, name, f"m-{name}"), 0.8, f"m-{name}")
        champion = registry.by_alias("escalation", CHAMPION)
        assert champion is not None and champion.version == 1
        fetched.append(json.loads((registry.fetch(champion) / "meta.json").read_text())["model_version"])
    assert fetched == ["m-first", "m-second"]
