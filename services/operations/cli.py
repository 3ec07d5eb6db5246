"""The operations commands: `teppan db backup|restore`, `teppan retention apply`, `teppan privacy forget`.

`services/cli.py` registers them; each prints a short summary, or with `--json` one JSON document.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from shared.settings import load_settings

retention_app = typer.Typer(help="Delete or redact data past its retention age.", no_args_is_help=True)
privacy_app = typer.Typer(help="Data-subject requests.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the JSON document only.")]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Count what would change; change nothing.")]


def _run(work: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Runs one operation; a problem the operator can fix is one line on stderr and exit status 1."""
    import asyncpg

    from services.operations.backup import BackupError

    try:
        return asyncio.run(work)
    except (BackupError, ValueError, RuntimeError, OSError, asyncpg.PostgresError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None


def _print_json(document: dict[str, Any]) -> None:
    typer.echo(json.dumps(document, indent=2, default=str))


def db_backup(
    path: Annotated[Path, typer.Argument(help="Archive to write (pg_dump custom format).")],
    as_json: JsonOption = False,
) -> None:
    """Back up the database with pg_dump -Fc (client tools of at least the server's major version)."""
    from services.operations.backup import backup

    report = _run(backup(load_settings(), path))
    if as_json:
        _print_json(report)
        return
    client = report["client"]
    typer.echo(
        f"backed up to {report['path']}: {report['bytes']} bytes, {report['tables']} tables, "
        f"in {report['seconds']} s (server {report['server_major']}, pg_dump {client['major']} "
        f"from {client['origin']})"
    )


def db_restore(
    path: Annotated[Path, typer.Argument(help="Archive written by `teppan db backup`.")],
    clean: Annotated[
        bool, typer.Option(help="Drop and replace the archive's objects in a database that has them.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Restore an archive into the database, in one transaction (empty database unless --clean)."""
    from services.operations.backup import restore

    report = _run(restore(load_settings(), path, clean=clean))
    if as_json:
        _print_json(report)
        return
    archive, client = report["archive"], report["client"]
    typer.echo(
        f"restored {report['path']} (dumped by pg_dump {archive['dumped_by']} from server "
        f"{archive['server_version']}) in {report['seconds']} s with pg_restore {client['major']}"
    )


@retention_app.command("apply")
def retention_apply(dry_run: DryRunOption = False, as_json: JsonOption = False) -> None:
    """Delete raw text and rows past TEPPAN_RETENTION_DAYS_RAW, aggregates past ..._AGGREGATES."""
    from services.operations.retention import apply_retention

    report = _run(apply_retention(load_settings(), dry_run=dry_run))
    if as_json:
        _print_json(report)
        return
    cutoffs = report["cutoffs"]
    verb = "would change" if dry_run else "changed"
    typer.echo(
        f"retention: raw {cutoffs['raw']['days']} days (before {cutoffs['raw']['before']}), "
        f"aggregates {cutoffs['aggregate']['days']} days (before {cutoffs['aggregate']['before']}); {verb}:"
    )
    for table in report["tables"]:
        typer.echo(
            f"  {table['action']:<7} {table['table']:<22} {table['rows']:>8}  "
            f"{table['what']} ({table['age']})"
        )
    files = report["prediction_log_files"]["deleted"]
    typer.echo(f"  {'delete':<7} {'prediction log files':<22} {len(files):>8}  {', '.join(files)}".rstrip())


@privacy_app.command("forget")
def privacy_forget(
    customer_id: Annotated[int, typer.Option("--customer-id", help="The customer to erase.")],
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
) -> None:
    """Erase a customer's conversations from PostgreSQL, the prediction log and Redis."""
    from services.operations.privacy import forget_customer

    report = _run(forget_customer(load_settings(), customer_id, dry_run=dry_run))
    if as_json:
        _print_json(report)
        return
    verb = "would touch" if dry_run else "touched"
    typer.echo(f"customer {customer_id}: {report['conversations']} conversations; {verb}:")
    for table in report["tables"]:
        typer.echo(f"  {table['action']:<9} {table['table']:<22} {table['rows']:>8}")
    for file in report["prediction_log_files"]:
        typer.echo(f"  rewrite   {file['path']} (-{file['lines_removed']} lines)")
    typer.echo(f"  redis keys deleted: {report['redis_keys_deleted']}")
