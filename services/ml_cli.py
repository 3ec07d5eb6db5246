"""`teppan ml train ...`: the explicit training steps of the ML room (the workers only load what they build)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from shared.settings import load_settings


def require_escalation_model(directory: Path) -> Path:
    """`directory` if it holds a built escalation model; otherwise says how to build one and exits with 2.

    Fine-tuning takes minutes, so it is an explicit step, never a side effect of a command that needs it.
    """
    from services.ml.escalation.model import is_built

    if not is_built(directory):
        typer.echo(
            f"no escalation model in {directory}: build it with `teppan ml train escalation`"
            " (or point TEPPAN_ESCALATION_MODEL_DIR at one)",
            err=True,
        )
        raise typer.Exit(2)
    return directory


ml_train_app = typer.Typer(
    help="Train a model into $TEPPAN_DATA_DIR/models/<name> and register it.", no_args_is_help=True
)
PublicDataOpt = Annotated[
    bool,
    typer.Option(
        "--public/--domain-only",
        help="Also train on the public sets in $TEPPAN_DATASETS_DIR (or ../shared/datasets) where found.",
    ),
]
RegisterOpt = Annotated[
    bool,
    typer.Option(
        "--register/--no-register",
        help="Register the built version in the model registry (champion when there is none, else challenger).",
    ),
]


DatasetOpt = Annotated[
    Path | None,
    typer.Option(
        exists=True,
        file_okay=False,
        help="Also train on a dataset built by `teppan ml dataset build` (its human-labelled tone and intent rows).",
    ),
]


def predict_in_batches(model: Any, texts: list[str], batch_size: int = 64) -> list[Any]:
    """The escalation model's answers to `texts`, asked in batches (memory stays flat on big sets)."""
    answers: list[Any] = []
    for start in range(0, len(texts), batch_size):
        answers += model.predict(texts[start : start + batch_size])
    return answers


def escalation_gold_metrics(directory: Path) -> dict[str, float]:
    """The escalation model alone on every row of the hand-written gold set (`gold_*`, higher is better)."""
    from services.ml import corpora
    from services.ml.escalation.model import EscalationModel
    from services.ml.evaluation import evaluate_heads

    rows = list(corpora.read_jsonl(corpora.HAND_WRITTEN_GOLD))
    predictions = predict_in_batches(EscalationModel(directory), [row["text"] for row in rows])
    answers = [{"intent": p.intent, "tone": p.tone, "sentiment": p.sentiment} for p in predictions]
    figures = evaluate_heads(answers, rows)
    return {f"gold_{name}": value for name, value in figures.items() if value is not None}


def nlp_gold_metrics(directory: Path) -> dict[str, float]:
    """The fast path on the hand-written gold set: `gold_*` (higher is better) and its escalation rate."""
    from services.ml import corpora
    from services.ml.evaluation import evaluate
    from services.nlp.fast_path import FastPath

    report = evaluate(FastPath.load(directory), list(corpora.read_jsonl(corpora.HAND_WRITTEN_GOLD)))
    figures = {
        "gold_intent_accuracy": report["intent"]["accuracy"],
        "gold_tone_macro_f1": report["tone"]["macro_f1"],
        "gold_slot_f1": (report.get("slots_micro") or {}).get("f1"),
        "escalation_rate_gold": report["escalation_rate"],
    }
    return {name: float(value) for name, value in figures.items() if value is not None}


def _held_out_metrics(meta: dict[str, Any]) -> dict[str, float]:
    backend = meta.get("cpu_backend", "torch")
    held_out = (meta.get("held_out") or {}).get(backend) or {}
    return {f"held_out_{name}": float(value) for name, value in held_out.items()}


def answer_shares(answers: list[tuple[str, str, float]], source: str) -> dict[str, Any]:
    """The reference the drift check compares live answers with: the shares of (tone, intent, confidence
    tenth) among a model's answers on its reference rows."""
    from collections import Counter

    from services.analytics.metrics.windows import confidence_bin

    def shares(values: list[str]) -> dict[str, float]:
        counts = Counter(values)
        return {value: round(count / len(values), 6) for value, count in sorted(counts.items())}

    return {
        "tone": shares([tone for tone, _, _ in answers]),
        "intent": shares([intent for _, intent, _ in answers]),
        "confidence": shares([confidence_bin(confidence) for _, _, confidence in answers]),
        "rows": len(answers),
        "source": source,
    }


