"""A forecast run split into chunks: each series once, progress by chunk, a failed chunk fails it.

In-process (threads and the foreground command) the chunks run one after the other; the Celery
path, where workers share them, is in ``test_celery_jobs.py``.
"""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

import forecasting.history
from accounts.principal import SYSTEM
from core import db, jobs
from core.db import UnitOfWork, read_only, utcnow
from core.jobs import Job, JobChunk
from forecasting import demand, services
from forecasting.history import SeriesKey
from forecasting.models import Forecast
from forecasting.runs import chunks_of
from tests.forecasting_factories import wait_for_job

pytestmark = pytest.mark.usefixtures("drain_jobs")

END = demand.history_end(utcnow().date(), "W")
FIRST = END - timedelta(days=7 * 30 - 1)
SKUS = ("A", "B", "C")
WAREHOUSES = ("W1", "W2")


@pytest.fixture
def app_config() -> dict[str, Any]:
    # Two series per chunk: three items in two warehouses make three chunks.
    return {"FORECAST_CHUNK_SERIES": 2}


def demand_csv(pairs: list[tuple[str, str]]) -> bytes:
    noise = random.Random(3)
    lines = ["sku,warehouse,date,quantity"]
    for sku, code in pairs:
        base = 4 + SKUS.index(sku) * 3 + WAREHOUSES.index(code)
        for day in range(7 * 30):
            lines.append(
                f"{sku},{code},{FIRST + timedelta(days=day)},{base + noise.randint(-2, 2)}"
            )
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def six_series(make_product, make_warehouse, planner) -> list[tuple[str, str]]:
    for sku in SKUS:
        make_product(sku=sku)
    for code in WAREHOUSES:
        make_warehouse(code=code)
    pairs = [(sku, code) for sku in SKUS for code in WAREHOUSES]
    r = planner.post("/demand/import", data=demand_csv(pairs), headers={"Content-Type": "text/csv"})
    assert r.status_code == 201, r.json
    return pairs


def forecasts_per_series(app, run_id: int) -> Counter[tuple[str, str]]:
    from inventory.models import Product, Warehouse

    with app.app_context(), read_only() as s:
        rows = s.execute(
            select(Product.sku, Warehouse.code)
            .join(Forecast, Forecast.product_id == Product.id)
            .join(Warehouse, Warehouse.id == Forecast.warehouse_id)
            .where(Forecast.run_id == run_id)
        ).all()
    return Counter((sku, code) for sku, code in rows)


def chunks(app, job_id: int) -> list[JobChunk]:
    with app.app_context(), read_only() as s:
        rows = list(s.scalars(select(JobChunk).where(JobChunk.job_id == job_id)))
        s.expunge_all()
    return sorted(rows, key=lambda c: c.index)


def test_chunks_hold_whole_items_of_about_the_size_asked():
    keys = [
        SeriesKey(p, w, f"S{p}", f"W{w}")
        for p, warehouses in ((1, 3), (2, 1), (3, 2), (4, 5), (5, 1))
        for w in range(warehouses)
    ]
    split = chunks_of(keys, 3)
    assert [len(c) for c in split] == [3, 3, 5, 1]
    assert [k for c in split for k in c] == keys
    for chunk in split:
        items = [k.product_id for k in chunk]
        assert items == sorted(items)
    # No item is cut in two.
    owners = {k.product_id: i for i, c in enumerate(split) for k in c}
    assert all(owners[k.product_id] == i for i, c in enumerate(split) for k in c)
    assert chunks_of([], 3) == []


def test_a_run_in_a_thread_forecasts_every_series_once_chunk_by_chunk(app, planner, six_series):
    r = planner.post("/forecasts/runs", json={"horizon": 4, "frequency": "W"})
    assert r.status_code == 202, r.json
    job = wait_for_job(planner, r.json["job_id"], timeout=180)
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0
    assert job["message"] == "6 of 6 series"
    assert job["result"]["series"] == 6
    assert job["result"]["forecast"] == 6

    assert forecasts_per_series(app, r.json["run_id"]) == Counter(dict.fromkeys(six_series, 1))
    parts = chunks(app, r.json["job_id"])
    assert [(c.index, c.status) for c in parts] == [(i, "succeeded") for i in range(3)]
    assert [len(c.params["series"]) for c in parts] == [2, 2, 2]

    run = planner.get(f"/forecasts/runs/{r.json['run_id']}").json
    assert (run["series_total"], run["series_done"], run["series_failed"]) == (6, 6, 0)
    assert sum(run["models"].values()) >= 6
    assert run["accuracy"]["mase"] is not None
    assert run["finished_at"]


