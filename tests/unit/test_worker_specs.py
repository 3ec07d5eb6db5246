"""The worker registry is the truth: each kind's real handlers read and write exactly what its spec declares,
and the exported AsyncAPI document shows every kind's subscriptions and publications."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from urllib.parse import unquote

from schemas.workers import WORKER_KINDS, WORKERS, consumer_group
from services.asyncapi import FRONT_END_TOPICS, export_schemas


def operations_by_kind(directory: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(kind -> topics it receives, kind -> topics it sends) as the AsyncAPI document says."""
    document = json.loads((directory / "asyncapi.json").read_text())
    receives: dict[str, set[str]] = defaultdict(set)
    sends: dict[str, set[str]] = defaultdict(set)
    for operation in document["operations"].values():
        channel_name = unquote(operation["channel"]["$ref"].rsplit("/", 1)[-1])
        topic = document["channels"][channel_name]["address"]
        if operation["action"] == "receive":
            receives[channel_name.split(":", 1)[0]].add(topic)
        else:
            sends[channel_name.split(" -> ", 1)[0]].add(topic)
    return receives, sends


def test_the_asyncapi_document_lists_every_worker_kind_as_declared(tmp_path: Path) -> None:
    export_schemas(tmp_path)
    receives, sends = operations_by_kind(tmp_path)
    for spec in WORKERS:
        assert receives[spec.kind] == set(spec.consumes), spec.kind
        assert sends[spec.kind] == set(spec.publishes), spec.kind
    assert set(receives) == set(WORKER_KINDS)
    assert set(sends) == {*WORKER_KINDS, "front end"}
    assert sends["front end"] == set(FRONT_END_TOPICS)


def test_kinds_and_groups_are_unique() -> None:
    assert len(set(WORKER_KINDS)) == len(WORKERS)
    assert {spec.group for spec in WORKERS} == {consumer_group(kind) for kind in WORKER_KINDS}
    assert all(spec.group == f"teppan-{spec.kind}" for spec in WORKERS)


def test_teppan_schemas_export_writes_the_documents(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from services.cli import app

    result = CliRunner().invoke(app, ["schemas", "export", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "asyncapi.json") in result.output
    receives, _ = operations_by_kind(tmp_path)
    assert set(receives) == set(WORKER_KINDS)
