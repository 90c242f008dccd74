"""`flask forecasting ...`: forecast runs in the foreground and demand imports from files."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from accounts.principal import SYSTEM
from core import jobs
from core.problems import Problem
from forecasting import services
from forecasting.schemas import MAX_HORIZON

group = AppGroup("forecasting", help="Forecast runs and demand history.")


def _fail(problem: Problem) -> None:
    details = [f"{k}: {'; '.join(map(str, v))}" for k, v in (problem.errors or {}).items()]
    raise click.ClickException("\n".join([problem.detail, *details[:20]]))


@group.command("run")
@click.option("--horizon", type=click.IntRange(1, 365), default=8, show_default=True)
@click.option("--frequency", type=click.Choice(["D", "W", "M"]), default="W", show_default=True)
@click.option("--sku", "skus", multiple=True, help="Only these items (repeat); default all.")
@click.option("--warehouse", "warehouses", multiple=True, help="Only these warehouses (repeat).")
def run_command(
    horizon: int, frequency: str, skus: tuple[str, ...], warehouses: tuple[str, ...]
) -> None:
    """Forecast in the foreground with a progress bar; the run is recorded like any other."""
    if horizon > MAX_HORIZON[frequency]:
        raise click.BadParameter(
            f"at most {MAX_HORIZON[frequency]} for frequency {frequency}", param_hint="--horizon"
        )
    data: dict[str, object] = {"horizon": horizon, "frequency": frequency}
    if skus:
        data["skus"] = list(skus)
    if warehouses:
        data["warehouses"] = list(warehouses)
    try:
        started = services.start_run(SYSTEM, data, executor=jobs.Executor.INLINE)
    except Problem as problem:
        _fail(problem)
        return
    steps = 1000
    with click.progressbar(
        length=steps, label=f"Forecast run {started['run_id']}", show_pos=False, show_percent=True
    ) as bar:

        def advance(progress: float, _message: str | None) -> None:
            bar.update(max(int(progress * steps) - bar.pos, 0))

        status = jobs.run_inline(started["job_id"], observer=advance)
    run = services.get_run(started["run_id"])
    accuracy = run["accuracy"]

    def fmt(value: float | None, pattern: str) -> str:
        return "n/a" if value is None else pattern.format(value)

    click.echo(
        f"run {run['id']}: {run['status']}, {run['series_done'] - run['series_failed']} of "
        f"{run['series_total']} series forecast, {run['series_failed']} failed; "
        f"MASE {fmt(accuracy['mase'], '{:.3f}')}, WAPE {fmt(accuracy['wape'], '{:.1%}')}, "
        f"bias {fmt(accuracy['bias'], '{:+.1%}')}"
    )
    if run["models"]:
        ranked = sorted(run["models"].items(), key=lambda i: (-i[1], i[0]))
        click.echo("models in the forecasts: " + ", ".join(f"{m} {n}" for m, n in ranked))
    if status is not jobs.JobStatus.SUCCEEDED:
        raise click.ClickException(run["error"] or "the run failed")


@group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(file: Path) -> None:
    """Import daily demand from a CSV file (sku,warehouse,date,quantity[,stockout])."""
    try:
        outcome = services.import_demand(SYSTEM, file.read_bytes(), file.name)
    except Problem as problem:
        _fail(problem)
        return
    click.echo(f"imported {outcome['rows']} days of demand ({outcome['replaced']} replaced)")


def init_app(app: Flask) -> None:
    app.cli.add_command(group)
