"""``GET /api/v1/jobs/<id>``: the status and progress of background work."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView

from core.api import Blueprint, Schema
from core.jobs import runner
from core.jobs.model import JOB_STATUSES, Job, JobStatus

blp = Blueprint("jobs", __name__, description="Background jobs and their progress.")


class JobSchema(Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    status = ma.fields.String(metadata={"enum": list(JOB_STATUSES)})
    progress = ma.fields.Float(metadata={"description": "0..1"})
    message = ma.fields.String(allow_none=True)
    result = ma.fields.Dict(metadata={"description": "present once the job succeeded"})
    error = ma.fields.String(metadata={"description": "present once the job failed"})
    created_by = ma.fields.String()
    created_at = ma.fields.DateTime()
    started_at = ma.fields.DateTime(allow_none=True)
    finished_at = ma.fields.DateTime(allow_none=True)


def job_view(row: Job) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "kind": row.kind,
        "status": row.status,
        "progress": row.progress,
        "message": row.message,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
    }
    if row.status == JobStatus.SUCCEEDED.value:
        out["result"] = row.result or {}
    if row.status == JobStatus.FAILED.value:
        out["error"] = row.error or "failed"
    return out


@blp.route("/jobs/<int:job_id>")
class JobItem(MethodView):
    @blp.response(200, JobSchema)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, job_id: int) -> Any:
        """A job's status, progress 0..1 and, once finished, its result or error.

        Readable by the job's creator, admins and the roles its kind names (planners for forecast
        runs). A job whose process died is reported as failed.
        """
        principal = current_app.extensions["stockroom.jobs.principal"]()
        return job_view(runner.get(job_id, principal))
