"""The analytics commands (`teppan costs|experiments|ml|report ...`): read PostgreSQL, print text or `--json`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
import typer

from shared.db import database_url
from shared.settings import Settings, load_settings

costs_app = typer.Typer(help="LLM cost against the price table and budgets.", no_args_is_help=True)
experiments_app = typer.Typer(help="A/B experiment results.", no_args_is_help=True)
ml_app = typer.Typer(help="Machine learning: readiness and training.", no_args_is_help=True)
report_app = typer.Typer(help="Periodic KPI reports.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the JSON document only.")]


def _query(run: Callable[[asyncpg.Connection, Settings], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    settings = load_settings()

    async def main() -> dict[str, Any]:
        connection = await asyncpg.connect(database_url(settings))
        try:
            return await run(connection, settings)
        finally:
            await connection.close()

    return asyncio.run(main())


def _num(value: Any, spec: str = ".4f", missing: str = "n/a") -> str:
    return missing if value is None else format(value, spec)


def _print_json(document: dict[str, Any]) -> None:
    typer.echo(json.dumps(document, indent=2, default=str))


@costs_app.command("report")
def costs_report(
    as_json: JsonOption = False,
    since: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"], help="First UTC day.")] = None,
    until: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Last UTC day.")] = None,
) -> None:
    """Total LLM cost, by model and day, per conversation and booking, and the budget used."""
    from services.analytics.reports import queries
    from services.analytics.reports.costs import Budgets, PriceTable

    async def run(connection: asyncpg.Connection, settings: Settings) -> dict[str, Any]:
        return await queries.costs(
            connection,
            PriceTable.load(settings.prices_file),
            Budgets(settings.budget_daily_usd, settings.budget_monthly_usd),
            since=since.date() if since else None,
            until=until.date() if until else None,
        )

    report = _query(run)
    if as_json:
        _print_json(report)
        return
    typer.echo(f"LLM cost: ${report['total_usd']:.4f}")
    typer.echo(f"  per conversation: ${_num(report['per_conversation_avg_usd'], '.6f')}")
    typer.echo(f"  per booking:      ${_num(report['per_booking_usd'], '.6f')}")
    typer.echo("By model:")
    for key, usd in report["by_model"].items():
        typer.echo(f"  {key:<32} ${usd:.4f}")
    typer.echo("By day:")
    for key, usd in report["by_day"].items():
        typer.echo(f"  {key}  ${usd:.4f}")
    if report["unknown_models"]:
        typer.echo(f"Unknown models (not priced): {', '.join(report['unknown_models'])}")
    budget = report["budget"]
    for period in ("daily", "monthly"):
        limit = budget[f"{period}_usd"]
        used = budget[f"{period}_used"]
        share = f" ({100 * used / limit:.1f}%)" if limit else ""
        typer.echo(
            f"Budget {period}: ${used:.4f} of {'$' + format(limit, '.2f') if limit else 'no limit'}{share}"
        )


@experiments_app.command("report")
def experiments_report(
    name: Annotated[str, typer.Argument(help="The experiment's name in TEPPAN_EXPERIMENTS_FILE.")],
    attribution_days: Annotated[
        float | None,
        typer.Option(
            "--attribution-days",
            min=0.001,
            help="Count a booking within this many days of the unit's first exposure"
            " (default: the experiment's attribution_days, else 7).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Per exposed unit and variant: n, conversion, turns, upsells and CSAT; lifts with CIs, p-values and SRM."""
    from dataclasses import replace

    from services.analytics.reports import queries
    from services.common.experiments import load_experiments

    settings = load_settings()
    definitions = {experiment.name: experiment for experiment in load_experiments(settings.experiments_file)}
    if name not in definitions:
        raise typer.BadParameter(f"unknown experiment {name!r}; known: {', '.join(definitions) or 'none'}")
    definition = definitions[name]
    if attribution_days is not None:
        definition = replace(definition, attribution_days=attribution_days)

    async def run(connection: asyncpg.Connection, _: Settings) -> dict[str, Any]:
        return await queries.experiment(connection, definition)

    report = _query(run)
    if as_json:
        _print_json(report)
        return
    typer.echo(
        f"Experiment {report['experiment']} (control: {report['control']}; n counts exposed"
        f" {report['unit']} units; a booking within {report['attribution_window_days']:g} days of the first"
        " exposure converts)"
    )
    typer.echo(
        f"  {'variant':<16}{'n':>6}{'conv.':>7}{'rate':>8}{'turns':>8}{'upsell':>8}{'CSAT':>7}"
        f"{'tone acc.':>14}{'intent acc.':>14}"
    )
    for variant, v in report["variants"].items():
        accuracy = v["label_accuracy"]
        typer.echo(
            f"  {variant:<16}{v['n']:>6}{v['conversions']:>7}{v['conversion_rate']:>8.3f}"
            f"{v['avg_turns']:>8.2f}{v['upsell_acceptance']:>8.3f}{_num(v['csat'], '.3f'):>7}"
            f"{_labelled(accuracy['tone']):>14}{_labelled(accuracy['intent']):>14}"
        )
    srm = report["srm"]
    typer.echo(f"  sample-ratio mismatch: p={_num(srm['p_value'])}{'  FLAGGED' if srm['flagged'] else ''}")
    for variant, c in report["comparisons"].items():
        ci = c["ci95"]
        typer.echo(
            f"  {variant} vs {report['control']}: lift {_num(c['lift_abs'], '+.4f')}"
            f" (95% CI {_num(ci and ci[0], '+.4f')} to {_num(ci and ci[1], '+.4f')}),"
            f" relative {_num(c['lift_rel'], '+.2%')}, p={_num(c['p_value'])} ({c['test'] or 'no data'}),"
            f" chance to beat {report['control']} {_num(c['chance_to_beat_control'], '.1%')}"
        )
        for field, difference in c["label_accuracy"].items():
            if difference["diff"] is not None:
                typer.echo(
                    f"    {field} accuracy on human labels: {difference['diff']:+.3f}, p={_num(difference['p_value'])}"
                )


