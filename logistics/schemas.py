"""Request validation and response shapes for carriers, rate cards and shipments."""

from __future__ import annotations

from marshmallow import fields, validate

from core.api import PageArgs, Schema
from inventory.schemas import CODE

MONEY = {"numeric": (14, 4)}
KG = {"numeric": (10, 3)}


class CarrierCreateSchema(Schema):
    code = fields.String(required=True, validate=[validate.Length(min=1, max=32), CODE])
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    webhook_secret = fields.String(
        load_only=True,
        validate=validate.Length(min=16, max=200),
        metadata={"description": "HMAC-SHA256 key the carrier signs its webhooks with"},
    )


class ServiceFieldsSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    transit_days = fields.Integer(strict=True, validate=validate.Range(min=0, max=60))
    daily_max_shipments = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=0, max=10_000_000)
    )
    daily_max_kg = fields.Decimal(
        as_string=True,
        allow_none=True,
        allow_nan=False,
        validate=validate.Range(min=0),
        metadata={"numeric": (12, 3)},
    )
    cutoff_hour = fields.Integer(strict=True, validate=validate.Range(min=0, max=23))
    fuel_surcharge_pct = fields.Decimal(
        as_string=True,
        allow_nan=False,
        validate=validate.Range(min=0, max=100),
        metadata={"numeric": (6, 2)},
    )
    active = fields.Boolean()


class ServiceCreateSchema(ServiceFieldsSchema):
    code = fields.String(required=True, validate=[validate.Length(min=1, max=32), CODE])
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    transit_days = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, max=60)
    )


class ServicePatchSchema(ServiceFieldsSchema):
    pass


class CarrierServiceSchema(Schema):
    code = fields.String()
    name = fields.String()
    carrier = fields.Function(lambda sv: sv.carrier.code)
    transit_days = fields.Integer()
    daily_max_shipments = fields.Integer(allow_none=True)
    daily_max_kg = fields.Decimal(as_string=True, allow_none=True)
    cutoff_hour = fields.Integer()
    fuel_surcharge_pct = fields.Decimal(as_string=True)
    active = fields.Boolean()


class CarrierSchema(Schema):
    code = fields.String()
    name = fields.String()
    active = fields.Boolean()
    signs_webhooks = fields.Function(lambda c: bool(c.webhook_secret))
    services = fields.List(fields.Nested(CarrierServiceSchema))


class RateCsvRow(Schema):
    origin = fields.String(required=True, validate=validate.Length(min=1, max=32))
    region = fields.String(required=True, validate=[validate.Length(min=1, max=64), CODE])
    max_weight_kg = fields.Decimal(
        required=True, allow_nan=False, validate=validate.Range(min=0.001, max=1_000_000)
    )
    base = fields.Decimal(required=True, allow_nan=False, validate=validate.Range(min=0))
    per_kg = fields.Decimal(required=True, allow_nan=False, validate=validate.Range(min=0))
    minimum = fields.Decimal(required=True, allow_nan=False, validate=validate.Range(min=0))


class RateImportResultSchema(Schema):
    service = fields.String()
    rows = fields.Integer()
    replaced = fields.Integer()


class QuoteQuerySchema(Schema):
    warehouse = fields.String(required=True, validate=validate.Length(min=1, max=32))
    region = fields.String(required=True, validate=validate.Length(min=1, max=64))
    weight_kg = fields.Decimal(
        required=True, allow_nan=False, validate=validate.Range(min=0), metadata=KG
    )


class RateQuoteSchema(Schema):
    service = fields.String()
    price = fields.Decimal(as_string=True)
    transit_days = fields.Integer()


class ShipmentLineSchema(Schema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    quantity = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=1_000_000)
    )


class ShipmentCreateSchema(Schema):
    warehouse = fields.String(required=True, validate=validate.Length(min=1, max=32))
    region = fields.String(required=True, validate=[validate.Length(min=1, max=64), CODE])
    order_ref = fields.String(validate=validate.Length(min=1, max=64))
    weight_kg = fields.Decimal(
        allow_nan=False,
        validate=validate.Range(min=0, max=1_000_000),
        metadata={**KG, "description": "or give lines: weight from the products"},
    )
    lines = fields.List(fields.Nested(ShipmentLineSchema), validate=validate.Length(max=500))
    ship_date = fields.Date()
    deliver_by = fields.Date()


class ShipmentQuerySchema(PageArgs):
    warehouse = fields.String(validate=validate.Length(min=1, max=32))
    status = fields.String(validate=validate.Length(max=20))
    ship_date = fields.Date()


class ShipmentEventSchema(Schema):
    status = fields.String()
    occurred_at = fields.DateTime()
    location = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    recorded_by = fields.String()


class ShipmentSchema(Schema):
    id = fields.Integer()
    warehouse = fields.String()
    order_ref = fields.String(allow_none=True)
    reservation_id = fields.Integer(allow_none=True)
    region = fields.String()
    weight_kg = fields.Decimal(as_string=True)
    ship_date = fields.Date()
    deliver_by = fields.Date(allow_none=True)
    status = fields.String()
    service = fields.String(allow_none=True)
    carrier = fields.String(allow_none=True)
    cost = fields.Decimal(as_string=True, allow_none=True)
    eta = fields.Date(allow_none=True)
    reason = fields.String(allow_none=True)
    tracking_number = fields.String(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    late = fields.Boolean(allow_none=True)
    events = fields.List(fields.Nested(ShipmentEventSchema))


class ShipmentEventCreateSchema(Schema):
    status = fields.String(
        required=True,
        validate=validate.OneOf(
            [
                "picked_up",
                "in_transit",
                "out_for_delivery",
                "delivered",
                "exception",
                "returned",
                "cancelled",
            ]
        ),
    )
    occurred_at = fields.AwareDateTime()
    location = fields.String(validate=validate.Length(max=200))
    note = fields.String(validate=validate.Length(max=500))
    tracking_number = fields.String(validate=validate.Length(min=1, max=64))


class WebhookEventSchema(Schema):
    event_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    tracking_number = fields.String(required=True, validate=validate.Length(min=1, max=64))
    status = fields.String(
        required=True,
        validate=validate.OneOf(
            ["picked_up", "in_transit", "out_for_delivery", "delivered", "exception", "returned"]
        ),
    )
    occurred_at = fields.AwareDateTime()
    location = fields.String(validate=validate.Length(max=200))
    note = fields.String(validate=validate.Length(max=500))


class WebhookResultSchema(Schema):
    accepted = fields.Boolean()
    duplicate = fields.Boolean()
    event_id = fields.String()


class AssignRequestSchema(Schema):
    warehouse = fields.String(validate=validate.Length(min=1, max=32))
    ship_date = fields.Date()


class AssignmentStartedSchema(Schema):
    job_id = fields.Integer()


class CarrierScorecardSchema(Schema):
    carrier = fields.String()
    name = fields.String()
    shipments = fields.Integer()
    delivered = fields.Integer()
    on_time_rate = fields.Float(allow_none=True)
    exceptions = fields.Integer()
    cost_per_kg = fields.Decimal(as_string=True, allow_none=True)
