"""Replenishment plans: what the optimiser proposed to buy, line by line, and what became of it."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, Timestamp, utcnow


class ReplenishmentPlan(Base):
    """One optimisation over a set of (item, warehouse) lines, run as a background job."""

    __tablename__ = "replenishment_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), unique=True)
    #: The request as given: warehouses, skus, service level, budget, explicit lines.
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    objective: Mapped[Decimal | None] = mapped_column(Numeric(18, 4))
    #: {"status", "gap", "seconds", "backend", "duals"} from the sourcing solver.
    solver: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column()
    applied_by: Mapped[str | None] = mapped_column(String(64))
    #: Numbers of the draft purchase orders the plan became.
    purchase_orders: Mapped[list[str] | None] = mapped_column(JSON)

    lines: Mapped[list[ReplenishmentLine]] = relationship(
        back_populates="plan", order_by="ReplenishmentLine.id", cascade="all, delete-orphan"
    )


class ReplenishmentLine(Base):
    """A proposed purchase (supplier set) or a need left short (supplier empty, reason given)."""

    __tablename__ = "replenishment_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("replenishment_plans.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("suppliers.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    total: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    #: Units of need the plan leaves uncovered, and why.
    short: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(Text)
    #: Why this supplier and quantity: next best option, rounding, price break, binding limits.
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The policy behind the need (safety stock, reorder point, order-up-to, position).
    policy: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: Set when a buyer changed the proposed quantity before applying the plan.
    edited_by: Mapped[str | None] = mapped_column(String(64))

    plan: Mapped[ReplenishmentPlan] = relationship(back_populates="lines")

    __table_args__ = (
        CheckConstraint("quantity >= 0 AND short >= 0", name="quantities_sign"),
        Index("ix_replenishment_lines_plan", "plan_id", "id"),
    )
