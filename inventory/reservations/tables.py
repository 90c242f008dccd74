"""Table handles and names the reservation modules share.

The hot paths use SQLAlchemy Core on these tables rather than the ORM: a reservation is a handful of
conditional UPDATEs and INSERTs, and the ORM's unit of work would add round trips and CPU.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from sqlalchemy import (
    FromClause,
    Join,
    Table,
    literal_column,
    select,
    true,
)

from core import context
from core.problems import Invalid
from inventory import holds
from inventory.models import (
    Product,
    Reservation,
    ReservationLine,
    ReservationStatus,
    StockLevel,
    Warehouse,
)

products = cast(Table, Product.__table__)
warehouses = cast(Table, Warehouse.__table__)
levels = cast(Table, StockLevel.__table__)
reservations = cast(Table, Reservation.__table__)
lines = cast(Table, ReservationLine.__table__)

ACTIVE = ReservationStatus.ACTIVE.value
Key = holds.Key


def product_per_sku(wanted: FromClause) -> tuple[Any, Join]:
    """``wanted`` (a list of skus in its column ``sku``) joined to each sku's product, found by
    an index probe of its own: a LATERAL subquery whose LIMIT keeps the planner from flattening it
    into a join. Flattened, a catalog of a thousand products without statistics (loaded or
    restored minutes ago) is small enough for the planner to read all of it for a basket of two
    skus, on every call. The product's ``id`` and ``sku`` are columns of the first handle."""
    product = (
        select(products.c.id, products.c.sku)
        .where(products.c.sku == wanted.c.sku)
        .limit(literal_column("1"))
        .lateral("product")
    )
    return product, wanted.join(product, true())


def reference_of(reservation_id: int) -> str:
    """What the ledger's movements of a committed reservation carry as ``reference``."""
    return f"reservation:{reservation_id}"


def ttl_of(seconds: int | None, field: str = "ttl_seconds") -> timedelta:
    config = context.app().config
    seconds = config["RESERVATION_DEFAULT_TTL"] if seconds is None else seconds
    if not 1 <= seconds <= config["RESERVATION_MAX_TTL"]:
        raise Invalid(
            "The hold time is out of range.",
            errors={field: [f"between 1 and {config['RESERVATION_MAX_TTL']} seconds"]},
        )
    return timedelta(seconds=seconds)


def destination_of(
    latitude: float | None, longitude: float | None, region: str | None = None
) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    if latitude is not None and longitude is not None:
        out.update(latitude=latitude, longitude=longitude)
    if region:
        out["region"] = region
    return out or None
