"""Reservations per second on PostgreSQL with racing clients, against pgbench in the same run.

    python benchmarks/reservations.py [--duration 15] [--clients 32] [--workers 2] [--threads 8]

1. Baseline: ``pgbench`` simple-update (``-N``: one UPDATE, one SELECT, one INSERT per
   transaction) with ``--clients`` clients on a throwaway database of the same server.
2. ``gunicorn wsgi:app`` on a throwaway database seeded with 50 skus in 5 warehouses, driven by
   ``wrk`` with ``--clients`` connections, each request ``POST /api/v1/reservations`` with its
   own ``Idempotency-Key`` and a basket of 1-3 random skus (1-2 units each) allocated across the
   warehouses: 50 skus make the clients collide on the same stock rows all the time.
3. One hot row: the same clients all reserve 1 unit of one sku stocked in one warehouse only,
   so every reservation locks the same stock level row: the ceiling of a single hot (sku,
   warehouse), printed for reference (no target).
4. The last units: the same clients race for a sku with exactly 100 units left; the run must end
   with exactly 100 reserved (never more), and the ledger invariants must hold.

Prints reservations per second with the server CPU (gunicorn and PostgreSQL) spent per
reservation, the ratio to pgbench's TPS (target >= 0.2) and the oversell check.
The load generator, gunicorn and PostgreSQL share the machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid

import sqlalchemy as sa
from _setup import (
    PG_ADMIN_URL,
    gunicorn,
    seed,
    server_cpu_seconds,
    storefront_token,
    throwaway_database,
)

from core.config import normalise_database_url

TARGET_RATIO = 0.2
LAST_UNITS = 100


def pgbench_tps(clients: int, seconds: int) -> float:
    """TPS of pgbench's built-in simple-update script on a database made and dropped here."""
    url = sa.make_url(PG_ADMIN_URL)
    name = f"bench_pgbench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(normalise_database_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    common = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or ""]
    try:
        subprocess.run(
            ["pgbench", *common, "-i", "-q", "-s", "10", name], check=True, capture_output=True
        )
        out = subprocess.run(
            ["pgbench", *common, "-N", "-c", str(clients), "-j", "2", "-T", str(seconds), name],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    return float(re.search(r"tps = ([\d.]+)", out).group(1))  # type: ignore[union-attr]


def lua_reserve(skus: list[str], token: str, max_lines: int, max_qty: int) -> str:
    names = ",".join(json.dumps(s) for s in skus)
    return f"""
local skus = {{{names}}}
local counter = 0
local threads = {{}}
local next_id = 1
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
function init(args)
  math.randomseed(id * 7919 + os.time())
end
function request()
  counter = counter + 1
  local key = "bench-" .. id .. "-" .. counter .. "-" .. math.random(1000000000)
  local n = math.random({max_lines})
  local used = {{}}
  local lines = {{}}
  while #lines < n do
    local sku = skus[math.random(#skus)]
    if not used[sku] then
      used[sku] = true
      lines[#lines + 1] = '{{"sku":"' .. sku .. '","quantity":' .. math.random({max_qty}) .. '}}'
    end
  end
  local body = '{{"order_ref":"' .. key .. '","ttl_seconds":3600,"lines":[' ..
    table.concat(lines, ",") .. ']}}'
  return wrk.format("POST", "/api/v1/reservations", {{
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer {token}",
    ["Idempotency-Key"] = key,
  }}, body)
end
"""


def run_wrk(url: str, script: str, clients: int, seconds: int) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        return subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{clients}",
                f"-d{seconds}s",
                "--latency",
                "--timeout",
                "30s",
                "-s",
                handle.name,
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(handle.name)


def count(url: str, sql: str) -> int:
    engine = sa.create_engine(normalise_database_url(url))
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(sql).scalar() or 0)
    finally:
        engine.dispose()


