"""Running jobs: the registry of kinds, the executors, chunks, progress reports and abandonment."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Engine, Float, cast, exists, insert, or_, select, update
from sqlalchemy.orm import Session

from core import db
from core.api import keyset_page
from core.db import UnitOfWork, utcnow
from core.jobs.model import ACTIVE, Actor, Executor, Job, JobChunk, JobStatus
from core.problems import Forbidden, NotFound, Problem

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------
# Registry


#: ``report(progress, message=None)``: progress 0..1 and what is happening now.
Report = Callable[..., None]
JobFunction = Callable[[dict[str, Any], Report], Mapping[str, Any] | None]
#: ``split(params)``: the input of each chunk, once the job has started.
SplitFunction = Callable[[dict[str, Any]], list[dict[str, Any]]]
#: ``chunk_fn(params, chunk_params, chunk)``: does one chunk; see ``Chunk.complete``.
ChunkFunction = Callable[[dict[str, Any], dict[str, Any], "Chunk"], Mapping[str, Any] | None]
#: ``merge(params, results)``: the job's result from every chunk's result, in chunk order.
MergeFunction = Callable[[dict[str, Any], list[dict[str, Any]]], Mapping[str, Any] | None]


@dataclass(frozen=True)
class JobKind:
    name: str
    fn: JobFunction | None
    #: Roles that may read every job of this kind (admins always; the creator always).
    readers: tuple[str, ...] = ()
    split: SplitFunction | None = None
    chunk_fn: ChunkFunction | None = None
    merge: MergeFunction | None = None

    @property
    def chunked(self) -> bool:
        return self.chunk_fn is not None


_kinds: dict[str, JobKind] = {}


def job(name: str, *, readers: tuple[str, ...] = ()) -> Callable[[JobFunction], JobFunction]:
    """Register ``fn(params, report)`` as the work done by jobs of kind ``name``."""

    def register(fn: JobFunction) -> JobFunction:
        _kinds[name] = JobKind(name, fn, readers)
        return fn

    return register


def chunked_job(
    name: str,
    *,
    split: SplitFunction,
    chunk: ChunkFunction,
    merge: MergeFunction,
    readers: tuple[str, ...] = (),
) -> None:
    """Register a kind whose work splits into independent chunks that workers take in parallel.

    A single Celery task can only ever use one worker process; a forecast over thousands of
    series should use all of them. When a job of this kind starts, ``split(params)`` lists the
    chunks' inputs; each chunk runs ``chunk(params, chunk_params, handle)`` (on Celery, as a
    task of its own, so N workers share the job; in a thread or the foreground, one after the
    other) and commits its own results together with ``handle.complete``; the process that
    completes the last chunk calls ``merge(params, results)`` and finishes the job with what it
    returns. A chunk that raises fails the job with its error; the other chunks then stop at
    their next report or leave their results uncommitted.
    """
    _kinds[name] = JobKind(name, None, readers, split=split, chunk_fn=chunk, merge=merge)


def kind_of(name: str) -> JobKind | None:
    return _kinds.get(name)


class JobAbandoned(Exception):
    """The job was marked failed while this process still worked on it; stop working."""


# --------------------------------------------------------------------------------------------------
# Short transactions of the job's own, separate from the work's session


def _this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _write(stmt: Any, bind: Engine | None = None) -> int:
    """Run one UPDATE in a transaction of its own and commit it at once; returns rows changed."""
    bind = bind or db.engine()
    s = Session(bind=bind)
    try:
        if bind.dialect.name == "sqlite":
            s.connection(execution_options={"sqlite_immediate": True})
        rowcount = s.execute(stmt).rowcount  # type: ignore[attr-defined]
        s.commit()
        return int(rowcount)
    finally:
        s.close()


class _Reporter:
    """The ``report`` callback: commits progress at most every ``interval`` seconds.

    A forecast over thousands of series reports after each one; writing each would turn a
    read-heavy job into a write-heavy one, so values arriving faster are coalesced and the latest
    is written by a timer when the interval is up, even if the work reports nothing more for a
    while (a long model fit).
    """

    def __init__(
        self,
        job_id: int,
        bind: Engine,
        observer: Callable[[float, str | None], None] | None = None,
        interval: float = 0.5,
        *,
        heartbeat_only: bool = False,
    ) -> None:
        self.job_id = job_id
        self.bind = bind
        self.observer = observer
        self.interval = interval
        #: A chunk's report only keeps its job alive: the job's progress counts whole chunks,
        #: which several processes finish concurrently (``Chunk.complete``).
        self.heartbeat_only = heartbeat_only
        self._lock = threading.Lock()
        self._last_write = 0.0
        self._pending: tuple[float, str | None] | None = None
        self._timer: threading.Timer | None = None
        self._abandoned = False
        self._discarded = False

    def __call__(self, progress: float, message: str | None = None) -> None:
        if self._abandoned:
            raise JobAbandoned(f"job {self.job_id} is no longer running here")
        if self._discarded:
            return
        value = min(max(float(progress), 0.0), 1.0)
        if self.observer is not None:
            self.observer(value, message)
        with self._lock:
            self._pending = (value, message)
            due = self._last_write + self.interval - time.monotonic()
            if due > 0:
                if self._timer is None:
                    self._timer = threading.Timer(due, self._flush_later)
                    self._timer.daemon = True
                    self._timer.start()
                return
        self.flush()

    def _flush_later(self) -> None:
        with self._lock:
            self._timer = None
        try:
            self.flush()
        except JobAbandoned:
            pass  # the work learns it at its next report
        except Exception:
            log.exception("could not record progress of job %s", self.job_id)

    def flush(self) -> None:
        """Write the latest value now; raises ``JobAbandoned`` if the job was failed meanwhile."""
        with self._lock:
            if self._pending is None:
                return
            if self._discarded:
                return
            value, message = self._pending
            self._pending = None
            self._last_write = time.monotonic()
            values: dict[str, Any] = {"heartbeat_at": utcnow()}
            if not self.heartbeat_only:
                values["progress"] = value
                if message is not None:
                    values["message"] = message[:500]
            changed = _write(
                update(Job)
                .where(Job.id == self.job_id, Job.status == JobStatus.RUNNING.value)
                .values(**values),
                self.bind,
            )
            if not changed:
                self._abandoned = True
                raise JobAbandoned(f"job {self.job_id} is no longer running here")

    def close(self) -> None:
        """Stop the timer and write what is pending (the work has ended)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        self.flush()

    def discard(self) -> None:
        """Drop what is pending and write nothing more, without waiting for a write under way.

        Called from inside the caller's write transaction: on SQLite a timer's write under way
        waits for that transaction's lock, so waiting for it here would wait for ourselves.
        """
        self._discarded = True
        timer = self._timer
        if timer is not None:
            timer.cancel()


