"""Carriers, their services and rate cards, shipments and what happened to them.

Money is ``Numeric(14, 4)`` like everywhere else; weights are kilograms with three decimals, the
precision products carry. A shipment leaves one warehouse; an order that ships from two warehouses
is two shipments.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, BigId, Money, Timestamp, utcnow


class Carrier(Base):
    """A company that moves parcels; it signs its tracking webhooks with ``webhook_secret``."""

    __tablename__ = "carriers"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: HMAC-SHA256 key shared with the carrier; never shown after it is set.
    webhook_secret: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    services: Mapped[list[CarrierService]] = relationship(
        back_populates="carrier", order_by="CarrierService.code"
    )


class CarrierService(Base):
    """One product of a carrier (next day, economy...), with its daily capacity and rate card."""

    __tablename__ = "carrier_services"

    id: Mapped[int] = mapped_column(primary_key=True)
    carrier_id: Mapped[int] = mapped_column(ForeignKey("carriers.id"))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    transit_days: Mapped[int] = mapped_column(Integer)
    #: Daily capacity per origin warehouse; None means the carrier takes whatever is handed over.
    daily_max_shipments: Mapped[int | None] = mapped_column(Integer)
    daily_max_kg: Mapped[Decimal | None] = mapped_column(Numeric(12, 3))
    #: Local hour after which a shipment handed over leaves the next day.
    cutoff_hour: Mapped[int] = mapped_column(Integer, default=17)
    fuel_surcharge_pct: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=Decimal(0))
    active: Mapped[bool] = mapped_column(default=True)

    carrier: Mapped[Carrier] = relationship(back_populates="services")

    __table_args__ = (
        CheckConstraint("transit_days >= 0 AND transit_days <= 60", name="transit_days_range"),
        CheckConstraint("cutoff_hour >= 0 AND cutoff_hour <= 23", name="cutoff_hour_range"),
        CheckConstraint(
            "daily_max_shipments IS NULL OR daily_max_shipments >= 0", name="max_shipments_sign"
        ),
        CheckConstraint("daily_max_kg IS NULL OR daily_max_kg >= 0", name="max_kg_sign"),
        CheckConstraint(
            "fuel_surcharge_pct >= 0 AND fuel_surcharge_pct <= 100", name="fuel_surcharge_range"
        ),
    )


class RateRow(Base):
    """One band of a rate card: from a warehouse to a region, up to a weight."""

    __tablename__ = "rate_rows"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("carrier_services.id", ondelete="CASCADE"))
    origin_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    #: Stored upper-case, so "east" and "EAST" are one region.
    region: Mapped[str] = mapped_column(String(64))
    max_weight_kg: Mapped[Decimal] = mapped_column(Numeric(10, 3))
    base: Mapped[Money]
    per_kg: Mapped[Money]
    minimum: Mapped[Money]

    __table_args__ = (
        UniqueConstraint("service_id", "origin_id", "region", "max_weight_kg"),
        CheckConstraint("max_weight_kg > 0", name="weight_positive"),
        CheckConstraint("base >= 0 AND per_kg >= 0 AND minimum >= 0", name="money_sign"),
    )


class ShipmentStatus(StrEnum):
    PLANNED = "planned"
    ASSIGNED = "assigned"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    RETURNED = "returned"
    CANCELLED = "cancelled"


SHIPMENT_STATUSES = tuple(s.value for s in ShipmentStatus)


class Shipment(Base):
    """Goods leaving one warehouse for one destination region."""

    __tablename__ = "shipments"

    id: Mapped[BigId] = mapped_column(primary_key=True, autoincrement=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    #: The committed reservation it ships, when it came from the storefront.
    reservation_id: Mapped[int | None] = mapped_column(
        ForeignKey("reservations.id", ondelete="SET NULL")
    )
    order_ref: Mapped[str | None] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(64))
    weight_kg: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    ship_date: Mapped[date] = mapped_column(Date)
    deliver_by: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default=ShipmentStatus.PLANNED.value)
    service_id: Mapped[int | None] = mapped_column(ForeignKey("carrier_services.id"))
    #: The quoted rate and arrival date of the chosen service, and why it was chosen.
    cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    eta: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    delivered_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[Timestamp] = mapped_column(default=utcnow, onupdate=utcnow)

    events: Mapped[list[ShipmentEvent]] = relationship(
        back_populates="shipment", order_by="ShipmentEvent.occurred_at, ShipmentEvent.id"
    )

    __table_args__ = (
        CheckConstraint(f"status IN {SHIPMENT_STATUSES!r}", name="known_status"),
        CheckConstraint("weight_kg >= 0", name="weight_sign"),
        UniqueConstraint("reservation_id", "warehouse_id"),
        Index("ix_shipments_day", "warehouse_id", "ship_date", "status"),
    )


class ShipmentEvent(Base):
    """One step of a shipment's journey, from warehouse staff or a carrier's webhook."""

    __tablename__ = "shipment_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"))
    #: The carrier's own id for the event; a webhook delivered twice is recorded once.
    carrier_event_id: Mapped[str | None] = mapped_column(String(100))
    carrier_id: Mapped[int | None] = mapped_column(ForeignKey("carriers.id"))
    status: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[Timestamp]
    location: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(String(500))
    recorded_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    shipment: Mapped[Shipment] = relationship(back_populates="events")

    __table_args__ = (
        UniqueConstraint("carrier_id", "carrier_event_id"),
        CheckConstraint(f"status IN {SHIPMENT_STATUSES!r}", name="known_status"),
    )
