"""Reservations per second on PostgreSQL with racing clients, against pgbench in the same run.

    python benchmarks/reservations.py [--duration 15] [--rounds 3] [--clients 32] [--workers 2]
                                      [--threads 8]

1. ``gunicorn wsgi:app`` on a throwaway database seeded with 5 warehouses and a promotion under
   way (20,000 active holds: the service's checks for lapsed holds meet held lines, as at a
   real peak), the seeded tables then analyzed, as autovacuum would soon after a bulk load,
   driven by ``wrk`` with ``--clients`` connections, each request ``POST /api/v1/reservations``
   with its own ``Idempotency-Key``, in three modes:

   - mixed (the main figure): baskets of 1-3 random skus out of 50 (1-2 units each), allocated
     across the warehouses: 50 skus make the clients collide on the same stock rows all the time;
   - hot sku: every client reserves 1-2 units of the same sku, the promotion case: every
     reservation waits for the one before it on that sku's stock level;
   - spread: baskets of 1-3 skus out of 1,000, so clients rarely meet on a stock row;
   - read first: the mixed baskets on a second gunicorn with ``RESERVATION_PLAN_SECONDS=0``, where
     every reservation reads its skus before holding them (two round trips), against the
     default, where a process plans a basket it read less than a second ago from that read.

2. The baseline: ``pgbench`` simple-update (``-N``: one UPDATE, one SELECT, one INSERT per
   transaction) with ``--clients`` clients on a throwaway database of the same server, its
   tables made afresh before each round. pgbench and the mixed mode take turns in ``--rounds``
   rounds that share ``--duration`` seconds each (the read-first mode takes its turn in each
   round too): the host lends this machine's cores unevenly from one minute to the next, and a
   baseline measured a minute before the figure it divides would carry that drift into the
   ratio. The hot-sku and spread modes then run ``--duration`` seconds each.

3. The last units: the same clients race for a sku with exactly 100 units left; the run must end
   with exactly 100 reserved (never more), and the ledger invariants must hold over every level.

4. The server's floor: the same gunicorn settings serving ``constant_app.py`` (a WSGI application
   that answers a constant and does nothing else) to the same clients for ``--duration`` seconds:
   the CPU gunicorn spends per request before any application runs.

Prints each round's pair, reservations per second for each mode, its ratio to pgbench's TPS over
all rounds, the server CPU per reservation (gunicorn and PostgreSQL: steadier than throughput on
a machine whose CPU share drifts), the oversell check, and the CPU budget: what a reservation may
cost the whole machine for the target ratio, and what that leaves the application's own Python
once PostgreSQL's share, the load generator's and gunicorn's floor are paid. Exits 1 if anything
was oversold or the invariants broke, and 2 if the mixed mode's ratio misses the target (>= 0.2).
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa
from _setup import (
    PG_ADMIN_URL,
    analyze,
    gunicorn,
    machine_busy_seconds,
    seed,
    seed_peak_holds,
    storefront_token,
    throwaway_database,
)

from core.config import normalise_database_url

TARGET_RATIO = 0.2
LAST_UNITS = 100
MIXED_SKUS = 50
SPREAD_SKUS = 1_000
#: Active holds when the run starts: a promotion under way (``_setup.seed_peak_holds``).
PEAK_HOLDS = 20_000
#: What the set-up fills, analyzed before the run; the idempotency records start empty and are
#: left to autovacuum (a table analyzed while empty is planned for as empty).
SEEDED_TABLES = (
    "warehouses",
    "products",
    "stock_movements",
    "stock_levels",
    "users",
    "api_tokens",
    "reservations",
    "reservation_lines",
)


@dataclass
class Baseline:
    """pgbench's rounds so far: transactions, seconds and whole-machine CPU seconds."""

    transactions: int = 0
    seconds: float = 0.0
    busy: float = 0.0
    rounds: list[float] = field(default_factory=list)

    @property
    def tps(self) -> float:
        return self.transactions / max(self.seconds, 1e-9)

    @property
    def machine_cpu_ms(self) -> float:
        """whole-machine CPU milliseconds per transaction (pgbench's client, PostgreSQL, kernel)"""
        return 1000 * self.busy / max(self.transactions, 1)


