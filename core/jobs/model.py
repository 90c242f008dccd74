"""The ``jobs`` table and the vocabulary shared by the runner and the API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, Timestamp, utcnow


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


JOB_STATUSES = tuple(s.value for s in JobStatus)
ACTIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


class Executor(StrEnum):
    THREAD = "thread"
    CELERY = "celery"
    INLINE = "inline"


class Job(Base):
    """One piece of background work, its progress and its outcome."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The registered kind, e.g. ``forecast_run``; names the function that does the work.
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED.value)
    #: 0..1, as last reported by the work itself.
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    #: What the work is doing now ("42 of 600 series"), for people watching it.
    message: Mapped[str | None] = mapped_column(String(500))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: What the work returned, once it succeeded.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: Why it failed, in words meant for the person who started it.
    error: Mapped[str | None] = mapped_column(Text)
    #: Held as a name and an id without a foreign key: the kernel knows no feature's tables.
    created_by: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column()
    executor: Mapped[str] = mapped_column(String(16))
    #: ``host:pid`` of the process that runs (or, for threads, will run) the job.
    worker: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    #: Refreshed by every progress report; a running job silent for too long is taken for dead.
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    #: A job of a chunked kind is split into this many chunks once it starts (None: not split).
    chunks_total: Mapped[int | None] = mapped_column()
    #: Chunks that have finished and committed their results; the last one finishes the job.
    chunks_done: Mapped[int] = mapped_column(default=0, server_default="0")

    __table_args__ = (
        CheckConstraint(f"status IN {JOB_STATUSES!r}", name="known_status"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress_range"),
        Index("ix_jobs_status", "status"),
        Index("ix_jobs_kind", "kind", "id"),
    )


class JobChunk(Base):
    """One piece of a chunked job: its input, who runs it, and what it handed to the merge.

    Chunks of a job run on Celery are separate tasks, so several workers share one job; in a
    thread or in the foreground they run one after the other.
    """

    __tablename__ = "job_chunks"

    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    #: 0-based position; the merge receives the results in this order.
    index: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED.value)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    #: ``host:pid`` of the process that took the chunk.
    worker: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (CheckConstraint(f"status IN {JOB_STATUSES!r}", name="known_status"),)


class Actor(Protocol):
    """Who submits or reads a job; ``accounts.principal.Principal`` fits."""

    @property
    def user_id(self) -> int | None: ...

    @property
    def username(self) -> str: ...

    def has_any(self, *roles: str) -> bool: ...
