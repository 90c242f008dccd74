"""Catalog and stock API: parse, call the use case, serialise."""

from __future__ import annotations

import json
from datetime import date
from json.encoder import encode_basestring_ascii as quote
from typing import Any
from urllib.parse import parse_qsl

from flask import Response, request
from flask.views import MethodView
from marshmallow import ValidationError

from accounts.auth import current_principal, require
from core import context
from core.api import API_PREFIX, Blueprint, PageArgs, page_of
from core.hot_paths import HotRoute
from core.idempotency import idempotent
from core.inputs import bad_text, check_document
from core.problems import Invalid
from inventory import catalog as catalog_service
from inventory import reservations
from inventory import stock as stock_service
from inventory.schemas import (
    AvailabilityQuerySchema,
    AvailabilityRequestSchema,
    AvailabilitySchema,
    CountCreateSchema,
    CountSchema,
    LevelSchema,
    MovementCreateSchema,
    MovementQuerySchema,
    MovementResultSchema,
    MovementSchema,
    ProductCreateSchema,
    ProductPatchSchema,
    ProductQuerySchema,
    ProductSchema,
    ReservationCreateSchema,
    ReservationExtendSchema,
    ReservationSchema,
    StockQuerySchema,
    WarehouseCreateSchema,
    WarehousePatchSchema,
    WarehouseSchema,
)

catalog = Blueprint("catalog", __name__, description="Products and warehouses.")
stock = Blueprint("stock", __name__, description="Stock levels, the ledger and cycle counts.")
storefront = Blueprint(
    "storefront", __name__, description="Availability and reservations for the storefront."
)

WRITE_STOCK = ("warehouse",)


@catalog.route("/products")
class Products(MethodView):
    @require()
    @catalog.arguments(ProductQuerySchema, location="query")
    @catalog.response(200, page_of(ProductSchema))
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Products by sku; `q` searches sku and name."""
        items, next_cursor = catalog_service.list_products(args)
        return {"items": items, "next_cursor": next_cursor}

    @require(*catalog_service.WRITERS)
    @catalog.arguments(ProductCreateSchema)
    @catalog.response(201, ProductSchema)
    @catalog.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any]) -> Any:
        """Add a product to the catalog (admin)."""
        return catalog_service.create_product(current_principal(), data)


@catalog.route("/products/<sku>")
class ProductItem(MethodView):
    @require()
    @catalog.response(200, ProductSchema)
    @catalog.alt_response(404, response="NOT_FOUND")
    def get(self, sku: str) -> Any:
        return catalog_service.get_product(sku)

    @require(*catalog_service.WRITERS)
    @catalog.arguments(ProductPatchSchema)
    @catalog.response(200, ProductSchema)
    @catalog.alt_response(404, response="NOT_FOUND")
    def patch(self, changes: dict[str, Any], sku: str) -> Any:
        """Change a product's details (admin); the sku never changes."""
        return catalog_service.update_product(current_principal(), sku, changes)


@catalog.route("/warehouses")
class Warehouses(MethodView):
    @require()
    @catalog.arguments(PageArgs, location="query")
    @catalog.response(200, page_of(WarehouseSchema))
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        items, next_cursor = catalog_service.list_warehouses(args)
        return {"items": items, "next_cursor": next_cursor}

    @require(*catalog_service.WRITERS)
    @catalog.arguments(WarehouseCreateSchema)
    @catalog.response(201, WarehouseSchema)
    @catalog.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any]) -> Any:
        """Open a warehouse (admin)."""
        return catalog_service.create_warehouse(current_principal(), data)


@catalog.route("/warehouses/<code>")
class WarehouseItem(MethodView):
    @require()
    @catalog.response(200, WarehouseSchema)
    @catalog.alt_response(404, response="NOT_FOUND")
    def get(self, code: str) -> Any:
        return catalog_service.get_warehouse(code)

    @require(*catalog_service.WRITERS)
    @catalog.arguments(WarehousePatchSchema)
    @catalog.response(200, WarehouseSchema)
    @catalog.alt_response(404, response="NOT_FOUND")
    @catalog.alt_response(409, response="CONFLICT")
    def patch(self, changes: dict[str, Any], code: str) -> Any:
        """Change a warehouse (admin), e.g. whether it may go below zero."""
        return catalog_service.update_warehouse(current_principal(), code, changes)