# A reference drawn from collected traffic needs at least this many texts; with fewer, the generated
# held-out set is the reference.
MIN_COLLECTED_REFERENCE_TEXTS = 200


def reference_texts(dataset: Any = None) -> tuple[list[str], str]:
    """The texts a version's drift reference is its answers on, and where they came from.

    With a built dataset of collected traffic (`--dataset`): its customer messages, so the reference is the
    traffic the business really gets and the drift check compares like with like. Without one: the domain
    held-out rows. Those are generated and balanced across intents, so live traffic differs from them from
    the first day, and model_drift says so: a first model's reference is a reason to retrain on what was
    collected, which is what the alarm asks for.
    """
    from services.ml import corpora

    if dataset is not None:
        texts = list(
            dict.fromkeys(
                [row["text"] for row in (*dataset.tone_rows(), *dataset.intent_rows()) if row.get("text")]
                + [text for row in dataset.upsell_rows() for text in row.get("customer_texts") or () if text]
            )
        )
        if len(texts) >= MIN_COLLECTED_REFERENCE_TEXTS:
            manifest = dataset.manifest
            return texts, f"collected dataset {str(manifest.get('sha256'))[:8]} ({manifest.get('since')} to {manifest.get('until')})"
    return [row["text"] for row in corpora.read_jsonl(corpora.DOMAIN_HELDOUT)], "domain_heldout.jsonl"


def nlp_reference(directory: Path, dataset: Any = None) -> dict[str, Any]:
    """The fast path's answers on the reference texts (`reference_texts`)."""
    from services.nlp.fast_path import FastPath

    texts, source = reference_texts(dataset)
    fast_path = FastPath.load(directory)
    analyses = fast_path.analyze_batch([{"text": text} for text in texts])
    return answer_shares([(a.tone, a.intent, a.confidence) for a in analyses], source)


def escalation_reference(directory: Path, dataset: Any = None) -> dict[str, Any]:
    """The escalation model's answers on the reference texts the fast path escalates (the only turns it sees
    live); on all of them when the fast path is not built here."""
    from services.common.textmodel.artefacts import is_built as fast_path_built
    from services.ml.escalation.model import EscalationModel
    from services.nlp.fast_path import FastPath

    texts, source = reference_texts(dataset)
    nlp_dir = load_settings().nlp_artifacts_path
    if fast_path_built(nlp_dir):
        analyses = FastPath.load(nlp_dir).analyze_batch([{"text": text} for text in texts])
        escalated = [text for text, analysis in zip(texts, analyses, strict=True) if analysis.escalate]
        if escalated:
            texts, source = escalated, f"{source}, the rows the fast path escalates"
    predictions = predict_in_batches(EscalationModel(directory), texts)
    return answer_shares([(p.tone, p.intent, p.confidence) for p in predictions], source)


