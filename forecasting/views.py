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
from wtforms import IntegerField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, NumberRange, Optional

from accounts.auth import page_principal, require_page_role
from core import schema_forms
from core.i18n import N_
from core.problems import Problem
from core.web import register_nav, register_nav_group
from forecasting import services
from forecasting.runs import members_of
from forecasting.schemas import MAX_HORIZON, PromotionCreateSchema, PromotionQuerySchema
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


# --- promotions -----------------------------------------------------------------------------------


class PromotionForm(FlaskForm):
    """The fields of ``PromotionCreateSchema``; the schema, not WTForms, judges them."""

    name = StringField(_l("Name"), render_kw={"maxlength": 200})
    sku = StringField(
        _l("SKU"),
        description=_l("Blank for every item (a shop-wide sale). Any case: abc-1 finds ABC-1."),
        render_kw={"autocomplete": "off"},
    )
    warehouses = SelectMultipleField(
        _l("Warehouses"), description=_l("None ticked: every warehouse."), validate_choice=False
    )
    start = StringField(_l("First day"), render_kw={"type": "date"})
    end = StringField(
        _l("Last day"),
        description=_l("Included; a year at most after the first day."),
        render_kw={"type": "date"},
    )
    expected_uplift = StringField(
        _l("Expected uplift"),
        description=_l(
            "Extra demand as a fraction: 0.3 means %(example)s. Used only for items whose "
            "history holds no promotion to learn from. From -0.99 to 20; blank if unknown.",
            example="+30 %",
        ),
        render_kw={"inputmode": "decimal"},
    )
    discount = StringField(
        _l("Discount"),
        description=_l(
            "Price cut as a fraction: 0.2 means %(example)s; from 0 to below 1.",
            example="−20 %",
        ),
        render_kw={"inputmode": "decimal"},
    )


class DeleteForm(FlaskForm):
    """Only the CSRF token: deleting asks nothing else."""


def _promotion_body(form: PromotionForm) -> dict[str, Any]:
    """The JSON body the API would receive for this form, blanks left out or null."""
    body: dict[str, Any] = {
        "name": (form.name.data or "").strip(),
        "warehouses": [c for c in form.warehouses.data or [] if c],
    }
    sku = (form.sku.data or "").strip()
    body["sku"] = sku or None
    for key in ("start", "end"):
        text = (getattr(form, key).data or "").strip()
        if text:
            body[key] = text
    for key in ("expected_uplift", "discount"):
        text = (getattr(form, key).data or "").strip()
        body[key] = text or None
    return body


def _save_promotion(form: PromotionForm, promotion_id: int | None) -> ResponseReturnValue | None:
    """Validate as ``POST``/``PUT /promotions`` do and save; None when the form shows errors."""
    principal = page_principal()
    body = _promotion_body(form)
    data, errors = schema_forms.load(PromotionCreateSchema(), body)
    if data is not None:
        try:
            if promotion_id is None:
                saved = services.create_promotion(principal, data)
            else:
                saved = services.update_promotion(principal, promotion_id, data)
        except Problem as problem:
            if problem.status == 404 and not problem.errors:
                raise
            errors = problem.errors or {"_schema": [problem.detail]}
        else:
            message = (
                _("Promotion %(name)s planned.", name=saved["name"])
                if promotion_id is None
                else _("Promotion %(name)s saved.", name=saved["name"])
            )
            flash(message, "success")
            return redirect(url_for(".promotions_page"))
    for text in schema_forms.attach(form, errors):
        flash(text, "error")
    return None


def _warehouse_choices() -> list[SelectChoice]:
    return [SelectChoice(w.code, f"{w.code} — {w.name}") for w in catalog.all_warehouses()]


@bp.get("/forecasts/promotions")
@login_required
def promotions_page() -> ResponseReturnValue:
    """Promotions, newest first, filtered as ``GET /promotions`` filters them."""
    principal = require_page_role(*services.READERS)
    raw = {
        k: v.strip()
        for k in ("sku", "warehouse", "active_from", "active_to", "cursor")
        if (v := request.args.get(k, "")) and v.strip()
    }
    args, errors = schema_forms.load(PromotionQuerySchema(), {**raw, "limit": 50})
    items: list[dict[str, Any]] = []
    next_cursor = None
    status = 200
    if args is None:
        status = 422
    else:
        try:
            items, next_cursor = services.list_promotions(args)
        except Problem as problem:
            errors = problem.errors or {"_schema": [problem.detail]}
            status = problem.status
    messages = [(key, schema_forms.translate(str(m))) for key, msgs in errors.items() for m in msgs]
    names = catalog.product_names({p["sku"] for p in items if p["sku"]})
    return render_template(
        "forecasting/promotions.html",
        promotions=items,
        names=names,
        next_cursor=next_cursor,
        query=raw,
        filter_errors=messages,
        warehouses=catalog.all_warehouses(),
        today=services.today(),
        can_plan=principal.has_any(*services.PLANNERS),
        delete_form=DeleteForm(),
    ), status


@bp.route("/forecasts/promotions/new", methods=["GET", "POST"])
@login_required
def promotion_new() -> ResponseReturnValue:
    require_page_role(*services.PLANNERS)
    form = PromotionForm()
    form.warehouses.choices = _warehouse_choices()
    if form.validate_on_submit():
        done = _save_promotion(form, None)
        if done is not None:
            return done
    return render_template("forecasting/promotion_form.html", form=form, promotion=None)


@bp.route("/forecasts/promotions/<int:promotion_id>/edit", methods=["GET", "POST"])
@login_required
def promotion_edit(promotion_id: int) -> ResponseReturnValue:
    require_page_role(*services.PLANNERS)
    promotion = services.get_promotion(promotion_id)
    form = PromotionForm()
    form.warehouses.choices = _warehouse_choices()
    if request.method == "GET":
        form.name.data = promotion["name"]
        form.sku.data = promotion["sku"] or ""
        form.warehouses.data = promotion["warehouses"]
        form.start.data = promotion["start"].isoformat()
        form.end.data = promotion["end"].isoformat()
        for key in ("expected_uplift", "discount"):
            value = promotion[key]
            getattr(form, key).data = "" if value is None else f"{value:g}"
    elif form.validate_on_submit():
        done = _save_promotion(form, promotion_id)
        if done is not None:
            return done
    return render_template("forecasting/promotion_form.html", form=form, promotion=promotion)


@bp.post("/forecasts/promotions/<int:promotion_id>/delete")
@login_required
def promotion_delete(promotion_id: int) -> ResponseReturnValue:
    principal = require_page_role(*services.PLANNERS)
    form = DeleteForm()
    if not form.validate_on_submit():
        flash(_("The form expired; please try again."), "error")
        return redirect(url_for(".promotions_page"))
    promotion = services.get_promotion(promotion_id)
    services.delete_promotion(principal, promotion_id)
    flash(_("Promotion %(name)s deleted.", name=promotion["name"]), "success")
    return redirect(url_for(".promotions_page"))


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
        N_("Promotions"),
        "forecasting_web.promotions_page",
        roles=services.READERS,
        icon="megaphone",
        order=52,
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