def invariants_hold(url: str) -> bool:
    """reserved == held lines, 0 <= reserved <= on_hand, on_hand == sum of movements."""
    engine = sa.create_engine(normalise_database_url(url))
    try:
        with engine.connect() as conn:
            broken = conn.exec_driver_sql(
                """
                SELECT count(*) FROM stock_levels l
                LEFT JOIN (SELECT product_id, warehouse_id, sum(quantity) q FROM reservation_lines
                           WHERE held GROUP BY 1, 2) h
                  ON h.product_id = l.product_id AND h.warehouse_id = l.warehouse_id
                LEFT JOIN (SELECT product_id, warehouse_id, sum(quantity) q FROM stock_movements
                           GROUP BY 1, 2) m
                  ON m.product_id = l.product_id AND m.warehouse_id = l.warehouse_id
                WHERE l.reserved <> coalesce(h.q, 0) OR l.reserved < 0
                   OR l.reserved > l.on_hand OR l.on_hand <> coalesce(m.q, 0)
                """
            ).scalar()
        return broken == 0
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    for tool in ("wrk", "pgbench"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed")
    gunicorn_args = [
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
        "--worker-class",
        "gthread",
        "--keep-alive",
        "30",
    ]
    print(
        f"reservations benchmark: PostgreSQL, {args.clients} clients, gunicorn "
        f"{' '.join(gunicorn_args)}, {os.cpu_count()} cores shared by gunicorn, PostgreSQL, wrk "
        "and pgbench"
    )
    tps = pgbench_tps(args.clients, args.duration)
    print(f"  pgbench -N (simple-update) -c {args.clients} -j 2 -T {args.duration}: {tps:.0f} tps")

    with throwaway_database("bench_resv") as url:
        skus = seed(url, skus=50, warehouses=5, units=1_000_000)
        last = seed_last_units(url)
        hot = seed_one_row(url, "HOT", "W0", 10_000_000)
        token = storefront_token(url)
        with gunicorn(url, gunicorn_args) as base:
            run_wrk(base + "/", lua_reserve(skus, token, 3, 2), args.clients, 3)  # warm-up
            before = count(url, "SELECT count(*) FROM reservations")
            app_cpu, database_cpu = server_cpu_seconds()
            started = time.perf_counter()
            out = run_wrk(base + "/", lua_reserve(skus, token, 3, 2), args.clients, args.duration)
            elapsed = time.perf_counter() - started
            app_cpu_after, database_cpu_after = server_cpu_seconds()
            created = count(url, "SELECT count(*) FROM reservations") - before
            non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            p50 = re.search(r"\s50%\s+(\S+)", out).group(1)  # type: ignore[union-attr]
            p99 = re.search(r"\s99%\s+(\S+)", out).group(1)  # type: ignore[union-attr]
            rate = created / elapsed
            print(
                f"  POST /reservations (1-3 lines from 50 skus x 5 warehouses, Idempotency-Key): "
                f"{rate:.0f} reservations/s, p50 {p50}, p99 {p99}, "
                f"{int(non_2xx.group(1)) if non_2xx else 0} non-2xx"
            )
            per = 1000 / max(created, 1)
            print(
                f"  server CPU per reservation: gunicorn {(app_cpu_after - app_cpu) * per:.2f} ms"
                f" + PostgreSQL {(database_cpu_after - database_cpu) * per:.2f} ms"
            )
            before = count(url, "SELECT count(*) FROM reservations")
            started = time.perf_counter()
            out = run_wrk(base + "/", lua_reserve([hot], token, 1, 1), args.clients, args.duration)
            elapsed_hot = time.perf_counter() - started
            hot_rate = (count(url, "SELECT count(*) FROM reservations") - before) / elapsed_hot
            hot_p99 = re.search(r"\s99%\s+(\S+)", out).group(1)  # type: ignore[union-attr]
            print(
                f"  one hot row (1 unit of {hot}, stocked in one warehouse, all clients): "
                f"{hot_rate:.0f} reservations/s, p99 {hot_p99}"
            )
            out = run_wrk(base + "/", lua_reserve([last], token, 1, 2), args.clients, 5)
        reserved_last = count(
            url,
            "SELECT coalesce(sum(l.reserved), 0) FROM stock_levels l "
            f"JOIN products p ON p.id = l.product_id WHERE p.sku = '{last}'",
        )
        requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        sound = invariants_hold(url)
    ratio = rate / tps
    print(
        f"  last units: {requests} requests raced for {LAST_UNITS} units of {last}; "
        f"reserved {reserved_last} (must be exactly {LAST_UNITS})"
    )
    print()
    print(f"  ratio reservations/s / pgbench tps: {ratio:.2f}x   (target >= {TARGET_RATIO}x)")
    oversell = reserved_last != LAST_UNITS or not sound
    print(
        f"  oversell: {'FOUND' if oversell else 'none'}; ledger invariants "
        f"{'hold' if sound else 'BROKEN'}; ratio {'met' if ratio >= TARGET_RATIO else 'MISSED'}"
    )
    if oversell:
        raise SystemExit(1)


def seed_last_units(url: str) -> str:
    """One more sku with exactly LAST_UNITS units, in two warehouses."""
    return seed_levels(url, "LAST-UNITS", (("W0", LAST_UNITS - 40), ("W1", 40)))


def seed_one_row(url: str, sku: str, warehouse: str, units: int) -> str:
    """A sku stocked in one warehouse only: every reservation of it locks the same row."""
    return seed_levels(url, sku, ((warehouse, units),))


def seed_levels(url: str, sku: str, stock: tuple[tuple[str, int], ...]) -> str:
    engine = sa.create_engine(normalise_database_url(url))
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO products (sku, name, uom, currency, active, created_at, updated_at) "
            f"VALUES ('{sku}', '{sku}', 'ea', 'CNY', true, now(), now())"
        )
        for code, units in stock:
            conn.exec_driver_sql(
                "INSERT INTO stock_movements (product_id, warehouse_id, type, quantity, "
                "on_hand_after, reference, actor, created_at, occurred_at) "
                f"SELECT p.id, w.id, 'receipt', {units}, {units}, 'seed', 'bench', now(), now() "
                f"FROM products p, warehouses w WHERE p.sku = '{sku}' AND w.code = '{code}'"
            )
            conn.exec_driver_sql(
                "INSERT INTO stock_levels (product_id, warehouse_id, on_hand, reserved, incoming, "
                f"allow_negative, updated_at) SELECT p.id, w.id, {units}, 0, 0, false, now() "
                f"FROM products p, warehouses w WHERE p.sku = '{sku}' AND w.code = '{code}'"
            )
    engine.dispose()
    return sku


if __name__ == "__main__":
    main()