def register_built(
    name: str,
    directory: Path,
    model_version: str,
    metrics: dict[str, float],
    params: dict[str, Any],
    lineage: dict[str, Any],
    reference: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Registers a built folder; says which version and alias it got (stderr) and returns its entry."""
    from services.common.registry import ModelRegistry

    settings = load_settings()
    version = ModelRegistry.from_settings(settings).register(
        name,
        directory,
        metrics=metrics,
        params=params,
        lineage=lineage,
        model_version=model_version,
        reference=reference,
    )
    hint = (
        ""
        if "champion" in version.aliases
        else f" (`teppan ml promote {name} --version {version.version}` makes it the champion)"
    )
    typer.echo(
        f"registered {name} version {version.version} as {', '.join(version.aliases) or 'no alias'}{hint}",
        err=True,
    )
    return version.to_json()


def train_nlp_and_register(
    directory: Path, *, public_data: bool, register: bool, dataset: Path | None = None
) -> dict[str, Any]:
    """Builds the fast path's artefacts into `directory` (saying which public sets it found), adding a built
    dataset's labelled rows when given, and registers them with their gold-set figures; returns the report."""
    from services.ml.training import public_sets_found
    from services.ml.training import train as run_training

    if public_data:
        for name, digest in public_sets_found().items():
            typer.echo(f"public set {name}: " + (f"found (sha256 {digest})" if digest else "not found"), err=True)
    collected = open_dataset(dataset) if dataset else None
    meta = run_training(
        directory,
        public_data=public_data,
        progress=lambda stage, fraction: typer.echo(f"training: {stage} ({fraction:.0%})", err=True),
        dataset_rows=[*collected.tone_rows(), *collected.intent_rows()] if collected else (),
        dataset_lineage=dataset_lineage(collected) if collected else None,
    )
    if register:
        typer.echo("training: scoring on the hand-written gold set", err=True)
        version = str(meta["model_versions"]["heads"])
        params = {"public_data": public_data, "training_rows": meta.get("training_rows")}
        meta["registered"] = register_built(
            "nlp",
            directory,
            version,
            nlp_gold_metrics(directory),
            params,
            dict(meta.get("data") or {}),
            nlp_reference(directory, collected),
        )
    return meta


@ml_train_app.command("nlp")
def train_nlp_command(
    artifacts: Annotated[
        Path | None, typer.Option(help="Artefact folder (default $TEPPAN_DATA_DIR/models/nlp).")
    ] = None,
    public_data: PublicDataOpt = True,
    dataset: DatasetOpt = None,
    register: RegisterOpt = True,
) -> None:
    """Build the fast path's artefacts (static embeddings + heads), score them on the hand-written gold set,
    register them, and print the report."""
    meta = train_nlp_and_register(
        artifacts or load_settings().nlp_artifacts_path, public_data=public_data, register=register, dataset=dataset
    )
    typer.echo(json.dumps(meta, indent=2))


def open_dataset(directory: Path) -> Any:
    """A built dataset (`teppan ml dataset build`), checked against its manifest; a bad one exits with 2."""
    from services.ml.datasets import DatasetIntegrityError, read_dataset

    try:
        return read_dataset(directory)
    except DatasetIntegrityError as error:
        typer.echo(f"dataset {directory}: {error}", err=True)
        raise typer.Exit(2) from error


def dataset_lineage(dataset: Any) -> dict[str, Any]:
    manifest = dataset.manifest
    return {key: manifest.get(key) for key in ("since", "until", "source", "sha256", "files", "counts")} | {
        "path": str(dataset.path)
    }


@ml_train_app.command("upsell")
def train_upsell_command(
    dataset: Annotated[
        Path,
        typer.Option(
            exists=True, file_okay=False, help="A dataset built by `teppan ml dataset build` (its upsell.jsonl)."
        ),
    ],
    out: Annotated[Path | None, typer.Option(help="Model folder (default $TEPPAN_DATA_DIR/models/upsell).")] = None,
    register: RegisterOpt = True,
) -> None:
    """Train the upsell model (which offered upsells a booking will accept; gradient boosting) on a built
    dataset, score it against the popularity baseline on the latest 20% of bookings, register it and print
    the report. Too little data is refused with exit code 2."""
    from services.ml.upsell.model import train_upsell

    settings = load_settings()
    built = open_dataset(dataset)
    directory = out or settings.upsell_model_path
    try:
        meta = train_upsell(built.upsell_rows(), directory)
    except ValueError as refusal:
        typer.echo(f"cannot train the upsell model: {refusal}", err=True)
        raise typer.Exit(2) from refusal
    if register:
        held_out = meta["held_out"]
        metrics = {
            f"held_out_{who}_{name}": float(value)
            for who, figures in (("model", held_out["model"]), ("baseline", held_out["popularity_baseline"]))
            for name, value in figures.items()
            if value is not None
        }
        params = {"model": meta["model"], "rows_used": meta["rows"]["used"], "seed": meta["seed"]}
        meta["registered"] = register_built(
            "upsell", directory, meta["model_version"], metrics, params, dataset_lineage(built)
        )
    typer.echo(json.dumps(meta, indent=2))


@ml_train_app.command("escalation")
def train_escalation_command(
    out: Annotated[
        Path | None, typer.Option(help="Model folder (default $TEPPAN_DATA_DIR/models/escalation).")
    ] = None,
    public_data: PublicDataOpt = True,
    epochs: Annotated[float, typer.Option(help="Passes over the training rows.")] = 2.0,
    time_budget: Annotated[
        float, typer.Option(help="Stop fine-tuning after this many seconds, whatever the epochs.")
    ] = 720.0,
    layers: Annotated[
        int | None, typer.Option(help="Keep only the encoder's first N layers (tiny test models).")
    ] = None,
    max_rows: Annotated[
        int | None, typer.Option(help="Train on at most this many rows (tiny test models).")
    ] = None,
    dataset: DatasetOpt = None,
    register: RegisterOpt = True,
    onnx: Annotated[
        bool,
        typer.Option(
            "--onnx/--no-onnx",
            help="Export ONNX int8 and time it against torch (default); --no-onnx serves torch, as on a GPU.",
        ),
    ] = True,
) -> None:
    """Fine-tune the packaged MiniLM into the escalation model (tone, intent, sentiment), calibrate it, export
    ONNX int8, and keep the faster CPU backend whose accuracy holds; scores it on the hand-written gold set,
    registers it (champion when there is none, else challenger) and prints the report."""
    from services.ml.escalation.training import train_escalation as run_training
    from services.ml.escalation.training import training_rows

    settings = load_settings()
    directory = out or settings.escalation_model_path
    collected = open_dataset(dataset) if dataset else None
    collected_rows = [*collected.tone_rows(), *collected.intent_rows()] if collected else []
    collected_lineage = dataset_lineage(collected) if collected else None
    _, lineage = training_rows(public_data=public_data)
    for name, digest in lineage["public"].items():
        typer.echo(f"public set {name}: " + (f"found (sha256 {digest})" if digest else "not found"), err=True)
    shown = [0.0]

    def progress(stage: str, fraction: float) -> None:
        # Fine-tuning reports every few steps; one line every few seconds is enough to watch.
        now = time.monotonic()
        if now - shown[0] >= 5 or fraction in (0.0, 1.0) or not stage.startswith("fine-tuning"):
            shown[0] = now
            typer.echo(f"training escalation model: {stage} ({fraction:.0%})", err=True)

    meta = run_training(
        directory,
        public_data=public_data,
        epochs=epochs,
        time_budget_s=time_budget,
        layers=layers,
        max_rows=max_rows,
        progress=progress,
        dataset_rows=collected_rows,
        dataset_lineage=collected_lineage,
        export_onnx=onnx,
    )
    if register:
        typer.echo("training escalation model: scoring on the hand-written gold set", err=True)
        metrics = {**escalation_gold_metrics(directory), **_held_out_metrics(meta)}
        params: dict[str, Any] = {k: meta[k] for k in ("base_model", "layers", "max_tokens", "cpu_backend") if k in meta}
        params.update({"epochs": epochs, "time_budget_s": time_budget, "max_rows": max_rows})
        meta["registered"] = register_built(
            "escalation", directory, meta["model_version"], metrics, params, meta["data"],
            escalation_reference(directory, collected),
        )
    typer.echo(json.dumps(meta, indent=2))


# --- the model registry ------------------------------------------------------------------------------

ml_registry_app = typer.Typer(
    help="The model registry (MLflow): versions, aliases, gold-set metrics and data lineage.",
    no_args_is_help=True,
)


def open_registry() -> Any:
    from services.common.registry import ModelRegistry

    return ModelRegistry.from_settings(load_settings())


@ml_registry_app.command("list")
def registry_list(
    name: Annotated[str | None, typer.Argument(help="Only this model (nlp, escalation, upsell).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON document only.")] = False,
) -> None:
    """Every registered version: `[{"name", "version", "aliases", "metrics", "lineage", ...}]`."""
    versions = [version.to_json() for version in open_registry().versions(name)]
    if as_json:
        typer.echo(json.dumps(versions, indent=2))
        return
    if not versions:
        typer.echo("No model registered yet: `teppan ml train escalation` (or nlp) registers each version it builds.")
        return
    for version in versions:
        gold = ", ".join(f"{k} {v:.3f}" for k, v in sorted(version["metrics"].items()) if k.startswith("gold_"))
        aliases = f" @{', @'.join(version['aliases'])}" if version["aliases"] else ""
        typer.echo(f"{version['name']} v{version['version']}{aliases}  {version['model_version']}  {gold}")


def promote_command(
    name: Annotated[str, typer.Argument(help="The model: nlp, escalation or upsell.")],
    version: Annotated[
        int | None, typer.Option("--version", help="The registered version to make champion.")
    ] = None,
    from_experiment: Annotated[
        str | None,
        typer.Option(
            "--from-experiment",
            help="Promote the model's @challenger when it won this model experiment on live traffic"
            " (chance to beat the champion >= 95%, no sample-ratio mismatch).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Promote even when it scores worse than the champion on the gold sets.")
    ] = False,
) -> None:
    """Make a version the champion that workers serve (they pick it up without a restart): VERSION, or the
    challenger that won EXPERIMENT. Refuses a version that scores worse than the champion on the gold sets
    unless --force; --from-experiment also refuses a challenger that has not won. The old champion stays
    registered."""
    from services.common.registry import CHALLENGER, CHAMPION, RegistryError
    from services.ml.promotion import compare_on_gold

    if (version is None) == (from_experiment is None):
        raise typer.BadParameter("give exactly one of --version V and --from-experiment EXPERIMENT")
    registry = open_registry()
    if from_experiment is not None:
        version = _experiment_winner(registry, name, from_experiment)
    assert version is not None
    try:
        candidate = registry.get(name, version)
    except RegistryError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from error
    champion = registry.by_alias(name, CHAMPION)
    if champion is not None and champion.version == version:
        typer.echo(f"{name} v{version} is already the champion")
        return
    verdict = compare_on_gold(candidate.metrics, champion.metrics if champion else None)
    if not verdict.allowed and not force:
        typer.echo(f"refused: {name} v{version} scores worse than champion v{champion.version if champion else '-'}:", err=True)
        for reason in verdict.reasons:
            typer.echo(f"  {reason}", err=True)
        typer.echo("  (--force promotes it anyway)", err=True)
        raise typer.Exit(1)
    registry.set_alias(name, CHAMPION, version)
    if CHALLENGER in candidate.aliases:
        registry.delete_alias(name, CHALLENGER)
    forced = " (forced)" if not verdict.allowed else ""
    typer.echo(f"{name} v{version} is now the champion{forced}: " + "; ".join(verdict.reasons))


def _experiment_winner(registry: Any, name: str, experiment_name: str) -> int:
    """The version of `name`@challenger when it won the model experiment; exits 1 (lost or undecided) or 2
    (no such experiment or challenger) otherwise."""
    import asyncio

    import asyncpg

    from services.analytics.reports import queries
    from services.common.experiments import load_experiments
    from services.common.registry import CHALLENGER
    from services.ml.promotion import judge_experiment
    from shared.db import database_url

    settings = load_settings()
    definitions = {experiment.name: experiment for experiment in load_experiments(settings.experiments_file)}
    definition = definitions.get(experiment_name)
    if definition is None:
        typer.echo(f"unknown experiment {experiment_name!r}; known: {', '.join(definitions) or 'none'}", err=True)
        raise typer.Exit(2)
    challenger = registry.by_alias(name, CHALLENGER)
    if challenger is None:
        typer.echo(f"{name} has no @{CHALLENGER} version to promote", err=True)
        raise typer.Exit(2)

    async def report() -> dict[str, Any]:
        connection = await asyncpg.connect(database_url(settings))
        try:
            return await queries.experiment(connection, definition)
        finally:
            await connection.close()

    verdict = judge_experiment(asyncio.run(report()), model=name, models=definition.models, challenger=CHALLENGER)
    if not verdict.allowed:
        typer.echo(f"refused: {name}@{CHALLENGER} (v{challenger.version}) has not won {experiment_name}:", err=True)
        for reason in verdict.reasons:
            typer.echo(f"  {reason}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{name}@{CHALLENGER} (v{challenger.version}) won {experiment_name}: " + "; ".join(verdict.reasons))
    return int(challenger.version)
