"""What sending several reservations in one transaction would save PostgreSQL, measured first.

    python benchmarks/group_commit.py [--duration 8] [--rounds 2]

Group commit (each web process gathering the reservations its threads make at the same moment
into one statement, each reservation in a subtransaction of its own) is the lever left for
reservations per second once a reservation is two round trips. Before building it, this measures
what it would save the database: ``pgbench`` on a throwaway database seeded as the other
benchmarks (50 skus x 5 warehouses, so clients collide on stock rows), calling the migration's
``reserve_stock`` the way the service does (one line, an Idempotency-Key and its record):

- one per transaction: the statement the service sends today, 16 clients;
- N per transaction (N = 4 and 8, 16/N clients): a function that locks the batch's stock levels
  in (product, warehouse) order first (concurrent batches would deadlock otherwise), then calls
  ``reserve_stock`` for each reservation inside ``BEGIN ... EXCEPTION``, as a group commit must,
  so that one reservation short of stock fails alone.

It prints the whole machine's CPU per reservation for each (pgbench's client included, the same
in every mode), alternating the modes over ``--rounds``, and each one's ratio to one per
transaction. Every reservation must succeed (there is stock for all): the script checks the
count of reservations written.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import tempfile

import sqlalchemy as sa
from _setup import analyze, machine_busy_seconds, seed, throwaway_database

from core.config import normalise_database_url

SKUS = 50
WAREHOUSES = 5
#: Units per stock level: enough that no reservation of a run is ever short.
UNITS = 10_000_000
CLIENTS = 16

#: The record ``reserve_stock`` stores for the key, column by column, as ``core.idempotency``
#: builds it (fingerprint, method, path, status, content type, body, location, headers, expiry).
RECORD = (
    "'f'::text, 'POST'::text, '/api/v1/reservations'::text, 201, 'application/json'::text, "
    "'{{}}'::text, NULL::text, '{{}}'::text, now() + interval '1 day'"
)
CALL = (
    "reserve_stock(now(), nextval('reservations_id_seq'), 'bench'::text, "
    "now() + interval '1 hour', NULL::integer, NULL::double precision, NULL::double precision, "
    "NULL::text, NULL::date, NULL::integer, 'bench'::text, ARRAY[{p}::integer], "
    "ARRAY[{w}::integer], ARRAY[0], ARRAY[1], {n}, 'bench'::text, 'k' || {n}, " + RECORD + ")"
)
ONE = (
    f"\\set p random(1, {SKUS})\n\\set w random(1, {WAREHOUSES})\n"
    "WITH k AS (SELECT nextval('bench_keys') AS n) SELECT r.* FROM k, "
    + CALL.format(p=":p", w=":w", n="k.n")
    + " AS r;\n"
)
BATCH_FUNCTION = f"""
CREATE FUNCTION bench_reserve_batch(size integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    done integer := 0;
    n bigint;
    ps integer[];
    ws integer[];
BEGIN
    SELECT array_agg(1 + floor(random() * {SKUS})::integer),
           array_agg(1 + floor(random() * {WAREHOUSES})::integer)
      INTO ps, ws FROM generate_series(1, size);
    PERFORM 1 FROM stock_levels l
      JOIN unnest(ps, ws) AS b(p, w) ON l.product_id = b.p AND l.warehouse_id = b.w
     ORDER BY l.product_id, l.warehouse_id FOR UPDATE OF l;
    FOR i IN 1 .. size LOOP
        n := nextval('bench_keys');
        BEGIN
            PERFORM * FROM {CALL.format(p="ps[i]", w="ws[i]", n="n")};
            done := done + 1;
        EXCEPTION WHEN others THEN
            NULL;
        END;
    END LOOP;
    RETURN done;
END
$$
"""


def reservations_written(url: str) -> int:
    engine = sa.create_engine(normalise_database_url(url))
    with engine.connect() as conn:
        count = int(conn.execute(sa.text("SELECT count(*) FROM reservations")).scalar_one())
    engine.dispose()
    return count


def cpu_per_reservation(url: str, script: str, clients: int, seconds: int) -> tuple[float, int]:
    """Machine CPU milliseconds per reservation written, and how many were written."""
    db = sa.make_url(url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    before, busy = reservations_written(url), machine_busy_seconds()
    run = subprocess.run(
        [
            "pgbench",
            *("-h", db.host or "127.0.0.1", "-p", str(db.port or 5432), "-U", db.username or ""),
            *("-n", "-M", "prepared", "-f", handle.name, "-c", str(clients), "-j", "2"),
            *("-T", str(seconds), db.database or ""),
        ],
        capture_output=True,
        text=True,
    )
    out = run.stdout
    if run.returncode != 0:
        raise SystemExit(f"pgbench failed:\n{run.stderr}")
    busy = machine_busy_seconds() - busy
    written = reservations_written(url) - before
    if not re.search(r"number of failed transactions: 0\b", out):
        raise SystemExit(f"pgbench reported failed transactions:\n{out}")
    return 1000 * busy / max(written, 1), written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("pgbench") is None:
        raise SystemExit("pgbench is needed")
    modes = {
        "1 per transaction": (ONE, CLIENTS),
        "4 per transaction": ("SELECT bench_reserve_batch(4);\n", CLIENTS // 4),
        "8 per transaction": ("SELECT bench_reserve_batch(8);\n", CLIENTS // 8),
    }
    print(
        f"group commit, database side: reserve_stock on {SKUS} skus x {WAREHOUSES} warehouses, "
        f"{CLIENTS} reservations in flight, {args.rounds} rounds of {args.duration} s per mode"
    )
    with throwaway_database("bench_group") as url:
        seed(url, skus=SKUS, warehouses=WAREHOUSES, units=UNITS)
        engine = sa.create_engine(normalise_database_url(url), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("CREATE SEQUENCE bench_keys")
            conn.exec_driver_sql(BATCH_FUNCTION)
        engine.dispose()
        # Some history first, so that no table is planned for as empty (see reservations.py).
        cpu_per_reservation(url, ONE, 4, 2)
        analyze(url)
        spent: dict[str, list[float]] = {mode: [] for mode in modes}
        for _ in range(args.rounds):
            for mode, (script, clients) in modes.items():
                ms, written = cpu_per_reservation(url, script, clients, args.duration)
                spent[mode].append(ms)
                print(
                    f"  {mode}: {written / args.duration:.0f} reservations/s, "
                    f"machine CPU {ms:.3f} ms per reservation"
                )
    baseline = statistics.median(spent["1 per transaction"])
    print()
    for mode, values in spent.items():
        ms = statistics.median(values)
        print(
            f"  {mode:<18} {ms:.3f} ms per reservation = {ms / baseline:.2f}x one per transaction"
        )


if __name__ == "__main__":
    main()
