"""Web pages: buyers write and follow orders and manage suppliers, approvers work through their
queue, warehouse staff receive deliveries. Every rule lives in the use cases; a Problem they
raise is shown as a message on the page.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, date
from typing import Any, ParamSpec, TypeVar

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from marshmallow import ValidationError
from wtforms import (
    DateTimeLocalField,
    DecimalField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional, Regexp

from accounts.auth import require_page_role
from accounts.principal import Principal
from core import schema_forms
from core.db import utcnow
from core.i18n import N_
from core.listing import csv_response, parse_list
from core.problems import Problem
from core.web import register_nav, register_nav_group
from inventory import catalog
from inventory.models import Warehouse
from procurement import scorecards, suppliers
from procurement.models import PurchaseOrder
from procurement.orders import price_check, transitions, writing
from procurement.orders import receiving as receipts
from procurement.orders.workflow import PO_STATUSES, POStatus
from procurement.schemas import OrderCreateSchema, OrderPatchSchema, ScorecardCompareQuerySchema
from procurement.suppliers import csv_import

bp = Blueprint("procurement_web", __name__, template_folder="templates", url_prefix="/procurement")

P = ParamSpec("P")
T = TypeVar("T")

READERS = ("warehouse", "buyer", "approver", "planner", "viewer")

#: How a stored status reads on the pages. Templates show ``_(status|replace("_", " "))``, so
#: each English label is the status with spaces; marking them here puts them in the catalog.
STATUS_LABELS: dict[str, str] = {
    "draft": N_("draft"),
    "pending_approval": N_("pending approval"),
    "approved": N_("approved"),
    "rejected": N_("rejected"),
    "sent": N_("sent"),
    "partially_received": N_("partially received"),
    "received": N_("received"),
    "closed": N_("closed"),
    "cancelled": N_("cancelled"),
    "candidate": N_("candidate"),
    "suspended": N_("suspended"),
    "blocked": N_("blocked"),
}
#: What a supplier's history calls each event (kinds are stored lower case).
SUPPLIER_EVENT_LABELS: dict[str, str] = {
    "created": N_("Created"),
    "approved": N_("Approved"),
    "suspended": N_("Suspended"),
    "blocked": N_("Blocked"),
    "reviewed": N_("Reviewed"),
    "flagged": N_("Flagged"),
}


def status_label(status: str) -> str:
    """The reader's word for a status; an unknown one is shown as stored."""
    return _(STATUS_LABELS.get(status, status.replace("_", " ")))


def principal() -> Principal:
    return current_user.principal  # type: ignore[no-any-return]


def roles_required(*roles: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Signed in (else to the login page) and holding one of ``roles`` (else 403)."""

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(fn)
        @login_required
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            require_page_role(*roles)
            return fn(*args, **kwargs)

        return wrapper

    return decorate


def problem_detail(problem: Problem) -> str:
    """A problem in one line for a flash message, with the first few field messages."""
    if not problem.errors:
        return problem.detail
    parts = []
    for key, messages in list(problem.errors.items())[:5]:
        text = "; ".join(str(m) for m in messages) if isinstance(messages, list) else messages
        parts.append(f"{key}: {text}")
    return f"{problem.detail} ({' | '.join(parts)})"


def flash_problem(problem: Problem) -> None:
    flash(problem_detail(problem), "error")


# --- forms ----------------------------------------------------------------------------------------


class LineForm(Form):
    """One row of the order's lines; ``OrderLineInSchema`` judges it, as for the API."""

    sku = StringField(_l("SKU"))
    quantity = StringField(_l("Quantity"))
    unit_price = StringField(_l("Unit price"))


#: Rows the form re-renders at most; filled rows past it still reach the schema (which allows
#: 500 lines), their messages then shown above the form.
FORM_ROWS = 1000
_LINE_KEY = re.compile(r"^lines-(\d{1,6})-(sku|quantity|unit_price)$")


class OrderForm(FlaskForm):
    """The fields of ``OrderCreateSchema`` / ``OrderPatchSchema``: the API's schema judges them."""

    supplier = SelectField(_l("Supplier"))
    warehouse = SelectField(_l("Deliver to"))
    expected_date = StringField(_l("Expected by"), render_kw={"type": "date"})
    notes = TextAreaField(_l("Notes"))
    lines = FieldList(FormField(LineForm), min_entries=4, max_entries=FORM_ROWS)
    version = HiddenField()


class ActionForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=2000)])
    version = HiddenField()