# --------------------------------------------------------------------------------------------------
# Submitting


def enqueue(
    s: Session,
    kind: str,
    params: Mapping[str, Any],
    actor: Actor,
    *,
    executor: Executor | None = None,
) -> Job:
    """Add a queued job to the caller's unit of work; ``dispatch`` it after the commit.

    Features that record their own object with the job (a forecast run) do both in one
    transaction so neither exists without the other.
    """
    if kind not in _kinds:
        raise ValueError(f"no job kind {kind!r} is registered")
    chosen = executor or (
        Executor.CELERY if current_app.config.get("CELERY_BROKER_URL") else Executor.THREAD
    )
    row = Job(
        kind=kind,
        status=JobStatus.QUEUED.value,
        progress=0.0,
        params=dict(params),
        created_by=actor.username,
        created_by_id=actor.user_id,
        executor=chosen.value,
        worker=_this_process() if chosen is not Executor.CELERY else None,
        created_at=utcnow(),
    )
    s.add(row)
    s.flush()
    return row


def dispatch(job_id: int) -> None:
    """Hand a committed, queued job to its executor."""
    with db.read_only() as s:
        executor = s.scalar(select(Job.executor).where(Job.id == job_id))
    if executor == Executor.CELERY.value:
        _send_to_celery(job_id)
    elif executor == Executor.THREAD.value:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        _thread_pool(app).submit(_run_in_app_context, app, job_id)
    # Inline jobs are run by whoever enqueued them (``run_inline``).


