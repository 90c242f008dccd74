"""The Celery path: a real ``celery worker`` process runs forecast runs and replenishment plans."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from core.db import session, utcnow
from core.jobs import Job
from forecasting import demand
from tests.forecasting_factories import wait_for_job

pytestmark = pytest.mark.celery

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
#: A queue of this test session's own, so workers of other checkouts sharing the broker never
#: take our jobs (nor we theirs).
QUEUE = f"stockroom-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def broker() -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI but {REDIS_URL} is unreachable: {exc}")
        pytest.skip(f"no Redis at {REDIS_URL}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
def app_config(broker: str) -> dict[str, Any]:
    return {"CELERY_BROKER_URL": broker, "CELERY_QUEUE": QUEUE}


@pytest.fixture
def worker(broker: str, database_url: str, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``celery -A celery_worker worker`` on the test's database, stopped after the test."""
    log = (tmp_path / "worker.log").open("wb")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker,
        "CELERY_QUEUE": QUEUE,
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
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
            "--loglevel=warning",
            "--without-gossip",
            "--without-mingle",
            "-Q",
            QUEUE,
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()
    if process.returncode not in (0, -15):
        print((tmp_path / "worker.log").read_text()[-3000:])


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
        pytest.fail(f"{job}\nworker log:\n{(tmp_path / 'worker.log').read_text()[-3000:]}")
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
        pytest.fail(f"{job}\nworker log:\n{(tmp_path / 'worker.log').read_text()[-3000:]}")
    with app.app_context():
        row = session().get(Job, r.json["job_id"])
        assert row.executor == "celery"
        assert int(row.worker.rpartition(":")[2]) == worker.pid
    (line,) = buyer.get(f"/replenishment/plans/{r.json['plan_id']}").json["lines"]
    assert (line["supplier"], line["quantity"], line["total"]) == ("ACME", 12, "48.0000")
