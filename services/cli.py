"""`teppan`: the single entry point. Every command finds the stack from the environment or stack.env."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from schemas.workers import WORKER_KINDS
from services.analytics.reports.cli import costs_app, experiments_app, ml_app, report_app
from services.ml.dataset_cli import ml_dataset_app
from services.ml.replay.core import ReplaySource
from services.ml_cli import ml_registry_app, ml_train_app, promote_command, require_escalation_model
from services.nlp_cli import bench as nlp_bench
from services.nlp_cli import nlp_app
from services.operations.cli import db_backup, db_restore, privacy_app, retention_app
from shared.logging import configure_logging
from shared.settings import load_settings

app = typer.Typer(help="Teppan: conversation intelligence for booking chat assistants.", no_args_is_help=True)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topic commands.", no_args_is_help=True)
schemas_app = typer.Typer(help="Event schema commands.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks; each prints JSON as its last line.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(topics_app, name="topics")
app.add_typer(schemas_app, name="schemas")
app.add_typer(bench_app, name="bench")
app.add_typer(costs_app, name="costs")
app.add_typer(experiments_app, name="experiments")
app.add_typer(ml_app, name="ml")
ml_app.add_typer(ml_train_app, name="train")
ml_app.add_typer(ml_registry_app, name="registry")
ml_app.add_typer(ml_dataset_app, name="dataset")
ml_app.command("promote")(promote_command)
app.add_typer(report_app, name="report")
app.add_typer(nlp_app, name="nlp")
# `teppan bench nlp` is the NLP fast path's own benchmark, listed with the others.
bench_app.command("nlp")(nlp_bench)
app.add_typer(retention_app, name="retention")
app.add_typer(privacy_app, name="privacy")
db_app.command("backup")(db_backup)
db_app.command("restore")(db_restore)


@app.command()
def up(
    demo: Annotated[bool, typer.Option(help="Also produce demo traffic.")] = False,
    demo_rate: Annotated[float, typer.Option(help="Demo chat messages per second.")] = 20.0,
    quiet: Annotated[bool, typer.Option(help="No live summary (for scripts and CI).")] = False,
) -> None:
    """Start the whole pipeline in the foreground: servers, topics, migrations, every worker and HTTP."""
    from services.devtools.supervisor import run_stack

    settings = load_settings()
    # With the live summary on the terminal, the supervisor's own log lines go to a file beside the workers'.
    own_log = settings.log_file or (None if quiet else settings.data_dir / "logs" / "supervisor.log")
    configure_logging(settings.log_level, own_log)
    raise typer.Exit(asyncio.run(run_stack(settings, demo=demo, demo_rate=demo_rate, live=not quiet)))


@app.command()
def worker(kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(WORKER_KINDS)}.")]) -> None:
    """Run one worker kind against the configured servers (scale out by starting more)."""
    from services.runner import run_worker

    if kind not in WORKER_KINDS:
        raise typer.BadParameter(f"unknown kind {kind!r}; known: {', '.join(WORKER_KINDS)}")
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_file)
    if kind == "nlp":
        # The nlp worker only loads its artefacts; building them when missing or stale is the app's call.
        from services.ml.training import ensure_built

        ensure_built(settings.nlp_artifacts_path)
    if kind == "escalation":
        require_escalation_model(settings.escalation_model_path)
    asyncio.run(run_worker(kind, settings))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default TEPPAN_HTTP_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default TEPPAN_HTTP_PORT).")] = None,
) -> None:
    """Run the HTTP server (POST /v1/events, /healthz)."""
    import uvicorn

    from services.http_app import create_app
    from shared.gc_tuning import freeze_start_up_heap

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_file)
    app = create_app(settings)
    freeze_start_up_heap()
    uvicorn.run(
        app,
        host=host or settings.http_host,
        port=port or settings.http_port,
        log_config=None,
        access_log=False,
    )


@app.command()
def demo(
    rate: Annotated[float, typer.Option(help="Chat messages per second.")] = 20.0,
    duration: Annotated[float, typer.Option(help="Seconds to run; 0 runs until stopped.")] = 60.0,
    seed: Annotated[int, typer.Option(help="Same seed, same conversations.")] = 7,
    label_share: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Share of customer messages a demo labeller labels (tone and intent, on labels.v1, from the"
            " demo's ground truth), to walk the learning loop on demo data.",
        ),
    ] = 0.0,
) -> None:
    """Produce realistic hibachi booking conversations over the Kafka protocol."""
    from services.devtools.demo_producer import produce_demo

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_file)
    counts = asyncio.run(
        produce_demo(settings, rate=rate, duration=duration or None, seed=seed, label_share=label_share)
    )
    typer.echo(json.dumps(counts))


@app.command()
def replay(
    topics: Annotated[str, typer.Option(help="Topic names, comma-separated.")],
    since: Annotated[
        str, typer.Option(help="Start, included: ISO-8601 with a UTC offset (2026-01-31T00:00Z).")
    ],
    until: Annotated[str, typer.Option(help="End, excluded: ISO-8601 with a UTC offset.")],
    out: Annotated[Path, typer.Option(help="A new or empty folder for the data files and manifest.json.")],
    source: Annotated[
        ReplaySource, typer.Option(help="kafka, or db to rebuild the events from PostgreSQL.")
    ] = ReplaySource.KAFKA,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Progress on stderr (default: when it is a terminal)."),
    ] = None,
) -> None:
    """Replay topics over [since, until) into OUT/<topic>/<partition>.jsonl, with manifest.json (lineage).

    From Kafka with the broker's record timestamps; with --source db, rebuilt from the database's tables.
    Bad input exits with 2, a failed replay with 1.
    """
    from services.ml.replay import ReplayError, ReplayInputError, TimeRange, parse_topics, progress_bar
    from services.ml.replay import replay as run_replay

    try:
        time_range = TimeRange.parse(since, until)
        names = parse_topics(topics)
        settings = load_settings()
        configure_logging("WARNING", settings.log_file)
        with progress_bar(sys.stderr.isatty() if progress is None else progress) as bar:
            manifest = asyncio.run(
                run_replay(
                    settings, topics=names, time_range=time_range, out_dir=out, source=source, progress=bar
                )
            )
    except ReplayInputError as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(2) from None
    except ReplayError as error:
        typer.echo(f"Error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{manifest['records']} records in {out} (sha256 {manifest['sha256']})")


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply pending SQL migrations."""
    from shared.db import migrate_database

    applied = asyncio.run(migrate_database(load_settings()))
    typer.echo(f"applied: {applied}" if applied else "database is up to date")


