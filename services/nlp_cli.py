"""`teppan nlp ...`: train the artefacts, predict over JSONL streams, evaluate against gold, benchmark.

App layer: it joins the NLP room's fast path with the ML room's training and evaluation, which may not
import each other. Commands that need the artefacts build them first when they are missing or stale.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import sys
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from services.ml_cli import PublicDataOpt, RegisterOpt
from services.nlp.defaults import DEFAULT_THRESHOLD, default_artifact_dir

if TYPE_CHECKING:
    from services.nlp.fast_path import Analysis, FastPath

nlp_app = typer.Typer(help="The NLP fast path: tone, intent, slots and confidence.", no_args_is_help=True)

ArtifactOpt = Annotated[
    Path | None, typer.Option("--artifacts", help="Artefact folder (default $TEPPAN_DATA_DIR/models/nlp).")
]
ThresholdOpt = Annotated[float, typer.Option("--threshold", help="Escalate below this overall confidence.")]
WithEscalationOpt = Annotated[
    bool,
    typer.Option(
        "--with-escalation",
        help="Where the fast path escalates, answer with the escalation model (as the running system does).",
    ),
]
ModelOpt = Annotated[
    Path | None,
    typer.Option("--model", help="Escalation model folder (default $TEPPAN_DATA_DIR/models/escalation)."),
]
_CHUNK = 512  # lines per analyse_batch call: bounded memory, amortised per-call overhead


def load_fast_path(artifacts: Path | None, threshold: float = DEFAULT_THRESHOLD) -> FastPath:
    """The fast path over `artifacts` (default folder when None), trained there first if need be."""
    from services.ml.training import ensure_built
    from services.nlp.fast_path import FastPath

    artifact_dir = artifacts or default_artifact_dir()
    ensure_built(artifact_dir)
    return FastPath.load(artifact_dir, escalation_threshold=threshold)


class HybridAnalyser:
    """The answer the system gives: the fast path's where it is sure, the escalation model's tone, intent
    and sentiment where it escalated (slots, PII and the rest stay the rules'; `escalate` still says
    whether it did). Lives in the app layer: it joins the NLP room's fast path and the ML room's model."""

    def __init__(self, fast_path: FastPath, model: Any) -> None:
        self.fast_path = fast_path
        self.model = model

    def _overrule(self, analyses: list[Analysis], texts: list[str]) -> list[Analysis]:
        escalated = [index for index, analysis in enumerate(analyses) if analysis.escalate]
        answers = self.model.predict([texts[index] for index in escalated]) if escalated else []
        merged = list(analyses)
        for index, answer in zip(escalated, answers, strict=True):
            merged[index] = dataclasses.replace(
                analyses[index],
                tone=answer.tone,
                tone_probs=answer.tone_probs,
                intent=answer.intent,
                intent_probs=answer.intent_probs,
                sentiment=answer.sentiment,
                sentiment_probs=answer.sentiment_probs,
                confidence=answer.confidence,
            )
        return merged

    def analyze(
        self, text: str, *, requested_slots: Sequence[str] = (), occurred_at: datetime | None = None
    ) -> Analysis:
        fast = self.fast_path.analyze(text, requested_slots=requested_slots, occurred_at=occurred_at)
        return self._overrule([fast], [text])[0]

    def analyze_batch(self, items: list[dict[str, Any]]) -> list[Analysis]:
        return self._overrule(
            self.fast_path.analyze_batch(items), [str(item.get("text", "")) for item in items]
        )

    def resolve(self, slot: str, surface: str, base: date) -> Any:
        return self.fast_path.resolve(slot, surface, base)


def load_escalation_model(model_dir: Path | None) -> Any:
    from services.ml.escalation.model import EscalationModel
    from services.ml_cli import require_escalation_model
    from shared.settings import load_settings

    return EscalationModel(require_escalation_model(model_dir or load_settings().escalation_model_path))


def _chunks(lines: Iterator[bytes], size: int) -> Iterator[list[bytes]]:
    while True:
        chunk = list(itertools.islice(lines, size))
        if not chunk:
            return
        yield chunk


def predict_file(fp: FastPath | HybridAnalyser, src: Path, dst: Path, *, progress: bool | None = None) -> int:
    """Stream src to dst, one output line per input line; returns the number of lines written."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    show = sys.stderr.isatty() if progress is None else progress
    written = 0
    with (
        src.open("rb") as fin,
        dst.open("w", encoding="utf-8") as fout,
        Progress(
            TextColumn("predict"),
            BarColumn(),
            TextColumn("{task.fields[lines]} lines"),
            TimeRemainingColumn(),
            disable=not show,
            transient=False,
        ) as bar,
    ):
        task = bar.add_task("predict", total=src.stat().st_size or 1, lines=0)
        raw_lines = (line for line in fin if line.strip())
        for chunk in _chunks(raw_lines, _CHUNK):
            items: list[dict[str, Any]] = []
            for raw in chunk:
                try:
                    items.append(json.loads(raw))
                except json.JSONDecodeError as exc:
                    raise typer.BadParameter(f"line {written + len(items) + 1}: not JSON ({exc})") from exc
            for item, analysis in zip(items, fp.analyze_batch(items), strict=True):
                fout.write(
                    json.dumps(analysis.to_predict_line(str(item.get("id", ""))), ensure_ascii=False) + "\n"
                )
            written += len(items)
            bar.update(task, completed=fin.tell(), lines=written)
    return written


