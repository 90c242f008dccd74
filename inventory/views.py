"""Web pages for warehouse staff and everyone who needs to see stock."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from accounts.auth import page_principal
from core import schema_forms
from core.i18n import N_
from core.inputs import INT32_MAX, INT32_MIN
from core.listing import csv_response, parse_list
from core.problems import Forbidden, Problem
from core.web import register_nav, register_nav_group
from inventory import catalog
from inventory import stock as stock_service
from inventory.models import MOVEMENT_TYPES, Product, Warehouse
from inventory.schemas import (
    ProductCreateSchema,
    ProductPatchSchema,
    WarehouseCreateSchema,
    WarehousePatchSchema,
)

bp = Blueprint("inventory_web", __name__, template_folder="templates")

STOCK_WRITERS = ("warehouse",)

#: What the ledger shows for each movement type; the type itself stays the value filtered on.
MOVEMENT_TYPE_LABELS = {
    "receipt": N_("receipt"),
    "issue": N_("issue"),
    "adjustment": N_("adjustment"),
    "transfer": N_("transfer"),
    "transfer_out": N_("transfer_out"),
    "transfer_in": N_("transfer_in"),
}


def _warehouses() -> list[Warehouse]:
    return catalog.all_warehouses()


@bp.get("/stock")
@login_required
def stock() -> ResponseReturnValue:
    """Levels per item and warehouse, the page staff keep open all day."""
    warehouses, categories = _warehouses(), catalog.categories()
    listing = parse_list(
        stock_service.STOCK_LIST, request.args, _stock_choices(warehouses, categories)
    )
    return render_template(
        "inventory/stock.html",
        listing=listing,
        page=stock_service.stock_page(listing),
        warehouses=warehouses,
        categories=categories,
        totals=stock_service.warehouse_totals(),
        can_move=page_principal().has_any(*STOCK_WRITERS),
        low_stock_units=current_app.config["LOW_STOCK_UNITS"],
    )


@bp.get("/stock/export.csv")
@login_required
def stock_export() -> ResponseReturnValue:
    """The stock list as CSV: every row of the page's filters, in its order."""
    choices = _stock_choices(_warehouses(), catalog.categories())
    listing = parse_list(stock_service.STOCK_LIST, request.args, choices, strict=True)
    return csv_response(listing, stock_service.STOCK_CSV_HEADER, stock_service.stock_rows(listing))


def _stock_choices(warehouses: list[Warehouse], categories: list[str]) -> dict[str, Any]:
    return {
        "warehouse": {w.code for w in warehouses},
        "category": set(categories),
        "level": stock_service.STOCK_LEVEL_CHOICES,
    }


class MovementForm(FlaskForm):
    type = SelectField(
        _l("Movement"),
        choices=[
            SelectChoice("receipt", _l("Receipt — goods in")),
            SelectChoice("adjustment", _l("Adjustment — correct a count")),
            SelectChoice("transfer", _l("Transfer — to another warehouse")),
            SelectChoice("issue", _l("Issue — goods out")),
        ],
    )
    warehouse = SelectField(_l("Warehouse"), validators=[DataRequired()])
    to_warehouse = SelectField(_l("To warehouse"), default="")
    sku = StringField(_l("SKU"), validators=[DataRequired(), Length(max=64)])
    quantity = IntegerField(
        _l("Quantity"),
        validators=[DataRequired(message=_l("Enter a quantity other than 0."))],
        description=_l("Units in the product's unit of measure. Adjustments may be negative."),
    )
    reference = StringField(
        _l("Reference"),
        validators=[Optional(), Length(max=128)],
        description=_l("Delivery note, PO number, …"),
    )
    reason = TextAreaField(_l("Reason"), validators=[Length(max=1000)], render_kw={"rows": 2})

    def validate_quantity(self, field: IntegerField) -> None:
        if field.data is not None and not INT32_MIN <= field.data <= INT32_MAX:
            raise ValidationError(
                _(
                    "Must be between %(low)s and %(high)s.",
                    low=format_decimal(INT32_MIN),
                    high=format_decimal(INT32_MAX),
                )
            )
        if self.type.data != "adjustment" and (field.data or 0) <= 0:
            raise ValidationError(_("Must be positive; use an adjustment to correct downwards."))

    def validate_reason(self, field: TextAreaField) -> None:
        if self.type.data == "adjustment" and not (field.data or "").strip():
            raise ValidationError(_("Say why stock is adjusted."))

    def validate_to_warehouse(self, field: SelectField) -> None:
        if self.type.data == "transfer" and not field.data:
            raise ValidationError(_("Choose where the goods go."))
        if self.type.data == "transfer" and field.data == self.warehouse.data:
            raise ValidationError(_("Choose another warehouse than the one the goods leave."))