@contextmanager
def pgbench_database() -> Iterator[list[str]]:
    """A throwaway database for pgbench on the same server; yields pgbench's connection options."""
    url = sa.make_url(PG_ADMIN_URL)
    name = f"bench_pgbench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(normalise_database_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield [
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "",
            name,
        ]
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def pgbench_round(options: list[str], clients: int, seconds: int, baseline: Baseline) -> None:
    """One round of pgbench's built-in simple-update script, on tables made afresh for it (this
    server may run without autovacuum: each round starts from the same state, not from the
    previous round's dead rows), added to ``baseline``."""
    *connection, name = options
    subprocess.run(
        ["pgbench", *connection, "-i", "-q", "-s", "10", name], check=True, capture_output=True
    )
    busy = machine_busy_seconds()
    out = subprocess.run(
        ["pgbench", *connection, "-N", "-c", str(clients), "-j", "2", "-T", str(seconds), name],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    baseline.busy += machine_busy_seconds() - busy
    done = int(re.search(r"number of transactions actually processed: (\d+)", out).group(1))  # type: ignore[union-attr]
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))  # type: ignore[union-attr]
    baseline.transactions += done
    baseline.seconds += done / tps
    baseline.rounds.append(tps)


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


@dataclass
class Mode:
    name: str
    description: str
    skus: list[str]
    max_lines: int
    max_quantity: int = 2


@dataclass
class Outcome:
    """A mode's wrk rounds so far."""

    mode: Mode
    created: int = 0
    seconds: float = 0.0
    non_2xx: int = 0
    #: CPU seconds of gunicorn, of PostgreSQL, and of the whole machine (gunicorn, PostgreSQL,
    #: wrk and the kernel)
    app_cpu: float = 0.0
    database_cpu: float = 0.0
    busy: float = 0.0
    #: each round's reservations per second and latency percentiles
    rounds: list[float] = field(default_factory=list)
    p50: list[str] = field(default_factory=list)
    p99: list[str] = field(default_factory=list)
    #: reserved == held lines and 0 <= reserved <= on_hand on every level after each round
    sound: bool = True

    @property
    def rate(self) -> float:
        return self.created / max(self.seconds, 1e-9)

    def ratio(self, tps: float) -> float:
        return self.rate / tps

    def per_reservation_ms(self, seconds: float) -> float:
        return 1000 * seconds / max(self.created, 1)


def our_cpu_seconds(base: str, url: str) -> dict[int, tuple[str, float]]:
    """CPU seconds so far of this run's gunicorn processes and of the PostgreSQL backends serving
    its database, by pid. Other people's servers on the machine are left out: the bind address
    is in gunicorn's command line and the database name in a backend's process title."""
    bind = base.removeprefix("http://").encode()
    database = (sa.make_url(url).database or "").encode()
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, tuple[str, float]] = {}
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
        if b"gunicorn" in cmdline and bind in cmdline:
            kind = "app"
        elif cmdline.startswith(b"postgres") and database in cmdline.split():
            kind = "database"
        else:
            continue
        found[int(entry)] = (kind, (int(fields[11]) + int(fields[12])) / ticks)
    return found


