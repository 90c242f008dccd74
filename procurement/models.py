"""Suppliers and their price lists, purchase orders with their approvals, and receipts."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
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

from core.db import Base, Money, Qty, Timestamp, utcnow
from inventory.models import Product, Warehouse
from procurement.orders.pricing import PriceBreak, amount
from procurement.orders.workflow import PO_STATUSES


class SupplierStatus(StrEnum):
    CANDIDATE = "candidate"
    APPROVED = "approved"
    SUSPENDED = "suspended"
    BLOCKED = "blocked"


SUPPLIER_STATUSES = tuple(s.value for s in SupplierStatus)


class Supplier(Base):
    __tablename__ = "suppliers"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    #: Every price and order of this supplier is in this currency.
    currency: Mapped[str] = mapped_column(String(3))
    #: Used when an item has no lead time of its own, e.g. to date a sent order.
    default_lead_time_days: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=SupplierStatus.CANDIDATE.value)
    #: Why it has its current status, and who set it when (the full story is in ``events``).
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_by: Mapped[str | None] = mapped_column(String(64))
    status_changed_at: Mapped[datetime | None] = mapped_column()
    #: The grade of the last scoring (receipts, closing orders and ``flask procurement rescore``).
    grade: Mapped[str | None] = mapped_column(String(1))
    score: Mapped[Decimal | None] = mapped_column(Numeric(5, 1))
    graded_at: Mapped[datetime | None] = mapped_column()
    #: Raised when the grade falls to D; an approver's review lowers it again.
    flagged_for_review: Mapped[bool] = mapped_column(default=False)
    flag_reason: Mapped[str | None] = mapped_column(Text)
    flagged_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[Timestamp] = mapped_column(default=utcnow, onupdate=utcnow)

    events: Mapped[list[SupplierEvent]] = relationship(
        back_populates="supplier",
        cascade="all, delete-orphan",
        order_by="SupplierEvent.id",
        lazy="raise",
    )

    __table_args__ = (
        CheckConstraint(f"status IN {SUPPLIER_STATUSES!r}", name="known_status"),
        CheckConstraint("default_lead_time_days >= 0", name="lead_time_not_negative"),
        CheckConstraint("grade IS NULL OR grade IN ('A', 'B', 'C', 'D')", name="known_grade"),
    )


class SupplierEvent(Base):
    """A change in a supplier's standing: who did it, when and why."""

    __tablename__ = "supplier_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(
        ForeignKey("suppliers.id", ondelete="CASCADE"), index=True
    )
    #: created, approved, suspended, blocked, flagged or reviewed.
    kind: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[Timestamp] = mapped_column(default=utcnow)

    supplier: Mapped[Supplier] = relationship(back_populates="events")


class SupplierItem(Base):
    """One line of a supplier's price list: what it sells us, at what price and in what packs."""

    __tablename__ = "supplier_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    #: The supplier's own article number, printed on the order sent to it.
    supplier_sku: Mapped[str | None] = mapped_column(String(64))
    #: Price per unit below the first price break.
    unit_price: Mapped[Money]
    currency: Mapped[str] = mapped_column(String(3))
    #: Minimum order quantity per order line.
    moq: Mapped[int] = mapped_column(Integer, default=1)
    #: Order lines must be whole packs of this many units.
    pack_size: Mapped[int] = mapped_column(Integer, default=1)
    lead_time_days: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[Timestamp] = mapped_column(default=utcnow, onupdate=utcnow)

    supplier: Mapped[Supplier] = relationship(lazy="joined")
    product: Mapped[Product] = relationship(lazy="joined")
    price_breaks: Mapped[list[SupplierPriceBreak]] = relationship(
        back_populates="item",
        cascade="all, delete-orphan",
        order_by="SupplierPriceBreak.min_quantity",
        lazy="selectin",
    )

    __table_args__ = (
        UniqueConstraint("supplier_id", "product_id"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
        CheckConstraint("moq >= 1", name="moq_positive"),
        CheckConstraint("pack_size >= 1", name="pack_size_positive"),
        CheckConstraint(
            "lead_time_days IS NULL OR lead_time_days >= 0", name="lead_time_not_negative"
        ),
    )

    @property
    def breaks(self) -> list[PriceBreak]:
        return [PriceBreak(b.min_quantity, b.unit_price) for b in self.price_breaks]


class SupplierPriceBreak(Base):
    __tablename__ = "supplier_price_breaks"

    supplier_item_id: Mapped[int] = mapped_column(
        ForeignKey("supplier_items.id", ondelete="CASCADE"), primary_key=True
    )
    min_quantity: Mapped[int] = mapped_column(Integer, primary_key=True)
    unit_price: Mapped[Money]

    item: Mapped[SupplierItem] = relationship(back_populates="price_breaks")

    __table_args__ = (
        CheckConstraint("min_quantity >= 2", name="min_quantity_above_one"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
    )


class PurchaseOrder(Base):
    """An order to one supplier for delivery to one warehouse, in the supplier's currency.

    ``version`` goes up with every change, so an edit made on a stale copy is refused.
    """

    __tablename__ = "purchase_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"), index=True)
    status: Mapped[str] = mapped_column(String(24), default="draft")
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Money] = mapped_column(default=Decimal("0"))
    #: When the goods should be in the warehouse; set on sending from the lead time if not given.
    expected_date: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    #: Fixed when submitted, from the total and the limits in force then.
    approvals_required: Mapped[int] = mapped_column(Integer, default=0)
    #: Why it was rejected, cancelled or closed short.
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column()
    approved_at: Mapped[datetime | None] = mapped_column()
    rejected_at: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    received_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    cancelled_at: Mapped[datetime | None] = mapped_column()
    version: Mapped[int] = mapped_column(Integer, default=1)

    supplier: Mapped[Supplier] = relationship(lazy="joined")
    warehouse: Mapped[Warehouse] = relationship(lazy="joined")
    lines: Mapped[list[PurchaseOrderLine]] = relationship(
        back_populates="order",
        cascade="all, delete-orphan",
        order_by="PurchaseOrderLine.line_no",
        lazy="selectin",
    )
    approvals: Mapped[list[PurchaseOrderApproval]] = relationship(
        back_populates="order",
        cascade="all, delete-orphan",
        order_by="PurchaseOrderApproval.id",
        lazy="selectin",
    )
    receipts: Mapped[list[Receipt]] = relationship(
        back_populates="order",
        cascade="all, delete-orphan",
        order_by="Receipt.id",
        lazy="selectin",
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint(f"status IN {PO_STATUSES!r}", name="known_status"),
        CheckConstraint("total >= 0", name="total_not_negative"),
        CheckConstraint("approvals_required BETWEEN 0 AND 2", name="approvals_required_range"),
        Index("ix_purchase_orders_status_id", "status", "id"),
        Index("ix_purchase_orders_supplier_id_id", "supplier_id", "id"),
    )

    @property
    def number(self) -> str:
        """What people and the ledger's ``reference`` call the order."""
        return po_number(self.id)

    @property
    def approvals_given(self) -> list[PurchaseOrderApproval]:
        return [a for a in self.approvals if a.decision == "approved"]


