"""Background jobs: the ``jobs`` table, a registry of job kinds and the executors that run them.

A job is slow work a person starts and then watches: a forecast run, a replenishment plan.
Features register a kind with ``@job("forecast_run")`` on a function ``fn(params, report) ->
result`` and start it with ``submit(kind, params, actor)``; ``report(progress, message)`` commits
progress in a short transaction of its own, so anyone reading the job sees it move while the work
continues.

Executors:

- **In-process** (default, ``CELERY_BROKER_URL`` unset): a pool of ``JOBS_THREADS`` threads in the
  process that submitted the job; each job runs in its own app context (its own session).
- **Celery** (``CELERY_BROKER_URL`` set): the submitting process only sends the job's id to the
  broker (queue ``CELERY_QUEUE``); a worker started with ``celery -A celery_worker worker`` loads
  the same app, claims the job row and runs the registered function.
- **Inline**: command-line tools run a job in the foreground with ``run_inline``.

Chunked kinds (``chunked_job``: a forecast run over thousands of series) split into chunks when
they start, recorded in ``job_chunks``. On Celery each chunk is a task of its own
(``stockroom.run_job_chunk``), so as many workers as there are chunks share one job; in a thread
or the foreground the chunks run one after the other. Each chunk commits its results with its
completion; the job's progress is the share of chunks completed, and whoever completes the last
one merges their results and finishes the job. A chunk that fails fails the job with its error.

Abandoned jobs. A job records which process runs it (``worker`` = ``host:pid``) and a heartbeat
that every progress report refreshes. Whenever jobs are read (``get``, ``reconcile_abandoned``) or a
new one is submitted, a job is marked failed when

- it is running, or queued for a thread of a process on this host, and that process is gone
  (a restarted web server, a killed worker); or
- it is running and has not reported for ``JOB_STALE_AFTER_SECONDS`` (another host's process died).

A chunked job on Celery is judged by the processes running its chunks, not by the one that split
it (which may have moved on or been restarted meanwhile).

Queued Celery jobs are left alone: the broker keeps them until a worker takes them. A job marked
failed this way cannot be finished later by a process that was only slow: its next progress report
raises ``JobAbandoned`` and its result is not recorded.

Job functions must not call ``report`` while holding a write transaction: on SQLite the report
would wait for the job's own lock.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from core.jobs.model import ACTIVE, JOB_STATUSES, Actor, Executor, Job, JobChunk, JobStatus
from core.jobs.runner import (
    Chunk,
    JobAbandoned,
    JobFunction,
    JobKind,
    Report,
    chunked_job,
    dispatch,
    enqueue,
    execute,
    get,
    job,
    kind_of,
    make_celery,
    may_read,
    reconcile_abandoned,
    run_chunk,
    run_inline,
    shutdown,
    submit,
)

__all__ = [
    "ACTIVE",
    "JOB_STATUSES",
    "Actor",
    "Chunk",
    "Executor",
    "Job",
    "JobAbandoned",
    "JobChunk",
    "JobFunction",
    "JobKind",
    "JobStatus",
    "Report",
    "chunked_job",
    "dispatch",
    "enqueue",
    "execute",
    "get",
    "init_app",
    "job",
    "kind_of",
    "make_celery",
    "may_read",
    "reconcile_abandoned",
    "run_chunk",
    "run_inline",
    "shutdown",
    "submit",
]

PrincipalResolver = Callable[[], Actor]


def init_app(app: Flask, principal: PrincipalResolver) -> None:
    """Mount ``GET /api/v1/jobs/<id>`` and, with a broker configured, the Celery app.

    ``principal`` returns the caller of the current request (the accounts feature provides it);
    the kernel itself knows nothing of users.
    """
    from core.api import register_api
    from core.jobs import views
    from core.jobs.api import blp

    app.extensions["stockroom.jobs.principal"] = principal
    register_api(app, blp)
    views.init_app(app)
    if app.config.get("CELERY_BROKER_URL"):
        app.extensions["stockroom.celery"] = make_celery(app)
