"""The Celery path: a real ``celery worker`` process runs forecast runs and replenishment plans."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.db import session, utcnow
from core.jobs import Job, JobChunk
from forecasting import demand
from forecasting.models import Forecast
from tests.conftest import require_redis
from tests.forecasting_factories import wait_for_job

pytestmark = pytest.mark.celery

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
#: A queue of this test session's own, so workers of other checkouts sharing the broker never
#: take our jobs (nor we theirs).
QUEUE = f"stockroom-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def broker() -> str:
    require_redis(REDIS_URL)
    return REDIS_URL


@pytest.fixture
def app_config(broker: str) -> dict[str, Any]:
    return {"CELERY_BROKER_URL": broker, "CELERY_QUEUE": QUEUE}


StartWorker = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def start_worker(broker: str, database_url: str, tmp_path: Path) -> Iterator[StartWorker]:
    """``celery -A <module> worker`` processes on the test's database, stopped after the test.

    Each has its own log, ``worker-<n>.log`` under the test's temporary folder.
    """
    started: list[tuple[subprocess.Popen[bytes], Any]] = []

    def start(module: str = "celery_worker", **env: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"worker-{len(started)}.log").open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                module,
                "worker",
                "--pool=solo",
                "-c",
                "1",
                "--loglevel=warning",
                "--without-gossip",
                "--without-mingle",
                "-Q",
                QUEUE,
            ],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_URL": database_url,
                "CELERY_BROKER_URL": broker,
                "CELERY_QUEUE": QUEUE,
                "LOG_LEVEL": "WARNING",
                **env,
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append((process, log))
        return process

    yield start
    for process, _log in started:
        process.terminate()
    for process, log in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        if process.returncode not in (0, -15):
            print(Path(log.name).read_text()[-3000:])


@pytest.fixture
def worker(start_worker: StartWorker) -> subprocess.Popen[bytes]:
    return start_worker()


def worker_logs(tmp_path: Path) -> str:
    return "\n".join(p.read_text()[-3000:] for p in sorted(tmp_path.glob("worker-*.log")))


def test_a_forecast_run_is_run_by_a_celery_worker(
    app, worker, make_product, make_warehouse, planner, post_history, tmp_path
):
    make_product(sku="A")
    make_warehouse(code="W1")
    end = demand.history_end(utcnow().date(), "W")
    first = end - timedelta(days=7 * 20 - 1)
    post_history(
        "A",
        "W1",
        {first + timedelta(days=i): 3 + i % 7 for i in range(140)},
        receipts={first: 5000},
    )
    r = planner.post("/forecasts/runs", json={"horizon": 4, "frequency": "W"})
    assert r.status_code == 202, r.json
    job = wait_for_job(planner, r.json["job_id"], timeout=180)
    if job["status"] != "succeeded" or worker.poll() is not None:
        pytest.fail(f"{job}\nworker log:\n{worker_logs(tmp_path)}")
    assert job["result"]["forecast"] == 1
    with app.app_context():
        row = session().get(Job, r.json["job_id"])
        assert row.executor == "celery"
        pid = row.worker.rpartition(":")[2]
        assert int(pid) == worker.pid != os.getpid()
    fc = planner.get("/forecasts?sku=A&warehouse=W1").json
    assert len(fc["periods"]) == 4
    assert fc["run_id"] == r.json["run_id"]


def test_an_unreachable_broker_fails_the_job_and_says_so(
    app, make_product, make_warehouse, planner, receive
):
    make_product(sku="A")
    make_warehouse(code="W1")
    receive("A", "W1", 5)
    app.extensions["stockroom.celery"].conf.broker_url = "redis://127.0.0.1:1/0"
    r = planner.post("/forecasts/runs", json={"horizon": 4, "frequency": "W"})
    body = r.json
    assert r.status_code == 503, body
    assert body["type"].endswith("job-queue-unavailable")
    runs = planner.get("/forecasts/runs").json["items"]
    assert runs[0]["status"] == "failed"
    assert "unreachable" in runs[0]["error"]


def test_a_replenishment_plan_is_computed_by_a_celery_worker(
    app, worker, make_product, make_warehouse, make_supplier, make_user, tmp_path
):
    make_warehouse(code="W1")
    make_product(sku="A")
    make_supplier(code="ACME", items={"A": {"unit_price": "4.00", "pack_size": 6}})
    buyer = make_user("buyer")
    r = buyer.post(
        "/replenishment/plans", json={"lines": [{"sku": "A", "warehouse": "W1", "quantity": 10}]}
    )
    assert r.status_code == 202, r.json
    job = wait_for_job(buyer, r.json["job_id"], timeout=180)
    if job["status"] != "succeeded" or worker.poll() is not None:
        pytest.fail(f"{job}\nworker log:\n{worker_logs(tmp_path)}")
    with app.app_context():
        row = session().get(Job, r.json["job_id"])
        assert row.executor == "celery"
        assert int(row.worker.rpartition(":")[2]) == worker.pid
    (line,) = buyer.get(f"/replenishment/plans/{r.json['plan_id']}").json["lines"]
    assert (line["supplier"], line["quantity"], line["total"]) == ("ACME", 12, "48.0000")


def _import_demand(api, pairs: list[tuple[str, str]], weeks: int = 30) -> None:
    end = demand.history_end(utcnow().date(), "W")
    first = end - timedelta(days=7 * weeks - 1)
    lines = ["sku,warehouse,date,quantity"]
    for n, (sku, code) in enumerate(pairs):
        lines += [
            f"{sku},{code},{first + timedelta(days=d)},{4 + n + d % 3}" for d in range(7 * weeks)
        ]
    r = api.post(
        "/demand/import",
        data=("\n".join(lines) + "\n").encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 201, r.json


def _follow(api, job_id: int, timeout: float = 180) -> tuple[dict[str, Any], list[float]]:
    """Poll a job to its end, keeping every progress value seen on the way."""
    seen: list[float] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"/jobs/{job_id}").json
        seen.append(body["progress"])
        if body["status"] in ("succeeded", "failed"):
            return body, seen
        time.sleep(0.05)
    pytest.fail(f"job {job_id} still {body['status']} after {timeout:.0f} s")


def _chunks(app, job_id: int) -> list[tuple[int, str, str | None, str | None]]:
    with app.app_context():
        rows = session().execute(
            select(JobChunk.index, JobChunk.status, JobChunk.worker, JobChunk.error)
            .where(JobChunk.job_id == job_id)
            .order_by(JobChunk.index)
        )
        return [tuple(r) for r in rows]


def test_two_workers_share_a_chunked_forecast_run_and_forecast_each_series_once(
    app, start_worker, make_product, make_warehouse, planner, tmp_path
):
    for sku in ("A", "B"):
        make_product(sku=sku)
    for code in ("W1", "W2"):
        make_warehouse(code=code)
    pairs = [(sku, code) for sku in ("A", "B") for code in ("W1", "W2")]
    _import_demand(planner, pairs)
    # One item (two series) per chunk: two chunks for two workers.
    workers = [start_worker(FORECAST_CHUNK_SERIES="1") for _ in range(2)]
    r = planner.post("/forecasts/runs", json={"horizon": 4, "frequency": "W"})
    assert r.status_code == 202, r.json
    job, seen = _follow(planner, r.json["job_id"])
    if job["status"] != "succeeded" or any(w.poll() is not None for w in workers):
        pytest.fail(f"{job}\nworker logs:\n{worker_logs(tmp_path)}")
    assert job["progress"] == 1.0
    assert job["message"] == "4 of 4 series"
    assert seen == sorted(seen)
    assert set(seen) <= {0.0, 0.5, 1.0}
    assert job["result"]["forecast"] == 4

    chunks = _chunks(app, r.json["job_id"])
    assert [(i, status) for i, status, _, _ in chunks] == [(0, "succeeded"), (1, "succeeded")]
    pids = {w.pid for w in workers}
    assert {int(worker.rpartition(":")[2]) for _, _, worker, _ in chunks} <= pids
    with app.app_context():
        counted = session().execute(
            select(Forecast.product_id, Forecast.warehouse_id, func.count())
            .where(Forecast.run_id == r.json["run_id"])
            .group_by(Forecast.product_id, Forecast.warehouse_id)
        )
        assert sorted(n for *_, n in counted) == [1, 1, 1, 1]
    run = planner.get(f"/forecasts/runs/{r.json['run_id']}").json
    assert (run["series_total"], run["series_done"], run["series_failed"]) == (4, 4, 0)


def test_a_chunk_failing_on_a_worker_fails_the_run_with_its_error(
    app, start_worker, make_product, make_warehouse, planner, tmp_path
):
    for sku in ("A", "B", "C"):
        make_product(sku=sku)
    make_warehouse(code="W1")
    _import_demand(planner, [("A", "W1"), ("B", "W1"), ("C", "W1")])
    worker = start_worker(
        "tests.api.celery_failing_worker",
        FORECAST_CHUNK_SERIES="1",
        STOCKROOM_TEST_FAILING_SKU="B",
    )
    r = planner.post("/forecasts/runs", json={"horizon": 4, "frequency": "W"})
    assert r.status_code == 202, r.json
    job, _ = _follow(planner, r.json["job_id"])
    if worker.poll() is not None:
        pytest.fail(f"the worker died\n{worker_logs(tmp_path)}")
    assert job["status"] == "failed", job
    assert job["error"] == "Part 2 of 3 failed: RuntimeError: the history of B is unreadable"
    run = planner.get(f"/forecasts/runs/{r.json['run_id']}").json
    assert run["status"] == "failed"
    assert run["error"] == job["error"]
    # One worker takes the chunks in order: A is stored, B failed, C was never started.
    chunks = _chunks(app, r.json["job_id"])
    assert [status for _, status, _, _ in chunks] == ["succeeded", "failed", "queued"]
    assert "unreadable" in (chunks[1][3] or "")
    assert planner.get("/forecasts?sku=A&warehouse=W1").status_code == 200
    assert planner.get("/forecasts?sku=C&warehouse=W1").status_code == 404
