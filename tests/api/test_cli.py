"""The command line that scripts use to set up a fresh install (docs/api.md's *Command line*)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import Date, DateTime, TypeDecorator, func, select, text

from core import db
from core.db import Base
from inventory.models import Product, StockLevel, StockMovement, Warehouse


def test_create_user_and_token_then_use_and_revoke_it(app, client):
    runner = app.test_cli_runner()
    r = runner.invoke(
        args=[
            "accounts",
            "create-user",
            "lin",
            "--role",
            "warehouse",
            "--warehouse",
            "SH1",
            "--password",
            "pw-123456",
        ]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["accounts", "create-token", "lin", "--label", "scanner-3"])
    assert r.exit_code == 0, r.output
    token = r.output.strip()
    assert re.fullmatch(r"srk_[A-Za-z0-9_-]{40,}", token)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json["warehouses"] == ["SH1"]

    listed = runner.invoke(args=["accounts", "list-tokens", "--user", "lin"]).output
    assert "scanner-3" in listed
    assert "active" in listed
    assert token not in listed  # the secret is shown once, never again
    token_id = listed.split("\t")[0]
    assert runner.invoke(args=["accounts", "revoke-token", token_id]).exit_code == 0
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert "revoked" in runner.invoke(args=["accounts", "list-tokens"]).output

    users = runner.invoke(args=["accounts", "list-users"]).output
    assert "lin\twarehouse @ SH1" in users


def test_cli_refuses_bad_input_clearly(app):
    runner = app.test_cli_runner()
    r = runner.invoke(args=["accounts", "create-user", "x", "--role", "wizard"])
    assert r.exit_code != 0
    assert "wizard" in r.output
    r = runner.invoke(args=["accounts", "create-user", "x", "--role", "buyer", "--warehouse", "W"])
    assert r.exit_code != 0
    assert "warehouse role" in r.output
    runner.invoke(args=["accounts", "create-user", "dup", "--role", "viewer"])
    r = runner.invoke(args=["accounts", "create-user", "dup", "--role", "viewer"])
    assert r.exit_code != 0
    assert "already exists" in r.output
    r = runner.invoke(args=["accounts", "create-token", "nobody"])
    assert r.exit_code != 0
    assert "No user nobody" in r.output


#: The app's clock runs this far ahead of the wall clock in the demo test: a timestamp taken
#: from anywhere but ``core.db.utcnow`` lands years before everything else and is caught.
CLOCK_AHEAD = timedelta(days=1600)


def timestamps_off_the_clock(app, earliest: datetime, latest: datetime) -> list[str]:
    """Every date/datetime value in the database outside [earliest, latest], as table.column."""
    off = []
    with app.app_context(), db.read_only() as s:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, (Date, DateTime, TypeDecorator)):
                    continue
                if isinstance(column.type, TypeDecorator) and not isinstance(
                    column.type.impl, (Date, DateTime)
                ):
                    continue
                low, high = s.execute(select(func.min(column), func.max(column))).one()
                for value in (low, high):
                    if value is None:
                        continue
                    moment = (
                        value
                        if isinstance(value, datetime)
                        else datetime(value.year, value.month, value.day, tzinfo=UTC)
                    )
                    if moment.tzinfo is None:
                        moment = moment.replace(tzinfo=UTC)
                    if not earliest <= moment <= latest:
                        off.append(f"{table.name}.{column.name}={value}")
    return off


def test_demo_seed_builds_a_consistent_realistic_demo(app, client):
    app.config["CLOCK"] = lambda: datetime.now(UTC) + CLOCK_AHEAD
    started = app.config["CLOCK"]()
    runner = app.test_cli_runner()
    r = runner.invoke(args=["demo", "seed"])
    assert r.exit_code == 0, r.output
    # One clock: history reaches 18 months back and plans a year ahead, all from the app's clock.
    assert (
        timestamps_off_the_clock(
            app, started - timedelta(days=600), app.config["CLOCK"]() + timedelta(days=400)
        )
        == []
    )
    tokens = dict(re.findall(r"^\s+(\w+)\s+\w+\s+(srk_\S+)$", r.output, re.MULTILINE))
    assert set(tokens) >= {
        "admin",
        "buyer",
        "approver",
        "warehouse",
        "planner",
        "storefront",
        "viewer",
    }
    with app.app_context(), db.read_only() as s:
        warehouses = s.scalars(select(Warehouse)).all()
        assert len(warehouses) == 3
        assert all(
            w.latitude and 18 < w.latitude < 54 and 73 < w.longitude < 135 for w in warehouses
        )  # inside China
        assert s.scalar(select(func.count()).select_from(Product)) >= 180
        assert s.scalar(select(func.count(func.distinct(Product.category)))) >= 4
        first, last = s.execute(
            select(func.min(StockMovement.occurred_at), func.max(StockMovement.occurred_at))
        ).one()
        issues = s.scalar(select(func.count()).where(StockMovement.type == "issue"))
        mismatched = s.scalar(
            text(
                "SELECT COUNT(*) FROM stock_levels l WHERE l.on_hand <> (SELECT SUM(quantity)"
                " FROM stock_movements m WHERE m.product_id = l.product_id"
                " AND m.warehouse_id = l.warehouse_id)"
            )
        )
        levels = s.scalar(select(func.count()).select_from(StockLevel))
    assert (last - first).days >= 540  # 18 months of history
    assert issues > 50_000
    assert mismatched == 0
    assert levels == 600
    warehouse_api = client.get(
        "/api/v1/stock?warehouse=SH1&limit=1",
        headers={"Authorization": f"Bearer {tokens['warehouse']}"},
    )
    assert warehouse_api.status_code == 200
    # A second run refuses to mix demo data into a database that already has data.
    again = runner.invoke(args=["demo", "seed"])
    assert again.exit_code != 0
    assert "--reset" in again.output
    assert runner.invoke(args=["demo", "seed", "--if-empty"]).exit_code == 0