@bp.route("/stock/move", methods=["GET", "POST"])
@login_required
def move() -> ResponseReturnValue:
    """Post a receipt, adjustment or transfer in one of the person's own warehouses."""
    principal = page_principal()
    if not principal.has_any(*STOCK_WRITERS):
        raise Forbidden(_("Only warehouse staff post stock movements."))
    all_codes = [SelectChoice(w.code, f"{w.code} — {w.name}") for w in _warehouses()]
    form = MovementForm()
    form.warehouse.choices = [c for c in all_codes if principal.may_act_in(c.value)]
    form.to_warehouse.choices = [SelectChoice("", "—"), *all_codes]
    if request.method == "GET":
        form.sku.data = request.args.get("sku", "")
        if request.args.get("warehouse"):
            form.warehouse.data = request.args["warehouse"]
    if form.validate_on_submit():
        data: dict[str, Any] = {
            "type": form.type.data,
            "sku": (form.sku.data or "").strip(),
            "warehouse": form.warehouse.data,
            "quantity": form.quantity.data,
        }
        if form.type.data == "transfer":
            data["to_warehouse"] = form.to_warehouse.data
        for name in ("reference", "reason"):
            value = (getattr(form, name).data or "").strip()
            if value:
                data[name] = value
        try:
            outcome = stock_service.post_movement(principal, data)
        except Problem as problem:
            flash(_explain(problem), "error")
        else:
            summary = ", ".join(
                _(
                    "%(warehouse)s: %(n)s on hand",
                    warehouse=lv.warehouse,
                    n=format_decimal(lv.on_hand),
                )
                for lv in outcome.levels
            )
            flash(
                _(
                    "Posted %(type)s of %(n)s × %(sku)s. %(levels)s.",
                    type=_(MOVEMENT_TYPE_LABELS[data["type"]]),
                    n=format_decimal(data["quantity"]),
                    sku=data["sku"],
                    levels=summary,
                ),
                "success",
            )
            return redirect(url_for(".stock", sku=data["sku"]))
    return render_template("inventory/move.html", form=form)


class CountForm(FlaskForm):
    warehouse = SelectField(_l("Warehouse"), validators=[DataRequired()])
    sheet = TextAreaField(
        _l("Count sheet"),
        validators=[DataRequired()],
        description=_l("One item per line: sku, counted (e.g. BOLT-10, 42)"),
    )
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=1000)])


def _sheet_lines(sheet: str) -> tuple[list[dict[str, Any]], list[str]]:
    """``sku, counted`` per line (comma, tab or spaces); the problems name the sheet's line."""
    lines, problems = [], []
    for n, raw in enumerate(sheet.splitlines(), start=1):
        text = raw.strip()
        if not text:
            continue
        parts = [p for p in text.replace("\t", ",").replace(";", ",").split(",") if p.strip()]
        if len(parts) == 1:
            parts = text.split()
        try:
            sku, counted = parts[0].strip(), int(parts[1].strip())
            if len(parts) != 2 or counted < 0 or counted > 2**31 - 1:
                raise ValueError
        except (ValueError, IndexError):
            problems.append(_("line %(n)s: write sku, counted (a whole number from 0)", n=n))
            continue
        lines.append({"sku": sku, "counted": counted})
    if not lines and not problems:
        problems.append(_("the sheet has no lines"))
    return lines, problems