@stock.route("/stock")
class StockLevels(MethodView):
    @require()
    @stock.arguments(StockQuerySchema, location="query")
    @stock.response(200, page_of(LevelSchema))
    @stock.alt_response(404, response="NOT_FOUND")
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """On hand, reserved, available and incoming per sku and warehouse."""
        items, next_cursor = stock_service.stock_levels(args)
        return {"items": items, "next_cursor": next_cursor}


@stock.route("/stock/movements")
class Movements(MethodView):
    @require()
    @stock.arguments(MovementQuerySchema, location="query")
    @stock.response(200, page_of(MovementSchema))
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The ledger, newest first; quantities are signed so they sum to on hand."""
        items, next_cursor = stock_service.list_movements(args)
        return {"items": items, "next_cursor": next_cursor}

    @require(*WRITE_STOCK)
    @idempotent
    @stock.arguments(MovementCreateSchema)
    @stock.response(201, MovementResultSchema)
    @stock.alt_response(403, response="FORBIDDEN")
    @stock.alt_response(409, response="CONFLICT", description="would take available below zero")
    def post(self, data: dict[str, Any]) -> Any:
        """Post a receipt, issue, adjustment (reason required) or transfer."""
        return stock_service.post_movement(current_principal(), data)


@stock.route("/stock/counts")
class Counts(MethodView):
    @require(*WRITE_STOCK)
    @idempotent
    @stock.arguments(CountCreateSchema)
    @stock.response(201, CountSchema)
    @stock.alt_response(403, response="FORBIDDEN")
    @stock.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any]) -> Any:
        """Record a cycle count; one adjustment per line whose count differs from on hand."""
        return _count_view(stock_service.post_count(current_principal(), data))


@stock.route("/stock/counts/<int:count_id>")
class CountItem(MethodView):
    @require()
    @stock.response(200, CountSchema)
    @stock.alt_response(404, response="NOT_FOUND")
    def get(self, count_id: int) -> Any:
        return _count_view(stock_service.get_count(count_id))


def _count_view(outcome: stock_service.CountOutcome) -> dict[str, Any]:
    c = outcome.count
    return {
        "id": c.id,
        "warehouse": outcome.warehouse,
        "reason": c.reason,
        "actor": c.actor,
        "created_at": c.created_at,
        "movements": outcome.movements,
        "levels": outcome.levels,
        "lines": [
            {
                "sku": cl.product.sku,
                "counted": cl.counted,
                "on_hand_before": cl.on_hand_before,
                "difference": cl.difference,
                "movement_id": cl.movement_id,
            }
            for cl in c.lines
        ],
    }


# --- storefront -----------------------------------------------------------------------------------

STOREFRONT = ("storefront",)


class _WarehouseEntries(dict[tuple[str, int], str]):
    """The JSON text of ``(code, units)``, written once per response for each pair it has."""

    def __missing__(self, site: tuple[str, int]) -> str:
        code, units = site
        entry = self[site] = f'{{"code":{quote(code)},"available":{int(units)}}}'
        return entry


def _availability_response(skus: list[str], warehouse: str | None) -> Response:
    """The hottest response of the service, written as JSON text directly.

    Exactly ``AvailabilitySchema``'s shape (the OpenAPI document describes it, and the tests
    compare the two), without building a dict per sku and per warehouse to dump: for a 1,000-sku
    basket that was most of the time the request spent in Python. Strings are quoted as
    ``json.dumps`` quotes them (``encode_basestring_ascii`` is what it runs for a string); the
    figures are ints. Warehouses with the same units in many skus are written once. Each sku's
    text is written as soon as its answer is known, while the database is still reading the
    rest of a large basket, and put in order at the end.
    """
    entries = _WarehouseEntries()
    written: dict[str, str] = {}

    def write(answer: reservations.SkuAvailability) -> None:
        sku, known, available, sites = answer
        listed = ",".join([entries[site] for site in sites])
        written[sku] = (
            f'{{"sku":{quote(sku)},"known":{"true" if known else "false"},'
            f'"available":{int(available)},"warehouses":[{listed}]}}'
        )

    items = reservations.availability(skus, warehouse, each=write)
    return context.app().response_class(
        '{"items":[' + ",".join([written[item.sku] for item in items]) + "]}",
        mimetype="application/json",
    )


_AVAILABILITY_QUERY = AvailabilityQuerySchema()
#: What ``AvailabilityQuerySchema`` accepts, checked directly for the common, valid request.
_MAX_QUERY_SKUS = 100
_SKU_LENGTH = range(1, 65)
_WAREHOUSE_LENGTH = range(1, 33)


def _plain_query(names: int, skus: list[str], warehouse: str | None) -> bool:
    """Whether a query is one ``AvailabilityQuerySchema`` takes as it is: only ``sku`` and
    ``warehouse`` (``names`` distinct parameters), 1 to 100 skus of 1 to 64 characters, a warehouse
    code of 1 to 32. Loading the schema on every request of the hottest GET cost more than
    checking these few rules; anything else goes through it, which answers the 422."""
    return (
        names == (1 if warehouse is None else 2)
        and 0 < len(skus) <= _MAX_QUERY_SKUS
        and all(len(sku) in _SKU_LENGTH for sku in skus)
        and (warehouse is None or len(warehouse) in _WAREHOUSE_LENGTH)
    )


def _availability_query() -> tuple[list[str], str | None]:
    """The skus and warehouse of the query string, by ``AvailabilityQuerySchema``'s rules."""
    args = request.args
    skus = args.getlist("sku")
    warehouse = args.get("warehouse")
    if _plain_query(len(args), skus, warehouse):
        return skus, warehouse
    raw = {k: args.getlist(k) if k == "sku" else args[k] for k in args}
    try:
        loaded = _AVAILABILITY_QUERY.load(raw)
    except ValidationError as error:
        raise Invalid(
            "The request did not pass validation; see errors for each field.",
            errors=error.normalized_messages(),
        )
    return loaded["sku"], loaded.get("warehouse")