@topics_app.command("create")
def topics_create() -> None:
    """Create every topic that does not exist yet (TEPPAN_PARTITIONS partitions each)."""
    from shared.kafka import create_topics

    asyncio.run(create_topics(load_settings()))
    typer.echo("topics ready")


@schemas_app.command("export")
def schemas_export(directory: Annotated[Path, typer.Argument(help="Folder to write into.")]) -> None:
    """Write one JSON Schema per event and the AsyncAPI document faststream generates."""
    from services.asyncapi import export_schemas

    for path in export_schemas(directory):
        typer.echo(str(path))


@bench_app.command("pipeline")
def bench_pipeline(
    messages: Annotated[int, typer.Option(help="Chat messages to produce.")] = 20_000,
    rate: Annotated[
        float | None, typer.Option(help="Feed at this many per second instead of flat out.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the JSON result lines.")] = False,
    baseline_messages: Annotated[
        int, typer.Option(help="Messages for the naive per-message INSERT baseline; 0 skips it.")
    ] = 5000,
    full: Annotated[
        bool, typer.Option(help="Run every worker kind and wait for every customer turn's analysis too.")
    ] = False,
    texts: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="JSONL whose `text` fields the messages cycle through (default: six fixed booking messages).",
        ),
    ] = None,
) -> None:
    """Produce N chat messages and wait until all are logged; reports throughput and latency.

    The line before the last compares with the named baseline; the last line is the pipeline's result.
    """
    from services.devtools.bench import run_pipeline_benchmark

    settings = load_settings()
    configure_logging("WARNING")
    result = asyncio.run(
        run_pipeline_benchmark(
            settings,
            messages=messages,
            rate=rate,
            verbose=not as_json,
            baseline_messages=baseline_messages,
            full=full,
            **({"texts": _texts_of(texts)} if texts else {}),
        )
    )
    typer.echo(json.dumps(result))


