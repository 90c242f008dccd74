"""Procurement API: suppliers, price lists, scorecards, purchase orders and receipts.

Parse -> call the use case -> serialise. Roles are checked here (403 before 422) and again in
the use cases, which also hold the rules a role alone cannot express (the creator of an order
never approves it; warehouse staff receive only in their warehouses).
"""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView

from accounts.auth import current_principal, require
from core.api import Blueprint, page_of
from core.csv_rows import CSV_BODY, uploaded_text
from core.idempotency import idempotent
from core.problems import Problem
from procurement import scorecards, suppliers
from procurement.models import PurchaseOrder
from procurement.orders import price_check, receiving, transitions, writing
from procurement.schemas import (
    ApproveSchema,
    OrderCreateSchema,
    OrderPatchSchema,
    OrderQuerySchema,
    OrderSchema,
    PriceCheckSchema,
    ReasonSchema,
    ReceiptCreateSchema,
    ReceiptSchema,
    RequiredReasonSchema,
    ScorecardCompareQuerySchema,
    ScorecardComparisonSchema,
    ScorecardQuerySchema,
    ScorecardSchema,
    SupplierCreateSchema,
    SupplierDetailSchema,
    SupplierImportResultSchema,
    SupplierItemCreateSchema,
    SupplierItemPatchSchema,
    SupplierItemQuerySchema,
    SupplierItemSchema,
    SupplierPatchSchema,
    SupplierQuerySchema,
    SupplierSchema,
)
from procurement.suppliers import csv_import

blp = Blueprint(
    "suppliers",
    __name__,
    description="Suppliers, their price lists and scorecards. Storefront tokens have no access.",
)
po_blp = Blueprint(
    "purchase_orders",
    __name__,
    description=(
        "Purchase orders: draft -> pending_approval -> approved | rejected -> sent -> "
        "partially_received -> received -> closed; cancelled before the first receipt."
    ),
)

#: Everyone but the storefront may read procurement data.
READERS = ("warehouse", "buyer", "approver", "planner", "viewer")
BUYER = ("buyer",)
APPROVER = ("approver",)
WAREHOUSE = ("warehouse",)

ETAG_HEADER = {
    "ETag": {
        "description": "the order's version; send it back as If-Match",
        "schema": {"type": "string"},
    }
}
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "ETag of the order as read; a stale one gets 412",
    "schema": {"type": "string"},
}
IF_MATCH_REQUIRED = {
    **IF_MATCH,
    "required": True,
    "description": "ETag of the order as read (GET); missing -> 428, stale -> 412",
}
IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "ETag of a copy you hold; 304 if the order has not changed",
    "schema": {"type": "string"},
}
# --- ETags ----------------------------------------------------------------------------------------


def etag(po: PurchaseOrder) -> str:
    return f'"v{po.version}"'


def with_etag(po: PurchaseOrder, status: int | None = None) -> Any:
    headers = {"ETag": etag(po)}
    return (po, status, headers) if status else (po, headers)


def if_match(required: bool = False) -> frozenset[int] | None:
    """Versions named by If-Match; None when absent (or ``*``). Weak tags never match."""
    header = request.headers.get("If-Match")
    if not header:
        if required:
            raise Problem(
                "Send If-Match with the ETag from reading the order; edits on a stale copy "
                "are refused.",
                status=428,
                slug="precondition-required",
            )
        return None
    tags = request.if_match
    if tags.star_tag:
        return None
    versions = set()
    for tag in tags.as_set(include_weak=False):
        if tag and tag.startswith("v") and tag[1:].isdigit():
            versions.add(int(tag[1:]))
    return frozenset(versions)


def not_modified(po: PurchaseOrder) -> bool:
    return etag(po).strip('"') in request.if_none_match


# --- suppliers ------------------------------------------------------------------------------------


@blp.route("/suppliers")
class Suppliers(MethodView):
    @require(*READERS)
    @blp.arguments(SupplierQuerySchema, location="query")
    @blp.response(200, page_of(SupplierSchema))
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Suppliers by code, with the grade of their last scoring."""
        items, next_cursor = suppliers.list_suppliers(args)
        return {"items": items, "next_cursor": next_cursor}

    @require(*BUYER)
    @blp.arguments(SupplierCreateSchema)
    @blp.response(201, SupplierSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any]) -> Any:
        """Register a supplier (buyer); it starts as a candidate."""
        return suppliers.create_supplier(current_principal(), data)


@blp.route("/suppliers/import")
class SupplierImport(MethodView):
    @require(*BUYER)
    @blp.doc(requestBody=CSV_BODY)
    @blp.response(201, SupplierImportResultSchema)
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="errors keyed `row N`")
    def post(self) -> Any:
        """Create suppliers from CSV `code,name,email,currency,default_lead_time_days`.

        All or nothing: any bad row -> 422 with every bad row in `errors` ("row 2" is the first
        row after the header), and nothing is created.
        """
        principal = current_principal()
        rows = csv_import.parse(uploaded_text(), csv_import.SupplierRow)
        return suppliers.import_suppliers(principal, rows)


@blp.route("/suppliers/<code>")
class SupplierItem(MethodView):
    @require(*READERS)
    @blp.response(200, SupplierDetailSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, code: str) -> Any:
        """A supplier with the history of its standing (who changed it, when, why)."""
        return suppliers.get_supplier(code)

    @require(*BUYER)
    @blp.arguments(SupplierPatchSchema)
    @blp.response(200, SupplierSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def patch(self, changes: dict[str, Any], code: str) -> Any:
        """Change a supplier's details (buyer)."""
        return suppliers.update_supplier(current_principal(), code, changes)