@bp.route("/stock/counts", methods=["GET", "POST"])
@login_required
def count() -> ResponseReturnValue:
    """Enter a count sheet; each line that differs from on hand posts one adjustment."""
    principal = page_principal()
    if not principal.has_any(*STOCK_WRITERS):
        raise Forbidden(_("Only warehouse staff post counts."))
    form = CountForm()
    form.warehouse.choices = [
        SelectChoice(w.code, f"{w.code} — {w.name}")
        for w in _warehouses()
        if principal.may_act_in(w.code)
    ]
    if form.validate_on_submit():
        lines, problems = _sheet_lines(form.sheet.data or "")
        skus = [ln["sku"] for ln in lines]
        problems += [
            _("%(sku)s is counted twice", sku=sku)
            for sku in sorted({x for x in skus if skus.count(x) > 1})
        ]
        if problems:
            for message in problems:
                flash(message, "error")
        else:
            data: dict[str, Any] = {"warehouse": form.warehouse.data, "lines": lines}
            if (form.reason.data or "").strip():
                data["reason"] = form.reason.data.strip()
            try:
                outcome = stock_service.post_count(principal, data)
            except Problem as problem:
                details = problem.errors or {}
                flash(
                    problem.detail
                    + "".join(f" {k}: {'; '.join(map(str, v))}." for k, v in details.items()),
                    "error",
                )
            else:
                return redirect(url_for(".count_result", count_id=outcome.count.id))
    return render_template("inventory/count.html", form=form)


@bp.get("/stock/counts/<int:count_id>")
@login_required
def count_result(count_id: int) -> ResponseReturnValue:
    outcome = stock_service.get_count(count_id)
    return render_template("inventory/count_result.html", outcome=outcome)


def _explain(problem: Problem) -> str:
    """The problem's sentence, plus the specifics when the sentence alone is generic (409s)."""
    if problem.status != 409 or not problem.errors:
        return problem.detail
    specifics = [
        m for msgs in problem.errors.values() for m in (msgs if isinstance(msgs, list) else [msgs])
    ]
    return f"{problem.detail} {'; '.join(map(str, specifics))}"


@bp.get("/stock/movements")
@login_required
def movements() -> ResponseReturnValue:
    """The ledger, for answering "where did these units go?"."""
    warehouses = _warehouses()
    listing = parse_list(stock_service.LEDGER_LIST, request.args, _ledger_choices(warehouses))
    return render_template(
        "inventory/movements.html",
        listing=listing,
        page=stock_service.ledger_page(listing),
        warehouses=warehouses,
        type_labels=MOVEMENT_TYPE_LABELS,
    )


@bp.get("/stock/movements/export.csv")
@login_required
def movements_export() -> ResponseReturnValue:
    listing = parse_list(
        stock_service.LEDGER_LIST, request.args, _ledger_choices(_warehouses()), strict=True
    )
    return csv_response(
        listing, stock_service.LEDGER_CSV_HEADER, stock_service.ledger_rows(listing)
    )


def _ledger_choices(warehouses: list[Warehouse]) -> dict[str, Any]:
    return {"warehouse": {w.code for w in warehouses}, "type": MOVEMENT_TYPES}


@bp.get("/products")
@login_required
def products() -> ResponseReturnValue:
    categories = catalog.categories()
    listing = parse_list(catalog.PRODUCT_LIST, request.args, _product_choices(categories))
    return render_template(
        "inventory/products.html",
        listing=listing,
        page=catalog.product_page(listing),
        categories=categories,
        can_edit=page_principal().has_any(*catalog.WRITERS),
    )


