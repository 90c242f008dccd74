"""What other features may react to, inside the transaction that makes the change.

A receiver runs in the sender's unit of work with its session: what it writes commits or rolls
back with the change itself, and a receiver that raises undoes the change. Inventory imports no
feature above it; features above connect here (logistics makes a shipment when an order is
committed).
"""

from __future__ import annotations

from dataclasses import dataclass

from blinker import Namespace

_signals = Namespace()


@dataclass(frozen=True)
class CommittedLine:
    product_id: int
    warehouse_id: int
    quantity: int


#: Sent with ``session``, ``reservation`` (the row, now committed) and ``lines`` (CommittedLine).
reservation_committed = _signals.signal("reservation-committed")

#: Sent with ``session`` and ``product_ids`` (the products whose availability a write changes, or
#: None when it may change any: a product added, a warehouse opened or closed) by every write
#: that changes what the storefront's availability answers, inside its transaction. The
#: availability cache forgets those answers once the transaction has ended. ``session`` is None
#: for a write already committed (one statement on the autocommit pool): they go at once.
availability_changed = _signals.signal("availability-changed")
