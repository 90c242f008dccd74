"""A list page and its CSV export over a large ledger, against loading the same rows whole.

    python benchmarks/list_export.py [--rows 100000] [--repeat 3]

On PostgreSQL (a throwaway database, as in production): seeds ``--rows`` ledger movements, then
through the web app (test client, signed in):

1. the ledger page (first page of 50 with the count of all rows), and page 1,000;
2. ``/stock/movements/export.csv``: time to the first thousand rows and to the last, rows and
   bytes, and the peak of Python memory while it streams (tracemalloc, in a separate pass);
3. the baseline, measured in the same run on the same rows: the same query read whole with
   ``.all()`` and written to one CSV string, as an export that does not stream would.

It prints each figure and the ratio of peak memory (streamed / whole). Timings are medians of
``--repeat`` runs on a shared machine and are noisy; memory does not depend on the load.
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa
from _setup import throwaway_database

from core.config import normalise_database_url


def seed_ledger(url: str, rows: int) -> None:
    """``rows`` receipts over 500 items in 2 warehouses, one a minute back from now."""
    engine = sa.create_engine(normalise_database_url(url))
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO warehouses (code, name, allow_negative_stock, priority, active, "
                "created_at) VALUES ('W1', 'One', false, 100, true, :now), "
                "('W2', 'Two', false, 101, true, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            sa.text(
                "INSERT INTO products (sku, name, uom, currency, active, created_at, updated_at) "
                "SELECT 'SKU-' || lpad(i::text, 4, '0'), 'Item number ' || i, 'ea', 'CNY', true, "
                ":now, :now FROM generate_series(1, 500) AS i"
            ),
            {"now": now},
        )
        conn.execute(
            sa.text(
                "INSERT INTO stock_movements (product_id, warehouse_id, type, quantity, "
                "on_hand_after, reference, reason, actor, created_at, occurred_at) "
                "SELECT 1 + i % 500, 1 + i % 2, 'receipt', 1 + i % 7, 1 + i % 7, "
                "'DN-' || i, 'seeded for the benchmark', 'bench', :now, "
                ":now - make_interval(mins => i) FROM generate_series(1, :rows) AS i"
            ),
            {"now": now, "rows": rows},
        )
    engine.dispose()


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def peak_mib(fn: Callable[[], object]) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from accounts import services as accounts
    from app import create_app
    from core.db import dispose, read_only
    from core.listing import csv_cell, ordered, parse_list
    from inventory import stock

    with throwaway_database("bench_lists") as url:
        seed_ledger(url, args.rows)
        app = create_app(
            {
                "DATABASE_URL": url,
                "LOG_LEVEL": "WARNING",
                "SECRET_KEY": "bench",
                "WTF_CSRF_ENABLED": False,
            }
        )
        with app.app_context():
            accounts.create_user("bench", ["admin"], password="bench-password")
        client = app.test_client()
        signed_in = client.post("/login", data={"username": "bench", "password": "bench-password"})
        assert signed_in.status_code == 302, signed_in.status_code

        def first_page() -> None:
            r = client.get("/stock/movements")
            assert r.status_code == 200
            assert f"1–50 of {args.rows:,}" in r.get_data(as_text=True)

        def deep_page() -> None:
            assert client.get("/stock/movements?page=1000").status_code == 200

        stats: dict[str, float] = {}

        def streamed() -> None:
            start = time.perf_counter()
            r = client.get("/stock/movements/export.csv", buffered=False)
            size = lines = 0
            for n, chunk in enumerate(r.response):
                if n == 1:  # chunk 0 is the header, sent before the query runs
                    stats["first_rows_ms"] = (time.perf_counter() - start) * 1000
                size += len(chunk)
                lines += chunk.count(b"\n")
            r.close()
            stats["bytes"], stats["rows"] = size, lines - 1

        def whole() -> None:
            with app.test_request_context("/stock/movements/export.csv"):
                query = parse_list(stock.LEDGER_LIST, {}, strict=True)
                with read_only() as s:
                    rows = s.execute(ordered(stock._ledger_list(query), query)).all()
                buffer = io.StringIO()
                writer = csv.writer(buffer)
                writer.writerow(stock.LEDGER_CSV_HEADER)
                for row in rows:
                    writer.writerow([csv_cell(v) for v in row])
                stats["whole_bytes"] = len(buffer.getvalue().encode())

        print(f"PostgreSQL, {args.rows:,} ledger rows; medians of {args.repeat} runs")
        print(f"  ledger page 1 (50 rows + count)  {median_ms(first_page, args.repeat):8.1f} ms")
        print(f"  ledger page 1,000                {median_ms(deep_page, args.repeat):8.1f} ms")
        streamed_ms = median_ms(streamed, args.repeat)
        whole_ms = median_ms(whole, args.repeat)
        print(
            f"  export, streamed                 {streamed_ms:8.1f} ms "
            f"(first 1,000 rows after {stats['first_rows_ms']:.1f} ms; {stats['rows']:,.0f} rows, "
            f"{stats['bytes'] / 2**20:.1f} MiB)"
        )
        print(f"  baseline: read whole, one string {whole_ms:8.1f} ms")
        streamed_peak = peak_mib(streamed)
        whole_peak = peak_mib(whole)
        print(f"  peak Python memory, streamed     {streamed_peak:8.1f} MiB")
        print(f"  peak Python memory, whole        {whole_peak:8.1f} MiB")
        print(f"  memory ratio streamed / whole    {streamed_peak / whole_peak:8.3f}")
        print(f"  time ratio streamed / whole      {streamed_ms / whole_ms:8.2f}")
        assert stats["rows"] == args.rows
        dispose(app)


if __name__ == "__main__":
    main()
