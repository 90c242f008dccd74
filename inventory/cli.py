"""`flask inventory ...` commands."""

from __future__ import annotations

import time

import click
from flask import Flask
from flask.cli import AppGroup

group = AppGroup("inventory", help="Stock housekeeping.")


@group.command("release-expired")
@click.option("--batch", default=500, show_default=True, help="Reservations per transaction.")
@click.option(
    "--every",
    type=float,
    default=None,
    help="Keep running, releasing every this many seconds (for a service instead of cron).",
)
def release_expired(batch: int, every: float | None) -> None:
    """Store `expired` for lapsed holds, return their units, purge day-old idempotency keys.

    Availability ignores a lapsed hold without this; it keeps the tables tidy. Run it from cron
    every minute, e.g. `* * * * * flask --app app inventory release-expired`.
    """
    from inventory.reservations import release_expired as sweep

    while True:
        result = sweep(batch=batch)
        click.echo(
            f"released {result.reservations} expired reservations ({result.units} units); "
            f"purged {result.idempotency_keys} idempotency keys"
        )
        if every is None:
            return
        time.sleep(every)


def init_app(app: Flask) -> None:
    app.cli.add_command(group)
