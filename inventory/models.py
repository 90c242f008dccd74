"""Products, warehouses, the append-only stock ledger and the stock levels projected from it."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    DDL,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    event,
    false,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, BigId, Qty, Timestamp, UTCDateTime, utcnow


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The retailer's stock-keeping unit; what every client uses to name a product.
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(64), index=True)
    #: Unit of measure; every quantity of this product is a whole number of these.
    uom: Mapped[str] = mapped_column(String(16), default="ea")
    unit_cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    currency: Mapped[str] = mapped_column(String(3))
    weight_kg: Mapped[Decimal | None] = mapped_column(Numeric(10, 3))
    volume_m3: Mapped[Decimal | None] = mapped_column(Numeric(12, 6))
    #: Units available in a warehouse at or below which the item counts as low there; without
    #: one, ``LOW_STOCK_UNITS`` applies (the stock page's "low" filter).
    reorder_point: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[Timestamp] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("unit_cost IS NULL OR unit_cost >= 0", name="unit_cost_not_negative"),
        CheckConstraint(
            "reorder_point IS NULL OR reorder_point >= 0", name="reorder_point_not_negative"
        ),
        CheckConstraint("weight_kg IS NULL OR weight_kg >= 0", name="weight_not_negative"),
        CheckConstraint("volume_m3 IS NULL OR volume_m3 >= 0", name="volume_not_negative"),
        # A sku typed in another case (``bolt-10`` for ``BOLT-10``), and the check that a new
        # sku is not an existing one in another case, are looked up by their lower case.
        Index("ix_products_sku_lower", func.lower(sku)),
    )


class Warehouse(Base):
    __tablename__ = "warehouses"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    latitude: Mapped[float | None] = mapped_column()
    longitude: Mapped[float | None] = mapped_column()
    #: Some sites ship before the paperwork of a receipt is done; they may go below zero.
    allow_negative_stock: Mapped[bool] = mapped_column(default=False)
    #: Tie-breaker when several warehouses could serve an order equally well (lower first).
    priority: Mapped[int] = mapped_column(default=100)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint(
            "latitude IS NULL OR (latitude >= -90 AND latitude <= 90)", name="latitude_range"
        ),
        CheckConstraint(
            "longitude IS NULL OR (longitude >= -180 AND longitude <= 180)", name="longitude_range"
        ),
    )


class StockLevel(Base):
    """The ledger's projection per (product, warehouse), kept in the movement's transaction.

    ``on_hand`` always equals the sum of the movements; the CHECKs are the last line of defence
    behind the services' conditional updates.
    """

    __tablename__ = "stock_levels"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"), primary_key=True)
    on_hand: Mapped[Qty] = mapped_column(default=0)
    #: Units held by active reservations.
    reserved: Mapped[Qty] = mapped_column(default=0)
    #: Units on approved or sent purchase orders not yet received.
    incoming: Mapped[Qty] = mapped_column(default=0)
    #: Copy of the warehouse's flag so the database itself can refuse negative availability.
    allow_negative: Mapped[bool] = mapped_column(default=False)
    #: Set when a count found fewer units than are reserved: a count is a fact and is posted, and
    #: the level is then over-reserved (on hand below reserved) until stock arrives or holds go.
    #: Only then may the database hold ``on_hand < reserved``; staff see these levels flagged.
    over_reserved: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: No held line on this level lapses before this moment (a lower bound; None: not known).
    #: Reads check for lapsed holds only on levels where it has passed (``holds.lapsed_units``).
    earliest_hold_expiry: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[Timestamp] = mapped_column(default=utcnow, onupdate=utcnow)

    product: Mapped[Product] = relationship(lazy="raise")
    warehouse: Mapped[Warehouse] = relationship(lazy="raise")

    __table_args__ = (
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("incoming >= 0", name="incoming_not_negative"),
        CheckConstraint(
            "allow_negative OR over_reserved OR on_hand >= reserved", name="available_not_negative"
        ),
        Index("ix_stock_levels_warehouse_id", "warehouse_id"),
    )

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class MovementType(StrEnum):
    RECEIPT = "receipt"
    ISSUE = "issue"
    ADJUSTMENT = "adjustment"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"


MOVEMENT_TYPES = tuple(t.value for t in MovementType)


class StockMovement(Base):
    """One line of the ledger. Never updated or deleted; a mistake is corrected by a new line."""

    __tablename__ = "stock_movements"

    id: Mapped[BigId] = mapped_column(primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    type: Mapped[str] = mapped_column(String(16))
    #: Signed: receipts and transfers in are positive, issues and transfers out negative.
    quantity: Mapped[Qty]
    #: On hand in this warehouse right after this movement; lets history be read without replay.
    on_hand_after: Mapped[Qty]
    reason: Mapped[str | None] = mapped_column(Text)
    #: What caused it: a purchase order, a reservation, a count, an external document.
    reference: Mapped[str | None] = mapped_column(String(128))
    #: Links the two legs of a transfer.
    transfer_id: Mapped[str | None] = mapped_column(String(36))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    #: When it happened physically if that differs from when it was recorded (imports, backfills).
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)

    product: Mapped[Product] = relationship(lazy="raise")
    warehouse: Mapped[Warehouse] = relationship(lazy="raise")

    __table_args__ = (
        CheckConstraint("quantity <> 0", name="quantity_not_zero"),
        CheckConstraint(f"type IN {MOVEMENT_TYPES!r}", name="known_type"),
        CheckConstraint(
            "(type IN ('receipt', 'transfer_in') AND quantity > 0)"
            " OR (type IN ('issue', 'transfer_out') AND quantity < 0)"
            " OR type = 'adjustment'",
            name="sign_matches_type",
        ),
        Index("ix_stock_movements_product_warehouse", "product_id", "warehouse_id", "id"),
        Index("ix_stock_movements_warehouse_id", "warehouse_id", "id"),
        Index("ix_stock_movements_occurred_at", "occurred_at"),
        Index("ix_stock_movements_reference", "reference"),
    )


class StockCount(Base):
    """A cycle count: what staff found on the shelf, and the adjustments it caused."""

    __tablename__ = "stock_counts"

    id: Mapped[int] = mapped_column(primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)

    warehouse: Mapped[Warehouse] = relationship(lazy="joined")
    lines: Mapped[list[StockCountLine]] = relationship(
        back_populates="count", cascade="all, delete-orphan", lazy="selectin"
    )


class StockCountLine(Base):
    __tablename__ = "stock_count_lines"

    count_id: Mapped[int] = mapped_column(
        ForeignKey("stock_counts.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    counted: Mapped[Qty]
    on_hand_before: Mapped[Qty]
    movement_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), ForeignKey("stock_movements.id")
    )

    count: Mapped[StockCount] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship(lazy="joined")

    __table_args__ = (CheckConstraint("counted >= 0", name="counted_not_negative"),)

    @property
    def difference(self) -> int:
        return self.counted - self.on_hand_before


class ReservationStatus(StrEnum):
    """Stored states. An ``active`` reservation past ``expires_at`` reads as ``expired`` at once;
    the periodic release later stores ``expired`` for it."""

    ACTIVE = "active"
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"


RESERVATION_STATUSES = tuple(s.value for s in ReservationStatus)


class Reservation(Base):
    """Stock held for a storefront order until paid (commit), abandoned (release) or lapsed."""

    __tablename__ = "reservations"

    id: Mapped[BigId] = mapped_column(primary_key=True, autoincrement=True)
    #: The storefront's order number, carried to the ledger when the reservation is committed.
    order_ref: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default=ReservationStatus.ACTIVE.value)
    expires_at: Mapped[Timestamp]
    #: The warehouse the storefront asked for, when it named one instead of letting us allocate.
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouses.id"))
    #: Where the order goes; warehouses nearest to it are preferred when allocating.
    destination_latitude: Mapped[float | None] = mapped_column()
    destination_longitude: Mapped[float | None] = mapped_column()
    #: Where the order goes and by when, for the shipment made when it is committed.
    destination_region: Mapped[str | None] = mapped_column(String(64))
    deliver_by: Mapped[date | None] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[Timestamp] = mapped_column(default=utcnow)
    updated_at: Mapped[Timestamp] = mapped_column(default=utcnow, onupdate=utcnow)
    #: When and by whom it was committed, released or found expired.
    closed_at: Mapped[datetime | None] = mapped_column()
    closed_by: Mapped[str | None] = mapped_column(String(64))

    lines: Mapped[list[ReservationLine]] = relationship(
        back_populates="reservation",
        cascade="all, delete-orphan",
        order_by="ReservationLine.line_no, ReservationLine.warehouse_id",
        lazy="raise",
    )

    __table_args__ = (
        CheckConstraint(f"status IN {RESERVATION_STATUSES!r}", name="known_status"),
        # Finds the active holds that have lapsed but are not yet released: the small set that
        # availability adds back and the periodic release works through.
        Index(
            "ix_reservations_active_expiry",
            "expires_at",
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
    )

    def status_at(self, moment: datetime) -> str:
        if self.status == ReservationStatus.ACTIVE and self.expires_at <= moment:
            return ReservationStatus.EXPIRED.value
        return self.status


class ReservationLine(Base):
    """Units of one sku held in one warehouse; a request line split across warehouses has several.

    ``held`` says whether the units still count in ``stock_levels.reserved``: for every level,
    ``reserved`` equals the sum of the held lines on it. Commit, release and expiry clear it in the
    same transaction as they change ``reserved``.
    """

    __tablename__ = "reservation_lines"

    reservation_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("reservations.id", ondelete="CASCADE"),
        primary_key=True,
    )
    #: The stock level the units are held on (``product_id``, ``warehouse_id``): one foreign key
    #: to ``stock_levels``, whose own keys reach the product and the warehouse.
    product_id: Mapped[int] = mapped_column(primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(primary_key=True)
    #: Position of the request line it serves, so lines come back in the order they were asked.
    line_no: Mapped[int] = mapped_column(Integer)
    quantity: Mapped[Qty]
    held: Mapped[bool] = mapped_column(default=True)
    #: The reservation's ``expires_at``, copied (and moved by extend in the same transaction) so
    #: that the lapsed holds on one stock level are one index range away, without a join.
    expires_at: Mapped[Timestamp]

    reservation: Mapped[Reservation] = relationship(back_populates="lines")

    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        # A line holds units of a level: every writer raises that level's ``reserved`` in the same
        # transaction. One check per line where a key each to products and warehouses made two,
        # each locking a row that every concurrent reservation locks too (the warehouses are few).
        ForeignKeyConstraint(
            ["product_id", "warehouse_id"], ["stock_levels.product_id", "stock_levels.warehouse_id"]
        ),
        # Held units per level by expiry: the lapsed ones on a level (availability reads it for
        # every level it returns) and the holds per warehouse (the staff page).
        Index(
            "ix_reservation_lines_held",
            "warehouse_id",
            "product_id",
            "expires_at",
            postgresql_where=text("held"),
            sqlite_where=text("held"),
        ),
    )


# The ledger is append-only in the database itself, not just by convention in the code: a stray
# UPDATE or DELETE (a script, a console session) fails loudly. Mirrored in the migration.
APPEND_ONLY_SQLITE = [
    DDL(
        "CREATE TRIGGER stock_movements_no_update BEFORE UPDATE ON stock_movements "
        "BEGIN SELECT RAISE(ABORT, 'stock_movements is append-only'); END"
    ),
    DDL(
        "CREATE TRIGGER stock_movements_no_delete BEFORE DELETE ON stock_movements "
        "BEGIN SELECT RAISE(ABORT, 'stock_movements is append-only'); END"
    ),
]
APPEND_ONLY_POSTGRESQL = [
    DDL(
        "CREATE OR REPLACE FUNCTION stock_movements_append_only() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'stock_movements is append-only'; END; $$ LANGUAGE plpgsql"
    ),
    DDL(
        "CREATE TRIGGER stock_movements_append_only BEFORE UPDATE OR DELETE ON stock_movements "
        "FOR EACH ROW EXECUTE FUNCTION stock_movements_append_only()"
    ),
]
for _ddl in APPEND_ONLY_SQLITE:
    event.listen(StockMovement.__table__, "after_create", _ddl.execute_if(dialect="sqlite"))
for _ddl in APPEND_ONLY_POSTGRESQL:
    event.listen(StockMovement.__table__, "after_create", _ddl.execute_if(dialect="postgresql"))
