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
RegisterOpt = Annotated[
    bool,
    typer.Option(
        "--register/--no-register",
        help="Register the built version in the model registry (champion when there is none, else challenger).",
    ),
]


def escalation_gold_metrics(directory: Path) -> dict[str, float]:
    """The escalation model alone on every row of the hand-written gold set (`gold_*`, higher is better)."""
    from services.ml import corpora
    from services.ml.escalation.model import EscalationModel
    from services.ml.evaluation import evaluate_heads

    rows = list(corpora.read_jsonl(corpora.HAND_WRITTEN_GOLD))
    model = EscalationModel(directory)
    answers = []
    for start in range(0, len(rows), 64):
        for prediction in model.predict([row["text"] for row in rows[start : start + 64]]):
            answers.append({"intent": prediction.intent, "tone": prediction.tone, "sentiment": prediction.sentiment})
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


def register_built(
    name: str,
    directory: Path,
    model_version: str,
    metrics: dict[str, float],
    params: dict[str, Any],
    lineage: dict[str, Any],
) -> dict[str, Any]:
    """Registers a built folder; says which version and alias it got (stderr) and returns its entry."""
    from services.ml.registry import ModelRegistry

    settings = load_settings()
    version = ModelRegistry.from_settings(settings).register(
        name, directory, metrics=metrics, params=params, lineage=lineage, model_version=model_version
    )
    typer.echo(
        f"registered {name} version {version.version} as {', '.join(version.aliases) or 'no alias'}"
        f" (`teppan ml promote {name} --version {version.version}` makes it the champion)",
        err=True,
    )
    return version.to_json()


def train_nlp_and_register(directory: Path, *, public_data: bool, register: bool) -> dict[str, Any]:
    """Builds the fast path's artefacts into `directory` (saying which public sets it found) and registers
    them with their gold-set figures; returns the training report."""
    from services.ml.training import public_sets_found
    from services.ml.training import train as run_training

    if public_data:
        for name, digest in public_sets_found().items():
            typer.echo(f"public set {name}: " + (f"found (sha256 {digest})" if digest else "not found"), err=True)
    meta = run_training(
        directory,
        public_data=public_data,
        progress=lambda stage, fraction: typer.echo(f"training: {stage} ({fraction:.0%})", err=True),
    )
    if register:
        typer.echo("training: scoring on the hand-written gold set", err=True)
        version = str(meta.get("artefact_version") or meta.get("model_versions"))
        params = {"public_data": public_data, "training_rows": meta.get("training_rows")}
        meta["registered"] = register_built(
            "nlp", directory, version, nlp_gold_metrics(directory), params, dict(meta.get("data") or {})
        )
    return meta


@ml_train_app.command("nlp")
def train_nlp_command(
    artifacts: Annotated[
        Path | None, typer.Option(help="Artefact folder (default $TEPPAN_DATA_DIR/models/nlp).")
    ] = None,
    public_data: Annotated[
        bool,
        typer.Option(
            "--public/--domain-only",
            help="Also train on the public sets in $TEPPAN_DATASETS_DIR (or ../shared/datasets) where found.",
        ),
    ] = True,
    register: RegisterOpt = True,
) -> None:
    """Build the fast path's artefacts (static embeddings + heads), score them on the hand-written gold set,
    register them, and print the report."""
    meta = train_nlp_and_register(
        artifacts or load_settings().nlp_artifacts_path, public_data=public_data, register=register
    )
    typer.echo(json.dumps(meta, indent=2))


@ml_train_app.command("escalation")
def train_escalation_command(
    out: Annotated[
        Path | None, typer.Option(help="Model folder (default $TEPPAN_DATA_DIR/models/escalation).")
    ] = None,
    public_data: Annotated[
        bool,
        typer.Option(
            "--public/--domain-only",
            help="Also train on the public sets in $TEPPAN_DATASETS_DIR (or ../shared/datasets) where found.",
        ),
    ] = True,
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
    register: RegisterOpt = True,
) -> None:
    """Fine-tune the packaged MiniLM into the escalation model (tone, intent, sentiment), calibrate it, export
    ONNX int8, and keep the faster CPU backend whose accuracy holds; scores it on the hand-written gold set,
    registers it (champion when there is none, else challenger) and prints the report."""
    from services.ml.escalation.training import train_escalation as run_training
    from services.ml.escalation.training import training_rows

    settings = load_settings()
    directory = out or settings.escalation_model_path
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
    )
    if register:
        typer.echo("training escalation model: scoring on the hand-written gold set", err=True)
        metrics = {**escalation_gold_metrics(directory), **_held_out_metrics(meta)}
        params: dict[str, Any] = {k: meta[k] for k in ("base_model", "layers", "max_tokens", "cpu_backend") if k in meta}
        params.update({"epochs": epochs, "time_budget_s": time_budget, "max_rows": max_rows})
        meta["registered"] = register_built("escalation", directory, meta["model_version"], metrics, params, meta["data"])
    typer.echo(json.dumps(meta, indent=2))


# --- the model registry ------------------------------------------------------------------------------

ml_registry_app = typer.Typer(
    help="The model registry (MLflow): versions, aliases, gold-set metrics and data lineage.",
    no_args_is_help=True,
)


def open_registry() -> Any:
    from services.ml.registry import ModelRegistry

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
    version: Annotated[int, typer.Option("--version", help="The registered version to make champion.")],
    force: Annotated[
        bool, typer.Option("--force", help="Promote even when it scores worse than the champion on the gold sets.")
    ] = False,
) -> None:
    """Make VERSION the champion that workers serve (they pick it up without a restart); refuses a version
    that scores worse than the champion on the gold sets unless --force. The old champion stays registered."""
    from services.ml.promotion import compare_on_gold
    from services.ml.registry import CHALLENGER, CHAMPION, RegistryError

    registry = open_registry()
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
