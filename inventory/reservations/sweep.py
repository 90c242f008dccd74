"""The periodic release of expired holds, in small batches that never wait on a lock."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import (
    select,
    true,
    update,
)

from accounts import audit
from accounts.principal import SYSTEM, Principal
from core import db, idempotency
from core.db import UnitOfWork
from inventory import holds
from inventory.models import (
    ReservationStatus,
)
from inventory.reservations.tables import (
    Key,
    lines,
    reservations,
)


@dataclass(frozen=True)
class Sweep:
    reservations: int
    units: int
    idempotency_keys: int


def release_expired(*, batch: int = 500, actor: Principal = SYSTEM) -> Sweep:
    """Store ``expired`` for lapsed holds and return their remaining units; purge old keys.

    Availability already ignores a lapsed hold, so this only tidies up: it is safe to run as often
    as wanted, from several processes at once (``SKIP LOCKED`` gives each its own reservations).
    """
    now = db.now()
    count = units = 0
    while True:
        with UnitOfWork() as uow:
            s = uow.session
            ids = list(
                s.scalars(
                    select(reservations.c.id)
                    .where(reservations.c.status == holds.ACTIVE)
                    .where(reservations.c.expires_at <= now)
                    .order_by(reservations.c.expires_at, reservations.c.id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            )
            if not ids:
                break
            released = s.execute(
                update(lines)
                .where(lines.c.reservation_id.in_(ids), lines.c.held == true())
                .values(held=False)
                .returning(lines.c.product_id, lines.c.warehouse_id, lines.c.quantity)
            ).all()
            freed: dict[Key, int] = defaultdict(int)
            for p, w, q in released:
                freed[(p, w)] += q
            holds.unhold(s, freed)
            s.execute(
                update(reservations)
                .where(reservations.c.id.in_(ids))
                .values(
                    status=ReservationStatus.EXPIRED.value,
                    closed_at=now,
                    closed_by=actor.username,
                    updated_at=now,
                )
            )
            audit.record(
                s,
                actor,
                "reservation.expire",
                "reservation",
                ids[0],
                after={"reservations": ids, "units_released": sum(freed.values())},
            )
            uow.commit()
        count += len(ids)
        units += sum(freed.values())
        if len(ids) < batch:
            break
    with UnitOfWork() as uow:
        purged = idempotency.purge_expired(uow.session, now)
        uow.commit()
    return Sweep(count, units, purged)
