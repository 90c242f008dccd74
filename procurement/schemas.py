"""Request validation and response shapes of the procurement API."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from core.api import PageArgs, Schema
from core.i18n import N_
from inventory.schemas import CODE, CURRENCY
from procurement.models import SUPPLIER_STATUSES
from procurement.orders.workflow import PO_STATUSES

PRICE: dict[str, Any] = {"as_string": True, "allow_nan": False, "validate": validate.Range(min=0)}
REASON = validate.Length(max=2000)


def _money(places: int = 4, **kw: Any) -> fields.Decimal:
    return fields.Decimal(as_string=True, places=places, **kw)


# --- suppliers ------------------------------------------------------------------------------------


class SupplierBaseSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    currency = fields.String(validate=CURRENCY)
    default_lead_time_days = fields.Integer(strict=True, validate=validate.Range(min=0, max=730))


class SupplierCreateSchema(SupplierBaseSchema):
    code = fields.String(required=True, validate=[validate.Length(min=1, max=32), CODE])
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    default_lead_time_days = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, max=730)
    )


class SupplierPatchSchema(SupplierBaseSchema):
    """Details only; the status changes through approve, suspend and block."""


class SupplierEventSchema(Schema):
    kind = fields.String()
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    reason = fields.String(allow_none=True)
    actor = fields.String()
    at = fields.DateTime()


class SupplierSchema(Schema):
    code = fields.String()
    name = fields.String()
    email = fields.String(allow_none=True)
    currency = fields.String()
    default_lead_time_days = fields.Integer()
    status = fields.String(metadata={"enum": list(SUPPLIER_STATUSES)})
    status_reason = fields.String(allow_none=True)
    status_changed_by = fields.String(allow_none=True)
    status_changed_at = fields.DateTime(allow_none=True)
    grade = fields.String(
        allow_none=True, metadata={"description": "A-D from the last scoring; null without orders"}
    )
    score = fields.Float(allow_none=True)
    graded_at = fields.DateTime(allow_none=True)
    flagged_for_review = fields.Boolean()
    flag_reason = fields.String(allow_none=True)
    flagged_at = fields.DateTime(allow_none=True)
    created_by = fields.String()
    created_at = fields.DateTime()


class SupplierDetailSchema(SupplierSchema):
    events = fields.List(fields.Nested(SupplierEventSchema))


class SupplierQuerySchema(PageArgs):
    status = fields.String(validate=validate.OneOf(SUPPLIER_STATUSES))
    grade = fields.String(validate=validate.OneOf(("A", "B", "C", "D")))
    flagged = fields.Boolean(metadata={"description": "only suppliers flagged for review"})
    q = fields.String(metadata={"description": "matches code or name, case-insensitive"})


class ReasonSchema(Schema):
    reason = fields.String(allow_none=True, validate=REASON)


class RequiredReasonSchema(Schema):
    reason = fields.String(required=True, validate=[validate.Length(min=1), REASON])


# --- price lists ----------------------------------------------------------------------------------


class PriceBreakSchema(Schema):
    min_quantity = fields.Integer(required=True, strict=True, validate=validate.Range(min=2))
    unit_price = fields.Decimal(required=True, **PRICE)


class SupplierItemBaseSchema(Schema):
    supplier_sku = fields.String(allow_none=True, validate=validate.Length(max=64))
    unit_price = fields.Decimal(**PRICE)
    currency = fields.String(validate=CURRENCY)
    moq = fields.Integer(strict=True, validate=validate.Range(min=1))
    pack_size = fields.Integer(strict=True, validate=validate.Range(min=1))
    lead_time_days = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=0, max=730)
    )
    price_breaks = fields.List(fields.Nested(PriceBreakSchema), validate=validate.Length(max=20))


class SupplierItemCreateSchema(SupplierItemBaseSchema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    unit_price = fields.Decimal(required=True, **PRICE)


class SupplierItemPatchSchema(SupplierItemBaseSchema):
    active = fields.Boolean()


class PriceBreakOutSchema(Schema):
    min_quantity = fields.Integer()
    unit_price = _money()


class SupplierItemSchema(Schema):
    supplier = fields.Function(lambda i: i.supplier.code)
    sku = fields.Function(lambda i: i.product.sku)
    name = fields.Function(lambda i: i.product.name)
    supplier_sku = fields.String(allow_none=True)
    unit_price = _money()
    currency = fields.String()
    moq = fields.Integer()
    pack_size = fields.Integer()
    lead_time_days = fields.Integer(
        allow_none=True, metadata={"description": "null: the supplier's default lead time"}
    )
    active = fields.Boolean()
    price_breaks = fields.List(fields.Nested(PriceBreakOutSchema))
    updated_at = fields.DateTime()


class SupplierItemQuerySchema(PageArgs):
    sku = fields.String()
    include_inactive = fields.Boolean(load_default=False)


class SupplierImportResultSchema(Schema):
    rows = fields.Integer()
    created = fields.Integer()
    updated = fields.Integer()


# --- scorecards -----------------------------------------------------------------------------------


class ScorecardQuerySchema(Schema):
    days = fields.Integer(
        validate=validate.Range(min=1, max=3650),
        metadata={"description": "window ending today; default SCORECARD_DAYS (365)"},
    )
    quarters = fields.Integer(
        load_default=8,
        validate=validate.Range(min=0, max=20),
        metadata={"description": "calendar quarters in the trend, the current one last"},
    )


class _Figures(Schema):
    start = fields.Date()
    end = fields.Date()
    orders_counted = fields.Integer(
        metadata={"description": "settled orders in the period; 0 means no score, not a bad one"}
    )
    on_time_rate = fields.Float(allow_none=True)
    in_full_rate = fields.Float(allow_none=True)
    reject_rate = fields.Float(allow_none=True)
    lead_time_mean_days = fields.Float(allow_none=True)
    lead_time_std_days = fields.Float(allow_none=True)
    price_index = fields.Float(
        allow_none=True,
        metadata={"description": "price relative to other suppliers' median; 1.0 = at market"},
    )
    units_delivered = fields.Integer()
    components = fields.Dict(
        keys=fields.String(),
        values=fields.Float(),
        metadata={"description": "each measured part of the score on 0-100"},
    )
    score = fields.Float(allow_none=True)
    grade = fields.String(allow_none=True)
    deliveries = fields.Integer(
        metadata={"description": "receipts of the counted orders, behind the reject rate"}
    )
    lead_time_orders = fields.Integer(
        metadata={"description": "counted orders complete enough to have a lead time"}
    )
    priced_items = fields.Integer(
        metadata={"description": "items priced against other approved suppliers (price index)"}
    )


class TrendPointSchema(_Figures):
    quarter = fields.String(metadata={"description": "e.g. 2026-Q3"})


class ScorecardSchema(_Figures):
    supplier = fields.String()
    days = fields.Integer()
    flagged_for_review = fields.Boolean()
    trend = fields.List(fields.Nested(TrendPointSchema))


class ScorecardCompareQuerySchema(Schema):
    supplier = fields.List(
        fields.String(validate=validate.Length(min=1, max=32)),
        load_default=list,
        metadata={"description": "repeat for each supplier: 2 to 4 of them"},
    )
    sku = fields.String(
        validate=validate.Length(min=1, max=64),
        metadata={
            "description": "an item: without suppliers, every approved supplier listing it; "
            "either way, each supplier's price for it"
        },
    )
    days = fields.Integer(
        validate=validate.Range(min=1, max=3650),
        metadata={"description": "window ending today; default SCORECARD_DAYS (365)"},
    )

    @validates_schema
    def _two_to_four(self, data: dict[str, Any], **_: Any) -> None:
        codes = data.get("supplier") or []
        if len(set(codes)) != len(codes):
            raise ValidationError(N_("A supplier is picked twice."), "supplier")
        if codes and not 2 <= len(codes) <= 4:
            raise ValidationError(N_("Pick 2 to 4 suppliers."), "supplier")
        if not codes and not data.get("sku"):
            raise ValidationError(
                N_("Pick 2 to 4 suppliers, or an item to compare every approved supplier of it."),
                "supplier",
            )


class OfferSchema(Schema):
    unit_price = _money()
    currency = fields.String()
    moq = fields.Integer()
    pack_size = fields.Integer()
    lead_time_days = fields.Integer()


class ComparedSupplierSchema(_Figures):
    supplier = fields.String()
    name = fields.String()
    status = fields.String()
    offer = fields.Nested(
        OfferSchema, allow_none=True, metadata={"description": "its price list line for sku"}
    )


class ScorecardComparisonSchema(Schema):
    sku = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    days = fields.Integer()
    suppliers = fields.List(fields.Nested(ComparedSupplierSchema))
    best = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "figure -> suppliers holding its best value (ties: several)"},
    )
    mixed_currencies = fields.Boolean(
        metadata={"description": "unit prices in several currencies, so not ranked"}
    )


# --- purchase orders ------------------------------------------------------------------------------


class OrderLineInSchema(Schema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    unit_price = fields.Decimal(
        allow_none=True,
        metadata={"description": "omit to take the price list's price (breaks applied)"},
        **PRICE,
    )


LINES: dict[str, Any] = {"validate": validate.Length(min=1, max=500)}


class OrderCreateSchema(Schema):
    supplier = fields.String(required=True, validate=validate.Length(min=1, max=32))
    warehouse = fields.String(required=True, validate=validate.Length(min=1, max=32))
    lines = fields.List(fields.Nested(OrderLineInSchema), required=True, **LINES)
    expected_date = fields.Date(
        allow_none=True, metadata={"description": "default: sending date + lead time"}
    )
    notes = fields.String(allow_none=True, validate=validate.Length(max=4000))


class OrderPatchSchema(Schema):
    warehouse = fields.String(validate=validate.Length(min=1, max=32))
    lines = fields.List(fields.Nested(OrderLineInSchema), **LINES)
    expected_date = fields.Date(allow_none=True)
    notes = fields.String(allow_none=True, validate=validate.Length(max=4000))


class OrderLineSchema(Schema):
    line_no = fields.Integer()
    sku = fields.Function(lambda line: line.product.sku)
    name = fields.Function(lambda line: line.product.name)
    quantity = fields.Integer()
    unit_price = _money()
    list_price = _money(allow_none=True)
    price_source = fields.String(metadata={"enum": ["list", "manual"]})
    amount = _money(2)
    accepted = fields.Integer()
    rejected = fields.Integer()
    outstanding = fields.Integer(
        metadata={"description": "still owed: ordered - accepted (rejected units stay owed)"}
    )


class ApprovalSchema(Schema):
    approver = fields.String()
    decision = fields.String(metadata={"enum": ["approved", "rejected"]})
    reason = fields.String(allow_none=True)
    order_version = fields.Integer(metadata={"description": "the version the approver decided on"})
    at = fields.DateTime()


class ReceiptLineSchema(Schema):
    sku = fields.Function(lambda rl: rl.order_line.product.sku)
    accepted = fields.Integer()
    rejected = fields.Integer()
    reject_reason = fields.String(allow_none=True)
    movement_id = fields.Integer(allow_none=True)


class OrderReceiptSchema(Schema):
    id = fields.Integer()
    received_at = fields.DateTime()
    received_by = fields.String()
    note = fields.String(allow_none=True)
    created_at = fields.DateTime()
    lines = fields.List(fields.Nested(ReceiptLineSchema))


class ReceiptSchema(OrderReceiptSchema):
    purchase_order = fields.Function(lambda r: r.order.number)
    status = fields.Function(
        lambda r: r.order.status, metadata={"description": "the order's status after this receipt"}
    )


class OrderSchema(Schema):
    id = fields.Integer()
    number = fields.String(metadata={"description": "PO-000123; the ledger's reference"})
    status = fields.String(metadata={"enum": list(PO_STATUSES)})
    supplier = fields.Function(lambda po: po.supplier.code)
    supplier_name = fields.Function(lambda po: po.supplier.name)
    warehouse = fields.Function(lambda po: po.warehouse.code)
    currency = fields.String()
    total = _money(2)
    expected_date = fields.Date(allow_none=True)
    notes = fields.String(allow_none=True)
    approvals_required = fields.Integer()
    approvals = fields.List(fields.Nested(ApprovalSchema))
    status_reason = fields.String(allow_none=True)
    created_by = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    submitted_at = fields.DateTime(allow_none=True)
    approved_at = fields.DateTime(allow_none=True)
    rejected_at = fields.DateTime(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    received_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    cancelled_at = fields.DateTime(allow_none=True)
    version = fields.Integer(metadata={"description": "also the ETag; send it as If-Match"})
    lines = fields.List(fields.Nested(OrderLineSchema))
    receipts = fields.List(fields.Nested(OrderReceiptSchema))


class OrderQuerySchema(PageArgs):
    status = fields.List(
        fields.String(validate=validate.OneOf(PO_STATUSES)),
        metadata={"description": "repeat for several"},
    )
    supplier = fields.String()
    warehouse = fields.String()
    created_by = fields.String()
    awaiting_my_approval = fields.Boolean(
        metadata={"description": "pending orders the caller may still approve"}
    )


class ApproveSchema(Schema):
    reason = fields.String(allow_none=True, validate=REASON)


class ReceiptLineInSchema(Schema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    accepted = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    rejected = fields.Integer(load_default=0, strict=True, validate=validate.Range(min=0))
    reject_reason = fields.String(allow_none=True, validate=REASON)

    @validates_schema
    def _something_delivered(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("accepted", 0) + data.get("rejected", 0) <= 0:
            raise ValidationError(
                "A receipt line accepts or rejects at least one unit.", "accepted"
            )


class ReceiptCreateSchema(Schema):
    lines = fields.List(fields.Nested(ReceiptLineInSchema), required=True, **LINES)
    received_at = fields.AwareDateTime(
        default_timezone=UTC,
        metadata={"description": "when the goods arrived (ISO 8601); default now"},
    )
    note = fields.String(allow_none=True, validate=REASON)


class LineComparisonSchema(Schema):
    sku = fields.String()
    quantity = fields.Integer()
    unit_price = _money()
    list_price = _money(allow_none=True)
    market_median = _money(allow_none=True)
    cheapest = _money(allow_none=True)
    cheapest_supplier = fields.String(allow_none=True)
    alternatives = fields.Integer()
    vs_market = fields.Float(allow_none=True)


class PriceCheckSchema(Schema):
    index = fields.Float(
        allow_none=True,
        metadata={"description": "order cost / the same lines at other suppliers' median"},
    )
    lines = fields.List(fields.Nested(LineComparisonSchema))