@storefront.route("/availability")
class Availability(MethodView):
    @require(*STOREFRONT)
    @storefront.doc(parameters=[{"in": "query", "schema": AvailabilityQuerySchema}])
    @storefront.response(200, AvailabilitySchema)
    @storefront.alt_response(422, response="UNPROCESSABLE_CONTENT")
    def get(self) -> Any:
        """Units available now per sku, in total and per warehouse; unknown skus have 0."""
        skus, warehouse = _availability_query()
        return _availability_response(skus, warehouse)

    @require(*STOREFRONT)
    @storefront.arguments(AvailabilityRequestSchema)
    @storefront.response(200, AvailabilitySchema)
    def post(self, data: dict[str, Any]) -> Any:
        """The same for a large basket: up to 1000 skus in the body."""
        return _availability_response(data["skus"], data.get("warehouse"))


_MAX_BASKET_SKUS = 1000
_BASKET_FIELDS = frozenset({"skus", "warehouse"})


#: One instance for every request: webargs would build (and deep-copy) a schema per request.
_RESERVATION_REQUEST = ReservationCreateSchema()


def _iso(value: date) -> str:
    """Dates and times as ``ReservationSchema`` writes them (ISO 8601)."""
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _reservation_created(view: dict[str, Any]) -> Response:
    """201 with the reservation and its Location, made before the holds are written: with an
    Idempotency-Key the record of this response is stored by the statement that writes them.

    The service builds the view in exactly ``ReservationSchema``'s shape (which documents it), so
    it goes straight to JSON: on the storefront's busiest write, the schema's dump cost more than
    the rest of the response.
    """
    app = context.app()
    response = app.response_class(
        json.dumps(view, separators=(",", ":"), default=_iso),
        status=201,
        mimetype="application/json",
    )
    response.headers["Location"] = app.url_for(
        "storefront.ReservationItem", reservation_id=view["id"]
    )
    return response


