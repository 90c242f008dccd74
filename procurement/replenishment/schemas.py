"""Request validation and response shapes of replenishment policies and plans."""

from __future__ import annotations

from marshmallow import fields, validate

from core.api import Schema

SERVICE_LEVEL = fields.Float(
    validate=validate.Range(min=0.5, max=0.9999),
    metadata={"description": "target cycle service level, e.g. 0.95 (the default)"},
)


class PolicyQuerySchema(Schema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    warehouse = fields.String(required=True, validate=validate.Length(min=1, max=32))
    service_level = fields.Float(validate=validate.Range(min=0.5, max=0.9999))


class SupplierPolicySchema(Schema):
    supplier = fields.String(allow_none=True)
    method = fields.String(
        metadata={"description": "normal, or negative_binomial for sporadic items"}
    )
    lead_time_days = fields.Float(allow_none=True)
    lead_time_sd_days = fields.Float(allow_none=True)
    lead_time_observations = fields.Integer()
    protection_periods = fields.Float(allow_none=True)
    demand_over_protection = fields.Float(allow_none=True)
    demand_sd = fields.Float(allow_none=True)
    safety_stock = fields.Float(allow_none=True)
    reorder_point = fields.Float(allow_none=True)
    order_up_to = fields.Float(allow_none=True)
    inventory_position = fields.Float(allow_none=True)
    suggested_order = fields.Integer()
    days_of_cover = fields.Float(allow_none=True)
    stockout_probability = fields.Float(allow_none=True)


class PolicySchema(SupplierPolicySchema):
    sku = fields.String()
    warehouse = fields.String()
    service_level = fields.Float()
    forecast = fields.Dict()
    on_hand = fields.Integer()
    reserved = fields.Integer()
    incoming = fields.Integer()
    suppliers = fields.List(fields.Nested(SupplierPolicySchema))


class PlanLineRequestSchema(Schema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    warehouse = fields.String(required=True, validate=validate.Length(min=1, max=32))
    quantity = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=1, max=10_000_000)
    )


class PlanCreateSchema(Schema):
    warehouses = fields.List(
        fields.String(validate=validate.Length(min=1, max=32)), validate=validate.Length(max=200)
    )
    skus = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)), validate=validate.Length(max=50_000)
    )
    service_level = SERVICE_LEVEL
    budget = fields.Decimal(
        as_string=True,
        allow_nan=False,
        validate=validate.Range(min=0),
        metadata={"numeric": (14, 4), "description": "most to spend; the riskiest lines first"},
    )
    lines = fields.List(
        fields.Nested(PlanLineRequestSchema),
        validate=validate.Length(min=1, max=50_000),
        metadata={"description": "source exactly these quantities at least cost (no policy)"},
    )
    supplier_capacity = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=32)),
        values=fields.Integer(strict=True, validate=validate.Range(min=0, max=10**9)),
        metadata={"description": "most units each supplier can deliver in this plan"},
    )
    warehouse_volume = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=32)),
        values=fields.Float(validate=validate.Range(min=0, max=1e9)),
        metadata={"description": "free space in m3 per warehouse"},
    )


class PlanStartedSchema(Schema):
    job_id = fields.Integer()
    plan_id = fields.Integer()


class PlanLineSchema(Schema):
    id = fields.Integer()
    sku = fields.String()
    name = fields.String()
    warehouse = fields.String()
    supplier = fields.String()
    quantity = fields.Integer()
    unit_price = fields.Decimal(as_string=True)
    total = fields.Decimal(as_string=True)
    explanation = fields.Dict()
    policy = fields.Dict(allow_none=True)
    edited_by = fields.String(allow_none=True)


class ShortLineSchema(Schema):
    id = fields.Integer()
    sku = fields.String()
    name = fields.String()
    warehouse = fields.String()
    quantity = fields.Integer()
    reason = fields.String(allow_none=True)
    policy = fields.Dict(allow_none=True)


class PlanSchema(Schema):
    id = fields.Integer()
    job_id = fields.Integer()
    status = fields.String()
    progress = fields.Float()
    error = fields.String(allow_none=True)
    params = fields.Dict()
    objective = fields.Decimal(as_string=True, allow_none=True)
    solver = fields.Dict(allow_none=True)
    total = fields.Decimal(as_string=True)
    created_by = fields.String()
    created_at = fields.DateTime()
    applied_at = fields.DateTime(allow_none=True)
    applied_by = fields.String(allow_none=True)
    purchase_orders = fields.List(fields.String())
    lines = fields.List(fields.Nested(PlanLineSchema))
    short = fields.List(fields.Nested(ShortLineSchema))


class PlanLinePatchSchema(Schema):
    quantity = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, max=10_000_000)
    )
