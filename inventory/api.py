"""Catalog and stock API: parse, call the use case, serialise."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from flask import Response, current_app, request, url_for
from flask.views import MethodView
from marshmallow import ValidationError

from accounts.auth import current_principal, require
from core.api import Blueprint, PageArgs, page_of
from core.idempotency import idempotent
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


def _availability_response(items: list[dict[str, Any]]) -> Response:
    """The hottest response of the service: plain dicts straight to JSON, no schema dump.

    The items are built by ``reservations.availability`` in exactly ``AvailabilitySchema``'s
    shape (ints, bools and strings only), which documents them.
    """
    return current_app.response_class(
        json.dumps({"items": items}, separators=(",", ":")), mimetype="application/json"
    )


_AVAILABILITY_QUERY = AvailabilityQuerySchema()


def _availability_query() -> dict[str, Any]:
    """The query string through ``AvailabilityQuerySchema``, without webargs' machinery.

    On the hottest GET, webargs' per-request set-up costs several times the schema's own check;
    the rules and the 422 (fields named, unknown parameters refused) are the same.
    """
    raw = {k: request.args.getlist(k) if k == "sku" else request.args[k] for k in request.args}
    try:
        return _AVAILABILITY_QUERY.load(raw)  # type: ignore[no-any-return]
    except ValidationError as error:
        raise Invalid(
            "The request did not pass validation; see errors for each field.",
            errors=error.normalized_messages(),
        )


@storefront.route("/availability")
class Availability(MethodView):
    @require(*STOREFRONT)
    @storefront.doc(parameters=[{"in": "query", "schema": AvailabilityQuerySchema}])
    @storefront.response(200, AvailabilitySchema)
    @storefront.alt_response(422, response="UNPROCESSABLE_CONTENT")
    def get(self) -> Any:
        """Units available now per sku, in total and per warehouse; unknown skus have 0."""
        args = _availability_query()
        return _availability_response(reservations.availability(args["sku"], args.get("warehouse")))

    @require(*STOREFRONT)
    @storefront.arguments(AvailabilityRequestSchema)
    @storefront.response(200, AvailabilitySchema)
    def post(self, data: dict[str, Any]) -> Any:
        """The same for a large basket: up to 1000 skus in the body."""
        return _availability_response(
            reservations.availability(data["skus"], data.get("warehouse"))
        )


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
    response = current_app.response_class(
        json.dumps(view, separators=(",", ":"), default=_iso),
        status=201,
        mimetype="application/json",
    )
    response.headers["Location"] = url_for("storefront.ReservationItem", reservation_id=view["id"])
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