@storefront.route("/reservations")
class Reservations(MethodView):
    @require(*STOREFRONT)
    @idempotent(records_itself=True)
    @storefront.arguments(_RESERVATION_REQUEST)
    @storefront.response(201, ReservationSchema)
    @storefront.alt_response(409, response="CONFLICT", description="a line cannot be filled")
    def post(self, data: dict[str, Any]) -> Any:
        """Hold stock for an order: every line or nothing; allocated unless `warehouse` is given.

        Without `warehouse`, one warehouse that can fill the whole order is chosen (nearest to
        `destination`, then by priority); if none can, the order is split across the fewest.
        """
        return reservations.reserve_and_respond(current_principal(), data, _reservation_created)


# --- the storefront's hot paths (core.hot_paths) ----------------------------------------------
# The views above, for requests whose input their schemas take as it is; any other request goes
# through them. Each answer carries its view's decorators that act on the caller (flask-smorest's
# only document and parse): tests/api/test_hot_paths.py holds the two paths to the same answers.


def _storable(text: str) -> bool:
    return bad_text(text) is None


def _hot_availability_query(_: None, query: str) -> tuple[list[str], str | None] | None:
    """``request.args`` as werkzeug parses them, when ``_plain_query`` holds."""
    try:
        pairs = parse_qsl(
            query.encode("latin-1").decode(), keep_blank_values=True, errors="werkzeug.url_quote"
        )
    except UnicodeError:
        return None
    skus = [value for name, value in pairs if name == "sku"]
    warehouses = [value for name, value in pairs if name == "warehouse"]
    if len(warehouses) > 1:
        return None
    warehouse = warehouses[0] if warehouses else None
    names = len({name for name, _ in pairs})
    if not _plain_query(names, skus, warehouse) or not _storable("".join(skus) + (warehouse or "")):
        return None
    return skus, warehouse


def _hot_availability_basket(document: Any, _: str) -> tuple[list[str], str | None] | None:
    """The body ``AvailabilityRequestSchema`` takes as it is."""
    if type(document) is not dict or not document.keys() <= _BASKET_FIELDS:
        return None
    skus = document.get("skus")
    if (
        type(skus) is not list
        or not 0 < len(skus) <= _MAX_BASKET_SKUS
        or not all(type(sku) is str and len(sku) in _SKU_LENGTH for sku in skus)
    ):
        return None
    warehouse = document.get("warehouse")
    if "warehouse" in document and (
        type(warehouse) is not str or len(warehouse) not in _WAREHOUSE_LENGTH
    ):
        return None
    if not _storable("".join(skus) + (warehouse or "")):
        return None
    return skus, warehouse


@require(*STOREFRONT)
def _answer_availability(query: tuple[list[str], str | None]) -> Response:
    return _availability_response(*query)


_ORDER_FIELDS = frozenset({"order_ref", "lines", "ttl_seconds", "warehouse"})
_ORDER_REF_LENGTH = range(1, 65)
_ORDER_LINES = range(1, 501)
_LINE_QUANTITY = range(1, 1_000_001)


