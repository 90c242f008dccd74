"""Catalog and stock API: parse, call the use case, serialise."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from accounts.auth import current_principal, require
from core.api import Blueprint, PageArgs, page_of
from inventory import services
from inventory.schemas import (
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
    StockQuerySchema,
    WarehouseCreateSchema,
    WarehousePatchSchema,
    WarehouseSchema,
)

catalog = Blueprint("catalog", __name__, description="Products and warehouses.")
stock = Blueprint("stock", __name__, description="Stock levels, the ledger and cycle counts.")

WRITE_STOCK = ("warehouse",)


@catalog.route("/products")
class Products(MethodView):
    @require()
    @catalog.arguments(ProductQuerySchema, location="query")
    @catalog.response(200, page_of(ProductSchema))
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Products by sku; `q` searches sku and name."""
        items, next_cursor = services.list_products(args)
        return {"items": items, "next_cursor": next_cursor}

    @require("admin")
    @catalog.arguments(ProductCreateSchema)
    @catalog.response(201, ProductSchema)
    @catalog.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any]) -> Any:
        """Add a product to the catalog (admin)."""
        return services.create_product(current_principal(), data)


@catalog.route("/products/<sku>")
class ProductItem(MethodView):
    @require()
    @catalog.response(200, ProductSchema)
    @catalog.alt_response(404, response="NOT_FOUND")
    def get(self, sku: str) -> Any:
        return services.get_product(sku)

    @require("admin")
    @catalog.arguments(ProductPatchSchema)
    @catalog.response(200, ProductSchema)
    @catalog.alt_response(404, response="NOT_FOUND")
    def patch(self, changes: dict[str, Any], sku: str) -> Any:
        """Change a product's details (admin); the sku never changes."""
        return services.update_product(current_principal(), sku, changes)


@catalog.route("/warehouses")
class Warehouses(MethodView):
    @require()
    @catalog.arguments(PageArgs, location="query")
    @catalog.response(200, page_of(WarehouseSchema))
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        items, next_cursor = services.list_warehouses(args)
        return {"items": items, "next_cursor": next_cursor}

    @require("admin")
    @catalog.arguments(WarehouseCreateSchema)
    @catalog.response(201, WarehouseSchema)
    @catalog.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any]) -> Any:
        """Open a warehouse (admin)."""
        return services.create_warehouse(current_principal(), data)


@catalog.route("/warehouses/<code>")
class WarehouseItem(MethodView):
    @require()
    @catalog.response(200, WarehouseSchema)
    @catalog.alt_response(404, response="NOT_FOUND")
    def get(self, code: str) -> Any:
        return services.get_warehouse(code)

    @require("admin")
    @catalog.arguments(WarehousePatchSchema)
    @catalog.response(200, WarehouseSchema)
    @catalog.alt_response(404, response="NOT_FOUND")
    @catalog.alt_response(409, response="CONFLICT")
    def patch(self, changes: dict[str, Any], code: str) -> Any:
        """Change a warehouse (admin), e.g. whether it may go below zero."""
        return services.update_warehouse(current_principal(), code, changes)


@stock.route("/stock")
class StockLevels(MethodView):
    @require()
    @stock.arguments(StockQuerySchema, location="query")
    @stock.response(200, page_of(LevelSchema))
    @stock.alt_response(404, response="NOT_FOUND")
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """On hand, reserved, available and incoming per sku and warehouse."""
        items, next_cursor = services.stock_levels(args)
        return {"items": items, "next_cursor": next_cursor}


@stock.route("/stock/movements")
class Movements(MethodView):
    @require()
    @stock.arguments(MovementQuerySchema, location="query")
    @stock.response(200, page_of(MovementSchema))
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The ledger, newest first; quantities are signed so they sum to on hand."""
        items, next_cursor = services.list_movements(args)
        return {"items": items, "next_cursor": next_cursor}

    @require(*WRITE_STOCK)
    @stock.arguments(MovementCreateSchema)
    @stock.response(201, MovementResultSchema)
    @stock.alt_response(403, response="FORBIDDEN")
    @stock.alt_response(409, response="CONFLICT", description="would take available below zero")
    def post(self, data: dict[str, Any]) -> Any:
        """Post a receipt, issue, adjustment (reason required) or transfer."""
        return services.post_movement(current_principal(), data)


@stock.route("/stock/counts")
class Counts(MethodView):
    @require(*WRITE_STOCK)
    @stock.arguments(CountCreateSchema)
    @stock.response(201, CountSchema)
    @stock.alt_response(403, response="FORBIDDEN")
    @stock.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any]) -> Any:
        """Record a cycle count; one adjustment per line whose count differs from on hand."""
        return _count_view(services.post_count(current_principal(), data))


@stock.route("/stock/counts/<int:count_id>")
class CountItem(MethodView):
    @require()
    @stock.response(200, CountSchema)
    @stock.alt_response(404, response="NOT_FOUND")
    def get(self, count_id: int) -> Any:
        return _count_view(services.get_count(count_id))


def _count_view(outcome: services.CountOutcome) -> dict[str, Any]:
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