def _texts_of(path: Path) -> list[str]:
    texts = [
        str(json.loads(line)["text"])
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    if not texts:
        raise typer.BadParameter(f"{path} holds no `text` lines")
    return texts


@bench_app.command("http")
def bench_http(
    as_json: Annotated[bool, typer.Option("--json", help="Print only the JSON result line.")] = False,
    single_requests: Annotated[int, typer.Option(help="Posts of one event from one client.")] = 2_000,
    concurrent_requests: Annotated[
        int, typer.Option(help="Posts of one event from 32 concurrent clients, in all.")
    ] = 20_000,
    batch_requests: Annotated[int, typer.Option(help="Posts of 100 events from one client.")] = 200,
    baseline: Annotated[
        bool, typer.Option(help="Also run the scenarios against the pre-fix producer.")
    ] = True,
    max_seconds: Annotated[float, typer.Option(help="Time limit of each scenario.")] = 20.0,
) -> None:
    """POST /v1/events through uvicorn into an embedded Tansu: events/s, requests/s, p50/p95/p99."""
    from services.devtools.bench_http import run_http_benchmark, summary_lines

    configure_logging("WARNING")
    result = asyncio.run(
        run_http_benchmark(
            single_requests=single_requests,
            concurrent_requests=concurrent_requests,
            batch_requests=batch_requests,
            baseline=baseline,
            max_seconds=max_seconds,
        )
    )
    if not as_json:
        for line in summary_lines(result):
            typer.echo(line)
    typer.echo(json.dumps(result))


@bench_app.command("dashboard")
def bench_dashboard(
    messages: Annotated[int, typer.Option(help="Messages in the database for the measured run.")] = 1_000_000,
    baseline_messages: Annotated[
        int, typer.Option(help="Messages for the baseline run on the same server (measured first).")
    ] = 10_000,
    repeats: Annotated[int, typer.Option(help="Requests per path and refreshes per range.")] = 20,
    browser: Annotated[
        bool, typer.Option(help="Also time the first paint in Chromium, when installed.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the JSON result.")] = False,
) -> None:
    """The owner's page with a month of traffic seeded: each refresh's server time and the first paint."""
    from services.devtools.bench_dashboard import run_dashboard_benchmark, summary_lines

    configure_logging("WARNING")
    result = asyncio.run(
        run_dashboard_benchmark(
            messages=messages,
            baseline_messages=baseline_messages,
            repeats=repeats,
            browser=browser,
            progress=None if as_json else typer.echo,
        )
    )
    if not as_json:
        for line in summary_lines(result):
            typer.echo(line)
    typer.echo(json.dumps(result))


@bench_app.command("faults")
def bench_faults(
    messages: Annotated[int, typer.Option(help="Valid chat messages sent during each phase.")] = 2000,
    rate: Annotated[float, typer.Option(help="Valid messages per second during each phase.")] = 200.0,
    kill_rounds: Annotated[int, typer.Option(help="Times every worker kind is killed with SIGKILL.")] = 3,
    db_cut_seconds: Annotated[
        float, typer.Option(help="Seconds of cutting every database connection.")
    ] = 10.0,
    redis_freeze_seconds: Annotated[float, typer.Option(help="Seconds Redis is frozen (SIGSTOP).")] = 20.0,
    malformed: Annotated[
        int, typer.Option(help="Fuzzed malformed records, interleaved with valid ones.")
    ] = 10_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the JSON result line.")] = False,
) -> None:
    """Break a running stack on purpose (kills, cut connections, frozen Redis, fuzz) and count what survived.

    Runs its own `teppan up` in a temporary folder; prints one JSON line: lost, duplicated, dead-lettered,
    turn-order violations, wedged workers and the seconds each phase took to catch up (baseline: no fault).
    """
    from services.devtools.bench_faults import run_fault_benchmark

    settings = load_settings()
    configure_logging("WARNING")
    result = asyncio.run(
        run_fault_benchmark(
            messages_per_phase=messages,
            rate=rate,
            kill_rounds=kill_rounds,
            db_cut_seconds=db_cut_seconds,
            redis_freeze_seconds=redis_freeze_seconds,
            malformed=malformed,
            nlp_artifacts_dir=settings.nlp_artifacts_path if settings.nlp_artifacts_path.exists() else None,
            progress=(lambda _: None) if as_json else (lambda line: typer.echo(line, err=True)),
        )
    )
    typer.echo(json.dumps(result))


@bench_app.command("escalation")
def bench_escalation(
    as_json: Annotated[bool, typer.Option("--json", help="Print only the JSON result line.")] = False,
    messages: Annotated[int, typer.Option(min=1, help="Messages fed through the dynamic batcher.")] = 2000,
    batch_size: Annotated[
        int | None,
        typer.Option(min=1, help="The batcher's maximum batch size (default: the worker's setting)."),
    ] = None,
    peer_messages: Annotated[
        int, typer.Option(min=0, help="Messages for the naive per-message MiniLM + LR peer (0 to skip).")
    ] = 200,
    model: Annotated[
        Path | None, typer.Option(help="Model folder (default: the configured escalation model).")
    ] = None,
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads (default: all cores, torch's default).")
    ] = None,
) -> None:
    """The escalation model behind its dynamic batcher (many concurrent requests), one at a time, and the peer."""
    from services.devtools.escalation_bench import run_escalation_benchmark, summary_lines

    settings = load_settings()
    model_dir = require_escalation_model(model or settings.escalation_model_path)
    configure_logging("WARNING")
    result = run_escalation_benchmark(
        model_dir,
        messages=messages,
        batch_size=batch_size or settings.escalation_max_batch_size,
        max_queue_delay_ms=settings.escalation_max_queue_delay_ms,
        peer_messages=peer_messages,
        threads=threads,
        backend=None if settings.escalation_backend == "auto" else settings.escalation_backend,
        progress=lambda line: typer.echo(line, err=True),
    )
    if not as_json:
        for line in summary_lines(result):
            typer.echo(line)
    typer.echo(json.dumps(result))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