@nlp_app.command()
def predict(
    in_path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Input JSONL")],
    out_path: Annotated[Path, typer.Argument(dir_okay=False, help="Output JSONL")],
    artifacts: ArtifactOpt = None,
    threshold: ThresholdOpt = DEFAULT_THRESHOLD,
    with_escalation: WithEscalationOpt = False,
    model: ModelOpt = None,
) -> None:
    """Analyse every line of IN.jsonl into OUT.jsonl (trains the artefacts first if they are missing)."""
    fp = load_fast_path(artifacts, threshold)
    analyser = HybridAnalyser(fp, load_escalation_model(model)) if with_escalation else fp
    n = predict_file(analyser, in_path, out_path)
    typer.echo(f"wrote {n} lines to {out_path}", err=True)


@nlp_app.command("eval")
def eval_cmd(
    gold: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Gold JSONL in the shared datasets' format")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    split: Annotated[str | None, typer.Option(help="Only rows whose split equals this")] = None,
    artifacts: ArtifactOpt = None,
    threshold: ThresholdOpt = DEFAULT_THRESHOLD,
    with_escalation: WithEscalationOpt = False,
    model: ModelOpt = None,
) -> None:
    """Intent accuracy and macro-F1, tone macro-F1, sentiment, frustration, per-slot P/R/F1 and the
    escalation rate; with --with-escalation, the fast path alone and the combined answer side by side."""
    from services.ml.corpora import read_jsonl
    from services.ml.evaluation import evaluate

    fp = load_fast_path(artifacts, threshold)
    rows = [r for r in read_jsonl(gold) if split is None or r.get("split") == split]
    report = evaluate(fp, rows)
    report["file"] = str(gold)
    if with_escalation:
        combined = evaluate(HybridAnalyser(fp, load_escalation_model(model)), rows)
        if as_json:
            typer.echo(
                json.dumps({"file": str(gold), "fast_path": report, "with_escalation": combined}, indent=2)
            )
            return
        _print_side_by_side(report, combined)
        return
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    _print_report(report)


