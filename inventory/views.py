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
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import NumberInput

from accounts.auth import page_principal, require_page_role
from core import schema_forms
from core.i18n import N_
from core.listing import csv_response, parse_list
from core.problems import Forbidden, Problem
from core.web import register_nav, register_nav_group
from inventory import catalog
from inventory import stock as stock_service
from inventory.models import MOVEMENT_TYPES, Product, Warehouse
from inventory.schemas import (
    CountCreateSchema,
    MovementCreateSchema,
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
    """The fields of ``MovementCreateSchema``: the API's schema judges them, not WTForms.

    Only the choices are the page's own: a person is offered their own warehouses.
    """

    type = SelectField(
        _l("Movement"),
        choices=[
            SelectChoice("receipt", _l("Receipt — goods in")),
            SelectChoice("adjustment", _l("Adjustment — correct a count")),
            SelectChoice("transfer", _l("Transfer — to another warehouse")),
            SelectChoice("issue", _l("Issue — goods out")),
        ],
    )
    warehouse = SelectField(_l("Warehouse"))
    to_warehouse = SelectField(_l("To warehouse"), default="")
    sku = StringField(
        _l("SKU"), description=_l("Any case: abc-1 finds ABC-1."), render_kw={"maxlength": 64}
    )
    quantity = StringField(
        _l("Quantity"),
        widget=NumberInput(step=1),
        description=_l("Units in the product's unit of measure. Adjustments may be negative."),
    )
    reference = StringField(
        _l("Reference"),
        description=_l("Delivery note, PO number, …"),
    )
    reason = TextAreaField(_l("Reason"), render_kw={"rows": 2})


#: ``MovementCreateSchema`` names the movement type in its sentence; one sentence per type here.
MOVEMENT_MESSAGES: dict[str, schema_forms.Translate] = {
    "A receipt moves a positive quantity.": lambda m: _("A receipt moves a positive quantity."),
    "A issue moves a positive quantity.": lambda m: _("An issue moves a positive quantity."),
    "A transfer moves a positive quantity.": lambda m: _("A transfer moves a positive quantity."),
}


def _movement_body(form: MovementForm) -> dict[str, Any]:
    """The JSON body ``POST /stock/movements`` would receive for this form."""
    body: dict[str, Any] = {
        "type": form.type.data,
        "sku": (form.sku.data or "").strip(),
        "warehouse": form.warehouse.data,
    }
    quantity = schema_forms.whole_or_text(form.quantity.data)
    if quantity is not None:
        body["quantity"] = quantity
    if form.type.data == "transfer" and form.to_warehouse.data:
        body["to_warehouse"] = form.to_warehouse.data
    for name in ("reference", "reason"):
        value = (getattr(form, name).data or "").strip()
        if value:
            body[name] = value
    return body


@bp.route("/stock/move", methods=["GET", "POST"])
@login_required
def move() -> ResponseReturnValue:
    """Post a receipt, adjustment or transfer in one of the person's own warehouses."""
    principal = require_page_role(*STOCK_WRITERS)
    all_codes = [SelectChoice(w.code, f"{w.code} — {w.name}") for w in _warehouses()]
    form = MovementForm()
    form.warehouse.choices = [c for c in all_codes if principal.may_act_in(c.value)]
    form.to_warehouse.choices = [SelectChoice("", "—"), *all_codes]
    if request.method == "GET":
        form.sku.data = request.args.get("sku", "")
        if request.args.get("warehouse"):
            form.warehouse.data = request.args["warehouse"]
    if form.validate_on_submit():
        body = _movement_body(form)
        data, errors = schema_forms.load(MovementCreateSchema(), body)
        if data is not None:
            try:
                outcome = stock_service.post_movement(principal, data)
            except Problem as problem:
                errors = problem.errors or {}
                if problem.status != 422 or not errors:
                    flash(_explain(problem), "error")
            else:
                sku = outcome.movements[0]["sku"]
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
                        sku=sku,
                        levels=summary,
                    ),
                    "success",
                )
                return redirect(url_for(".stock", sku=sku))
        for text in schema_forms.attach(form, errors, extra=MOVEMENT_MESSAGES):
            flash(text, "error")
    return render_template("inventory/move.html", form=form)


class CountForm(FlaskForm):
    warehouse = SelectField(_l("Warehouse"))
    sheet = TextAreaField(
        _l("Count sheet"),
        description=_l("One item per line: sku, counted (e.g. BOLT-10, 42)"),
    )
    reason = StringField(_l("Reason"))


def _sheet_lines(sheet: str) -> tuple[list[dict[str, Any]], list[int], list[str]]:
    """``sku, counted`` per line (comma, tab or spaces) as the API's count lines.

    Returns the lines, the sheet line each came from, and the lines that are not two values.
    Whether a value is usable (a whole number from 0, a known sku) is the API's schema's and
    the count's to say, so the sheet says exactly what ``POST /stock/counts`` would.
    """
    lines: list[dict[str, Any]] = []
    numbers: list[int] = []
    problems: list[str] = []
    for n, raw in enumerate(sheet.splitlines(), start=1):
        text = raw.strip()
        if not text:
            continue
        parts = [p for p in text.replace("\t", ",").replace(";", ",").split(",") if p.strip()]
        if len(parts) == 1:
            parts = text.split()
        if len(parts) != 2:
            problems.append(_("line %(n)s: write sku, counted (a whole number from 0)", n=n))
            continue
        lines.append({"sku": parts[0].strip(), "counted": schema_forms.whole_or_text(parts[1])})
        numbers.append(n)
    return lines, numbers, problems


def _place_count_errors(form: CountForm, errors: dict[str, list[str]], numbers: list[int]) -> None:
    """A line's messages go under the sheet, naming the sheet's line; the rest by field."""
    others: dict[str, list[str]] = {}
    for key, messages in errors.items():
        parts = key.split(".")
        if parts[0] == "lines" and len(parts) == 3 and parts[1].isdigit():
            i = int(parts[1])
            line = numbers[i] if i < len(numbers) else i + 1
            form.sheet.errors = [
                *form.sheet.errors,
                *(
                    _("line %(n)s: %(message)s", n=line, message=schema_forms.translate(str(m)))
                    for m in messages
                ),
            ]
        else:
            others["sheet" if key == "lines" else key] = messages
    for text in schema_forms.attach(form, others):
        flash(text, "error")


@bp.route("/stock/counts", methods=["GET", "POST"])
@login_required
def count() -> ResponseReturnValue:
    """Enter a count sheet; each line that differs from on hand posts one adjustment."""
    principal = require_page_role(*STOCK_WRITERS)
    form = CountForm()
    form.warehouse.choices = [
        SelectChoice(w.code, f"{w.code} — {w.name}")
        for w in _warehouses()
        if principal.may_act_in(w.code)
    ]
    if form.validate_on_submit():
        lines, numbers, problems = _sheet_lines(form.sheet.data or "")
        body: dict[str, Any] = {"warehouse": form.warehouse.data, "lines": lines}
        if (form.reason.data or "").strip():
            body["reason"] = form.reason.data.strip()
        if problems:
            form.sheet.errors = problems
        else:
            data, errors = schema_forms.load(CountCreateSchema(), body)
            if data is not None:
                try:
                    outcome = stock_service.post_count(principal, data)
                except Problem as problem:
                    errors = problem.errors or {}
                    if not errors:
                        flash(problem.detail, "error")
                else:
                    return redirect(url_for(".count_result", count_id=outcome.count.id))
            _place_count_errors(form, errors, numbers)
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
