"""Request validation and response shapes for the catalog and stock API."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from core.api import PageArgs, Schema
from core.i18n import N_

CODE = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
    error="Use letters, digits and . _ / - (starting with a letter or digit).",
)
CURRENCY = validate.Regexp(r"^[A-Z]{3}$", error="An ISO 4217 code such as CNY or EUR.")


# --- catalog --------------------------------------------------------------------------------------


class ProductBaseSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    category = fields.String(allow_none=True, validate=validate.Length(max=64))
    uom = fields.String(validate=validate.Length(min=1, max=16))
    unit_cost = fields.Decimal(allow_none=True, as_string=True, validate=validate.Range(min=0))
    currency = fields.String(validate=CURRENCY)
    weight_kg = fields.Decimal(
        allow_none=True,
        as_string=True,
        validate=validate.Range(min=0),
        metadata={"numeric": (10, 3)},
    )
    volume_m3 = fields.Decimal(
        allow_none=True,
        as_string=True,
        validate=validate.Range(min=0),
        metadata={"numeric": (12, 6)},
    )
    reorder_point = fields.Integer(
        allow_none=True,
        validate=validate.Range(min=0),
        metadata={
            "description": "units available at or below which the item is low in a warehouse"
        },
    )
    active = fields.Boolean()


class ProductCreateSchema(ProductBaseSchema):
    sku = fields.String(required=True, validate=[validate.Length(min=1, max=64), CODE])
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class ProductPatchSchema(ProductBaseSchema):
    """Every field optional; the sku is the product's identity and cannot change."""


class ProductSchema(Schema):
    sku = fields.String()
    name = fields.String()
    category = fields.String(allow_none=True)
    uom = fields.String()
    unit_cost = fields.Decimal(allow_none=True, as_string=True, places=4)
    currency = fields.String()
    weight_kg = fields.Float(allow_none=True)
    volume_m3 = fields.Float(allow_none=True)
    reorder_point = fields.Integer(allow_none=True)
    active = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ProductQuerySchema(PageArgs):
    q = fields.String(metadata={"description": "matches sku or name, case-insensitive"})
    category = fields.String()


class WarehouseBaseSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    latitude = fields.Float(allow_none=True, validate=validate.Range(min=-90, max=90))
    longitude = fields.Float(allow_none=True, validate=validate.Range(min=-180, max=180))
    allow_negative_stock = fields.Boolean()
    priority = fields.Integer(validate=validate.Range(min=0, max=10_000))
    active = fields.Boolean()


class WarehouseCreateSchema(WarehouseBaseSchema):
    code = fields.String(required=True, validate=[validate.Length(min=1, max=32), CODE])
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class WarehousePatchSchema(WarehouseBaseSchema):
    pass


class WarehouseSchema(Schema):
    code = fields.String()
    name = fields.String()
    latitude = fields.Float(allow_none=True)
    longitude = fields.Float(allow_none=True)
    allow_negative_stock = fields.Boolean()
    priority = fields.Integer()
    active = fields.Boolean()
    created_at = fields.DateTime()


# --- stock ----------------------------------------------------------------------------------------


class StockQuerySchema(PageArgs):
    sku = fields.String()
    warehouse = fields.String()


class LevelSchema(Schema):
    sku = fields.String()
    warehouse = fields.String()
    on_hand = fields.Integer()
    reserved = fields.Integer()
    available = fields.Integer()
    incoming = fields.Integer()
    over_reserved = fields.Boolean(
        metadata={"description": "a count found fewer units than are reserved"}
    )


MOVEMENT_REQUEST_TYPES = ("receipt", "issue", "adjustment", "transfer")


class MovementCreateSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf(MOVEMENT_REQUEST_TYPES))
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    warehouse = fields.String(required=True, validate=validate.Length(min=1, max=32))
    to_warehouse = fields.String(validate=validate.Length(min=1, max=32))
    quantity = fields.Integer(required=True, strict=True)
    reason = fields.String(validate=validate.Length(max=1000))
    reference = fields.String(validate=validate.Length(max=128))

    @validates_schema
    def _rules_of_each_type(self, data: dict[str, Any], **_: Any) -> None:
        kind, qty = data.get("type"), data.get("quantity")
        if kind is None or qty is None:
            return
        if kind == "adjustment":
            if qty == 0:
                raise ValidationError(N_("An adjustment must change stock (not 0)."), "quantity")
            if not (data.get("reason") or "").strip():
                raise ValidationError(N_("Say why stock is adjusted."), "reason")
        elif qty <= 0:
            raise ValidationError(f"A {kind} moves a positive quantity.", "quantity")
        if kind == "transfer":
            if not data.get("to_warehouse"):
                raise ValidationError(N_("A transfer needs a destination."), "to_warehouse")
            if data["to_warehouse"] == data.get("warehouse"):
                raise ValidationError(N_("Source and destination are the same."), "to_warehouse")
        elif "to_warehouse" in data:
            raise ValidationError(N_("Only transfers have a destination."), "to_warehouse")


class MovementSchema(Schema):
    id = fields.Integer()
    type = fields.String()
    sku = fields.String()
    warehouse = fields.String()
    quantity = fields.Integer(metadata={"description": "signed: + into stock, - out of stock"})
    on_hand_after = fields.Integer()
    reason = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)
    transfer_id = fields.String(allow_none=True)
    actor = fields.String()
    created_at = fields.DateTime()
    occurred_at = fields.DateTime()


class MovementResultSchema(Schema):
    movements = fields.List(fields.Nested(MovementSchema))
    levels = fields.List(fields.Nested(LevelSchema))


class MovementQuerySchema(PageArgs):
    sku = fields.String()
    warehouse = fields.String()
    type = fields.String(
        validate=validate.OneOf(("receipt", "issue", "adjustment", "transfer_out", "transfer_in"))
    )
    reference = fields.String()
    since = fields.AwareDateTime(
        default_timezone=UTC,
        metadata={"description": "ISO 8601 with offset; movements at or after"},
    )


class CountLineSchema(Schema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    counted = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))


class CountCreateSchema(Schema):
    warehouse = fields.String(required=True, validate=validate.Length(min=1, max=32))
    reason = fields.String(validate=validate.Length(max=1000))
    lines = fields.List(
        fields.Nested(CountLineSchema), required=True, validate=validate.Length(min=1, max=5000)
    )

    @validates_schema
    def _one_line_per_sku(self, data: dict[str, Any], **_: Any) -> None:
        seen: set[str] = set()
        for i, line in enumerate(data.get("lines", [])):
            if line["sku"] in seen:
                raise ValidationError(
                    {str(i): {"sku": [N_("Counted twice in one count.")]}}, "lines"
                )
            seen.add(line["sku"])


class CountLineOutSchema(Schema):
    sku = fields.String()
    counted = fields.Integer()
    on_hand_before = fields.Integer()
    difference = fields.Integer()
    movement_id = fields.Integer(allow_none=True)


class CountSchema(Schema):
    id = fields.Integer()
    warehouse = fields.String()
    reason = fields.String(allow_none=True)
    actor = fields.String()
    created_at = fields.DateTime()
    lines = fields.List(fields.Nested(CountLineOutSchema))
    movements = fields.List(fields.Nested(MovementSchema))
    levels = fields.List(fields.Nested(LevelSchema))


# --- storefront: availability and reservations ----------------------------------------------------

SKU = validate.Length(min=1, max=64)