@bp.get("/products/export.csv")
@login_required
def products_export() -> ResponseReturnValue:
    choices = _product_choices(catalog.categories())
    listing = parse_list(catalog.PRODUCT_LIST, request.args, choices, strict=True)
    return csv_response(listing, catalog.PRODUCT_CSV_HEADER, catalog.product_rows(listing))


def _product_choices(categories: list[str]) -> dict[str, Any]:
    return {"category": set(categories), "status": catalog.PRODUCT_STATUS_CHOICES}


@bp.get("/warehouses")
@login_required
def warehouses() -> ResponseReturnValue:
    return render_template(
        "inventory/warehouses.html",
        totals={t["code"]: t for t in stock_service.warehouse_totals()},
        warehouses=_warehouses(),
        can_edit=page_principal().has_any(*catalog.WRITERS),
    )


# --- catalog forms --------------------------------------------------------------------------------
#
# The fields are plain text on purpose: the API's schemas (``ProductCreateSchema``, ...) parse and
# check them, so a page and an endpoint refuse the same input with the same field messages. The
# forms themselves only carry the CSRF token and render the fields with their errors.

#: Messages the catalog services give about a field, in the reader's language.
CATALOG_MESSAGES: dict[str, schema_forms.Translate] = {
    "Use letters, digits and . _ / - (starting with a letter or digit).": lambda m: _(
        "Use letters, digits and . _ / - (starting with a letter or digit)."
    ),
    "An ISO 4217 code such as CNY or EUR.": lambda m: _("An ISO 4217 code such as CNY or EUR."),
    "stock is negative": lambda m: _("stock is negative"),
}


class ProductForm(FlaskForm):
    sku = StringField(_l("SKU"), description=_l("Letters, digits and . _ / -; it never changes."))
    name = StringField(_l("Name"))
    category = StringField(_l("Category"))
    uom = StringField(_l("Unit of measure"), description=_l("e.g. ea, box, kg"))
    unit_cost = StringField(_l("Unit cost"))
    currency = StringField(_l("Currency"), description=_l("ISO 4217, e.g. CNY"))
    weight_kg = StringField(_l("Weight (kg)"))
    volume_m3 = StringField(_l("Volume (m³)"))
    reorder_point = StringField(
        _l("Reorder point"),
        description=_l("Available units at or below which the item shows as low in a warehouse"),
    )
    active = BooleanField(_l("Active"), default=True)


class WarehouseForm(FlaskForm):
    code = StringField(_l("Code"), description=_l("Letters, digits and . _ / -; it never changes."))
    name = StringField(_l("Name"))
    latitude = StringField(_l("Latitude"), description=_l("−90 to 90, for the nearest warehouse"))
    longitude = StringField(_l("Longitude"), description=_l("−180 to 180"))
    priority = StringField(
        _l("Priority"), description=_l("Lower goes first when warehouses tie (0 to 10,000)")
    )
    allow_negative_stock = BooleanField(_l("Allow negative stock"))
    active = BooleanField(_l("Active"), default=True)


PRODUCT_TEXT = (
    "name",
    "category",
    "uom",
    "unit_cost",
    "currency",
    "weight_kg",
    "volume_m3",
    "reorder_point",
)
PRODUCT_NULLABLE = frozenset({"category", "unit_cost", "weight_kg", "volume_m3", "reorder_point"})
WAREHOUSE_TEXT = ("name", "latitude", "longitude", "priority")
WAREHOUSE_NULLABLE = frozenset({"latitude", "longitude"})


def _ensure_catalog_writer() -> None:
    if not page_principal().has_any(*catalog.WRITERS):
        raise Forbidden(
            _("This page needs one of the roles: %(roles)s.", roles=", ".join(catalog.WRITERS))
        )