def _status_view(action: str, schema: type, doc: str) -> type[MethodView]:
    @require(*APPROVER)
    @blp.arguments(schema)
    @blp.response(200, SupplierSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="not allowed from its status")
    def post(self: MethodView, data: dict[str, Any], code: str) -> Any:
        return suppliers.change_status(current_principal(), code, action, data.get("reason"))

    post.__doc__ = doc
    return type(f"Supplier{action.title()}", (MethodView,), {"post": post})


blp.route("/suppliers/<code>/approve")(
    _status_view(
        "approve",
        ReasonSchema,
        "Admit a candidate, or reinstate a suspended supplier (approver).",
    )
)
blp.route("/suppliers/<code>/suspend")(
    _status_view(
        "suspend", RequiredReasonSchema, "Stop new orders to an approved supplier (approver)."
    )
)
blp.route("/suppliers/<code>/block")(
    _status_view("block", RequiredReasonSchema, "Refuse a supplier for good (approver).")
)


@blp.route("/suppliers/<code>/review")
class SupplierReview(MethodView):
    @require(*APPROVER)
    @blp.arguments(RequiredReasonSchema)
    @blp.response(200, SupplierSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT", description="not flagged")
    def post(self, data: dict[str, Any], code: str) -> Any:
        """Record the review of a supplier its scorecard flagged (approver); lowers the flag."""
        return suppliers.review(current_principal(), code, data["reason"])


@blp.route("/suppliers/<code>/items")
class SupplierItems(MethodView):
    @require(*READERS)
    @blp.arguments(SupplierItemQuerySchema, location="query")
    @blp.response(200, page_of(SupplierItemSchema))
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args: dict[str, Any], code: str) -> dict[str, Any]:
        """The supplier's price list by sku."""
        items, next_cursor = suppliers.list_items(code, args)
        return {"items": items, "next_cursor": next_cursor}

    @require(*BUYER)
    @blp.arguments(SupplierItemCreateSchema)
    @blp.response(201, SupplierItemSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, data: dict[str, Any], code: str) -> Any:
        """Add an item to the price list (buyer); price breaks must lower the unit price."""
        return suppliers.add_item(current_principal(), code, data)


@blp.route("/suppliers/<code>/items/import")
class SupplierItemImport(MethodView):
    @require(*BUYER)
    @blp.doc(requestBody=CSV_BODY)
    @blp.response(201, SupplierImportResultSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="errors keyed `row N`")
    def post(self, code: str) -> Any:
        """Create or replace this supplier's price list lines from CSV (buyer).

        Columns `sku,unit_price` and optionally `supplier_sku,currency,moq,pack_size,
        lead_time_days,price_breaks` (e.g. `100:9.50;500:9.00`). All or nothing, as
        `/price-lists/import`.
        """
        principal = current_principal()
        suppliers.get_supplier(code)
        rows = csv_import.parse(uploaded_text(), csv_import.PriceListRow, fixed={"supplier": code})
        return suppliers.import_price_list(principal, rows)


@blp.route("/price-lists/import")
class PriceListImport(MethodView):
    @require(*BUYER)
    @blp.doc(requestBody=CSV_BODY)
    @blp.response(201, SupplierImportResultSchema)
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY", description="errors keyed `row N`")
    def post(self) -> Any:
        """Create or replace price list lines of several suppliers from CSV (buyer).

        Columns `supplier,sku,unit_price` and optionally `supplier_sku,currency,moq,pack_size,
        lead_time_days,price_breaks`. A row replaces the whole line: blank cells take their
        defaults. Any bad row -> 422 listing every bad row ("row 2" is the first after the
        header); nothing changes.
        """
        principal = current_principal()
        rows = csv_import.parse(uploaded_text(), csv_import.PriceListRow)
        return suppliers.import_price_list(principal, rows)


