"""What a reservation is planned from, kept for a moment inside each server process.

A reservation on PostgreSQL reads the basket's stock (every level of its skus in every warehouse),
allocates in Python, then holds the units with one call of ``reserve_stock``, whose conditional
UPDATEs re-check every level: the read only decides where to take the units from, never whether
they are there. At a promotion peak the same few hundred skus are reserved thousands of times a
second, and that read was a round trip of its own, a third of the database's work and of the
process's waiting. For ``RESERVATION_PLAN_SECONDS`` (default 1; 0 switches it off) each process
plans a basket whose skus it read that recently from what it read, minus what it has held since,
and sends only the call.

What a plan from memory can and cannot do:

- it never sells what is not there: the call's UPDATEs check every level, and a level that lost
  its units meanwhile fails the call whole (``STALE_PLAN``); the basket is then read again and
  planned afresh, as when a rival took the units between the read and the call;
- it never refuses what is there: a basket that memory says is short (or that would take units of
  lapsed holds, which must be released first) is read again, and only the fresh read can answer
  409;
- it may choose warehouses from figures up to that many seconds old for writes made by other
  processes: where a fresh read would have found a nearer warehouse restocked a moment ago, the
  order goes to the one the plan knew. Writes through the same process (receipts, counts, commits,
  releases, a warehouse opened or closed) make it forget at once;
- a closed warehouse takes no reservation whatever the plan says: ``reserve_stock`` holds only in
  open warehouses (a plan that names a closed one fails as stale);
- a basket that names its warehouse is always read first.

Its reservation ids come from the sequence behind ``reservations.id`` too, drawn a block at a time
(``ID_BLOCK``), so each process's ids are increasing but the processes' ids interleave: ``id`` is
a key, not the order reservations were made in (``created_at`` is).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

from flask import Flask
from prometheus_client import Counter

from core import context

EXTENSION = "stockroom.reservation_plans"
#: Skus remembered at most; beyond, the memory starts again empty (as the availability cache).
MAX_ENTRIES = 100_000
#: Reservation ids drawn from the sequence per round trip.
ID_BLOCK = 64

PLANS = Counter(
    "stockroom_reservation_plans_total",
    "Reservations planned on PostgreSQL's one-statement path, by where the plan's figures came "
    "from (memory: this process's read of a moment ago; read: a read for this reservation) and "
    "what became of it (done: held, or answered from the Idempotency-Key's record; stale: the "
    "database found a level short or a warehouse closed; read_again: memory could not settle it).",
    ["source", "outcome"],
)
#: The counters each outcome adds to, bound once.
MEMORY_DONE = PLANS.labels("memory", "done")
MEMORY_STALE = PLANS.labels("memory", "stale")
MEMORY_READ_AGAIN = PLANS.labels("memory", "read_again")
READ_DONE = PLANS.labels("read", "done")
READ_STALE = PLANS.labels("read", "stale")

#: A row of the optimistic read, without the id it draws: (sku, product id, warehouse id, code,
#: priority, latitude, longitude, open, available, units of lapsed holds).
Row = Sequence[Any]
#: The read's columns before the id (``reserve._plan_statement``).
ROW_WIDTH = 10
_AVAILABLE = 8


class PlanCache:
    """Per sku: the rows the last read of it found, and when, for ``seconds``."""

    def __init__(
        self,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.seconds = seconds
        self.clock = clock
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, tuple[Row, ...]]] = {}
        self._by_product: dict[int, str] = {}
        self._lock = threading.Lock()
        self._ids: deque[int] = deque()
        self._ids_pid = os.getpid()

    def __len__(self) -> int:
        return len(self._entries)

    def rows(self, skus: Sequence[str]) -> tuple[list[Row], float] | None:
        """Every remembered row of ``skus`` and when the oldest was read, if all are recent."""
        now = self.clock()
        entries = self._entries
        found: list[Row] = []
        oldest = now
        for sku in skus:
            entry = entries.get(sku)
            if entry is None or entry[0] + self.seconds <= now:
                return None
            found.extend(entry[1])
            oldest = min(oldest, entry[0])
        return found, oldest

    def keep(self, rows: Iterable[Row], read_at: float) -> None:
        """Remember each sku's rows (all of its levels, as one read found them at ``read_at``)."""
        per_sku: dict[str, list[Row]] = {}
        for row in rows:
            per_sku.setdefault(row[0], []).append(tuple(row[:ROW_WIDTH]))
        with self._lock:
            if len(self._entries) + len(per_sku) > self.max_entries:
                self._entries.clear()
                self._by_product.clear()
            for sku, kept in per_sku.items():
                self._entries[sku] = (read_at, tuple(kept))
                self._by_product[kept[0][1]] = sku

    def held(self, rows: Iterable[Row], read_at: float, taken: dict[tuple[int, int], int]) -> None:
        """Remember ``rows`` less the units just held (``taken`` per (product id, warehouse id)),
        as of the read they came from: this process's own reservations are seen at once."""
        self.keep(
            (
                (*row[:_AVAILABLE], row[_AVAILABLE] - taken[(row[1], row[2])], *row[9:ROW_WIDTH])
                if (row[1], row[2]) in taken
                else row
                for row in rows
            ),
            read_at,
        )

    def forget_skus(self, skus: Iterable[str]) -> None:
        with self._lock:
            for sku in skus:
                self._entries.pop(sku, None)

    def forget(self, product_ids: Collection[int] | None) -> None:
        """Drop what is remembered of these products (everything for None)."""
        with self._lock:
            if product_ids is None:
                self._entries.clear()
                self._by_product.clear()
                return
            for product_id in product_ids:
                sku = self._by_product.pop(product_id, None)
                if sku is not None:
                    self._entries.pop(sku, None)

    def next_id(self, draw: Callable[[int], list[int]]) -> int:
        """A reservation id of this process's block, drawing ``ID_BLOCK`` more when it is spent.

        A block drawn before a fork (gunicorn's ``--preload``) is the parent's: a child starts
        its own, so no two processes hand out the same id.
        """
        pid = os.getpid()
        if pid != self._ids_pid:
            with self._lock:
                if pid != self._ids_pid:
                    self._ids = deque()
                    self._ids_pid = pid
        ids = self._ids
        while True:
            try:
                return ids.popleft()
            except IndexError:
                ids.extend(draw(ID_BLOCK))


def current() -> PlanCache | None:
    """This app's memory of plans, or None when it is off."""
    return context.app().extensions.get(EXTENSION)  # type: ignore[no-any-return]


def init_app(app: Flask) -> None:
    from inventory.reservations import availability_cache

    seconds = float(app.config.get("RESERVATION_PLAN_SECONDS") or 0)
    cache = PlanCache(seconds) if seconds > 0 else None
    app.extensions[EXTENSION] = cache
    if cache is not None:
        availability_cache.forgets_too(app, cache)
