"""Web pages: the forecast of an item in a warehouse as a chart, and forecast runs with progress."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, NumberRange, Optional

from accounts.auth import require_page_role
from core.i18n import N_
from core.problems import Problem
from core.web import register_nav, register_nav_group
from forecasting import services
from forecasting.runs import members_of
from forecasting.schemas import MAX_HORIZON
from inventory import catalog

bp = Blueprint("forecasting_web", __name__, template_folder="templates")

#: The unit of a horizon or a history, shown after a count ("8 weeks").
FREQUENCY_LABELS = {"D": N_("days"), "W": N_("weeks"), "M": N_("months")}
#: One whole sentence per frequency, so each language words the limit its own way.
HORIZON_LIMITS = {
    "D": N_("At most %(n)s periods ahead for days."),
    "W": N_("At most %(n)s periods ahead for weeks."),
    "M": N_("At most %(n)s periods ahead for months."),
}
#: What a run's status badge says; the status value itself stays English in data attributes.
JOB_STATUS_LABELS = {
    "queued": N_("queued"),
    "running": N_("running"),
    "succeeded": N_("succeeded"),
    "failed": N_("failed"),
}


def _chart_data(forecast: dict[str, Any] | None, history: dict[str, Any] | None) -> dict[str, Any]:
    """Plain lists for the chart script: history, censored periods, forecast and its bands."""
    data: dict[str, Any] = {"history": [], "forecast": []}
    if history:
        data["history"] = [
            {
                "start": p["start"].isoformat(),
                "quantity": p["quantity"],
                "censored": p["censored"],
                "promotion": p["promotion"],
            }
            for p in history["periods"]
        ]
    if forecast:
        data["forecast"] = [
            {
                "start": p["start"].isoformat(),
                "mean": p["mean"],
                "q": p["quantiles"],
                "promotion": p.get("promotion", 0),
            }
            for p in forecast["periods"]
        ]
    return data


@bp.get("/forecasts")
@login_required
def forecast_page() -> ResponseReturnValue:
    """History, forecast and its 50 % / 90 % bands for one item in one warehouse."""
    require_page_role(*services.READERS)
    sku = (request.args.get("sku") or "").strip()
    warehouse = (request.args.get("warehouse") or "").strip()
    choices = services.series_choices()
    if not sku and not warehouse and choices:
        sku, warehouse = choices[0]
    forecast = history = None
    error = None
    if sku and warehouse:
        try:
            forecast = services.latest_forecast(sku, warehouse)
        except Problem as problem:
            error = problem.detail
        try:
            frequency = forecast["frequency"] if forecast else "W"
            history = services.demand_of(sku, warehouse, frequency)
        except Problem as problem:
            error = problem.detail
            history = None
    warehouses = [(w.code, w.name) for w in catalog.all_warehouses()]
    name = catalog.product_names([sku]).get(sku) if sku else None
    status = 200
    no_item = bool(sku) and name is None
    no_warehouse = bool(warehouse) and warehouse not in {code for code, _name in warehouses}
    if no_item or no_warehouse:
        # Said on the page, not left blank: a mistyped link shows what is wrong.
        if no_item and no_warehouse:
            error = _(
                "There is no item %(sku)s and no warehouse %(warehouse)s; choose from the lists.",
                sku=sku,
                warehouse=warehouse,
            )
        elif no_item:
            error = _("There is no item %(sku)s; choose from the lists.", sku=sku)
        else:
            error = _(
                "There is no warehouse %(warehouse)s; choose from the lists.", warehouse=warehouse
            )
        forecast = history = None
        status = 404
    return render_template(
        "forecasting/forecast.html",
        sku=sku,
        warehouse=warehouse,
        name=name,
        warehouses=warehouses,
        skus=sorted({c[0] for c in choices}),
        forecast=forecast,
        history=history,
        chart=_chart_data(forecast, history),
        members=members_of(forecast["model"]) if forecast else [],
        error=error,
        frequency_labels=FREQUENCY_LABELS,
    ), status


class RunForm(FlaskForm):
    horizon = IntegerField(
        _l("Horizon (periods)"),
        default=8,
        validators=[DataRequired(), NumberRange(min=1, max=max(MAX_HORIZON.values()))],
    )
    frequency = SelectField(
        _l("Periods"),
        choices=[
            SelectChoice("W", _l("Weeks")),
            SelectChoice("D", _l("Days")),
            SelectChoice("M", _l("Months")),
        ],
        default="W",
    )
    skus = StringField(
        _l("SKUs"),
        validators=[Optional()],
        description=_l("Blank for every item; or a list of skus."),
    )
    warehouses = SelectField(_l("Warehouse"), validators=[Optional()])


def _split(text: str | None) -> list[str]:
    return [part for part in re.split(r"[\s,;]+", text or "") if part]


@bp.route("/forecasts/runs", methods=["GET", "POST"])
@login_required
def runs_page() -> ResponseReturnValue:
    """Runs, newest first, with live progress; planners start new ones here."""
    principal = require_page_role(*services.PLANNERS)
    form = RunForm()
    codes = [w.code for w in catalog.all_warehouses()]
    form.warehouses.choices = [SelectChoice("", _("Every warehouse")), *map(SelectChoice, codes)]
    if form.validate_on_submit():
        data: dict[str, Any] = {"horizon": form.horizon.data, "frequency": form.frequency.data}
        if skus := _split(form.skus.data):
            data["skus"] = skus
        if form.warehouses.data:
            data["warehouses"] = [form.warehouses.data]
        limit = MAX_HORIZON[data["frequency"]]
        if data["horizon"] > limit:
            flash(_(HORIZON_LIMITS[data["frequency"]], n=limit), "error")
        else:
            try:
                started = services.start_run(principal, data)
            except Problem as problem:
                details = [m for msgs in (problem.errors or {}).values() for m in msgs]
                flash(" ".join([problem.detail, *map(str, details[:5])]), "error")
            else:
                flash(_("Forecast run %(id)s started.", id=started["run_id"]), "success")
                return redirect(url_for(".runs_page"))
    args = {"limit": 50, "cursor": request.args.get("cursor") or None}
    items, next_cursor = services.list_runs(args)
    return render_template(
        "forecasting/runs.html",
        form=form,
        runs=items,
        next_cursor=next_cursor,
        query={"cursor": args["cursor"]},
        frequency_labels=FREQUENCY_LABELS,
        status_text={status: _(label) for status, label in JOB_STATUS_LABELS.items()},
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    register_nav_group(app, N_("Planning"), icon="graph-up-arrow")
    register_nav(
        app,
        N_("Forecasts"),
        "forecasting_web.forecast_page",
        roles=services.READERS,
        icon="graph-up-arrow",
        order=50,
        group=N_("Planning"),
    )
    register_nav(
        app,
        N_("Forecast runs"),
        "forecasting_web.runs_page",
        roles=services.PLANNERS,
        icon="cpu",
        order=51,
        group=N_("Planning"),
    )