def _plain_order(document: dict[str, Any]) -> dict[str, Any] | None:
    """What ``ReservationCreateSchema`` loads from the common order (reference, lines, maybe a
    time to live and a warehouse), checked by its rules in one pass; None for anything else."""
    if not document.keys() <= _ORDER_FIELDS:
        return None
    order_ref, lines = document.get("order_ref"), document.get("lines")
    if type(order_ref) is not str or len(order_ref) not in _ORDER_REF_LENGTH:
        return None
    if type(lines) is not list or len(lines) not in _ORDER_LINES:
        return None
    loaded: dict[str, Any] = {"order_ref": order_ref, "lines": []}
    skus: set[str] = set()
    for line in lines:
        if type(line) is not dict or len(line) != 2:
            return None
        sku, quantity = line.get("sku"), line.get("quantity")
        if type(sku) is not str or len(sku) not in _SKU_LENGTH or sku in skus:
            return None
        if type(quantity) is not int or quantity not in _LINE_QUANTITY:
            return None
        skus.add(sku)
        loaded["lines"].append({"sku": sku, "quantity": quantity})
    if "ttl_seconds" in document:
        ttl = document["ttl_seconds"]
        if type(ttl) is not int or ttl < 1:
            return None
        loaded["ttl_seconds"] = ttl
    warehouse = document.get("warehouse", "")
    if "warehouse" in document:
        if type(warehouse) is not str or len(warehouse) not in _WAREHOUSE_LENGTH:
            return None
        loaded["warehouse"] = warehouse
    if not _storable(order_ref + warehouse + "".join(skus)):
        return None
    return loaded


def _hot_reservation(document: Any, _: str) -> dict[str, Any] | None:
    """The body as ``ReservationCreateSchema`` loads it, when it passes."""
    if type(document) is not dict:
        return None
    plain = _plain_order(document)
    if plain is not None:
        return plain
    if check_document(document):
        return None
    try:
        return _RESERVATION_REQUEST.load(document)  # type: ignore[no-any-return]
    except ValidationError:
        return None


@require(*STOREFRONT)
@idempotent(records_itself=True)
def _answer_reservation(data: dict[str, Any]) -> Response:
    return reservations.reserve_and_respond(current_principal(), data, _reservation_created)


HOT_ROUTES = (
    HotRoute("GET", f"{API_PREFIX}/availability", _hot_availability_query, _answer_availability),
    HotRoute("POST", f"{API_PREFIX}/availability", _hot_availability_basket, _answer_availability),
    HotRoute("POST", f"{API_PREFIX}/reservations", _hot_reservation, _answer_reservation),
)


@storefront.route("/reservations/<bigint:reservation_id>")
class ReservationItem(MethodView):
    @require(*STOREFRONT)
    @storefront.response(200, ReservationSchema)
    @storefront.alt_response(404, response="NOT_FOUND")
    def get(self, reservation_id: int) -> Any:
        """A reservation; `status` reads `expired` from the moment `expires_at` has passed."""
        return reservations.get_reservation(reservation_id, current_principal())


@storefront.route("/reservations/<bigint:reservation_id>/commit")
class ReservationCommit(MethodView):
    @require(*STOREFRONT)
    @idempotent
    @storefront.response(200, ReservationSchema)
    @storefront.alt_response(404, response="NOT_FOUND")
    @storefront.alt_response(409, response="CONFLICT", description="no longer active")
    def post(self, reservation_id: int) -> Any:
        """The order is paid: the held units leave stock as issue movements."""
        return reservations.commit_reservation(current_principal(), reservation_id)


@storefront.route("/reservations/<bigint:reservation_id>/release")
class ReservationRelease(MethodView):
    @require(*STOREFRONT)
    @idempotent
    @storefront.response(200, ReservationSchema)
    @storefront.alt_response(404, response="NOT_FOUND")
    @storefront.alt_response(409, response="CONFLICT", description="no longer active")
    def post(self, reservation_id: int) -> Any:
        """The order was abandoned: the units are available again."""
        return reservations.release_reservation(current_principal(), reservation_id)


@storefront.route("/reservations/<bigint:reservation_id>/extend")
class ReservationExtend(MethodView):
    @require(*STOREFRONT)
    @idempotent
    @storefront.arguments(ReservationExtendSchema)
    @storefront.response(200, ReservationSchema)
    @storefront.alt_response(404, response="NOT_FOUND")
    @storefront.alt_response(409, response="CONFLICT", description="no longer active")
    def post(self, data: dict[str, Any], reservation_id: int) -> Any:
        """Keep an active hold longer, `ttl_seconds` from now (a payment still in progress)."""
        return reservations.extend_reservation(
            current_principal(), reservation_id, data["ttl_seconds"]
        )