def _labelled(accuracy: dict[str, Any]) -> str:
    """`0.850 (40)`: accuracy on human labels and how many; `-` without any."""
    if not accuracy["labelled"]:
        return "-"
    return f"{accuracy['accuracy']:.3f} ({accuracy['labelled']})"


@ml_app.command("readiness")
def ml_readiness(as_json: JsonOption = False) -> None:
    """Live counts against the ML guide's thresholds, and the estimated days until ML is worth it."""
    from services.analytics.reports import queries

    async def run(connection: asyncpg.Connection, _: Settings) -> dict[str, Any]:
        return await queries.readiness(connection)

    report = _query(run)
    if as_json:
        _print_json(report)
        return
    for name, count in report["counts"].items():
        mark = "ok" if report["met"][name] else "  "
        typer.echo(f"  [{mark}] {name:<26}{count:>8} / {report['thresholds'][name]}")
    trend = report["rules_accuracy"]
    if trend["plateaued_below_target"] is None:
        weeks = sum(1 for week in trend["weeks"] if week["labelled"] >= trend["min_labels_per_week"])
        typer.echo(
            f"  [  ] fast-path accuracy plateau     not known yet: {weeks} of {trend['weeks_needed']} weeks"
            f" with {trend['min_labels_per_week']}+ human labels"
        )
    else:
        mark = "ok" if trend["plateaued_below_target"] else "  "
        typer.echo(
            f"  [{mark}] fast-path accuracy plateau     {trend['recent_accuracy']:.1%} over the last"
            f" {trend['weeks_needed']} labelled weeks, {100 * trend['gain_per_week']:+.2f} points a week"
            f" (plateau: under +1 a week and below {trend['target']:.0%})"
        )
    days = report["estimated_days_to_ready"]
    typer.echo(
        f"ML ready: {'yes' if report['ml_ready'] else 'no'}; estimated days to ready: {_num(days, 'd')}"
    )


@report_app.command("weekly")
def report_weekly(
    store: Annotated[
        bool,
        typer.Option(
            "--store",
            help="Also keep this report and the readiness report in weekly_reports (the weekly job does),"
            " so `teppan report history` can show the trend.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """The ML guide's weekly KPIs over the last seven days."""
    from services.analytics.reports import queries

    async def run(connection: asyncpg.Connection, _: Settings) -> dict[str, Any]:
        return await (queries.store_weekly(connection) if store else queries.weekly(connection))

    report = _query(run)
    if as_json:
        _print_json(report)
        return
    typer.echo(f"Weekly report (the seven days to {datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    labels = {
        "conversations_this_week": ("conversations this week", "d"),
        "total_conversations": ("conversations in total", "d"),
        "labeled_data_percentage": ("labelled data %", ".1f"),
        "tone_accuracy": ("tone accuracy", ".3f"),
        "intent_accuracy": ("intent accuracy", ".3f"),
        "response_time_p95": ("p95 NLP response time (ms)", ".1f"),
        "conversion_rate": ("conversion", ".3f"),
        "upsell_acceptance_rate": ("upsell acceptance", ".3f"),
        "avg_booking_value": ("average booking value ($)", ".2f"),
        "estimated_days_to_ml_ready": ("estimated days to ML ready", "d"),
    }
    for key, (label, spec) in labels.items():
        typer.echo(f"  {label:<30}{_num(report[key], spec):>12}")
    typer.echo(f"  {'ML ready':<30}{'yes' if report['ml_ready'] else 'no':>12}")
    if store:
        typer.echo("Stored in weekly_reports under today's UTC date.")


@report_app.command("history")
def report_history(
    weeks: Annotated[int, typer.Option("--weeks", min=1, help="How many stored reports, the latest.")] = 26,
    as_json: JsonOption = False,
) -> None:
    """The weekly reports the weekly job stored, oldest first: KPIs and readiness over time."""
    from services.analytics.reports import queries

    async def run(connection: asyncpg.Connection, _: Settings) -> dict[str, Any]:
        return {"reports": await queries.weekly_history(connection, weeks)}

    document = _query(run)
    if as_json:
        _print_json(document)
        return
    if not document["reports"]:
        typer.echo("No weekly report stored yet: the weekly job runs `teppan report weekly --store`.")
        return
    typer.echo(
        f"  {'date':<12}{'convs/wk':>9}{'tone acc':>9}{'conv.':>7}{'labelled':>9}{'ML ready':>9}{'days':>6}"
    )
    for row in document["reports"]:
        kpis, counts = row["kpis"], row["readiness"]["counts"]
        typer.echo(
            f"  {row['report_date']:<12}{kpis['conversations_this_week']:>9}{_num(kpis['tone_accuracy'], '.3f'):>9}"
            f"{_num(kpis['conversion_rate'], '.3f'):>7}{counts['labeled_tone']:>9}"
            f"{'yes' if kpis['ml_ready'] else 'no':>9}{_num(kpis['estimated_days_to_ml_ready'], 'd'):>6}"
        )
