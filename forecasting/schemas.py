"""Request validation and response shapes for demand, promotions, forecast runs and forecasts."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from core.api import PageArgs, Schema
from core.i18n import N_

FREQUENCY = validate.OneOf(("D", "W", "M"), error="D (days), W (weeks) or M (months).")
#: Longest horizon per frequency: two years of weeks, three of months, a year of days.
MAX_HORIZON = {"D": 365, "W": 104, "M": 36}


# --- demand ---------------------------------------------------------------------------------------


class DemandQuerySchema(Schema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    warehouse = fields.String(required=True, validate=validate.Length(min=1, max=32))
    frequency = fields.String(load_default="W", validate=FREQUENCY)


class DemandPeriodSchema(Schema):
    start = fields.Date()
    quantity = fields.Integer(metadata={"description": "units recorded in the period"})
    demand = fields.Float(
        allow_none=True,
        metadata={"description": "what the forecast learns from; null where censored"},
    )
    censored = fields.Boolean(
        metadata={"description": "mostly out of stock: recorded units understate demand"}
    )
    promotion = fields.Float(metadata={"description": "share of the period under promotion"})


class DemandSchema(Schema):
    sku = fields.String()
    warehouse = fields.String()
    frequency = fields.String()
    history_end = fields.Date()
    periods = fields.List(fields.Nested(DemandPeriodSchema))


class ImportResultSchema(Schema):
    rows = fields.Integer(metadata={"description": "days imported (new or replaced)"})
    replaced = fields.Integer(metadata={"description": "of which replaced an earlier import"})


# --- promotions -----------------------------------------------------------------------------------


class PromotionCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    sku = fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "omit (or null) for a shop-wide promotion"},
    )
    warehouses = fields.List(
        fields.String(validate=validate.Length(min=1, max=32)),
        load_default=list,
        validate=validate.Length(max=100),
        metadata={"description": "empty or omitted: every warehouse"},
    )
    start = fields.Date(required=True, metadata={"description": "first day (UTC), included"})
    end = fields.Date(required=True, metadata={"description": "last day (UTC), included"})
    expected_uplift = fields.Float(
        allow_none=True,
        validate=validate.Range(min=-0.99, max=20),
        metadata={
            "description": "extra demand expected, 0.3 = +30 %; used when the item's history "
            "holds no past promotion to learn from"
        },
    )
    discount = fields.Float(
        allow_none=True,
        validate=validate.Range(min=0, max=1, max_inclusive=False),
        metadata={"description": "price reduction, 0.2 = 20 % off"},
    )

    @validates_schema
    def _ends_after_start(self, data: dict[str, Any], **_: Any) -> None:
        if "start" in data and "end" in data and data["end"] < data["start"]:
            raise ValidationError(N_("The promotion ends before it starts."), "end")
        if "start" in data and "end" in data and (data["end"] - data["start"]).days > 366:
            raise ValidationError(N_("A promotion lasts a year at most."), "end")


class PromotionSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    sku = fields.String(allow_none=True, metadata={"description": "null: every item"})
    warehouses = fields.List(fields.String(), metadata={"description": "empty: every warehouse"})
    start = fields.Date()
    end = fields.Date()
    expected_uplift = fields.Float(allow_none=True)
    discount = fields.Float(allow_none=True)
    created_by = fields.String()
    created_at = fields.DateTime()


class PromotionQuerySchema(PageArgs):
    sku = fields.String(
        metadata={"description": "promotions applying to this item (and shop-wide)"}
    )
    warehouse = fields.String()
    active_from = fields.Date(metadata={"description": "promotions ending on or after this day"})
    active_to = fields.Date(metadata={"description": "promotions starting on or before this day"})


# --- runs -----------------------------------------------------------------------------------------


class RunCreateSchema(Schema):
    horizon = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=365))
    frequency = fields.String(required=True, validate=FREQUENCY)
    skus = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        validate=validate.Length(min=1, max=10_000),
        metadata={"description": "omit for every item"},
    )
    warehouses = fields.List(
        fields.String(validate=validate.Length(min=1, max=32)),
        validate=validate.Length(min=1, max=100),
        metadata={"description": "omit for every warehouse"},
    )

    @validates_schema
    def _horizon_fits_frequency(self, data: dict[str, Any], **_: Any) -> None:
        frequency, horizon = data.get("frequency"), data.get("horizon")
        if frequency in MAX_HORIZON and horizon is not None and horizon > MAX_HORIZON[frequency]:
            raise ValidationError(
                f"At most {MAX_HORIZON[frequency]} periods ahead for frequency {frequency}.",
                "horizon",
            )


class RunStartedSchema(Schema):
    job_id = fields.Integer(metadata={"description": "follow it at GET /api/v1/jobs/<job_id>"})
    run_id = fields.Integer()


class AccuracySchema(Schema):
    mase = fields.Float(
        allow_none=True, metadata={"description": "MAE over the in-sample naive MAE; < 1 beats it"}
    )
    wape = fields.Float(allow_none=True, metadata={"description": "absolute error over volume"})
    bias = fields.Float(
        allow_none=True, metadata={"description": "signed error over volume; > 0 over-forecasts"}
    )


class RunSchema(Schema):
    id = fields.Integer()
    job_id = fields.Integer()
    status = fields.String()
    progress = fields.Float()
    message = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    horizon = fields.Integer()
    frequency = fields.String()
    skus = fields.List(fields.String(), allow_none=True)
    warehouses = fields.List(fields.String(), allow_none=True)
    history_end = fields.Date()
    series_total = fields.Integer()
    series_done = fields.Integer()
    series_failed = fields.Integer()
    accuracy = fields.Nested(AccuracySchema)
    models = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        allow_none=True,
        metadata={"description": "model -> number of series whose forecast it took part in"},
    )
    failures = fields.List(fields.Dict(), allow_none=True)
    created_by = fields.String()
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


# --- forecasts ------------------------------------------------------------------------------------


class ForecastQuerySchema(Schema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    warehouse = fields.String(required=True, validate=validate.Length(min=1, max=32))
    frequency = fields.String(
        validate=FREQUENCY, metadata={"description": "latest of this frequency; default any"}
    )


class ForecastPeriodSchema(Schema):
    start = fields.Date()
    mean = fields.Float()
    quantiles = fields.Dict(
        keys=fields.String(),
        values=fields.Float(),
        metadata={"description": 'quantile ("0.05" .. "0.95") -> units'},
    )
    promotion = fields.Float(metadata={"description": "share of the period under promotion"})


class ForecastSchema(Schema):
    sku = fields.String()
    warehouse = fields.String()
    run_id = fields.Integer()
    frequency = fields.String()
    model = fields.String()
    history_end = fields.Date()
    observations = fields.Integer()
    censored = fields.Integer(metadata={"description": "history periods lost to stock-outs"})
    periods = fields.List(fields.Nested(ForecastPeriodSchema))
    accuracy = fields.Nested(AccuracySchema)
    created_at = fields.DateTime()
