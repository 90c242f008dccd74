"""The jobs page: background work a person started or may follow, with progress and errors."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from core.i18n import N_
from core.jobs import runner
from core.jobs.model import JOB_STATUSES
from core.web import register_nav

bp = Blueprint("jobs_web", __name__)

#: What the page shows for each status; the value itself stays in ``data-status`` for scripts.
STATUS_LABELS = {
    "queued": N_("queued"),
    "running": N_("running"),
    "succeeded": N_("succeeded"),
    "failed": N_("failed"),
}
#: Readable names of the kinds features register; a kind missing here shows its own name.
KIND_LABELS = {
    "forecast_run": N_("forecast run"),
    "replenishment_plan": N_("replenishment plan"),
    "carrier_assignment": N_("carrier assignment"),
}


@bp.get("/jobs")
def jobs_page() -> ResponseReturnValue:
    principal = current_app.extensions["stockroom.principal_loader"]()
    if principal is None:
        return redirect(url_for(current_app.config["LOGIN_ENDPOINT"], next=request.path))
    query = {
        "kind": request.args.get("kind") or None,
        "status": request.args.get("status") or None,
        "cursor": request.args.get("cursor") or None,
    }
    rows, next_cursor = runner.list_for(principal, query)
    return render_template(
        "jobs.html",
        rows=rows,
        next_cursor=next_cursor,
        query=query,
        kinds=runner.kinds(),
        statuses=JOB_STATUSES,
        status_labels=STATUS_LABELS,
        kind_labels=KIND_LABELS,
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    register_nav(app, N_("Jobs"), "jobs_web.jobs_page", icon="hourglass-split", order=95)