@blp.route("/suppliers/<code>/items/<sku>")
class SupplierItemDetail(MethodView):
    @require(*READERS)
    @blp.response(200, SupplierItemSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, code: str, sku: str) -> Any:
        return suppliers.get_item(code, sku)

    @require(*BUYER)
    @blp.arguments(SupplierItemPatchSchema)
    @blp.response(200, SupplierItemSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def patch(self, changes: dict[str, Any], code: str, sku: str) -> Any:
        """Change a price list line (buyer); `active: false` takes it off the list."""
        return suppliers.update_item(current_principal(), code, sku, changes)


@blp.route("/scorecards/compare")
class ScorecardComparison(MethodView):
    @require(*READERS)
    @blp.arguments(ScorecardCompareQuerySchema, location="query")
    @blp.response(200, ScorecardComparisonSchema)
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Suppliers' scorecards side by side, with the best value of each figure named.

        Name 2 to 4 suppliers (`supplier` repeated), or an item (`sku`) to compare every approved
        supplier listing it; with an item, each supplier's price for it is included.
        """
        comparison = scorecards.compare(args["supplier"], args.get("sku"), days=args.get("days"))
        return scorecards.comparison_view(comparison)


@blp.route("/suppliers/<code>/scorecard")
class Scorecard(MethodView):
    @require(*READERS)
    @blp.arguments(ScorecardQuerySchema, location="query")
    @blp.response(200, ScorecardSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args: dict[str, Any], code: str) -> dict[str, Any]:
        """On-time, in-full, reject rate, lead time, price index, score and grade.

        Computed from the orders settled in the last `days` days, with one entry per calendar
        quarter in `trend`. No settled orders -> `orders_counted: 0` and null score and grade;
        fewer than SCORECARD_MIN_ORDERS (3) -> a score but a null grade.
        """
        result = scorecards.scorecard_for(code, days=args.get("days"), quarters=args["quarters"])
        return {
            **scorecards.card_view(result.card),
            "supplier": result.supplier.code,
            "days": result.days,
            "flagged_for_review": result.supplier.flagged_for_review,
            "trend": [{"quarter": p.quarter, **scorecards.card_view(p.card)} for p in result.trend],
        }


# --- purchase orders ------------------------------------------------------------------------------


@po_blp.route("/purchase-orders")
class PurchaseOrders(MethodView):
    @require(*READERS)
    @po_blp.arguments(OrderQuerySchema, location="query")
    @po_blp.response(200, page_of(OrderSchema))
    @po_blp.alt_response(404, response="NOT_FOUND", description="unknown supplier")
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Orders, newest first."""
        items, next_cursor = writing.list_orders(args, current_principal())
        return {"items": items, "next_cursor": next_cursor}

    @require(*BUYER)
    @idempotent
    @po_blp.arguments(OrderCreateSchema)
    @po_blp.response(201, OrderSchema, headers=ETAG_HEADER)
    @po_blp.alt_response(409, response="CONFLICT", description="supplier not approved")
    @po_blp.alt_response(
        422, response="UNPROCESSABLE_ENTITY", description="MOQ, pack size or unknown items"
    )
    def post(self, data: dict[str, Any]) -> Any:
        """Write a draft order (buyer); prices come from the price list unless given."""
        return with_etag(writing.create_order(current_principal(), data), 201)


@po_blp.route("/purchase-orders/<po>")
class PurchaseOrderItem(MethodView):
    @require(*READERS)
    @po_blp.doc(parameters=[IF_NONE_MATCH])
    @po_blp.response(200, OrderSchema, headers=ETAG_HEADER)
    @po_blp.alt_response(404, response="NOT_FOUND")
    def get(self, po: str) -> Any:
        """An order by id (`123`) or number (`PO-000123`), with lines, approvals and receipts."""
        order = writing.get_order(po)
        if not_modified(order):
            return Response(status=304, headers={"ETag": etag(order)})
        return with_etag(order)

    @require(*BUYER)
    @po_blp.doc(parameters=[IF_MATCH_REQUIRED])
    @po_blp.arguments(OrderPatchSchema)
    @po_blp.response(200, OrderSchema, headers=ETAG_HEADER)
    @po_blp.alt_response(404, response="NOT_FOUND")
    @po_blp.alt_response(409, response="CONFLICT", description="not a draft")
    @po_blp.alt_response(412, response="PRECONDITION_FAILED", description="stale If-Match")
    @po_blp.alt_response(428, response="PRECONDITION_REQUIRED", description="no If-Match")
    def patch(self, changes: dict[str, Any], po: str) -> Any:
        """Edit a draft (buyer). `lines` replaces all lines. Needs If-Match."""
        versions = if_match(required=True)
        return with_etag(
            writing.update_order(current_principal(), po, changes, expected_version=versions)
        )


def _transition(
    action: str,
    roles: tuple[str, ...],
    schema: type,
    doc: str,
    run: Any,
    *,
    conflicts: str,
) -> type[MethodView]:
    @require(*roles)
    @idempotent
    @po_blp.doc(parameters=[IF_MATCH])
    @po_blp.arguments(schema)
    @po_blp.response(200, OrderSchema, headers=ETAG_HEADER)
    @po_blp.alt_response(403, response="FORBIDDEN")
    @po_blp.alt_response(404, response="NOT_FOUND")
    @po_blp.alt_response(409, response="CONFLICT", description=conflicts)
    @po_blp.alt_response(412, response="PRECONDITION_FAILED", description="stale If-Match")
    def post(self: MethodView, data: dict[str, Any], po: str) -> Any:
        return with_etag(run(current_principal(), po, data, if_match()))

    post.__doc__ = doc
    return type(f"Order{action.title()}", (MethodView,), {"post": post})


po_blp.route("/purchase-orders/<po>/submit")(
    _transition(
        "submit",
        BUYER,
        ReasonSchema,
        "Ask for approval (buyer); under the auto-approval limit the order is approved at once.",
        lambda p, po, d, v: transitions.submit(p, po, expected_version=v),
        conflicts="not a draft, or the supplier is not approved",
    )
)
po_blp.route("/purchase-orders/<po>/approve")(
    _transition(
        "approve",
        APPROVER,
        ApproveSchema,
        "Approve (approver). Never by the order's creator (403, admins included); above the "
        "second limit two different approvers must approve.",
        lambda p, po, d, v: transitions.approve(p, po, d.get("reason"), expected_version=v),
        conflicts="not pending approval",
    )
)
po_blp.route("/purchase-orders/<po>/reject")(
    _transition(
        "reject",
        APPROVER,
        RequiredReasonSchema,
        "Reject with a reason (approver; never the order's creator).",
        lambda p, po, d, v: transitions.reject(p, po, d["reason"], expected_version=v),
        conflicts="not pending approval",
    )
)
po_blp.route("/purchase-orders/<po>/send")(
    _transition(
        "send",
        BUYER,
        ReasonSchema,
        "Mark as sent to the supplier (buyer); dates it from the lead time if it has no date.",
        lambda p, po, d, v: transitions.send(p, po, expected_version=v),
        conflicts="not approved",
    )
)
po_blp.route("/purchase-orders/<po>/cancel")(
    _transition(
        "cancel",
        BUYER,
        ReasonSchema,
        "Cancel before the first receipt (buyer); its units stop counting as incoming.",
        lambda p, po, d, v: transitions.cancel(p, po, d.get("reason"), expected_version=v),
        conflicts="something was received already, or it is finished",
    )
)
po_blp.route("/purchase-orders/<po>/close")(
    _transition(
        "close",
        BUYER,
        ReasonSchema,
        "Close a received order, or close one short (reason required): what it still owes "
        "stops counting as incoming and counts against the supplier's in-full rate.",
        lambda p, po, d, v: transitions.close(p, po, d.get("reason"), expected_version=v),
        conflicts="nothing received yet",
    )
)


@po_blp.route("/purchase-orders/<po>/receipts")
class Receipts(MethodView):
    @require(*READERS)
    @po_blp.response(200, ReceiptSchema(many=True))
    @po_blp.alt_response(404, response="NOT_FOUND")
    def get(self, po: str) -> Any:
        """The order's receipts, oldest first."""
        return writing.get_order(po).receipts

    @require(*WAREHOUSE)
    @idempotent
    @po_blp.arguments(ReceiptCreateSchema)
    @po_blp.response(201, ReceiptSchema)
    @po_blp.alt_response(403, response="FORBIDDEN", description="not staff of its warehouse")
    @po_blp.alt_response(404, response="NOT_FOUND")
    @po_blp.alt_response(409, response="CONFLICT", description="more than outstanding, or not sent")
    def post(self, data: dict[str, Any], po: str) -> Any:
        """Receive a delivery (warehouse staff of the order's warehouse).

        Accepted units enter stock through the ledger (reference = the order's number);
        rejected units do not, and stay owed. More than a line still owes -> 409, nothing kept.
        """
        return receiving.receive(current_principal(), po, data)


@po_blp.route("/purchase-orders/<po>/price-check")
class PriceCheck(MethodView):
    @require(*READERS)
    @po_blp.response(200, PriceCheckSchema)
    @po_blp.alt_response(404, response="NOT_FOUND")
    def get(self, po: str) -> Any:
        """Each line's price against other approved suppliers' for the same quantity."""
        return price_check.get_price_check(po)