def test_the_foreground_run_reports_progress_chunk_by_chunk_up_to_100_percent(app, six_series):
    seen: list[tuple[float, float, str | None]] = []
    with app.app_context():
        started = services.start_run(
            SYSTEM, {"horizon": 4, "frequency": "W"}, executor=jobs.Executor.INLINE
        )
        job_id = started["job_id"]

        def watch(value: float, _message: str | None) -> None:
            with db.engine().connect() as conn:
                progress, message = conn.execute(
                    select(Job.progress, Job.message).where(Job.id == job_id)
                ).one()
            seen.append((value, progress, message))

        assert jobs.run_inline(job_id, observer=watch) is jobs.JobStatus.SUCCEEDED
    values = [v for v, _, _ in seen]
    assert values == sorted(values)
    assert values[-1] == 1.0
    # What readers of the job see after each chunk: a third more, and how many series are done.
    whole = [(p, m) for v, p, m in seen if v in (1 / 3, 2 / 3, 1.0)]
    assert (pytest.approx(1 / 3), "2 of 6 series") in whole
    assert (pytest.approx(2 / 3), "4 of 6 series") in whole
    assert (1.0, "6 of 6 series") in whole
    assert forecasts_per_series(app, started["run_id"]) == Counter(dict.fromkeys(six_series, 1))


def test_a_chunk_delivered_again_is_not_run_again(app, planner, six_series):
    r = planner.post("/forecasts/runs", json={"horizon": 4, "frequency": "W"})
    job_id = r.json["job_id"]
    assert wait_for_job(planner, job_id, timeout=180)["status"] == "succeeded"
    with app.app_context():
        assert jobs.run_chunk(job_id, 1) is None
        assert jobs.execute(job_id) is None
    assert sum(forecasts_per_series(app, r.json["run_id"]).values()) == 6


def test_a_failing_chunk_fails_the_run_with_its_error(app, planner, six_series, monkeypatch):
    real = forecasting.history.load_demand

    def load_demand(s, keys, frequency, end):
        if any(k.sku == "B" for k in keys):
            raise RuntimeError("the disk holding B's history is unreadable")
        return real(s, keys, frequency, end)

    monkeypatch.setattr(forecasting.history, "load_demand", load_demand)
    r = planner.post("/forecasts/runs", json={"horizon": 4, "frequency": "W"})
    job = wait_for_job(planner, r.json["job_id"], timeout=180)
    assert job["status"] == "failed"
    assert job["error"] == (
        "Part 2 of 3 failed: RuntimeError: the disk holding B's history is unreadable"
    )
    run = planner.get(f"/forecasts/runs/{r.json['run_id']}").json
    assert run["status"] == "failed"
    assert run["error"] == job["error"]
    parts = chunks(app, r.json["job_id"])
    assert [c.status for c in parts] == ["succeeded", "failed", "queued"]
    assert "unreadable" in parts[1].error
    # The chunk before the failure committed its series; nothing after it ran.
    assert set(forecasts_per_series(app, r.json["run_id"])) == {("A", "W1"), ("A", "W2")}


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_chunked_job_on_celery_is_judged_by_the_processes_running_its_chunks(app, planner):
    """The process that split the job may be gone; a chunk whose process is gone fails it."""
    host = jobs.runner._this_process().rpartition(":")[0]
    dead = f"{host}:{_dead_pid()}"
    with app.app_context():
        with UnitOfWork() as uow:
            s = uow.session
            job = Job(
                kind="forecast_run",
                status="running",
                progress=0.0,
                params={},
                created_by=planner.username,
                executor="celery",
                worker=dead,
                started_at=utcnow(),
                heartbeat_at=utcnow(),
                chunks_total=2,
                chunks_done=0,
            )
            s.add(job)
            s.flush()
            s.add_all(
                [
                    JobChunk(
                        job_id=job.id, index=0, status="running", worker=jobs.runner._this_process()
                    ),
                    JobChunk(job_id=job.id, index=1, status="queued"),
                ]
            )
            uow.commit()
            job_id = job.id
        assert jobs.reconcile_abandoned([job_id]) == 0

        with UnitOfWork() as uow:
            uow.session.execute(
                update(JobChunk)
                .where(JobChunk.job_id == job_id, JobChunk.index == 0)
                .values(worker=dead)
            )
            uow.commit()
        assert jobs.reconcile_abandoned([job_id]) == 1
    body = planner.get(f"/jobs/{job_id}").json
    assert body["status"] == "failed"
    assert f"part 1 of 2 ({dead}) ended" in body["error"]
