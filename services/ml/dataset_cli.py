"""`teppan ml dataset build`: the training sets for tone, intent and upsell, collected from the database.

Thin: parses the options, runs `services.ml.dataset_source.build_dataset`, prints the manifest as JSON on
stdout and progress lines on stderr. Bad input exits with 2, a failed build with 1. The format is described
in `services.ml.datasets`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from services.ml.datasets import (
    DEFAULT_MIN_MODEL_CONFIDENCE,
    BuildCounts,
    BuildOptions,
    DatasetError,
    DatasetInputError,
    parse_time_range,
)
from shared.settings import load_settings

ml_dataset_app = typer.Typer(
    help="Training sets collected from the pipeline's own conversations, labels and outcomes.",
    no_args_is_help=True,
)


def report_progress(counts: BuildCounts) -> None:
    typer.echo(
        f"dataset: {counts.conversations} conversations, {counts.tone_rows} tone rows, "
        f"{counts.intent_rows} intent rows, {counts.upsell_rows} upsell rows",
        err=True,
    )


@ml_dataset_app.command("build")
def build_command(
    since: Annotated[
        str,
        typer.Option(
            help="Conversations that started at or after this: ISO-8601 with a UTC offset (2026-01-31T00:00Z)."
        ),
    ],
    until: Annotated[str, typer.Option(help="...and before this (excluded): ISO-8601 with a UTC offset.")],
    out: Annotated[
        Path,
        typer.Option(help="A new or empty folder for tone.jsonl, intent.jsonl, upsell.jsonl, manifest.json."),
    ],
    include_model_labels: Annotated[
        bool,
        typer.Option(
            "--include-model-labels/--human-labels-only",
            help="Also use the model's own answers where no human labelled the message. Off by default: "
            "training on the model's own answers teaches it nothing new.",
        ),
    ] = False,
    min_model_confidence: Annotated[
        float,
        typer.Option(help="With --include-model-labels, only answers at or above this confidence (0-1)."),
    ] = DEFAULT_MIN_MODEL_CONFIDENCE,
) -> None:
    """Join messages, human labels (they win over model output), analyses and outcomes of the conversations
    that started in [SINCE, UNTIL) into OUT/tone.jsonl, intent.jsonl and upsell.jsonl, with manifest.json
    (what went in: counts, options, sha256). Texts are PII-scrubbed."""
    from services.ml.dataset_source import build_dataset

    try:
        time_range = parse_time_range(since, until)
        options = BuildOptions(include_model_labels, min_model_confidence)
        manifest = asyncio.run(build_dataset(load_settings(), time_range, out, options, report_progress))
    except DatasetInputError as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(2) from None
    except DatasetError as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(manifest, indent=2))
