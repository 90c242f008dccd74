"""Background jobs: progress visible while running, outcomes, who may read them, dead workers."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from core import jobs
from core.db import UnitOfWork, session, utcnow
from core.jobs import Job
from tests.factories import assert_problem
from tests.forecasting_factories import wait_for_job

pytestmark = pytest.mark.usefixtures("drain_jobs")

#: Lets a test hold a job in the middle of its work.
halfway = threading.Event()
release = threading.Event()


@jobs.job("test.steps", readers=("planner",))
def steps(params: dict, report: jobs.Report) -> dict:
    report(0.25, "first quarter")
    report(0.5, "halfway")
    halfway.set()
    if not release.wait(timeout=30):
        raise TimeoutError("the test never released the job")
    report(0.9, "almost")
    return {"total": params["n"] * 2}


@jobs.job("test.broken")
def broken(params: dict, report: jobs.Report) -> dict:
    report(0.3, "working")
    raise ValueError("the input has no rows")


@pytest.fixture(autouse=True)
def _reset_events(drain_jobs):
    halfway.clear()
    release.clear()
    yield
    release.set()


def _until(api, job_id: int, condition, timeout: float = 10.0) -> dict:
    """Progress is written within half a second of being reported; poll for it."""
    deadline = time.monotonic() + timeout
    while True:
        body = api.get(f"/jobs/{job_id}").json
        if condition(body) or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


@pytest.fixture
def submit(app, principal_for):
    def run(kind: str, api, **params) -> int:
        with app.app_context():
            return jobs.submit(kind, params, principal_for(api))

    return run


def test_progress_is_visible_while_the_job_runs_and_result_once_it_succeeded(planner, submit):
    job_id = submit("test.steps", planner, n=21)
    assert halfway.wait(timeout=30)
    body = _until(planner, job_id, lambda b: b["message"] == "halfway")
    assert body["status"] == "running"
    assert body["progress"] == 0.5
    assert body["message"] == "halfway"
    assert body["started_at"] is not None
    assert body["finished_at"] is None
    assert "result" not in body
    release.set()
    done = wait_for_job(planner, job_id)
    assert done["status"] == "succeeded"
    assert done["progress"] == 1.0
    assert done["result"] == {"total": 42}
    assert done["kind"] == "test.steps"
    assert done["created_by"] == planner.username
    assert done["finished_at"] >= done["started_at"] >= done["created_at"]
    assert "error" not in done


def test_a_failing_job_is_failed_with_its_error(planner, submit):
    job_id = submit("test.broken", planner)
    body = wait_for_job(planner, job_id)
    assert body["status"] == "failed"
    assert body["error"] == "ValueError: the input has no rows"
    assert body["progress"] == 0.3
    assert "result" not in body


def test_creator_admin_and_the_kinds_readers_may_read_others_may_not(
    make_user, planner, admin, submit, anonymous
):
    viewer = make_user("viewer")
    plain = submit("test.broken", viewer)  # a kind that names no readers
    assert wait_for_job(viewer, plain)["status"] == "failed"
    assert admin.get(f"/jobs/{plain}").status_code == 200
    assert_problem(planner.get(f"/jobs/{plain}"), 403)

    planned = submit("test.steps", viewer, n=1)  # planners read every job of this kind
    release.set()
    wait_for_job(viewer, planned)
    assert planner.get(f"/jobs/{planned}").status_code == 200
    assert_problem(make_user("buyer").get(f"/jobs/{planned}"), 403)
    assert_problem(make_user("storefront").get(f"/jobs/{planned}"), 403)
    assert_problem(anonymous.get(f"/jobs/{planned}"), 401)
    assert_problem(planner.get("/jobs/999999"), 404)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _force(app, job_id: int, **values) -> None:
    with app.app_context(), UnitOfWork() as uow:
        uow.session.execute(update(Job).where(Job.id == job_id).values(**values))
        uow.commit()


def test_a_job_whose_process_died_is_reported_failed(app, planner, submit):
    job_id = submit("test.steps", planner, n=1)
    assert halfway.wait(timeout=30)
    # As if the web process running it had been restarted mid-run.
    host = jobs.runner._this_process().rpartition(":")[0]
    _until(planner, job_id, lambda b: b["message"] == "halfway")
    _force(app, job_id, worker=f"{host}:{_dead_pid()}")
    body = planner.get(f"/jobs/{job_id}").json
    assert body["status"] == "failed"
    assert "ended before the job finished" in body["error"]
    # The original thread is still going; its next report finds the job failed and stops.
    release.set()
    with app.app_context():
        jobs.shutdown(app, wait=True)
    body = planner.get(f"/jobs/{job_id}").json
    assert body["status"] == "failed"
    assert "result" not in body
    assert body["progress"] == 0.5


def test_a_running_job_silent_for_too_long_is_taken_for_dead(app, planner, submit):
    job_id = submit("test.steps", planner, n=1)
    assert halfway.wait(timeout=30)
    _force(
        app,
        job_id,
        worker="another-host:123",
        heartbeat_at=utcnow() - timedelta(seconds=app.config["JOB_STALE_AFTER_SECONDS"] + 60),
    )
    body = planner.get(f"/jobs/{job_id}").json
    assert body["status"] == "failed"
    assert "no progress" in body["error"]


def test_a_job_delivered_twice_runs_once(app, planner, submit):
    job_id = submit("test.broken", planner)
    wait_for_job(planner, job_id)
    with app.app_context():
        assert jobs.execute(job_id) is None
        row = session().get(Job, job_id)
        assert row.status == "failed"
