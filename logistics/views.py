"""Pages for shipping: the day's shipments with an assign button, results, timelines, carriers."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, SelectField
from wtforms.validators import Optional

from accounts.auth import require_page_role
from core import jobs
from core.i18n import N_
from core.listing import csv_response, parse_list
from core.problems import Problem
from core.web import register_nav
from inventory import catalog
from logistics import carriers, planning, shipments

bp = Blueprint("logistics_web", __name__, template_folder="templates")

READERS = ("warehouse", "planner", "buyer", "approver", "viewer")
ASSIGNERS = ("warehouse", "planner")

#: What each shipment status reads as; the value stays English in data attributes and the API.
STATUS_LABELS = {
    "planned": N_("planned"),
    "assigned": N_("assigned"),
    "picked_up": N_("picked up"),
    "in_transit": N_("in transit"),
    "out_for_delivery": N_("out for delivery"),
    "delivered": N_("delivered"),
    "exception": N_("exception"),
    "returned": N_("returned"),
    "cancelled": N_("cancelled"),
}
#: The same for the assignment job that the result page follows.
JOB_STATUS_LABELS = {
    "queued": N_("queued"),
    "running": N_("running"),
    "succeeded": N_("succeeded"),
    "failed": N_("failed"),
}


class AssignForm(FlaskForm):
    warehouse = SelectField(_l("Warehouse"), default="")
    ship_date = DateField(_l("Ship date"), validators=[Optional()])


class RateCardForm(FlaskForm):
    file = FileField(_l("Rate card CSV"), validators=[FileRequired()])


@bp.route("/shipments", methods=["GET", "POST"])
@login_required
def shipments_page() -> ResponseReturnValue:
    """The day's shipments; warehouse staff and planners assign them to carriers here."""
    principal = require_page_role(*READERS)
    form = AssignForm()
    codes = [w.code for w in catalog.all_warehouses()]
    form.warehouse.choices = [("", _("Every warehouse I plan")), *((c, c) for c in codes)]
    if form.validate_on_submit():
        require_page_role(*ASSIGNERS)
        try:
            started = planning.start_assignment(
                principal,
                {"warehouse": form.warehouse.data or None, "ship_date": form.ship_date.data},
            )
        except Problem as problem:
            flash(problem.detail, "danger")
        else:
            return redirect(url_for(".assignment_page", job_id=started["job_id"]))
    listing = parse_list(shipments.SHIPMENT_LIST, request.args, _shipment_choices(codes))
    return render_template(
        "logistics/shipments.html",
        listing=listing,
        page=shipments.shipment_page(listing),
        form=form,
        codes=codes,
        statuses=shipments.ST,
        status_labels=STATUS_LABELS,
        can_assign=principal.has_any(*ASSIGNERS),
    )


@bp.get("/shipments/export.csv")
@login_required
def shipments_export() -> ResponseReturnValue:
    require_page_role(*READERS)
    choices = _shipment_choices([w.code for w in catalog.all_warehouses()])
    listing = parse_list(shipments.SHIPMENT_LIST, request.args, choices, strict=True)
    return csv_response(listing, shipments.SHIPMENT_CSV_HEADER, shipments.shipment_rows(listing))


def _shipment_choices(codes: list[str]) -> dict[str, Any]:
    return {"warehouse": set(codes), "status": shipments.SHIPMENT_STATUS_CHOICES}


@bp.get("/shipments/assignments/<int:job_id>")
@login_required
def assignment_page(job_id: int) -> ResponseReturnValue:
    """An assignment's progress and, once done, each shipment's service and why, vs. baseline."""
    principal = require_page_role(*READERS)
    job = jobs.get(job_id, principal)
    if job.kind != "carrier_assignment":
        raise Problem(f"Job {job_id} is not a carrier assignment.", status=404)
    return render_template(
        "logistics/assignment.html",
        job=job,
        result=job.result or {},
        status_text={status: _(label) for status, label in JOB_STATUS_LABELS.items()},
    )


@bp.get("/shipments/<int:shipment_id>")
@login_required
def shipment_page(shipment_id: int) -> ResponseReturnValue:
    require_page_role(*READERS)
    return render_template(
        "logistics/shipment.html",
        shipment=shipments.get_shipment(shipment_id),
        status_labels=STATUS_LABELS,
    )


@bp.route("/carriers", methods=["GET", "POST"])
@login_required
def carriers_page() -> ResponseReturnValue:
    """Carriers, their services and rate cards, and how each carrier has done."""
    principal = require_page_role(*READERS)
    form = RateCardForm()
    service = request.args.get("service") or ""
    if request.method == "POST":
        require_page_role("admin")
        if form.validate_on_submit():
            try:
                outcome = carriers.import_rates(principal, service, form.file.data.read())
            except Problem as problem:
                rows = problem.errors or {}
                flash(
                    problem.detail
                    + "".join(f" {k}: {'; '.join(map(str, v))}." for k, v in rows.items()),
                    "danger",
                )
            else:
                flash(
                    _(
                        "Rate card of %(service)s: %(rows)s rows (replacing %(replaced)s).",
                        service=outcome["service"],
                        rows=outcome["rows"],
                        replaced=outcome["replaced"],
                    ),
                    "success",
                )
                return redirect(url_for(".carriers_page"))
    return render_template(
        "logistics/carriers.html",
        carriers=carriers.list_carriers(),
        scorecard={c["carrier"]: c for c in shipments.carrier_scorecard()},
        form=form,
        is_admin=principal.is_admin,
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    register_nav(
        app, N_("Shipments"), "logistics_web.shipments_page", roles=READERS, icon="truck", order=40
    )
    register_nav(
        app,
        N_("Carriers"),
        "logistics_web.carriers_page",
        roles=READERS,
        icon="signpost-split",
        order=41,
        group=N_("Planning"),
    )