def _headline(report: dict[str, Any]) -> dict[str, Any]:
    """The figures a reader compares first, by name."""
    micro = report.get("slots_micro") or {}
    frustration = report.get("frustration") or {}
    return {
        "intent accuracy": report["intent"]["accuracy"],
        "intent macro-F1": report["intent"]["macro_f1"],
        "tone macro-F1": report["tone"]["macro_f1"],
        "sentiment macro-F1": report["sentiment"]["macro_f1"],
        "frustration F1": frustration.get("f1"),
        "slot F1 (micro)": micro.get("f1"),
        "escalated": report["escalation_rate"],
        "intent accuracy, kept turns": report["intent_kept"]["accuracy"],
        "intent accuracy, escalated turns": report["intent_escalated"]["accuracy"],
    }


def _print_side_by_side(fast: dict[str, Any], combined: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(f"{fast['file']} ({fast['rows']} rows)", "fast path alone", "with escalation")
    left, right = _headline(fast), _headline(combined)
    for name in left:
        table.add_row(name, str(left[name]), str(right[name]))
    Console().print(table)


def _print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"[bold]{report['file']}[/bold]: {report['rows']} rows, escalation rate {report['escalation_rate']}"
    )
    for field in ("intent", "tone"):
        r = report[field]
        if r["n"]:
            console.print(f"{field}: n={r['n']} accuracy={r['accuracy']} macro-F1={r['macro_f1']}")
    table = Table("slot", "precision", "recall", "F1", "tp", "fp", "fn")
    for slot, s in report["slots"].items():
        table.add_row(slot, *(str(s[k]) for k in ("precision", "recall", "f1", "tp", "fp", "fn")))
    if report["slots_micro"]:
        m = report["slots_micro"]
        table.add_row("all (micro)", *(str(m[k]) for k in ("precision", "recall", "f1", "tp", "fp", "fn")))
        console.print(table)


@nlp_app.command()
def train(
    artifacts: ArtifactOpt = None,
    public_data: PublicDataOpt = True,
    register: RegisterOpt = True,
) -> None:
    """Build the artefacts (static embeddings + heads); says which data it found, scores them on the
    hand-written gold set, registers them, then prints the report (the same as `teppan ml train nlp`)."""
    from services.ml_cli import train_nlp_and_register

    meta = train_nlp_and_register(artifacts or default_artifact_dir(), public_data=public_data, register=register)
    typer.echo(json.dumps(meta, indent=2))


@nlp_app.command()
def bench(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
    messages: Annotated[int, typer.Option(help="Messages for the fast path")] = 20000,
    peer_messages: Annotated[
        int, typer.Option(help="Messages for the naive spaCy + MiniLM peer (0 to skip)")
    ] = 300,
    artifacts: ArtifactOpt = None,
) -> None:
    """Fast path one at a time and batched on one core, versus the naive spaCy + MiniLM peer."""
    from services.devtools.nlp_bench import run_nlp_benchmark
    from services.ml.training import ensure_built

    artifact_dir = artifacts or default_artifact_dir()
    ensure_built(artifact_dir)  # before the benchmark pins itself to one core
    result = run_nlp_benchmark(artifact_dir, messages=messages, peer_messages=peer_messages)
    typer.echo(json.dumps(result, indent=2) if as_json else _bench_text(result))


def _bench_text(r: dict[str, Any]) -> str:
    lines = [
        f"fast path one-at-a-time: {r['fast_path']['one_at_a_time']['msgs_per_s']:.0f} msg/s, "
        f"p50 {r['fast_path']['one_at_a_time']['p50_ms']:.3f} ms, p99 {r['fast_path']['one_at_a_time']['p99_ms']:.3f} ms",
        f"fast path batched: {r['fast_path']['batched']['msgs_per_s']:.0f} msg/s",
    ]
    if r.get("peer"):
        lines.append(
            f"peer: {r['peer']['msgs_per_s']:.1f} msg/s, p50 {r['peer']['p50_ms']:.1f} ms, "
            f"p99 {r['peer']['p99_ms']:.1f} ms; speed-up {r['speedup_one_at_a_time']:.0f}x"
        )
    return "\n".join(lines)
