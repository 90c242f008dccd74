"""Receiving a delivery against a purchase order.

Accepted units enter stock through the ledger and stop counting as ``incoming``; rejected units
stay owed until they are replaced or the order is closed short. Every receipt re-grades the
supplier, since deliveries are what its scorecard is made of.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from accounts.principal import Principal
from core.db import UnitOfWork, moment, retry_on_conflict, utcnow
from core.problems import Conflict, Invalid
from inventory import ledger
from procurement import scorecards
from procurement.models import PurchaseOrder, Receipt, ReceiptLine
from procurement.orders.changes import lock, lock_supplier, record, touch
from procurement.orders.workflow import POStatus, ensure_allowed

#: A receipt dated this far in the future is a typo (clocks differ by seconds, not hours).
CLOCK_SKEW = timedelta(minutes=5)


def _received_at(data: dict[str, Any], po: PurchaseOrder, now: datetime) -> datetime:
    """When the goods arrived: as given, or ``now``; never in the future or before sending."""
    received_at: datetime = data.get("received_at") or now
    if received_at > utcnow() + CLOCK_SKEW:
        raise Invalid(
            "Goods cannot be received in the future.", errors={"received_at": ["in the future"]}
        )
    if po.sent_at is not None and received_at < po.sent_at:
        raise Invalid(
            f"{po.number} was sent on {po.sent_at:%Y-%m-%d %H:%M} UTC; goods cannot arrive "
            "before it was sent.",
            errors={"received_at": ["before the order was sent"]},
        )
    return received_at


@retry_on_conflict()
def receive(
    actor: Principal, ref: str | int, data: dict[str, Any], *, at: datetime | None = None
) -> Receipt:
    """Record a delivery: accepted units enter stock through the ledger, rejected ones do not.

    Rejected units stay owed (and ``incoming``) until they are replaced or the order is closed
    short. A delivery larger than what is still owed on a line is refused whole (409).
    """
    now = moment(at)
    with UnitOfWork() as uow:
        s = uow.session
        po = lock(s, ref)
        actor.ensure_warehouse(po.warehouse.code)
        ensure_allowed("receive", po.status)
        received_at = _received_at(data, po, now)
        by_sku = {line.product.sku: line for line in po.lines}
        invalid: dict[str, list[str]] = {}
        over: dict[str, list[str]] = {}
        seen: set[str] = set()
        for i, row in enumerate(data["lines"]):
            line = by_sku.get(row["sku"])
            if line is None:
                invalid[f"lines.{i}.sku"] = [f"{row['sku']} is not on {po.number}"]
            elif row["sku"] in seen:
                invalid[f"lines.{i}.sku"] = [f"{row['sku']} is in this receipt twice"]
            elif row["accepted"] + row.get("rejected", 0) > line.outstanding:
                over[f"lines.{i}"] = [
                    f"{row['sku']}: {line.outstanding} outstanding, "
                    f"{row['accepted'] + row.get('rejected', 0)} delivered"
                ]
            seen.add(row["sku"])
        if invalid:
            raise Invalid("Some lines do not match the order.", errors=invalid)
        if over:
            raise Conflict(
                f"More than {po.number} still owes; nothing was received.",
                slug="over-receipt",
                errors=over,
            )
        lock_supplier(s, po)
        receipt = Receipt(
            order_id=po.id,
            received_at=received_at,
            received_by_id=actor.user_id,
            received_by=actor.username,
            note=data.get("note"),
            created_at=utcnow(),
        )
        s.add(receipt)
        s.flush()
        moves = [
            ledger.Move(
                by_sku[row["sku"]].product_id,
                po.warehouse_id,
                "receipt",
                row["accepted"],
                reason=f"receipt {receipt.id} of {po.number}",
                reference=po.number,
                occurred_at=received_at,
                label=f"lines.{i}.accepted",
                sku=row["sku"],
                warehouse_code=po.warehouse.code,
            )
            for i, row in enumerate(data["lines"])
            if row["accepted"] > 0
        ]
        posted = ledger.apply(s, moves, actor)
        movement_of = {m.product_id: m.id for m in posted.movements}
        for row in data["lines"]:
            line = by_sku[row["sku"]]
            rejected = row.get("rejected", 0)
            receipt.lines.append(
                ReceiptLine(
                    order_line_id=line.id,
                    order_line=line,
                    accepted=row["accepted"],
                    rejected=rejected,
                    reject_reason=row.get("reject_reason") if rejected else None,
                    movement_id=movement_of.get(line.product_id),
                )
            )
            line.accepted += row["accepted"]
            line.rejected += rejected
            if row["accepted"]:
                ledger.change_incoming(s, line.product_id, po.warehouse_id, -row["accepted"])
        before = po.status
        if all(line.outstanding == 0 for line in po.lines):
            po.status = POStatus.RECEIVED.value
            po.received_at = received_at
        else:
            po.status = POStatus.PARTIALLY_RECEIVED.value
        touch(po)
        s.flush()
        record(
            s,
            actor,
            po,
            "receive",
            before,
            receipt=receipt.id,
            accepted=sum(r["accepted"] for r in data["lines"]),
            rejected=sum(r.get("rejected", 0) for r in data["lines"]),
        )
        scorecards.rescore(s, po.supplier, as_of=max(now, received_at).date())
        uow.commit()
        return receipt
