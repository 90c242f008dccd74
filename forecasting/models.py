"""Tables: imported demand history, promotions, forecast runs and the forecasts they produce.

The engine's statistical models live in ``forecasting/zoo.py``; "models" here means database
models, as in every other feature.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, Qty, Timestamp, utcnow

FREQUENCY_VALUES = ("D", "W", "M")


class DemandRecord(Base):
    """A day of demand from another system (sales before go-live, a marketplace's own orders).

    The ledger's issues are demand too; where an imported day and the ledger cover the same
    (item, warehouse, day), the imported figure is taken as the complete statement of that day.
    """

    __tablename__ = "demand_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    day: Mapped[date] = mapped_column(Date)
    quantity: Mapped[Qty]
    #: The source system says the item could not be sold for most of the day: the quantity
    #: understates demand and the day is treated as missing, not as low demand.
    stockout: Mapped[bool] = mapped_column(default=False)
    #: Where it came from, e.g. the imported file's name.
    source: Mapped[str] = mapped_column(String(128))
    imported_by: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("product_id", "warehouse_id", "day"),
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        Index("ix_demand_history_warehouse_id", "warehouse_id"),
    )


class Promotion(Base):
    """A planned or past sales event for one item (or every item) in some or all warehouses."""

    __tablename__ = "promotions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: None: every item (a shop-wide sale).
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    #: First and last day, both included (UTC days).
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    #: The planner's estimate of extra demand (0.3 = +30 %); used only when an item's history
    #: holds no past promotion its forecast could learn the effect from.
    expected_uplift: Mapped[float | None] = mapped_column(Float)
    #: Price reduction as a fraction (0.2 = 20 % off); informative.
    discount: Mapped[float | None] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    #: Empty: every warehouse.
    warehouses: Mapped[list[PromotionWarehouse]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="ends_after_start"),
        CheckConstraint("expected_uplift IS NULL OR expected_uplift > -1", name="uplift_range"),
        CheckConstraint(
            "discount IS NULL OR (discount >= 0 AND discount < 1)", name="discount_range"
        ),
        Index("ix_promotions_product_id", "product_id", "starts_on"),
        Index("ix_promotions_ends_on", "ends_on"),
    )


class PromotionWarehouse(Base):
    __tablename__ = "promotion_warehouses"

    promotion_id: Mapped[int] = mapped_column(
        ForeignKey("promotions.id", ondelete="CASCADE"), primary_key=True
    )
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"), primary_key=True)


class ForecastRun(Base):
    """One forecast over many series, run as a background job; its status is the job's."""

    __tablename__ = "forecast_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), unique=True)
    horizon: Mapped[int]
    frequency: Mapped[str] = mapped_column(String(1))
    #: Filters as requested; None means every item or every warehouse.
    skus: Mapped[list[str] | None] = mapped_column(JSON)
    warehouses: Mapped[list[str] | None] = mapped_column(JSON)
    #: Last day of history the run may use; periods after it are forecast.
    history_end: Mapped[date] = mapped_column(Date)
    series_total: Mapped[int] = mapped_column(default=0)
    series_done: Mapped[int] = mapped_column(default=0)
    series_failed: Mapped[int] = mapped_column(default=0)
    #: Accuracy over all series with a backtest: mean MASE, volume-weighted WAPE and bias.
    mase: Mapped[float | None] = mapped_column(Float)
    wape: Mapped[float | None] = mapped_column(Float)
    bias: Mapped[float | None] = mapped_column(Float)
    #: How many series' forecasts each model took part in (the engine combines the best few),
    #: e.g. {"ets": 120, "croston": 40, "with promotion uplift": 30}.
    models: Mapped[dict[str, int] | None] = mapped_column(JSON)
    #: The first few series that could not be forecast, with why.
    failures: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        CheckConstraint("horizon > 0", name="horizon_positive"),
        CheckConstraint(f"frequency IN {FREQUENCY_VALUES!r}", name="known_frequency"),
    )


class Forecast(Base):
    """The forecast of one (item, warehouse) from one run, with its backtest accuracy.

    Periods are one JSON document per row: the forecast is always read whole (an API call, a
    chart, a replenishment line), so one indexed row read beats joining a child table.
    """

    __tablename__ = "forecasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    frequency: Mapped[str] = mapped_column(String(1))
    #: The model the engine chose, e.g. "ets(A,Ad,N)" or "croston".
    model: Mapped[str] = mapped_column(String(200))
    history_end: Mapped[date] = mapped_column(Date)
    #: Periods of history given to the engine, and how many of them were censored (stock-outs).
    observations: Mapped[int]
    censored: Mapped[int]
    #: Holdout backtest over the last ``horizon`` periods; None when history is too short.
    mase: Mapped[float | None] = mapped_column(Float)
    wape: Mapped[float | None] = mapped_column(Float)
    bias: Mapped[float | None] = mapped_column(Float)
    #: [{"start": "2026-11-30", "mean": 12.4, "quantiles": {"0.5": 12.0, "0.9": 17.1, ...},
    #:   "promotion": 0.43}] in period order.
    periods: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("run_id", "product_id", "warehouse_id"),
        Index("ix_forecasts_series", "product_id", "warehouse_id", "id"),
        CheckConstraint(f"frequency IN {FREQUENCY_VALUES!r}", name="known_frequency"),
    )