def cpu_used(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU seconds spent between two readings, per kind; processes that ended are not counted."""
    used = {"app": 0.0, "database": 0.0}
    for pid, (kind, seconds) in after.items():
        used[kind] += seconds - before.get(pid, (kind, 0.0))[1]
    return used


def drive(url: str, base: str, token: str, outcome: Outcome, clients: int, seconds: int) -> None:
    """One wrk round of ``outcome``'s mode, added to it: reservations created, latency, CPU."""
    mode = outcome.mode
    script = lua_reserve(mode.skus, token, mode.max_lines, mode.max_quantity)
    before = count(url, "SELECT count(*) FROM reservations")
    cpu_before = our_cpu_seconds(base, url)
    busy = machine_busy_seconds()
    started = time.perf_counter()
    out = run_wrk(base + "/", script, clients, seconds)
    elapsed = time.perf_counter() - started
    busy = machine_busy_seconds() - busy
    cpu = cpu_used(cpu_before, our_cpu_seconds(base, url))
    created = count(url, "SELECT count(*) FROM reservations") - before
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    outcome.created += created
    outcome.seconds += elapsed
    outcome.non_2xx += int(non_2xx.group(1)) if non_2xx else 0
    outcome.app_cpu += cpu["app"]
    outcome.database_cpu += cpu["database"]
    outcome.busy += busy
    outcome.rounds.append(created / elapsed)
    outcome.p50.append(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    outcome.p99.append(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    outcome.sound = outcome.sound and invariants_hold(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
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
    round_seconds = max(1, args.duration // args.rounds)
    print(
        f"reservations benchmark: PostgreSQL, {args.clients} clients, gunicorn "
        f"{' '.join(gunicorn_args)}, {os.cpu_count()} cores shared by gunicorn, PostgreSQL, wrk "
        f"and pgbench; pgbench, the mixed mode and the read-first mode in {args.rounds} "
        f"alternating rounds of {round_seconds} s; RESERVATION_PLAN_SECONDS="
        f"{os.environ.get('RESERVATION_PLAN_SECONDS', '1 (the default)')}"
    )

    with throwaway_database("bench_resv") as url, pgbench_database() as pgbench:
        names = seed(url, skus=MIXED_SKUS + SPREAD_SKUS + 1, warehouses=5, units=1_000_000)
        outcomes = [
            Outcome(
                Mode(
                    "mixed",
                    f"1-3 lines from {MIXED_SKUS} skus x 5 warehouses",
                    names[:MIXED_SKUS],
                    3,
                )
            ),
            Outcome(Mode("hot sku", "1 line, every client on the same sku", names[-1:], 1)),
            Outcome(
                Mode(
                    "spread",
                    f"1-3 lines from {SPREAD_SKUS:,} skus x 5 warehouses",
                    names[MIXED_SKUS:-1],
                    3,
                )
            ),
        ]
        read_first = Outcome(
            Mode(
                "read first",
                "as mixed, RESERVATION_PLAN_SECONDS=0: every reservation reads its skus first",
                names[:MIXED_SKUS],
                3,
            )
        )
        seed_peak_holds(url, holds=PEAK_HOLDS, skus=names)
        last = seed_last_units(url)
        token = storefront_token(url)
        analyze(url, SEEDED_TABLES)
        baseline = Baseline()
        mixed = outcomes[0]
        with (
            gunicorn(url, gunicorn_args) as base,
            gunicorn(url, gunicorn_args, env={"RESERVATION_PLAN_SECONDS": "0"}) as reading,
        ):
            for warm in (base, reading):
                run_wrk(warm + "/", lua_reserve(mixed.mode.skus, token, 3, 2), args.clients, 3)
            # The host lends this machine's cores unevenly from one minute to the next: the
            # baseline and the main figure take turns, so that both see the same moments.
            for number in range(args.rounds):
                turns = [
                    lambda: pgbench_round(pgbench, args.clients, round_seconds, baseline),
                    lambda: drive(url, base, token, mixed, args.clients, round_seconds),
                    lambda: drive(url, reading, token, read_first, args.clients, round_seconds),
                ]
                for turn in turns if number % 2 == 0 else reversed(turns):
                    turn()
                print(
                    f"  round {number + 1}: pgbench {baseline.rounds[-1]:.0f} tps, mixed "
                    f"{mixed.rounds[-1]:.0f} reservations/s = "
                    f"{mixed.rounds[-1] / baseline.rounds[-1]:.2f}x; read first "
                    f"{read_first.rounds[-1]:.0f} reservations/s"
                )
            tps = baseline.tps
            print(
                f"  pgbench -N (simple-update) -c {args.clients} -j 2, {args.rounds} x "
                f"{round_seconds} s: {tps:.0f} tps, machine CPU per transaction "
                f"{baseline.machine_cpu_ms:.2f} ms"
            )
            for outcome in outcomes[1:]:
                drive(url, base, token, outcome, args.clients, round_seconds * args.rounds)
            for outcome in [*outcomes, read_first]:
                print(
                    f"  {outcome.mode.name:8} POST /reservations ({outcome.mode.description}, "
                    f"Idempotency-Key): {outcome.rate:.0f} reservations/s = "
                    f"{outcome.ratio(tps):.2f}x pgbench, p50 {'/'.join(outcome.p50)}, "
                    f"p99 {'/'.join(outcome.p99)}, {outcome.non_2xx} non-2xx, CPU per "
                    f"reservation: gunicorn {outcome.per_reservation_ms(outcome.app_cpu):.2f} ms, "
                    f"PostgreSQL {outcome.per_reservation_ms(outcome.database_cpu):.2f} ms, "
                    f"whole machine {outcome.per_reservation_ms(outcome.busy):.2f} ms; "
                    f"oversell {'none' if outcome.sound else 'FOUND'}"
                )
            out = run_wrk(base + "/", lua_reserve([last], token, 1, 2), args.clients, 5)
        reserved_last = count(
            url,
            "SELECT coalesce(sum(l.reserved), 0) FROM stock_levels l "
            f"JOIN products p ON p.id = l.product_id WHERE p.sku = '{last}'",
        )
        requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        sound = invariants_hold(url) and all(o.sound for o in [*outcomes, read_first])
        with gunicorn(url, gunicorn_args, target="constant_app:app") as base:
            floor = server_floor(base, url, args.clients, round_seconds * args.rounds)
    ratio = mixed.ratio(tps)
    print(
        f"  last units: {requests} requests raced for {LAST_UNITS} units of {last}; "
        f"reserved {reserved_last} (must be exactly {LAST_UNITS})"
    )
    print()
    for outcome in outcomes:
        print(
            f"  {outcome.mode.name:8} ratio reservations/s / pgbench tps: "
            f"{outcome.ratio(tps):.2f}x"
            + (f"   (main figure, target >= {TARGET_RATIO}x)" if outcome is mixed else "")
        )
    machine_ms = mixed.per_reservation_ms(mixed.busy)
    reading_ms = read_first.per_reservation_ms(read_first.busy)
    print(
        f"  plans from memory: the machine spends {machine_ms:.2f} ms per reservation against "
        f"{reading_ms:.2f} ms when every reservation reads first "
        f"({100 * (machine_ms - reading_ms) / reading_ms:+.0f} %; PostgreSQL "
        f"{mixed.per_reservation_ms(mixed.database_cpu):.2f} against "
        f"{read_first.per_reservation_ms(read_first.database_cpu):.2f} ms, gunicorn "
        f"{mixed.per_reservation_ms(mixed.app_cpu):.2f} against "
        f"{read_first.per_reservation_ms(read_first.app_cpu):.2f} ms)"
    )
    needed_ms = baseline.machine_cpu_ms / TARGET_RATIO
    print(
        f"  CPU budget: the machine spends {machine_ms:.2f} ms per reservation against "
        f"{baseline.machine_cpu_ms:.2f} ms per pgbench transaction, so on shared cores the ratio "
        f"cannot pass {baseline.machine_cpu_ms / machine_ms:.2f}x; {TARGET_RATIO}x needs "
        f"{needed_ms:.2f} ms or less"
    )
    # What the application's own Python spends, and what the target leaves it once everything
    # else (PostgreSQL, wrk, the kernel outside the server, gunicorn's floor) is paid.
    gunicorn_ms = mixed.per_reservation_ms(mixed.app_cpu)
    others_ms = machine_ms - gunicorn_ms
    print(
        f"  server floor: gunicorn answering a constant with the same settings and clients, "
        f"{floor.rate:.0f} requests/s, {floor.cpu_ms:.2f} ms of gunicorn CPU per request; a "
        f"reservation's own Python (gunicorn's {gunicorn_ms:.2f} ms less the floor) "
        f"{gunicorn_ms - floor.cpu_ms:.2f} ms, of which {TARGET_RATIO}x would leave "
        f"{max(needed_ms - others_ms - floor.cpu_ms, 0.0):.2f} ms once PostgreSQL, wrk and the "
        f"kernel ({others_ms:.2f} ms) and the floor are paid"
    )
    oversell = reserved_last != LAST_UNITS or not sound
    print(
        f"  oversell: {'FOUND' if oversell else 'none'}; ledger invariants "
        f"{'hold' if sound else 'BROKEN'}; ratio {'met' if ratio >= TARGET_RATIO else 'MISSED'}"
    )
    if oversell:
        raise SystemExit(1)
    if ratio < TARGET_RATIO:
        raise SystemExit(2)


@dataclass
class Floor:
    """gunicorn answering a constant: requests per second, and its CPU milliseconds per request."""

    rate: float
    cpu_ms: float


def server_floor(base: str, url: str, clients: int, seconds: int) -> Floor:
    """``base`` (gunicorn serving ``constant_app.py``) driven by wrk as the reservations are."""
    cpu_before = our_cpu_seconds(base, url)
    started = time.perf_counter()
    out = run_wrk(base + "/", "", clients, seconds)
    elapsed = time.perf_counter() - started
    used = cpu_used(cpu_before, our_cpu_seconds(base, url))["app"]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return Floor(requests / elapsed, 1000 * used / max(requests, 1))


def seed_last_units(url: str) -> str:
    """One more sku with exactly LAST_UNITS units, in two warehouses."""
    engine = sa.create_engine(normalise_database_url(url))
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO products (sku, name, uom, currency, active, created_at, updated_at) "
            "VALUES ('LAST-UNITS', 'Last units', 'ea', 'CNY', true, now(), now())"
        )
        for code, units in (("W0", LAST_UNITS - 40), ("W1", 40)):
            conn.exec_driver_sql(
                "INSERT INTO stock_movements (product_id, warehouse_id, type, quantity, "
                "on_hand_after, reference, actor, created_at, occurred_at) "
                f"SELECT p.id, w.id, 'receipt', {units}, {units}, 'seed', 'bench', now(), now() "
                f"FROM products p, warehouses w WHERE p.sku = 'LAST-UNITS' AND w.code = '{code}'"
            )
            conn.exec_driver_sql(
                "INSERT INTO stock_levels (product_id, warehouse_id, on_hand, reserved, incoming, "
                f"allow_negative, updated_at) SELECT p.id, w.id, {units}, 0, 0, false, now() "
                f"FROM products p, warehouses w WHERE p.sku = 'LAST-UNITS' AND w.code = '{code}'"
            )
    engine.dispose()
    return "LAST-UNITS"


if __name__ == "__main__":
    main()
