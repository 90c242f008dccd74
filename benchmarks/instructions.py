"""The storefront's requests in CPU instructions, counted by callgrind: a figure noise cannot move.

    python benchmarks/instructions.py [--requests 300]

Throughput and CPU time on a shared host drift by tens of per cent from one minute to the next
(the CPU time of the same code, measured the same way, moved between 0.73 and 1.06 ms within ten
minutes here), so a change worth 5 % to the storefront's Python cannot be told from noise by the
other benchmarks. An instruction count can: repeated runs of this script agree within about 3 %.

What it does, on PostgreSQL: creates a throwaway database seeded as ``availability.py`` seeds it
(5,000 skus in 5 warehouses and a promotion under way: 20,000 active holds), then, for each kind of
request, runs the application as gunicorn builds it (``wsgi:app``) in a Python process under
``valgrind --tool=callgrind`` with counting switched off, warms it up with 60 requests (so the
prepared statements and caches are in place), switches counting on for ``--requests`` more
requests sent straight to the WSGI callable, and off again. The kinds:

- ``GET /healthz``: the bare endpoint, the baseline (Flask's ordinary path, no database);
- ``GET /api/v1/availability`` with three random skus, with a storefront token;
- ``POST /api/v1/reservations``: one or two lines from 50 skus, each with its own
  Idempotency-Key (every one makes a reservation; none is a replay).

It prints the instructions per request of each and their ratio to ``/healthz``. Counted are the
instructions this process runs (Python, the C libraries, libpq); not gunicorn's HTTP handling,
nor PostgreSQL's, nor time spent waiting. It exits 1 when a request fails. valgrind must be
installed (Debian: ``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _setup import (
    ROOT,
    add_holds,
    analyze,
    seed,
    seed_peak_holds,
    storefront_token,
    throwaway_database,
)
from werkzeug.test import EnvironBuilder

KINDS = ("healthz", "availability", "reservation")
WARM_UP = 60
#: Skus the reservations draw their lines from, as ``reservations.py``'s mixed mode does.
RESERVED_SKUS = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="counted requests per kind")
    parser.add_argument("--worker", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        serve(args.worker, args.requests)
        return
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed: apt-get install -y valgrind")
    print(
        f"instructions benchmark: PostgreSQL, wsgi:app in-process under callgrind, "
        f"{args.requests} counted requests per kind after {WARM_UP} uncounted"
    )
    with throwaway_database("bench_instructions") as url:
        # Enough units that every counted reservation is made, none refused for want of stock.
        skus = seed(url, skus=5000, warehouses=5, units=10_000)
        add_holds(url, active=300, lapsed=100, skus=skus)
        seed_peak_holds(url, holds=20_000, skus=skus)
        analyze(url)
        token = storefront_token(url)
        counts = {kind: count(kind, url, token, args.requests) for kind in KINDS}
    print()
    for kind, instructions in counts.items():
        print(
            f"  {LABELS[kind]:<44} {instructions / 1e6:6.3f} M instructions/request"
            f"   {instructions / counts['healthz']:5.2f}x /healthz"
        )


LABELS = {
    "healthz": "GET /healthz (bare baseline)",
    "availability": "GET /api/v1/availability (3 skus)",
    "reservation": "POST /api/v1/reservations (1-2 lines)",
}


def count(kind: str, url: str, token: str, requests: int) -> float:
    """Instructions per request of ``kind``, in a process of its own under callgrind."""
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "callgrind.log"
        worker = subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={scratch}/callgrind.out",
                f"--log-file={log}",
                sys.executable,
                __file__,
                "--worker",
                kind,
                "--requests",
                str(requests),
            ],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING", "BENCH_TOKEN": token},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert worker.stdin is not None
        assert worker.stdout is not None
        try:
            _expect(worker, "ready")
            _instrumentation(worker.pid, "on")
            worker.stdin.write("go\n")
            worker.stdin.flush()
            _expect(worker, "done")
            _instrumentation(worker.pid, "off")
            worker.stdin.write("exit\n")
            worker.stdin.flush()
        finally:
            worker.stdin.close()
            worker.wait(timeout=120)
        if worker.returncode != 0:
            raise SystemExit(f"the {kind} worker failed (exit status {worker.returncode})")
        collected = re.search(r"Collected : (\d+)", log.read_text())
        if collected is None:
            raise SystemExit(f"callgrind reported no count for {kind}:\n{log.read_text()}")
        return int(collected.group(1)) / requests


def _expect(worker: subprocess.Popen[str], word: str) -> None:
    assert worker.stdout is not None
    line = worker.stdout.readline().strip()
    if line != word:
        worker.kill()
        raise SystemExit(f"the worker said {line!r} where {word!r} was expected")


def _instrumentation(pid: int, state: str) -> None:
    subprocess.run(
        ["callgrind_control", "--instr", state, str(pid)], check=True, capture_output=True
    )


def serve(kind: str, requests: int) -> None:
    """The worker: the app as gunicorn builds it, answering prepared requests on cue."""
    from sqlalchemy import text

    from core.db import engine
    from wsgi import app

    with app.app_context(), engine().connect() as conn:
        skus = list(conn.execute(text("SELECT sku FROM products ORDER BY sku")).scalars())
    token = os.environ["BENCH_TOKEN"]
    draw = random.Random(11)
    build = _builders(token, skus, draw)[kind]
    run(app, [build() for _ in range(WARM_UP)])
    measured = [build() for _ in range(requests)]
    print("ready", flush=True)
    sys.stdin.readline()
    run(app, measured)
    print("done", flush=True)
    sys.stdin.readline()


def _builders(token: str, skus: list[str], draw: random.Random) -> dict[str, Callable[[], Any]]:
    bearer = [("Authorization", f"Bearer {token}")]

    def healthz() -> dict[str, Any]:
        return EnvironBuilder(path="/healthz").get_environ()

    def availability() -> dict[str, Any]:
        query = "&".join(f"sku={draw.choice(skus)}" for _ in range(3))
        return EnvironBuilder(
            path="/api/v1/availability", query_string=query, headers=bearer
        ).get_environ()

    def reservation() -> dict[str, Any]:
        key = str(uuid.uuid4())
        lines = [
            {"sku": sku, "quantity": draw.randint(1, 2)}
            for sku in draw.sample(skus[:RESERVED_SKUS], draw.randint(1, 2))
        ]
        return EnvironBuilder(
            path="/api/v1/reservations",
            method="POST",
            data=json.dumps({"order_ref": key, "ttl_seconds": 3600, "lines": lines}),
            headers=[*bearer, ("Idempotency-Key", key), ("Content-Type", "application/json")],
        ).get_environ()

    return {"healthz": healthz, "availability": availability, "reservation": reservation}


def run(app: Any, environs: list[dict[str, Any]]) -> None:
    """Each request through the WSGI callable, its body read in full, as a server would."""
    status: list[str] = []

    def start_response(line: str, _headers: Any, _exc_info: Any = None) -> None:
        status.append(line)

    for environ in environs:
        body = app(environ, start_response)
        b"".join(body)
        if hasattr(body, "close"):
            body.close()
        if not status[-1].startswith("2"):
            raise SystemExit(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}: {status[-1]}")


if __name__ == "__main__":
    main()
