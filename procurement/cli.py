"""`flask procurement ...` commands."""

from __future__ import annotations

from datetime import date

import click
from flask import Flask
from flask.cli import AppGroup

from procurement import scorecards

group = AppGroup("procurement", help="Suppliers, purchase orders and scorecards.")


@group.command("rescore")
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Score as of this day (default today, UTC).",
)
def rescore(as_of: object) -> None:
    """Re-grade every supplier; schedule daily so orders going overdue are counted as late."""
    day: date | None = as_of.date() if as_of is not None else None  # type: ignore[attr-defined]
    for code, grade, flagged in scorecards.rescore_all(day):
        flag = "\tflagged for review" if flagged else ""
        click.echo(f"{code}\t{grade or '-'}{flag}")


def init_app(app: Flask) -> None:
    app.cli.add_command(group)
