"""`flask --app app demo seed`: a realistic demo database, with one user and token per role."""

from __future__ import annotations

import random

import click
from flask.cli import AppGroup
from flask_migrate import upgrade
from sqlalchemy import func, select

from accounts import services as accounts
from core import db
from core.db import Base, utcnow
from demo import forecasting as forecasting_demo
from demo import inventory as inventory_demo
from demo import logistics as logistics_demo
from demo import procurement as procurement_demo
from demo import reservations as reservations_demo
from inventory.models import Product

DEMO_PASSWORD = "stockroom"
#: (username, roles, scoped to every demo warehouse?)
DEMO_USERS = [
    ("admin", ["admin"], False),
    ("buyer", ["buyer"], False),
    ("approver", ["approver"], False),
    ("approver2", ["approver"], False),
    ("warehouse", ["warehouse"], True),
    ("planner", ["planner"], False),
    ("storefront", ["storefront"], False),
    ("viewer", ["viewer"], False),
]

#: Feature seeders in dependency order; each adds to what the previous ones created.
SEEDERS = [
    inventory_demo.seed,
    forecasting_demo.seed,
    procurement_demo.seed,
    reservations_demo.seed,
    logistics_demo.seed,
]

group = AppGroup("demo", help="Demo data.")


@group.command("seed")
@click.option("--seed", "random_seed", default=7, show_default=True, help="Random seed.")
@click.option("--reset", is_flag=True, help="Wipe the database first.")
@click.option("--if-empty", is_flag=True, help="Do nothing (successfully) if data exists.")
def seed_command(random_seed: int, reset: bool, if_empty: bool) -> None:
    """Build the demo: warehouses, ~200 products, 18 months of sales, users and tokens."""
    if reset:
        Base.metadata.drop_all(db.engine())
        with db.engine().begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    upgrade()
    with db.read_only() as s:
        existing = s.scalar(select(func.count()).select_from(Product))
    if existing:
        message = "The database already holds data; use --reset to start over."
        if if_empty:
            click.echo(message)
            return
        raise click.ClickException(message)
    rng = random.Random(random_seed)
    today = utcnow().date()
    warehouses = [code for code, *_ in inventory_demo.WAREHOUSES]
    # People first, so the history the seeders write is signed by the demo users themselves.
    tokens = []
    for username, roles, scoped in DEMO_USERS:
        accounts.create_user(
            username,
            roles,
            warehouses=warehouses if scoped else None,
            password=DEMO_PASSWORD,
            full_name=f"Demo {username}",
        )
        tokens.append((username, roles, accounts.create_token(username, "demo").token))
    with click.progressbar(SEEDERS, label="Seeding demo data") as seeders:
        lines: list[str] = []
        for seeder in seeders:
            lines += seeder(rng, today)
    for line in lines:
        click.echo(f"  {line}")
    click.echo(f"\nUsers (web UI password for all: {DEMO_PASSWORD}) and API tokens, shown once:")
    for username, roles, token in tokens:
        click.echo(f"  {username:<11} {', '.join(roles):<11} {token}")
