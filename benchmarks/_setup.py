"""Shared set-up for the benchmarks: a throwaway PostgreSQL database, seeded fast, and gunicorn.

Seeding goes straight to the tables (receipts in the ledger with matching levels), because the
point is to measure reads and reservations, not to wait for 10,000 receipts through the API.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import normalise_database_url  # noqa: E402

PG_ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database, dropped afterwards whatever happens."""
    admin = sa.create_engine(normalise_database_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        from flask_migrate import upgrade

        from app import create_app
        from core.db import dispose

        app = create_app({"DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
        with app.app_context():
            upgrade()
        dispose(app)
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def seed(url: str, *, skus: int, warehouses: int, units: int, seed_value: int = 7) -> list[str]:
    """Products stocked in every warehouse (``units`` each) through consistent ledger rows."""
    from core.db import utcnow

    rng = random.Random(seed_value)
    engine = sa.create_engine(normalise_database_url(url))
    now = utcnow()
    names = [f"SKU-{i:05d}" for i in range(skus)]
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO warehouses (code, name, latitude, longitude, allow_negative_stock, "
                "priority, active, created_at) VALUES (:code, :name, :lat, :lon, false, :prio, "
                "true, :now)"
            ),
            [
                {
                    "code": f"W{i}",
                    "name": f"Warehouse {i}",
                    "lat": 20 + rng.random() * 20,
                    "lon": 100 + rng.random() * 20,
                    "prio": 100 + i,
                    "now": now,
                }
                for i in range(warehouses)
            ],
        )
        conn.execute(
            sa.text(
                "INSERT INTO products (sku, name, uom, currency, active, created_at, updated_at) "
                "VALUES (:sku, :sku, 'ea', 'CNY', true, :now, :now)"
            ),
            [{"sku": s, "now": now} for s in names],
        )
        conn.execute(
            sa.text(
                "INSERT INTO stock_movements (product_id, warehouse_id, type, quantity, "
                "on_hand_after, reference, actor, created_at, occurred_at) "
                "SELECT p.id, w.id, 'receipt', :u, :u, 'seed', 'bench', :now, :now "
                "FROM products p CROSS JOIN warehouses w"
            ),
            {"u": units, "now": now},
        )
        conn.execute(
            sa.text(
                "INSERT INTO stock_levels (product_id, warehouse_id, on_hand, reserved, incoming, "
                "allow_negative, updated_at) "
                "SELECT p.id, w.id, :u, 0, 0, false, :now FROM products p CROSS JOIN warehouses w"
            ),
            {"u": units, "now": now},
        )
    engine.dispose()
    return names


def add_holds(url: str, *, active: int, lapsed: int, skus: list[str]) -> None:
    """Reservations through the service (so levels stay consistent), some already lapsed."""
    from accounts.principal import Principal
    from app import create_app
    from core.db import dispose
    from inventory import reservations

    clock = {"now": datetime.now(UTC)}
    app = create_app({"DATABASE_URL": url, "LOG_LEVEL": "WARNING", "CLOCK": lambda: clock["now"]})
    shop = Principal(None, "bench", frozenset({"storefront"}))
    rng = random.Random(11)
    with app.app_context():
        for i in range(active + lapsed):
            # The wall clock: inside the app, ``utcnow`` is this clock itself.
            wall = datetime.now(UTC)
            clock["now"] = wall - timedelta(hours=1) if i < lapsed else wall
            reservations.reserve(
                shop,
                {
                    "order_ref": f"SEED-{i}",
                    "lines": [{"sku": s, "quantity": 1} for s in rng.sample(skus, 3)],
                    "ttl_seconds": 900,
                },
            )
    dispose(app)


def seed_peak_holds(url: str, *, holds: int, skus: list[str], seed_value: int = 13) -> None:
    """``holds`` active reservations of one unit each, spread over ``skus`` and every warehouse,
    written straight to the tables with the levels' ``reserved`` to match: a promotion already
    under way. Their lines are held and expire in an hour, so every hold the service checks for
    lapsing compares its request time with held lines that have not lapsed, as at a real peak.
    """
    rng = random.Random(seed_value)
    engine = sa.create_engine(normalise_database_url(url))
    with engine.begin() as conn:
        product_ids = [
            row[0]
            for row in conn.execute(
                sa.text("SELECT id FROM products WHERE sku = ANY(:skus)"), {"skus": skus}
            )
        ]
        warehouse_ids = [row[0] for row in conn.execute(sa.text("SELECT id FROM warehouses"))]
        insert = sa.text(
            "INSERT INTO reservations (order_ref, status, expires_at, created_by, created_at, "
            "updated_at) SELECT 'PEAK-' || g, 'active', now() + interval '1 hour', 'bench', "
            "now(), now() FROM generate_series(1, :n) AS g RETURNING id"
        )
        ids = conn.execute(insert, {"n": holds}).scalars().all()
        conn.execute(
            sa.text(
                "INSERT INTO reservation_lines (reservation_id, product_id, warehouse_id, line_no, "
                "quantity, held, expires_at) SELECT r, p, w, 0, 1, true, now() + interval '1 hour' "
                "FROM unnest(CAST(:r AS bigint[]), CAST(:p AS integer[]), CAST(:w AS integer[])) "
                "AS l(r, p, w)"
            ),
            {
                "r": list(ids),
                "p": [rng.choice(product_ids) for _ in ids],
                "w": [rng.choice(warehouse_ids) for _ in ids],
            },
        )
        conn.execute(
            sa.text(
                "UPDATE stock_levels s SET reserved = s.reserved + h.units, "
                "earliest_hold_expiry = LEAST(s.earliest_hold_expiry, h.first) FROM (SELECT "
                "product_id, warehouse_id, sum(quantity) AS units, min(expires_at) AS first "
                "FROM reservation_lines WHERE held AND reservation_id = ANY(:r) "
                "GROUP BY product_id, warehouse_id) AS h "
                "WHERE s.product_id = h.product_id AND s.warehouse_id = h.warehouse_id"
            ),
            {"r": list(ids)},
        )
    engine.dispose()


def analyze(url: str, tables: tuple[str, ...] = ()) -> None:
    """Table statistics and no dead rows, as autovacuum leaves them soon after a bulk load in a
    live database (``VACUUM (ANALYZE)``).

    Without statistics the planner guesses from the tables' sizes on disk, and a measurement
    taken in the first minute after seeding is of plans no running installation would use.
    Without the vacuum, the seeding's updates (the peak's holds rewrite most stock levels) leave
    a dead version of each row for every read to step over until autovacuum comes, or for the
    whole run on a server with autovacuum off. ``tables`` limits it to the ones seeded: a table
    analyzed while empty is planned for as empty (a sequential scan) until autovacuum analyzes it
    again, a minute or more into a run that fills it, which no running installation's tables are.
    """
    engine = sa.create_engine(normalise_database_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(
            f"VACUUM (ANALYZE) {', '.join(tables)}" if tables else "VACUUM (ANALYZE)"
        )
    engine.dispose()


def storefront_token(url: str) -> str:
    from accounts import services
    from app import create_app
    from core.db import dispose

    app = create_app({"DATABASE_URL": url, "LOG_LEVEL": "WARNING"})
    with app.app_context():
        services.create_user("bench-shop", ["storefront"])
        token = services.create_token("bench-shop").token
    dispose(app)
    return token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn(
    url: str, args: list[str], env: dict[str, str] | None = None, target: str = "wsgi:app"
) -> Iterator[str]:
    """``gunicorn wsgi:app`` (or ``target``, a module of ``benchmarks/``) on a free port, ready
    when /readyz says so; stopped afterwards."""
    port = free_port()
    if target != "wsgi:app":
        args = [*args, "--pythonpath", str(Path(__file__).parent)]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            target,
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            *args,
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING", **(env or {})},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit("gunicorn did not become ready")
        time.sleep(0.2)
    try:
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def server_cpu_seconds(
    base: str | None = None, database_url: str | None = None
) -> tuple[float, float]:
    """CPU seconds used so far by gunicorn and by PostgreSQL processes (user + system).

    Throughput on a machine whose CPU share drifts is a poor comparison; the CPU the server side
    spends per request is not affected by how much CPU the host lends us at that moment. With
    ``base`` (the URL ``gunicorn`` yielded) and ``database_url``, only that server's processes and
    the backends connected to that database count: on a machine shared with other work, other
    gunicorns and other databases' backends are someone else's.
    """
    bind = f"--bind {base.removeprefix('http://')} ".encode() if base else b""
    database = f" {sa.make_url(database_url).database} ".encode() if database_url else b" "
    ticks = os.sysconf("SC_CLK_TCK")
    app, spent = 0, 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ")
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used = int(fields[11]) + int(fields[12])  # utime, stime
        if b"gunicorn" in cmdline and bind in cmdline:
            app += used
        elif cmdline.startswith(b"postgres") and database in cmdline:
            spent += used
    return app / ticks, spent / ticks


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy so far (every core; idle and I/O wait left
    out), from ``/proc/stat``: what one request costs everything involved, load generator and
    kernel included, when nothing else runs."""
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