def submit(kind: str, params: Mapping[str, Any], actor: Actor) -> int:
    """Record a job and start it in the background; returns its id at once."""
    reconcile_abandoned()
    with UnitOfWork() as uow:
        row = enqueue(uow.session, kind, params, actor)
        uow.commit()
        job_id = row.id
    dispatch(job_id)
    return job_id


def _send_to_celery(job_id: int) -> None:
    celery = current_app.extensions.get("stockroom.celery")
    if celery is None:
        raise RuntimeError("CELERY_BROKER_URL is not set; no Celery app to send jobs to")
    try:
        celery.send_task(
            "stockroom.run_job",
            args=[job_id],
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        )
    except Exception as exc:
        log.exception("could not send job %s to the broker", job_id)
        _finish(
            job_id, JobStatus.FAILED, error=f"The job queue is unreachable: {exc}", any_state=True
        )
        raise Problem(
            "The job queue is unreachable; the job was not started. Try again later.",
            status=503,
            slug="job-queue-unavailable",
        ) from None


_pool_lock = threading.Lock()


def _thread_pool(app: Flask) -> ThreadPoolExecutor:
    pool: ThreadPoolExecutor | None = app.extensions.get("stockroom.jobs.pool")
    if pool is None:
        with _pool_lock:
            pool = app.extensions.get("stockroom.jobs.pool")
            if pool is None:
                pool = ThreadPoolExecutor(
                    max_workers=max(1, int(app.config.get("JOBS_THREADS", 2))),
                    thread_name_prefix="stockroom-job",
                )
                app.extensions["stockroom.jobs.pool"] = pool
    return pool


def shutdown(app: Flask, *, wait: bool = True) -> None:
    """Stop taking jobs in this process, waiting for running ones if ``wait``."""
    pool: ThreadPoolExecutor | None = app.extensions.pop("stockroom.jobs.pool", None)
    if pool is not None:
        pool.shutdown(wait=wait)


def _run_in_app_context(app: Flask, job_id: int) -> None:
    with app.app_context():
        try:
            execute(job_id)
        except Exception:  # a thread's exception would otherwise vanish into its future
            log.exception("job %s could not be run", job_id)


# --------------------------------------------------------------------------------------------------
# Running


def execute(
    job_id: int, *, observer: Callable[[float, str | None], None] | None = None
) -> JobStatus | None:
    """Claim a queued job and run it in the current app context.

    Returns the final status, or None when the job was not queued (another worker took it, or a
    broker delivered it twice). A chunked job on Celery returns RUNNING once its chunks are
    handed to the workers.
    """
    claimed = _write(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.QUEUED.value)
        .values(
            status=JobStatus.RUNNING.value,
            started_at=utcnow(),
            heartbeat_at=utcnow(),
            worker=_this_process(),
        )
    )
    if not claimed:
        log.info("job %s was not queued; not running it", job_id)
        return None
    with db.read_only() as s:
        row = s.get(Job, job_id)
        assert row is not None
        kind, params, executor = row.kind, dict(row.params or {}), row.executor
    spec = _kinds.get(kind)
    if spec is None:
        _finish(job_id, JobStatus.FAILED, error=f"No job kind {kind!r} in this process.")
        return JobStatus.FAILED
    if spec.chunked:
        return _start_chunks(job_id, spec, params, executor, observer)
    assert spec.fn is not None
    reporter = _Reporter(job_id, db.engine(), observer)
    try:
        result = spec.fn(params, reporter)
        reporter.close()
    except JobAbandoned:
        log.warning("job %s was marked failed while running; its result is dropped", job_id)
        db.session().rollback()
        return JobStatus.FAILED
    except Problem as problem:
        db.session().rollback()
        _close_quietly(reporter)
        _finish(job_id, JobStatus.FAILED, error=problem.detail)
        return JobStatus.FAILED
    except Exception as exc:
        log.exception("job %s (%s) failed", job_id, kind)
        db.session().rollback()
        _close_quietly(reporter)
        _finish(job_id, JobStatus.FAILED, error=_failure_text(exc))
        return JobStatus.FAILED
    _finish(job_id, JobStatus.SUCCEEDED, result=dict(result or {}))
    return JobStatus.SUCCEEDED