class SkuList(fields.List):
    """A list of skus checked in one pass: a 1,000-sku basket is the storefront's largest request,
    and validating it item by item through marshmallow costs more than answering it."""

    def __init__(self, *, max_items: int, **kwargs: Any) -> None:
        super().__init__(fields.String(), validate=validate.Length(min=1, max=max_items), **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[Any]:
        if not isinstance(value, list):
            raise ValidationError("Not a valid list.")
        bad = [
            i for i, sku in enumerate(value) if not isinstance(sku, str) or not 1 <= len(sku) <= 64
        ]
        if bad:
            raise ValidationError({i: ["A sku is a string of 1 to 64 characters."] for i in bad})
        return value


class AvailabilityQuerySchema(Schema):
    sku = SkuList(
        max_items=100,
        required=True,
        metadata={"description": "repeat for several skus (up to 100; POST takes 1000)"},
    )
    warehouse = fields.String(validate=validate.Length(min=1, max=32))


class AvailabilityRequestSchema(Schema):
    skus = SkuList(max_items=1000, required=True)
    warehouse = fields.String(validate=validate.Length(min=1, max=32))


class WarehouseAvailabilitySchema(Schema):
    code = fields.String()
    available = fields.Integer()


class SkuAvailabilitySchema(Schema):
    sku = fields.String()
    known = fields.Boolean(metadata={"description": "false for a sku not in the catalog"})
    available = fields.Integer(
        metadata={"description": "units that can be reserved now, over the warehouses listed"}
    )
    warehouses = fields.List(
        fields.Nested(WarehouseAvailabilitySchema),
        metadata={
            "description": "open warehouses stocking the sku; only the one asked for, if any"
        },
    )


class AvailabilitySchema(Schema):
    items = fields.List(fields.Nested(SkuAvailabilitySchema))


class ReservationLineRequestSchema(Schema):
    sku = fields.String(required=True, validate=SKU)
    quantity = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=1_000_000)
    )


class DestinationSchema(Schema):
    latitude = fields.Float(validate=validate.Range(min=-90, max=90))
    longitude = fields.Float(validate=validate.Range(min=-180, max=180))
    region = fields.String(
        validate=[validate.Length(min=1, max=64), CODE],
        metadata={"description": "delivery region of the carriers' rate cards, e.g. EAST"},
    )

    @validates_schema
    def _both_coordinates(self, data: dict[str, Any], **_: Any) -> None:
        if ("latitude" in data) != ("longitude" in data):
            missing = "longitude" if "latitude" in data else "latitude"
            raise ValidationError("Give latitude and longitude together.", missing)


class ReservationCreateSchema(Schema):
    order_ref = fields.String(required=True, validate=validate.Length(min=1, max=64))
    lines = fields.List(
        fields.Nested(ReservationLineRequestSchema),
        required=True,
        validate=validate.Length(min=1, max=500),
    )
    warehouse = fields.String(
        validate=validate.Length(min=1, max=32),
        metadata={"description": "hold in this warehouse only; otherwise allocated"},
    )
    ttl_seconds = fields.Integer(
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "how long the hold lasts (default 900)"},
    )
    destination = fields.Nested(
        DestinationSchema,
        metadata={"description": "nearest warehouses are preferred; the region is shipped to"},
    )
    deliver_by = fields.Date(
        metadata={"description": "the date the customer was promised; shipments aim for it"}
    )

    @validates_schema
    def _one_line_per_sku(self, data: dict[str, Any], **_: Any) -> None:
        seen: set[str] = set()
        for i, line in enumerate(data.get("lines", [])):
            if line["sku"] in seen:
                raise ValidationError(
                    {str(i): {"sku": [N_("Listed twice; give the total on one line.")]}}, "lines"
                )
            seen.add(line["sku"])


class ReservationExtendSchema(Schema):
    ttl_seconds = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1),
        metadata={"description": "the hold lasts this long from now (never shortened)"},
    )


class ReservationLineSchema(Schema):
    sku = fields.String()
    quantity = fields.Integer()
    warehouse = fields.String()


class ReservationSchema(Schema):
    id = fields.Integer()
    order_ref = fields.String()
    status = fields.String(
        metadata={"description": "active, committed, released or expired (past expires_at)"}
    )
    expires_at = fields.DateTime()
    created_at = fields.DateTime()
    created_by = fields.String()
    warehouse = fields.String(allow_none=True)
    destination = fields.Nested(DestinationSchema, allow_none=True)
    deliver_by = fields.Date(allow_none=True)
    reference = fields.String(
        metadata={"description": "the ledger reference of the issues made on commit"}
    )
    closed_at = fields.DateTime(allow_none=True)
    lines = fields.List(fields.Nested(ReservationLineSchema))
