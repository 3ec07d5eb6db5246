"""`teppan ml train ...`: the explicit training steps of the ML room (the workers only load what they build)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

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


ml_train_app = typer.Typer(help="Train a model into $TEPPAN_DATA_DIR/models/<name>.", no_args_is_help=True)


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
) -> None:
    """Fine-tune the packaged MiniLM into the escalation model (tone, intent, sentiment), calibrate it, export
    ONNX int8, and keep the faster CPU backend whose accuracy holds; prints the report."""
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
    typer.echo(json.dumps(meta, indent=2))
