"""Faults under load on real PostgreSQL: a gunicorn worker is killed and every database
connection is cut while storefront clients reserve, commit and release. Afterwards the ledger,
levels and reservations agree, and every write the server acknowledged is there."""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from sqlalchemy import select, text

from core import db
from inventory.models import Reservation, StockMovement
from tests.e2e.conftest import dedicated_live_server  # noqa: F401 (the fixture)

pytestmark = pytest.mark.pg

SKUS = ("A", "B", "C", "D")
CLIENTS = 8
#: Reservations the server must acknowledge before each fault, and after the last one: the faults
#: strike under load whatever the machine's speed, and the server must recover from each.
BEFORE_KILL, BEFORE_CUT, AFTER_CUT = 50, 50, 100


def call(url: str, token: str, method: str, path: str, body: Any = None, key: str | None = None):
    """(status, json) or (None, None) when the connection failed."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + "/api/v1" + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None
    except (OSError, http.client.HTTPException):
        # Refused, reset, or cut off after the headers (IncompleteRead): the answer is lost.
        return None, None


def worker_pids(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def test_killed_worker_and_cut_connections_lose_no_acknowledged_write(
    dedicated_live_server,  # noqa: F811
    make_product,
    make_warehouse,
    receive,
    make_user,
    check_invariants,
):
    make_warehouse(code="W1")
    for sku in SKUS:
        make_product(sku=sku)
        receive(sku, "W1", 500)
    shop = make_user("storefront")
    url = dedicated_live_server.url
    acknowledged: dict[int, str] = {}  # reservation id -> what the server confirmed last
    failures = {"connection": 0, "5xx": 0}
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        rng = random.Random(n)
        i = 0
        while not stop.is_set():
            i += 1
            key = f"c{n}-{i}"
            lines = [{"sku": s, "quantity": rng.randint(1, 3)} for s in rng.sample(SKUS, 2)]
            body = {"order_ref": key, "lines": lines, "ttl_seconds": 600}
            status, reply = call(url, shop.token, "POST", "/reservations", body, key)
            if status is None or status >= 500:
                # The answer was lost: retry with the same key, as a storefront must.
                time.sleep(0.2)
                status, reply = call(url, shop.token, "POST", "/reservations", body, key)
            if status is None or status >= 500:
                with lock:
                    failures["connection" if status is None else "5xx"] += 1
                continue
            if status != 201:
                continue
            rid = reply["id"]
            with lock:
                acknowledged[rid] = "active"
            action = rng.choice(["commit", "release", "keep"])
            if action == "keep":
                continue
            status, _ = call(url, shop.token, "POST", f"/reservations/{rid}/{action}")
            if status == 200:
                with lock:
                    acknowledged[rid] = "committed" if action == "commit" else "released"

    def serve(more: int, timeout: float = 60) -> None:
        """Let the clients run until the server has acknowledged ``more`` new reservations."""
        with lock:
            target = len(acknowledged) + more
        deadline = time.monotonic() + timeout
        while len(acknowledged) < target:
            if time.monotonic() > deadline:
                stop.set()
                pytest.fail(
                    f"{len(acknowledged)}/{target} acknowledged after {timeout} s: {failures}"
                )
            time.sleep(0.02)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    serve(BEFORE_KILL)
    killed = worker_pids(dedicated_live_server.process.pid)[0]
    os.kill(killed, signal.SIGKILL)
    serve(BEFORE_CUT)
    with dedicated_live_server.app.app_context(), db.engine().connect() as conn:
        cut = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar()
    serve(AFTER_CUT)
    stop.set()
    for t in threads:
        t.join(timeout=60)

    assert cut, "no server connection was open to cut"
    replaced = worker_pids(dedicated_live_server.process.pid)
    assert killed not in replaced, "gunicorn did not replace it"
    assert len(acknowledged) > 50, (len(acknowledged), failures)
    # The server recovers: it answers again once the faults are over.
    assert call(url, shop.token, "GET", "/availability?sku=A")[0] == 200
    check_invariants()
    with dedicated_live_server.app.app_context(), db.read_only() as s:
        stored = dict(
            s.execute(
                select(Reservation.id, Reservation.status).where(
                    Reservation.id.in_(list(acknowledged))
                )
            ).all()
        )
        issued = {
            int(ref.split(":")[1])
            for ref in s.scalars(
                select(StockMovement.reference).where(StockMovement.reference.like("reservation:%"))
            )
        }
    assert set(stored) == set(acknowledged), "an acknowledged reservation is missing"
    for rid, status in acknowledged.items():
        if status == "committed":
            assert stored[rid] == "committed", rid
            assert rid in issued, rid
        elif status == "released":
            assert stored[rid] == "released", rid
