"""The planner's pages: stock-out risk, one item's policy, plans to review and apply."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import DecimalField, FloatField, IntegerField, SelectMultipleField
from wtforms.validators import NumberRange, Optional

from accounts.auth import require_page_role
from core.i18n import N_
from core.problems import Problem
from core.web import register_nav
from inventory import catalog
from procurement.replenishment import plans, policies

bp = Blueprint("replenishment_web", __name__, template_folder="templates")
READERS = ("planner", "buyer", "approver")

#: How the pages name a policy's demand model (``_(method|replace("_", " "))``); marked here so
#: the catalog has them.
METHOD_LABELS = (N_("normal"), N_("negative binomial"))


class PlanForm(FlaskForm):
    warehouses = SelectMultipleField(_l("Warehouses"), choices=[])
    service_level = FloatField(
        _l("Service level"), default=0.95, validators=[Optional(), NumberRange(0.5, 0.9999)]
    )
    budget = DecimalField(_l("Budget"), places=2, validators=[Optional(), NumberRange(min=0)])


class QuantityForm(FlaskForm):
    quantity = IntegerField(_l("Quantity"), validators=[NumberRange(0, 10_000_000)])


class ApplyForm(FlaskForm):
    pass


@bp.get("/replenishment")
@login_required
def dashboard() -> ResponseReturnValue:
    """Which items will run out, which sit below their reorder point, which are overstocked."""
    principal = require_page_role(*READERS)
    args = {
        "warehouse": request.args.get("warehouse") or None,
        "view": request.args.get("view") or "risk",
        "q": request.args.get("q") or None,
    }
    error = None
    rows: list[dict[str, Any]] = []
    try:
        rows = policies.risk_overview(args)
    except Problem as problem:
        error = problem.detail
    form = PlanForm()
    codes = [w.code for w in catalog.all_warehouses()]
    form.warehouses.choices = [(c, c) for c in codes]
    return render_template(
        "replenishment/dashboard.html",
        rows=rows[:500],
        total=len(rows),
        args=args,
        codes=codes,
        form=form,
        plans=plans.list_plans(),
        can_plan=principal.has_any(*plans.PLANNERS),
        error=error,
    )


@bp.post("/replenishment/plans")
@login_required
def start_plan() -> ResponseReturnValue:
    principal = require_page_role(*plans.PLANNERS)
    form = PlanForm()
    form.warehouses.choices = [(w.code, w.code) for w in catalog.all_warehouses()]
    if not form.validate_on_submit():
        for field, errors in form.errors.items():
            flash(f"{field}: {'; '.join(map(str, errors))}", "danger")
        return redirect(url_for(".dashboard"))
    data: dict[str, Any] = {"service_level": form.service_level.data}
    if form.warehouses.data:
        data["warehouses"] = form.warehouses.data
    if form.budget.data is not None:
        data["budget"] = form.budget.data
    try:
        started = plans.start_plan(principal, data)
    except Problem as problem:
        flash(problem.detail, "danger")
        return redirect(url_for(".dashboard"))
    return redirect(url_for(".plan_page", plan_id=started["plan_id"]))


@bp.get("/replenishment/plans/<int:plan_id>")
@login_required
def plan_page(plan_id: int) -> ResponseReturnValue:
    principal = require_page_role(*READERS)
    plan = plans.get_plan(plan_id)
    return render_template(
        "replenishment/plan.html",
        plan=plan,
        can_apply=principal.has_any(*plans.APPLIERS) and plan["applied_at"] is None,
        apply_form=ApplyForm(),
        quantity_form=QuantityForm(),
    )


@bp.post("/replenishment/plans/<int:plan_id>/lines/<int:line_id>")
@login_required
def edit_line(plan_id: int, line_id: int) -> ResponseReturnValue:
    principal = require_page_role(*plans.APPLIERS)
    form = QuantityForm()
    if not form.validate_on_submit() or form.quantity.data is None:
        flash(_("A quantity is a whole number from 0."), "danger")
    else:
        try:
            plans.update_line(principal, plan_id, line_id, form.quantity.data)
        except Problem as problem:
            flash(problem.detail, "danger")
        else:
            flash(
                _(
                    "Line %(line)s now buys %(quantity)s.",
                    line=line_id,
                    quantity=form.quantity.data,
                ),
                "success",
            )
    return redirect(url_for(".plan_page", plan_id=plan_id))


@bp.post("/replenishment/plans/<int:plan_id>/apply")
@login_required
def apply_plan(plan_id: int) -> ResponseReturnValue:
    principal = require_page_role(*plans.APPLIERS)
    if ApplyForm().validate_on_submit():
        try:
            plan = plans.apply_plan(principal, plan_id)
        except Problem as problem:
            flash(problem.detail, "danger")
        else:
            flash(
                _(
                    "Draft purchase orders %(orders)s await approval.",
                    orders=", ".join(plan["purchase_orders"]),
                ),
                "success",
            )
    return redirect(url_for(".plan_page", plan_id=plan_id))


@bp.get("/replenishment/item")
@login_required
def item_page() -> ResponseReturnValue:
    """One item in one warehouse: its policy and the stock projected over the forecast."""
    require_page_role(*READERS)
    sku, warehouse = request.args.get("sku", ""), request.args.get("warehouse", "")
    policy = policies.policy_of(sku, warehouse)
    return render_template(
        "replenishment/item.html", policy=policy, chart=policies.projection(sku, warehouse, policy)
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    register_nav(
        app,
        N_("Replenishment"),
        "replenishment_web.dashboard",
        roles=READERS,
        icon="cart-check",
        order=35,
        group="Planning",
    )