def _as_text(value: Any) -> str:
    """A stored value as the form shows it: no trailing zeros of the column's scale."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def _payload(
    form: FlaskForm, names: tuple[str, ...], nullable: frozenset[str], *, creating: bool
) -> dict[str, Any]:
    """The request body the API would get: a blank field is left out when creating (the default
    applies, or "required" is said) and cleared (None) or sent blank when editing."""
    data: dict[str, Any] = {}
    for name in names:
        raw = (form[name].data or "").strip()
        if raw:
            data[name] = raw
        elif not creating:
            data[name] = None if name in nullable else ""
    return data


def _changes(obj: Product | Warehouse, loaded: dict[str, Any]) -> dict[str, Any]:
    """Only what differs, so the audit entry lists the fields really changed."""
    return {name: value for name, value in loaded.items() if getattr(obj, name) != value}


def _refused(
    form: FlaskForm, errors: dict[str, Any] | None, problem: Problem | None = None
) -> None:
    """Field messages next to their fields, and one line above the form saying nothing was kept."""
    loose = schema_forms.attach(form, errors, extra=CATALOG_MESSAGES)
    if problem is not None and (not errors or loose):
        flash(_explain(problem), "error")
    else:
        flash(_("Nothing was saved; correct the fields marked."), "error")


@bp.route("/products/new", methods=["GET", "POST"])
@login_required
def product_new() -> ResponseReturnValue:
    """Add a product through the same schema and service as ``POST /api/v1/products``."""
    _ensure_catalog_writer()
    form = ProductForm()
    if request.method == "GET":
        form.uom.data = "ea"
        form.currency.data = current_app.config["DEFAULT_CURRENCY"]
    if form.validate_on_submit():
        data = _payload(form, ("sku", *PRODUCT_TEXT), PRODUCT_NULLABLE, creating=True)
        data["active"] = form.active.data
        loaded, errors = schema_forms.load(ProductCreateSchema(), data)
        if loaded is None:
            _refused(form, errors)
        else:
            try:
                product = catalog.create_product(page_principal(), loaded)
            except Problem as problem:
                _refused(form, problem.errors, problem)
            else:
                flash(_("Product %(sku)s added.", sku=product.sku), "success")
                return redirect(url_for(".products", q=product.sku))
    return render_template("inventory/product_form.html", form=form, product=None)


@bp.route("/products/<path:sku>/edit", methods=["GET", "POST"])
@login_required
def product_edit(sku: str) -> ResponseReturnValue:
    """Change a product as ``PATCH /api/v1/products/<sku>`` does; the sku may be typed in any
    case and the page moves to the product's own spelling."""
    _ensure_catalog_writer()
    product = catalog.find_product(sku)
    if product.sku != sku:
        return redirect(url_for(".product_edit", sku=product.sku))
    form = ProductForm()
    del form.sku
    if request.method == "GET":
        for name in PRODUCT_TEXT:
            form[name].data = _as_text(getattr(product, name))
        form.active.data = product.active
    if form.validate_on_submit():
        data = _payload(form, PRODUCT_TEXT, PRODUCT_NULLABLE, creating=False)
        data["active"] = form.active.data
        loaded, errors = schema_forms.load(ProductPatchSchema(), data)
        if loaded is None:
            _refused(form, errors)
        else:
            changes = _changes(product, loaded)
            if not changes:
                flash(_("Nothing changed."), "info")
                return redirect(url_for(".products", q=product.sku))
            try:
                catalog.update_product(page_principal(), product.sku, changes)
            except Problem as problem:
                _refused(form, problem.errors, problem)
            else:
                flash(_("Product %(sku)s saved.", sku=product.sku), "success")
                return redirect(url_for(".products", q=product.sku))
    return render_template("inventory/product_form.html", form=form, product=product)