def po_number(po_id: int) -> str:
    return f"PO-{po_id:06d}"


class PurchaseOrderLine(Base):
    __tablename__ = "purchase_order_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[Qty]
    unit_price: Mapped[Money]
    #: The price list's price for this quantity when the line was written.
    list_price: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    #: "list" when the price came from the price list, "manual" when the buyer set it.
    price_source: Mapped[str] = mapped_column(String(8), default="list")
    #: Units accepted into stock so far.
    accepted: Mapped[Qty] = mapped_column(default=0)
    #: Units delivered and refused; they are still owed unless the order is closed short.
    rejected: Mapped[Qty] = mapped_column(default=0)

    order: Mapped[PurchaseOrder] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("order_id", "product_id"),
        UniqueConstraint("order_id", "line_no"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="unit_price_not_negative"),
        CheckConstraint("accepted >= 0 AND accepted <= quantity", name="accepted_range"),
        CheckConstraint("rejected >= 0", name="rejected_not_negative"),
        CheckConstraint("price_source IN ('list', 'manual')", name="known_price_source"),
    )

    @property
    def amount(self) -> Decimal:
        return amount(self.quantity, self.unit_price)

    @property
    def outstanding(self) -> int:
        return self.quantity - self.accepted


class PurchaseOrderApproval(Base):
    """One approver's decision on one order, with the version of the order they decided on."""

    __tablename__ = "purchase_order_approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id", ondelete="CASCADE"))
    decision: Mapped[str] = mapped_column(String(8))
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: One decision per person per order: two approvals must come from two people.
    approver: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    order_version: Mapped[int] = mapped_column(Integer)
    at: Mapped[Timestamp] = mapped_column(default=utcnow)

    order: Mapped[PurchaseOrder] = relationship(back_populates="approvals")

    __table_args__ = (
        UniqueConstraint("order_id", "approver"),
        CheckConstraint("decision IN ('approved', 'rejected')", name="known_decision"),
    )


class Receipt(Base):
    """A delivery against an order: what was accepted into stock and what was refused."""

    __tablename__ = "receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("purchase_orders.id", ondelete="CASCADE"), index=True
    )
    #: When the goods arrived (may be earlier than when it was recorded).
    received_at: Mapped[Timestamp]
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    received_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    order: Mapped[PurchaseOrder] = relationship(back_populates="receipts")
    lines: Mapped[list[ReceiptLine]] = relationship(
        back_populates="receipt", cascade="all, delete-orphan", lazy="selectin"
    )


class ReceiptLine(Base):
    __tablename__ = "receipt_lines"

    receipt_id: Mapped[int] = mapped_column(
        ForeignKey("receipts.id", ondelete="CASCADE"), primary_key=True
    )
    order_line_id: Mapped[int] = mapped_column(
        ForeignKey("purchase_order_lines.id", ondelete="CASCADE"), primary_key=True
    )
    accepted: Mapped[Qty]
    rejected: Mapped[Qty]
    reject_reason: Mapped[str | None] = mapped_column(Text)
    #: The ledger's receipt movement for the accepted units (none if all were rejected).
    movement_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), ForeignKey("stock_movements.id")
    )

    receipt: Mapped[Receipt] = relationship(back_populates="lines")
    order_line: Mapped[PurchaseOrderLine] = relationship(lazy="joined")

    __table_args__ = (
        CheckConstraint("accepted >= 0 AND rejected >= 0", name="quantities_not_negative"),
        CheckConstraint("accepted + rejected > 0", name="something_delivered"),
    )