def _failure_text(exc: BaseException) -> str:
    """What a failed job tells the person who started it."""
    if isinstance(exc, Problem):
        return exc.detail
    return f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------------------------------
# Chunks


class Chunk:
    """What a chunk's function gets: its place in the job, a heartbeat, and ``complete``."""

    def __init__(self, job_id: int, index: int, total: int, reporter: _Reporter) -> None:
        self.job_id = job_id
        self.index = index
        self.total = total
        self._reporter = reporter
        self.completed = False
        #: Whether completing this chunk completed the job's last (valid once committed).
        self.last = False

    def report(self, progress: float, message: str | None = None) -> None:
        """Progress within the chunk: keeps the job alive and raises ``JobAbandoned`` once the
        job was failed (by another chunk, say), so the chunk stops early."""
        self._reporter(progress, message)

    def complete(
        self, s: Session, result: Mapping[str, Any] | None = None, *, message: str | None = None
    ) -> None:
        """Mark the chunk done in the caller's write transaction, with what the merge will see.

        The chunk's own writes and its completion commit together, so a chunk's results are
        stored exactly once: a chunk delivered twice finds itself no longer running and raises
        ``JobAbandoned``, which rolls back the duplicate. Call it last, just before the commit:
        it holds the job's row until then, and every chunk of the job completes on that row.
        """
        self._reporter.discard()
        now = utcnow()
        changed = s.execute(
            update(JobChunk)
            .where(
                JobChunk.job_id == self.job_id,
                JobChunk.index == self.index,
                JobChunk.status == JobStatus.RUNNING.value,
            )
            .values(status=JobStatus.SUCCEEDED.value, result=dict(result or {}), finished_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if not changed:
            raise JobAbandoned(f"chunk {self.index} of job {self.job_id} is no longer running")
        values: dict[str, Any] = {
            "chunks_done": Job.chunks_done + 1,
            # From the row's own counter, so concurrent completions add up whatever their order.
            "progress": cast(Job.chunks_done + 1, Float) / Job.chunks_total,
            "heartbeat_at": now,
        }
        if message is not None:
            values["message"] = message[:500]
        row = s.execute(
            update(Job)
            .where(Job.id == self.job_id, Job.status == JobStatus.RUNNING.value)
            .values(**values)
            .returning(Job.chunks_done, Job.chunks_total)
            .execution_options(synchronize_session=False)
        ).first()
        if row is None:
            raise JobAbandoned(f"job {self.job_id} is no longer running")
        self.completed = True
        done, total = row
        self.last = done >= (total or 0)


def _start_chunks(
    job_id: int,
    spec: JobKind,
    params: dict[str, Any],
    executor: str,
    observer: Callable[[float, str | None], None] | None,
) -> JobStatus:
    """Split a claimed job, record its chunks, and run them here or hand them to Celery."""
    assert spec.split is not None
    try:
        pieces = [dict(p) for p in spec.split(params)]
        with UnitOfWork() as uow:
            s = uow.session
            if pieces:
                s.execute(
                    insert(JobChunk),
                    [
                        {
                            "job_id": job_id,
                            "index": i,
                            "status": JobStatus.QUEUED.value,
                            "params": p,
                        }
                        for i, p in enumerate(pieces)
                    ],
                )
            started = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.RUNNING.value)
                .values(chunks_total=len(pieces), chunks_done=0, heartbeat_at=utcnow())
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            if not started:
                raise JobAbandoned(f"job {job_id} is no longer running here")
            uow.commit()
    except JobAbandoned:
        log.warning("job %s was marked failed while it was being split", job_id)
        return JobStatus.FAILED
    except Exception as exc:
        if not isinstance(exc, Problem):
            log.exception("job %s (%s) could not be split", job_id, spec.name)
        _finish(job_id, JobStatus.FAILED, error=_failure_text(exc))
        return JobStatus.FAILED
    total = len(pieces)
    if total == 0:
        return _merge(job_id, spec, params)
    if executor == Executor.CELERY.value:
        return _send_chunks(job_id, total)
    # In a thread or the foreground: one after the other (a process has one interpreter lock).
    status = JobStatus.FAILED
    for index in range(total):

        def overall(value: float, message: str | None, index: int = index) -> None:
            if observer is not None:
                observer((index + value) / total, message)

        status = run_chunk(job_id, index, observer=overall) or JobStatus.FAILED
        if status is JobStatus.FAILED:
            return status
        overall(1.0, None)
        if status is not JobStatus.RUNNING:
            return status
    return status


def _send_chunks(job_id: int, total: int) -> JobStatus:
    celery = current_app.extensions.get("stockroom.celery")
    try:
        if celery is None:
            raise RuntimeError("CELERY_BROKER_URL is not set in this process")
        for index in range(total):
            celery.send_task(
                "stockroom.run_job_chunk",
                args=[job_id, index],
                retry=True,
                retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
            )
    except Exception as exc:
        log.exception("could not send the chunks of job %s to the broker", job_id)
        _finish(job_id, JobStatus.FAILED, error=f"The job queue is unreachable: {exc}")
        return JobStatus.FAILED
    return JobStatus.RUNNING


def run_chunk(
    job_id: int, index: int, *, observer: Callable[[float, str | None], None] | None = None
) -> JobStatus | None:
    """Claim one queued chunk of a running job and run it in the current app context.

    Returns None when the chunk was not claimed (taken already, or its job no longer runs),
    FAILED when the chunk failed (and with it the job), RUNNING when it succeeded and others
    remain, and the job's final status when it was the last.
    """
    claimed = _write(
        update(JobChunk)
        .where(
            JobChunk.job_id == job_id,
            JobChunk.index == index,
            JobChunk.status == JobStatus.QUEUED.value,
            exists().where(Job.id == job_id, Job.status == JobStatus.RUNNING.value),
        )
        .values(status=JobStatus.RUNNING.value, started_at=utcnow(), worker=_this_process())
    )
    if not claimed:
        log.info("chunk %s of job %s was not queued; not running it", index, job_id)
        return None
    with db.read_only() as s:
        row = s.get(Job, job_id)
        piece = s.get(JobChunk, (job_id, index))
        assert row is not None
        assert piece is not None
        kind, params, total = row.kind, dict(row.params or {}), int(row.chunks_total or 0)
        chunk_params = dict(piece.params or {})
    spec = _kinds.get(kind)
    if spec is None or spec.chunk_fn is None:
        _fail_chunk(job_id, index, total, f"No chunked job kind {kind!r} in this process.")
        return JobStatus.FAILED
    reporter = _Reporter(job_id, db.engine(), observer, heartbeat_only=True)
    handle = Chunk(job_id, index, total, reporter)
    try:
        outcome = spec.chunk_fn(params, chunk_params, handle)
        if not handle.completed:
            with UnitOfWork() as uow:
                handle.complete(uow.session, outcome)
                uow.commit()
        reporter.discard()
        with db.read_only() as s:
            stored = s.scalar(
                select(JobChunk.status).where(JobChunk.job_id == job_id, JobChunk.index == index)
            )
        if stored != JobStatus.SUCCEEDED.value:
            raise RuntimeError("the chunk returned without committing its completion")
    except JobAbandoned:
        reporter.discard()
        log.warning("job %s was failed while chunk %s ran; its results are dropped", job_id, index)
        db.session().rollback()
        return JobStatus.FAILED
    except Exception as exc:
        reporter.discard()
        if not isinstance(exc, Problem):
            log.exception("chunk %s of job %s (%s) failed", index, job_id, kind)
        db.session().rollback()
        _fail_chunk(job_id, index, total, _failure_text(exc))
        return JobStatus.FAILED
    if handle.last:
        return _merge(job_id, spec, params)
    return JobStatus.RUNNING


def _fail_chunk(job_id: int, index: int, total: int, error: str) -> None:
    """A failed chunk fails its job: a run missing part of its results is no run."""
    _write(
        update(JobChunk)
        .where(
            JobChunk.job_id == job_id,
            JobChunk.index == index,
            JobChunk.status == JobStatus.RUNNING.value,
        )
        .values(status=JobStatus.FAILED.value, error=error, finished_at=utcnow())
    )
    _finish(job_id, JobStatus.FAILED, error=f"Part {index + 1} of {total} failed: {error}")


def _merge(job_id: int, spec: JobKind, params: dict[str, Any]) -> JobStatus:
    """Every chunk is done: combine their results and finish the job."""
    assert spec.merge is not None
    with db.read_only() as s:
        results = [
            dict(r or {})
            for r in s.scalars(
                select(JobChunk.result).where(JobChunk.job_id == job_id).order_by(JobChunk.index)
            )
        ]
    try:
        result = spec.merge(params, results)
    except Exception as exc:
        if not isinstance(exc, Problem):
            log.exception("job %s (%s) failed in its merge", job_id, spec.name)
        db.session().rollback()
        _finish(job_id, JobStatus.FAILED, error=_failure_text(exc))
        return JobStatus.FAILED
    if not _finish(job_id, JobStatus.SUCCEEDED, result=dict(result or {})):
        return JobStatus.FAILED
    return JobStatus.SUCCEEDED


def _close_quietly(reporter: _Reporter) -> None:
    """Record the last progress of failed work, which shows how far it got."""
    with contextlib.suppress(JobAbandoned):
        reporter.close()


def run_inline(
    job_id: int, *, observer: Callable[[float, str | None], None] | None = None
) -> JobStatus | None:
    """Run a job enqueued with ``Executor.INLINE`` in the foreground (command-line tools)."""
    return execute(job_id, observer=observer)


def _finish(
    job_id: int,
    status: JobStatus,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    any_state: bool = False,
) -> bool:
    values: dict[str, Any] = {"status": status.value, "finished_at": utcnow()}
    if status is JobStatus.SUCCEEDED:
        values.update(progress=1.0, result=result)
    else:
        values["error"] = error
    stmt = update(Job).where(Job.id == job_id)
    if not any_state:
        stmt = stmt.where(Job.status == JobStatus.RUNNING.value)
    return bool(_write(stmt.values(**values)))


# --------------------------------------------------------------------------------------------------
# Reading, and failing abandoned jobs


def _process_alive(worker: str | None) -> bool | None:
    """True/False for a process on this host; None when it runs elsewhere (cannot tell)."""
    if not worker:
        return None
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fanned_out(row: Job) -> bool:
    """A chunked job handed to Celery: its chunks, not the process that split it, run it now."""
    return row.chunks_total is not None and row.executor == Executor.CELERY.value


def _abandonment(
    row: Job, now: datetime, stale_after: timedelta, chunk_workers: list[tuple[int, str]]
) -> str | None:
    """Why this active job can no longer finish, or None if it still may."""
    if row.status == JobStatus.RUNNING.value and _fanned_out(row):
        for index, worker in chunk_workers:
            if _process_alive(worker) is False:
                return (
                    f"The process running part {index + 1} of {row.chunks_total} ({worker}) "
                    "ended before finishing it."
                )
        alive = None
    else:
        alive = _process_alive(row.worker)
    if row.status == JobStatus.RUNNING.value:
        if alive is False:
            return f"The process running this job ({row.worker}) ended before the job finished."
        last = row.heartbeat_at or row.started_at or row.created_at
        if now - last > stale_after:
            minutes = int((now - last).total_seconds() // 60)
            return f"The job reported no progress for {minutes} minutes and is taken for dead."
    elif row.executor != Executor.CELERY.value and alive is False:
        return f"The process that was to run this job ({row.worker}) ended before starting it."
    return None


def reconcile_abandoned(job_ids: list[int] | None = None) -> int:
    """Mark abandoned jobs failed (all active ones, or only ``job_ids``); returns how many."""
    now = utcnow()
    stale_after = timedelta(seconds=current_app.config.get("JOB_STALE_AFTER_SECONDS", 900))
    stmt = select(Job).where(Job.status.in_(ACTIVE))
    if job_ids is not None:
        stmt = stmt.where(Job.id.in_(job_ids))
    with db.read_only() as s:
        rows = list(s.scalars(stmt))
        chunk_workers: dict[int, list[tuple[int, str]]] = {}
        fanned_out = [r.id for r in rows if r.status == JobStatus.RUNNING.value and _fanned_out(r)]
        if fanned_out:
            for job_id, index, worker in s.execute(
                select(JobChunk.job_id, JobChunk.index, JobChunk.worker).where(
                    JobChunk.job_id.in_(fanned_out),
                    JobChunk.status == JobStatus.RUNNING.value,
                )
            ):
                chunk_workers.setdefault(job_id, []).append((index, worker or ""))
        verdicts = [
            (r.id, r.status, _abandonment(r, now, stale_after, chunk_workers.get(r.id, [])))
            for r in rows
        ]
    failed = 0
    for job_id, status, reason in verdicts:
        if reason is None:
            continue
        failed += _write(
            update(Job)
            .where(Job.id == job_id, Job.status == status)
            .values(status=JobStatus.FAILED.value, error=reason, finished_at=now)
        )
        log.warning("job %s marked failed: %s", job_id, reason)
    return failed


def may_read(actor: Actor, row: Job) -> bool:
    """The creator, admins, and the roles the job's kind names may follow a job."""
    if actor.user_id is not None and row.created_by_id == actor.user_id:
        return True
    spec = _kinds.get(row.kind)
    return actor.has_any(*(spec.readers if spec else ()))


def get(job_id: int, actor: Actor) -> Job:
    """A job as its reader sees it now; an abandoned one is marked failed first."""
    reconcile_abandoned([job_id])
    with db.read_only() as s:
        row = s.get(Job, job_id)
        if row is None:
            raise NotFound(f"No job {job_id}.")
        if not may_read(actor, row):
            raise Forbidden(
                "Only the job's creator, admins and the roles that plan with it may read it.",
                slug="forbidden-role",
            )
        s.expunge(row)
        return row


def make_celery(app: Flask) -> Any:
    """A Celery app bound to this Flask app: its tasks run a job, or one chunk of a job."""
    from celery import Celery

    celery = Celery("stockroom", set_as_current=False)
    celery.conf.update(
        broker_url=app.config["CELERY_BROKER_URL"],
        result_backend=app.config.get("CELERY_RESULT_BACKEND"),
        task_default_queue=app.config.get("CELERY_QUEUE", "stockroom"),
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # One job at a time per worker process: jobs are long, and prefetching would hold a
        # second one hostage behind the first.
        worker_prefetch_multiplier=1,
    )

    @celery.task(name="stockroom.run_job", ignore_result=True)
    def run_job(job_id: int) -> None:
        with app.app_context():
            execute(job_id)

    @celery.task(name="stockroom.run_job_chunk", ignore_result=True)
    def run_job_chunk(job_id: int, index: int) -> None:
        with app.app_context():
            run_chunk(job_id, index)

    return celery


def list_for(actor: Actor, args: Mapping[str, Any]) -> tuple[list[Job], str | None]:
    """Jobs the actor may follow (its own, and kinds its roles may read), newest first."""
    reconcile_abandoned()
    readable = [name for name, spec in _kinds.items() if actor.has_any(*spec.readers)]
    stmt = select(Job).where(or_(Job.created_by_id == actor.user_id, Job.kind.in_(readable)))
    if args.get("kind"):
        stmt = stmt.where(Job.kind == args["kind"])
    if args.get("status"):
        stmt = stmt.where(Job.status == args["status"])
    with db.read_only() as s:
        return keyset_page(
            s,
            stmt,
            [Job.id],
            lambda j: [j.id],
            limit=int(args.get("limit") or 50),
            cursor=args.get("cursor"),
            descending=True,
        )


def kinds() -> list[str]:
    return sorted(_kinds)
