"""`teppan replay`: copy Kafka topics over a time range into files, with their lineage, for retraining.

`replay()` is the whole command below its argument parsing: it checks the request, has the chosen source
(Kafka, or PostgreSQL when the broker no longer holds the range) write the data files, then writes the
manifest. The format and the lineage are described in `services.ml.replay.core`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from services.ml.replay.core import (
    SILENT,
    PartitionProgress,
    ReplayError,
    ReplayInputError,
    ReplayProgress,
    ReplaySource,
    TimeRange,
    build_manifest,
    check_output_dir,
    parse_topics,
    sha256_of_files,
    write_manifest,
)
from shared.settings import Settings

__all__ = [
    "ReplayError",
    "ReplayInputError",
    "ReplaySource",
    "TimeRange",
    "parse_topics",
    "progress_bar",
    "replay",
]


async def replay(
    settings: Settings,
    *,
    topics: Sequence[str],
    time_range: TimeRange,
    out_dir: Path,
    source: ReplaySource = ReplaySource.KAFKA,
    progress: ReplayProgress = SILENT,
) -> dict[str, Any]:
    """Replay `topics` over `time_range` into `out_dir`; returns the manifest it wrote there last."""
    check_output_dir(out_dir)
    if source is ReplaySource.KAFKA:
        from services.ml.replay.kafka_source import replay_from_kafka

        results = await replay_from_kafka(settings, topics, time_range, out_dir, progress)
    else:
        from services.ml.replay.db_source import replay_from_db

        results = await replay_from_db(settings, topics, time_range, out_dir, progress)
    sha256 = sha256_of_files(out_dir, [result.file_name for result in results])
    manifest = build_manifest(time_range, source, results, sha256)
    write_manifest(out_dir, manifest)
    return manifest


class _RichPartition:
    def __init__(self, bar: Any, task: Any) -> None:
        self._bar = bar
        self._task = task

    def update(self, *, scanned: int, written: int) -> None:
        self._bar.update(self._task, completed=scanned, written=written)


class _RichProgress:
    """One line, reused partition after partition: a long list of finished bars tells nothing."""

    def __init__(self, bar: Any) -> None:
        self._bar = bar
        self._task = bar.add_task("replay", total=None, written=0)

    def partition(self, label: str, total: int | None) -> PartitionProgress:
        self._bar.reset(self._task, total=total, description=label, written=0)
        return _RichPartition(self._bar, self._task)


@contextmanager
def progress_bar(enabled: bool) -> Iterator[ReplayProgress]:
    """A progress line on stderr (offsets read of the partition, records written), or nothing."""
    if not enabled:
        yield SILENT
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("offsets read, {task.fields[written]} records written"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        yield _RichProgress(bar)