@bp.route("/warehouses/new", methods=["GET", "POST"])
@login_required
def warehouse_new() -> ResponseReturnValue:
    """Open a warehouse through the same schema and service as ``POST /api/v1/warehouses``."""
    _ensure_catalog_writer()
    form = WarehouseForm()
    if request.method == "GET":
        form.priority.data = "100"
    if form.validate_on_submit():
        data = _payload(form, ("code", *WAREHOUSE_TEXT), WAREHOUSE_NULLABLE, creating=True)
        data["allow_negative_stock"] = form.allow_negative_stock.data
        data["active"] = form.active.data
        loaded, errors = schema_forms.load(WarehouseCreateSchema(), data)
        if loaded is None:
            _refused(form, errors)
        else:
            try:
                warehouse = catalog.create_warehouse(page_principal(), loaded)
            except Problem as problem:
                _refused(form, problem.errors, problem)
            else:
                flash(_("Warehouse %(code)s opened.", code=warehouse.code), "success")
                return redirect(url_for(".warehouses"))
    return render_template("inventory/warehouse_form.html", form=form, warehouse=None)


@bp.route("/warehouses/<path:code>/edit", methods=["GET", "POST"])
@login_required
def warehouse_edit(code: str) -> ResponseReturnValue:
    """Change a warehouse as ``PATCH /api/v1/warehouses/<code>`` does."""
    _ensure_catalog_writer()
    warehouse = catalog.get_warehouse(code)
    form = WarehouseForm()
    del form.code
    if request.method == "GET":
        for name in WAREHOUSE_TEXT:
            form[name].data = _as_text(getattr(warehouse, name))
        form.allow_negative_stock.data = warehouse.allow_negative_stock
        form.active.data = warehouse.active
    if form.validate_on_submit():
        data = _payload(form, WAREHOUSE_TEXT, WAREHOUSE_NULLABLE, creating=False)
        data["allow_negative_stock"] = form.allow_negative_stock.data
        data["active"] = form.active.data
        loaded, errors = schema_forms.load(WarehousePatchSchema(), data)
        if loaded is None:
            _refused(form, errors)
        else:
            changes = _changes(warehouse, loaded)
            if not changes:
                flash(_("Nothing changed."), "info")
                return redirect(url_for(".warehouses"))
            try:
                catalog.update_warehouse(page_principal(), warehouse.code, changes)
            except Problem as problem:
                _refused(form, problem.errors, problem)
            else:
                flash(_("Warehouse %(code)s saved.", code=warehouse.code), "success")
                return redirect(url_for(".warehouses"))
    return render_template("inventory/warehouse_form.html", form=form, warehouse=warehouse)


def warehouse_choices() -> list[tuple[str, str]]:
    """Codes and names of the warehouses a user can be scoped to, for the admin's user form."""
    return [(w.code, w.name) for w in catalog.all_warehouses()]


def init_app(app: Flask) -> None:
    from accounts.admin_views import provide_warehouses

    app.register_blueprint(bp)
    provide_warehouses(app, warehouse_choices)
    register_nav_group(app, N_("Stock"), icon="boxes")
    register_nav_group(app, N_("Catalog"), icon="tags")
    register_nav(
        app, N_("Stock levels"), "inventory_web.stock", icon="boxes", order=10, group=N_("Stock")
    )
    register_nav(
        app,
        N_("Post movement"),
        "inventory_web.move",
        roles=STOCK_WRITERS,
        icon="arrow-left-right",
        order=11,
        group=N_("Stock"),
    )
    register_nav(
        app,
        N_("Cycle count"),
        "inventory_web.count",
        roles=STOCK_WRITERS,
        icon="clipboard-check",
        order=12,
        group=N_("Stock"),
    )
    register_nav(
        app,
        N_("Ledger"),
        "inventory_web.movements",
        icon="journal-text",
        order=13,
        group=N_("Stock"),
    )
    register_nav(
        app, N_("Products"), "inventory_web.products", icon="tags", order=20, group=N_("Catalog")
    )
    register_nav(
        app,
        N_("Warehouses"),
        "inventory_web.warehouses",
        icon="building",
        order=21,
        group=N_("Catalog"),
    )