class ReceiveForm(FlaskForm):
    received_at = DateTimeLocalField(
        _l("Received at (UTC)"), format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )
    note = StringField(_l("Note"), validators=[Optional(), Length(max=2000)])


class SupplierForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[DataRequired(), Length(max=32), Regexp(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")],
    )
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    email = StringField(_l("Email"), validators=[Optional(), Email(), Length(max=254)])
    currency = StringField(_l("Currency"), validators=[Optional(), Regexp(r"^[A-Z]{3}$")])
    default_lead_time_days = IntegerField(
        _l("Default lead time (days)"), validators=[DataRequired(), NumberRange(min=0, max=730)]
    )


class ItemForm(FlaskForm):
    sku = StringField(_l("SKU"), validators=[DataRequired(), Length(max=64)])
    supplier_sku = StringField(_l("Supplier's SKU"), validators=[Optional(), Length(max=64)])
    unit_price = DecimalField(
        _l("Unit price"), places=4, validators=[DataRequired(), NumberRange(min=0)]
    )
    moq = IntegerField(_l("MOQ"), default=1, validators=[Optional(), NumberRange(min=1)])
    pack_size = IntegerField(
        _l("Pack size"), default=1, validators=[Optional(), NumberRange(min=1)]
    )
    lead_time_days = IntegerField(
        _l("Lead time (days)"), validators=[Optional(), NumberRange(min=0, max=730)]
    )
    price_breaks = StringField(
        _l("Price breaks"),
        validators=[Optional()],
        description=_l("e.g. 100:9.50;500:9.00"),
    )


class ImportForm(FlaskForm):
    kind = SelectField(
        _l("File"),
        choices=[
            SelectChoice("suppliers", _l("Suppliers")),
            SelectChoice("prices", _l("Price lists")),
        ],
    )
    file = FileField(_l("CSV file"), validators=[FileRequired()])


# --- purchase orders ------------------------------------------------------------------------------


def _supplier_choices() -> list[SelectChoice]:
    return [
        SelectChoice(
            x.code,
            _(
                "%(code)s · %(name)s · grade %(grade)s",
                code=x.code,
                name=x.name,
                grade=x.grade or _("N/A"),
            ),
        )
        for x in suppliers.approved_suppliers()
    ]


def _choices() -> tuple[list[SelectChoice], list[SelectChoice]]:
    return (
        _supplier_choices(),
        [SelectChoice(w.code, f"{w.code} · {w.name}") for w in writing.delivery_warehouses()],
    )


@bp.get("/orders")
@roles_required(*READERS)
def order_list() -> ResponseReturnValue:
    warehouses = catalog.all_warehouses()
    listing = parse_list(writing.ORDER_LIST, request.args, _order_choices(warehouses))
    return render_template(
        "procurement/orders.html",
        listing=listing,
        page=writing.order_page(listing),
        statuses=PO_STATUSES,
        suppliers=_supplier_choices(),
        warehouses=[SelectChoice(w.code, f"{w.code} · {w.name}") for w in warehouses],
    )


@bp.get("/orders/export.csv")
@roles_required(*READERS)
def order_export() -> ResponseReturnValue:
    choices = _order_choices(catalog.all_warehouses())
    listing = parse_list(writing.ORDER_LIST, request.args, choices, strict=True)
    return csv_response(listing, writing.ORDER_CSV_HEADER, writing.order_rows(listing))


def _order_choices(warehouses: list[Warehouse]) -> dict[str, Any]:
    """Statuses and warehouses are known lists; a supplier or author not found matches nothing."""
    return {"status": PO_STATUSES, "warehouse": {w.code for w in warehouses}}


def _lines_of() -> tuple[list[dict[str, Any]], list[int]]:
    """Filled-in rows as the API's order lines, and which form row each came from.

    Read from the submitted form itself, every row of it: the API counts every line, so the
    page must not drop rows past what it renders.
    """
    rows: dict[int, dict[str, str]] = {}
    for key, value in request.form.items():
        match = _LINE_KEY.match(key)
        if match:
            rows.setdefault(int(match.group(1)), {})[match.group(2)] = value.strip()
    lines, numbers = [], []
    for i in sorted(rows):
        row = rows[i]
        if not row.get("sku"):
            continue
        line: dict[str, Any] = {"sku": row["sku"]}
        quantity = schema_forms.whole_or_text(row.get("quantity"))
        if quantity is not None:
            line["quantity"] = quantity
        if row.get("unit_price"):
            line["unit_price"] = row["unit_price"]
        lines.append(line)
        numbers.append(i)
    return lines, numbers


def _order_body(form: OrderForm, lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The body ``POST /purchase-orders`` (or ``PATCH``, without the supplier) would receive."""
    return {
        "supplier": form.supplier.data,
        "warehouse": form.warehouse.data,
        "expected_date": (form.expected_date.data or "").strip() or None,
        "notes": (form.notes.data or "").strip() or None,
        "lines": lines,
    }


def _attach_errors(
    form: OrderForm, errors: dict[str, list[str]], body: dict[str, Any], rows: list[int]
) -> None:
    """Show the schema's or use case's ``lines.N.field`` messages next to the row they are about."""

    def where(key: str) -> Any:
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == "lines" and parts[1].isdigit():
            index = int(parts[1])
            if index < len(rows) and rows[index] < len(form.lines.entries):
                return getattr(form.lines.entries[rows[index]].form, parts[2], None)
        return None

    for text in schema_forms.attach(form, errors, where=where):
        flash(text, "error")


@bp.route("/orders/new", methods=["GET", "POST"])
@roles_required("buyer")
def order_new() -> ResponseReturnValue:
    form = OrderForm()
    form.supplier.choices, form.warehouse.choices = _choices()
    if request.method == "GET" and request.args.get("supplier"):
        form.supplier.data = request.args["supplier"]
    if form.validate_on_submit():
        lines, rows = _lines_of()
        body = _order_body(form, lines)
        data, errors = schema_forms.load(OrderCreateSchema(), body)
        if data is not None:
            try:
                po = writing.create_order(principal(), data)
            except Problem as problem:
                flash(problem.detail, "error")
                errors = problem.errors or {}
            else:
                flash(_("%(number)s saved as a draft.", number=po.number), "success")
                return redirect(url_for(".order_detail", po_id=po.id))
        _attach_errors(form, errors, body, rows)
    return render_template("procurement/order_form.html", form=form, po=None)


@bp.route("/orders/<int:po_id>/edit", methods=["GET", "POST"])
@roles_required("buyer")
def order_edit(po_id: int) -> ResponseReturnValue:
    try:
        po = writing.get_order(po_id)
    except Problem:
        abort(404)
    form = OrderForm()
    form.supplier.choices, form.warehouse.choices = _choices()
    form.supplier.choices = [
        SelectChoice(po.supplier.code, f"{po.supplier.code} · {po.supplier.name}")
    ]
    form.supplier.data = po.supplier.code  # shown, not editable: an order keeps its supplier
    if po.status != POStatus.DRAFT:
        flash(
            _(
                "%(number)s is %(status)s; only drafts can be edited.",
                number=po.number,
                status=status_label(po.status),
            ),
            "error",
        )
        return redirect(url_for(".order_detail", po_id=po_id))
    if request.method == "GET":
        form.warehouse.data = po.warehouse.code
        form.expected_date.data = po.expected_date.isoformat() if po.expected_date else ""
        form.notes.data = po.notes
        form.version.data = str(po.version)
        while len(form.lines.entries) < len(po.lines) + 2:
            form.lines.append_entry()
        for entry, line in zip(form.lines.entries, po.lines, strict=False):
            entry.form.sku.data = line.product.sku
            entry.form.quantity.data = str(line.quantity)
            entry.form.unit_price.data = (
                str(line.unit_price) if line.price_source == "manual" else ""
            )
    elif form.validate_on_submit():
        lines, rows = _lines_of()
        body = _order_body(form, lines)
        del body["supplier"]
        changes, errors = schema_forms.load(OrderPatchSchema(), body)
        if changes is not None:
            version = int(form.version.data) if (form.version.data or "").isdigit() else -1
            try:
                writing.update_order(
                    principal(), po_id, changes, expected_version=frozenset({version})
                )
            except Problem as problem:
                flash(problem.detail, "error")
                errors = problem.errors or {}
                if problem.status in (409, 412):
                    return redirect(url_for(".order_detail", po_id=po_id))
            else:
                flash(_("%(number)s saved.", number=po.number), "success")
                return redirect(url_for(".order_detail", po_id=po_id))
        _attach_errors(form, errors, body, rows)
    return render_template("procurement/order_form.html", form=form, po=po)


def _order_context(po: PurchaseOrder) -> dict[str, Any]:
    p = principal()
    status = POStatus(po.status)
    decided = any(a.approver == p.username for a in po.approvals)
    may = {
        "edit": p.has_any("buyer") and status == POStatus.DRAFT,
        "submit": p.has_any("buyer") and status == POStatus.DRAFT,
        "approve": p.has_any("approver")
        and status == POStatus.PENDING_APPROVAL
        and not transitions.is_creator(p, po)
        and not decided,
        "send": p.has_any("buyer") and status == POStatus.APPROVED,
        "cancel": p.has_any("buyer")
        and status in (POStatus.DRAFT, POStatus.PENDING_APPROVAL, POStatus.APPROVED, POStatus.SENT),
        "close": p.has_any("buyer") and status in (POStatus.PARTIALLY_RECEIVED, POStatus.RECEIVED),
        "receive": p.may_act_in(po.warehouse.code)
        and status in (POStatus.SENT, POStatus.PARTIALLY_RECEIVED),
    }
    check = price_check.price_check_for(po)
    return {"po": po, "may": may, "check": check, "action_form": ActionForm()}


@bp.get("/orders/<int:po_id>")
@roles_required(*READERS)
def order_detail(po_id: int) -> ResponseReturnValue:
    try:
        po = writing.get_order(po_id)
    except Problem:
        abort(404)
    return render_template("procurement/order.html", **_order_context(po))


ACTIONS: dict[str, Callable[..., PurchaseOrder]] = {
    "submit": lambda p, po, reason, v: transitions.submit(p, po, expected_version=v),
    "approve": lambda p, po, reason, v: transitions.approve(p, po, reason, expected_version=v),
    "reject": lambda p, po, reason, v: transitions.reject(p, po, reason, expected_version=v),
    "send": lambda p, po, reason, v: transitions.send(p, po, expected_version=v),
    "cancel": lambda p, po, reason, v: transitions.cancel(p, po, reason, expected_version=v),
    "close": lambda p, po, reason, v: transitions.close(p, po, reason, expected_version=v),
}
#: What each action did, in the words of the message that confirms it.
DONE = {
    "submit": N_("submitted"),
    "approve": N_("approved"),
    "reject": N_("rejected"),
    "send": N_("marked as sent"),
    "cancel": N_("cancelled"),
    "close": N_("closed"),
}


@bp.post("/orders/<int:po_id>/<action>")
@login_required
def order_action(po_id: int, action: str) -> ResponseReturnValue:
    if action not in ACTIONS:
        abort(404)
    form = ActionForm()
    if not form.validate_on_submit():
        flash(_("The form expired; please try again."), "error")
        return redirect(url_for(".order_detail", po_id=po_id))
    version = frozenset({int(form.version.data)}) if (form.version.data or "").isdigit() else None
    try:
        po = ACTIONS[action](principal(), po_id, form.reason.data, version)
    except Problem as problem:
        flash_problem(problem)
    else:
        state = po.status.replace("_", " ")
        if po.status == POStatus.PENDING_APPROVAL and action == "approve":
            missing = po.approvals_required - len(po.approvals_given)
            flash(
                _(
                    "%(number)s: your approval is recorded; %(missing)s more needed.",
                    number=po.number,
                    missing=missing,
                ),
                "success",
            )
        elif state == DONE[action]:
            flash(
                _("%(number)s %(state)s.", number=po.number, state=status_label(po.status)),
                "success",
            )
        else:
            flash(
                _(
                    "%(number)s %(done)s; it is now %(state)s.",
                    number=po.number,
                    done=_(DONE[action]),
                    state=status_label(po.status),
                ),
                "success",
            )
    target = request.form.get("next") or ""
    if target.startswith("/procurement/"):
        return redirect(target)
    return redirect(url_for(".order_detail", po_id=po_id))


@bp.get("/approvals")
@roles_required("approver")
def approval_queue() -> ResponseReturnValue:
    p = principal()
    items, _ = writing.list_orders({"awaiting_my_approval": True, "limit": 200}, p)
    checks = price_check.price_checks_for(items)
    return render_template(
        "procurement/approvals.html", orders=items, checks=checks, action_form=ActionForm()
    )


@bp.get("/receiving")
@roles_required("warehouse")
def receiving() -> ResponseReturnValue:
    p = principal()
    items, _ = writing.list_orders({"status": ["sent", "partially_received"], "limit": 200}, p)
    mine = [po for po in items if p.may_act_in(po.warehouse.code)]
    mine.sort(key=lambda po: (po.expected_date or date.max, po.id))
    return render_template("procurement/receiving.html", orders=mine, today=utcnow().date())


@bp.route("/orders/<int:po_id>/receive", methods=["GET", "POST"])
@roles_required("warehouse")
def receive(po_id: int) -> ResponseReturnValue:
    try:
        po = writing.get_order(po_id)
    except Problem:
        abort(404)
    if not principal().may_act_in(po.warehouse.code):
        abort(403)
    form = ReceiveForm()
    entered: dict[str, dict[str, str]] = {}
    if form.validate_on_submit():
        lines, bad = [], []
        for line in po.lines:
            sku = line.product.sku
            raw = {
                k: (request.form.get(f"{k}-{line.line_no}") or "").strip()
                for k in ("accepted", "rejected", "reject_reason")
            }
            entered[sku] = raw
            if not raw["accepted"] and not raw["rejected"]:
                continue
            try:
                accepted = int(raw["accepted"] or 0)
                rejected = int(raw["rejected"] or 0)
            except ValueError:
                bad.append(sku)
                continue
            if accepted < 0 or rejected < 0:
                bad.append(sku)
                continue
            if accepted or rejected:
                row: dict[str, Any] = {"sku": sku, "accepted": accepted, "rejected": rejected}
                if rejected and raw["reject_reason"]:
                    row["reject_reason"] = raw["reject_reason"]
                lines.append(row)
        if bad:
            flash(
                _("Quantities must be whole numbers of 0 or more: %(skus)s.", skus=", ".join(bad)),
                "error",
            )
        elif not lines:
            flash(_("Enter what arrived on at least one line."), "error")
        else:
            data: dict[str, Any] = {"lines": lines, "note": form.note.data or None}
            if form.received_at.data:
                data["received_at"] = form.received_at.data.replace(tzinfo=UTC)
            try:
                receipt = receipts.receive(principal(), po_id, data)
            except Problem as problem:
                flash_problem(problem)
            else:
                accepted = sum(r["accepted"] for r in lines)
                rejected = sum(r["rejected"] for r in lines)
                flash(
                    _(
                        "Receipt %(id)s for %(number)s: %(accepted)s accepted into "
                        "%(warehouse)s, %(rejected)s rejected.",
                        id=receipt.id,
                        number=po.number,
                        accepted=accepted,
                        warehouse=po.warehouse.code,
                        rejected=rejected,
                    ),
                    "success",
                )
                return redirect(url_for(".order_detail", po_id=po_id))
    return render_template("procurement/receive.html", po=po, form=form, entered=entered)


# --- suppliers ------------------------------------------------------------------------------------


@bp.get("/suppliers")
@roles_required(*READERS)
def supplier_list() -> ResponseReturnValue:
    listing = parse_list(suppliers.SUPPLIER_LIST, request.args, suppliers.SUPPLIER_FILTER_CHOICES)
    return render_template(
        "procurement/suppliers.html", listing=listing, page=suppliers.supplier_page(listing)
    )


@bp.get("/suppliers/export.csv")
@roles_required(*READERS)
def supplier_export() -> ResponseReturnValue:
    listing = parse_list(
        suppliers.SUPPLIER_LIST, request.args, suppliers.SUPPLIER_FILTER_CHOICES, strict=True
    )
    return csv_response(listing, suppliers.SUPPLIER_CSV_HEADER, suppliers.supplier_rows(listing))


@bp.route("/suppliers/new", methods=["GET", "POST"])
@roles_required("buyer")
def supplier_new() -> ResponseReturnValue:
    form = SupplierForm()
    if form.validate_on_submit():
        data = {
            "code": form.code.data,
            "name": form.name.data,
            "email": form.email.data or None,
            "currency": form.currency.data or None,
            "default_lead_time_days": form.default_lead_time_days.data,
        }
        try:
            supplier = suppliers.create_supplier(principal(), data)
        except Problem as problem:
            flash_problem(problem)
        else:
            flash(_("%(code)s registered as a candidate.", code=supplier.code), "success")
            return redirect(url_for(".supplier_detail", code=supplier.code))
    return render_template("procurement/supplier_form.html", form=form)


@bp.route("/suppliers/import", methods=["GET", "POST"])
@roles_required("buyer")
def supplier_import() -> ResponseReturnValue:
    form = ImportForm()
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        try:
            text = csv_import.decode(form.file.data.read())
            if form.kind.data == "suppliers":
                parsed = csv_import.parse(text, csv_import.SupplierRow)
                outcome = suppliers.import_suppliers(principal(), parsed)
            else:
                parsed = csv_import.parse(text, csv_import.PriceListRow)
                outcome = suppliers.import_price_list(principal(), parsed)
        except Problem as problem:
            flash(problem.detail, "error")
            errors = problem.errors or {}
        else:
            flash(
                _(
                    "Imported %(rows)s rows: %(created)s new, %(updated)s replaced.",
                    rows=outcome.rows,
                    created=outcome.created,
                    updated=outcome.updated,
                ),
                "success",
            )
            return redirect(url_for(".supplier_list"))
    return render_template("procurement/import.html", form=form, errors=errors)


@bp.get("/suppliers/<code>")
@roles_required(*READERS)
def supplier_detail(code: str) -> ResponseReturnValue:
    try:
        supplier = suppliers.get_supplier(code)
        card = scorecards.scorecard_for(code, quarters=8)
        items, _ = suppliers.list_items(code, {"limit": 500, "include_inactive": True})
    except Problem:
        abort(404)
    trend = [{"quarter": p.quarter, **scorecards.card_view(p.card)} for p in card.trend]
    return render_template(
        "procurement/supplier.html",
        supplier=supplier,
        card=scorecards.card_view(card.card),
        days=card.days,
        trend=trend,
        grades={k: float(v) for k, v in current_app.config["SCORECARD_GRADES"].items()},
        items=items,
        action_form=ActionForm(),
        item_form=ItemForm(),
    )


#: The rows of the side-by-side table: figure, label, and how it is shown.
COMPARE_ROWS: list[tuple[str, str]] = [
    ("score", N_("Score and grade")),
    ("on_time_rate", N_("On time")),
    ("in_full_rate", N_("Fill rate (in full)")),
    ("reject_rate", N_("Quality rejects")),
    ("lead_time_mean_days", N_("Lead time, mean")),
    ("lead_time_std_days", N_("Lead time, spread (±)")),
    ("price_index", N_("Price index")),
    ("unit_price", N_("Unit price")),
]


@bp.get("/scorecards/compare")
@roles_required(*READERS)
def scorecard_compare() -> ResponseReturnValue:
    """Two to four suppliers (or every approved one of an item) side by side, best marked."""
    picked = [c.strip() for c in request.args.getlist("supplier") if c.strip()]
    sku = (request.args.get("sku") or "").strip()
    body: dict[str, Any] = {"supplier": picked}
    if sku:
        body["sku"] = sku
    comparison = None
    errors: dict[str, list[str]] = {}
    status = 200
    if picked or sku or "supplier" in request.args:
        args, errors = schema_forms.load(ScorecardCompareQuerySchema(), body)
        if args is not None:
            try:
                comparison = scorecards.compare(args["supplier"], args.get("sku"))
            except Problem as problem:
                errors = problem.errors or {"_schema": [problem.detail]}
        if errors:
            status = 422
    messages = [schema_forms.translate(str(m)) for msgs in errors.values() for m in msgs]
    everyone, _cursor = suppliers.list_suppliers({"limit": 500})
    chart = None
    if comparison is not None:
        chart = [
            {
                "supplier": r.supplier.code,
                "on_time": r.card.on_time_rate,
                "in_full": r.card.in_full_rate,
                "quality": None if r.card.reject_rate is None else 1 - r.card.reject_rate,
            }
            for r in comparison.suppliers
        ]
    return render_template(
        "procurement/compare.html",
        comparison=comparison,
        rows=COMPARE_ROWS,
        everyone=everyone,
        picked=picked,
        sku=sku,
        messages=messages,
        chart=chart,
    ), status


@bp.post("/suppliers/<code>/<action>")
@login_required
def supplier_action(code: str, action: str) -> ResponseReturnValue:
    if action not in ("approve", "suspend", "block", "review"):
        abort(404)
    form = ActionForm()
    if not form.validate_on_submit():
        flash(_("The form expired; please try again."), "error")
        return redirect(url_for(".supplier_detail", code=code))
    try:
        if action == "review":
            supplier = suppliers.review(principal(), code, form.reason.data or "")
            flash(
                _("Review of %(code)s recorded; the flag is lowered.", code=supplier.code),
                "success",
            )
        else:
            supplier = suppliers.change_status(principal(), code, action, form.reason.data)
            flash(
                _(
                    "%(code)s is now %(status)s.",
                    code=supplier.code,
                    status=status_label(supplier.status),
                ),
                "success",
            )
    except Problem as problem:
        flash_problem(problem)
    return redirect(url_for(".supplier_detail", code=code))


@bp.post("/suppliers/<code>/items")
@roles_required("buyer")
def supplier_item_add(code: str) -> ResponseReturnValue:
    form = ItemForm()
    if not form.validate_on_submit():
        for field, messages in form.errors.items():
            flash(f"{field}: {'; '.join(str(m) for m in messages)}", "error")
        return redirect(url_for(".supplier_detail", code=code))
    data: dict[str, Any] = {
        "sku": form.sku.data,
        "unit_price": form.unit_price.data,
        "supplier_sku": form.supplier_sku.data or None,
        "moq": form.moq.data or 1,
        "pack_size": form.pack_size.data or 1,
        "lead_time_days": form.lead_time_days.data,
    }
    try:
        if form.price_breaks.data:
            data["price_breaks"] = csv_import.BreaksCell().deserialize(form.price_breaks.data)
        item = suppliers.add_item(principal(), code, data)
    except Problem as problem:
        flash_problem(problem)
    except ValidationError as error:
        flash(
            _(
                "Price breaks: %(problems)s",
                problems="; ".join(str(m) for m in error.messages),
            ),
            "error",
        )
    else:
        flash(
            _("%(sku)s added to %(code)s's price list.", sku=item.product.sku, code=code),
            "success",
        )
    return redirect(url_for(".supplier_detail", code=code))


# --- set-up ---------------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals.update(
        procurement_status_label=status_label, supplier_event_labels=SUPPLIER_EVENT_LABELS
    )

    @app.template_filter("pct")
    def pct(value: float | None, places: int = 0) -> str:
        return "–" if value is None else f"{100 * value:.{places}f}%"

    register_nav_group(app, N_("Purchasing"), icon="cart3")
    register_nav(
        app,
        N_("Purchase orders"),
        "procurement_web.order_list",
        roles=READERS,
        icon="cart3",
        order=40,
        group="Purchasing",
    )
    register_nav(
        app,
        N_("Approvals"),
        "procurement_web.approval_queue",
        roles=("approver",),
        icon="check2-square",
        order=41,
        group="Purchasing",
    )
    register_nav(
        app,
        N_("Receiving"),
        "procurement_web.receiving",
        roles=("warehouse",),
        icon="box-arrow-in-down",
        order=42,
        group="Purchasing",
    )
    register_nav(
        app,
        N_("Suppliers"),
        "procurement_web.supplier_list",
        roles=READERS,
        icon="shop",
        order=43,
        group="Purchasing",
    )
    register_nav(
        app,
        N_("Compare suppliers"),
        "procurement_web.scorecard_compare",
        roles=READERS,
        icon="layout-three-columns",
        order=44,
        group="Purchasing",
    )
