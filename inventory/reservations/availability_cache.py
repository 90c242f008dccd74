"""An opt-in memory of recent availability answers inside each server process, for promotion peaks.

At a promotion the storefront asks for the same few hundred skus thousands of times a second.
With ``AVAILABILITY_CACHE_SECONDS`` above 0 (the default 0 switches it off), each process keeps
its answer per (sku, warehouse asked) for that many seconds and answers repeats from memory.

How stale an answer may be:

- a write made through this process (a reservation, commit or release, a stock movement or count,
  a product added, a warehouse opened or closed) forgets the answers it changes as soon as its
  transaction has ended: the next request of this process reads the database;
- a write made by another process (the other gunicorn workers, a Celery worker, a command) is
  seen once the answer is older than ``AVAILABILITY_CACHE_SECONDS``: the figure may be up to that
  many seconds stale, and so may a hold that lapsed meanwhile;
- the reserve decision never reads this cache: ``reserve`` checks the database, under conditional
  UPDATEs, whatever availability said. A stale figure can make a checkout fail with 409 or show a
  unit that is gone, never sell one that is not there.

Answers read while a write of this process was ending are not kept (a generation count, bumped by
every forgetting, tells), so a forgotten figure cannot come back from a read that raced the write.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from flask import Flask, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from core import context
from inventory import events

V = TypeVar("V")
Key = tuple[str, str | None]
"""(sku, warehouse asked or None)."""

EXTENSION = "stockroom.availability_cache"
#: Answers kept at most; beyond, the cache starts again empty (a bound on memory, not an LRU:
#: a promotion's hot skus are back in it within a request each).
MAX_ENTRIES = 100_000
PENDING = "stockroom.availability_changed"
#: What forgets on every write that changes availability: this cache and ``forgets_too``'s.
FORGETTING = "stockroom.availability_memories"


class AvailabilityCache(Generic[V]):
    """Answers per (sku, warehouse) for ``seconds``, with the product each one is about."""

    def __init__(
        self,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.seconds = seconds
        self.clock = clock
        self.max_entries = max_entries
        self.generation = 0
        self._entries: dict[Key, tuple[float, V]] = {}
        self._by_product: dict[int, set[Key]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, skus: Sequence[str], warehouse: str | None) -> tuple[dict[str, V], int]:
        """The fresh answers among ``skus``, and the generation to hand back to ``store``.

        The generation is read before anything else: answers read from the database after this
        call are kept only if nothing was forgotten in between.
        """
        generation = self.generation
        now = self.clock()
        entries = self._entries
        hits: dict[str, V] = {}
        for sku in skus:
            entry = entries.get((sku, warehouse))
            if entry is not None and entry[0] > now:
                hits[sku] = entry[1]
        return hits, generation

    def store(
        self,
        answers: Iterable[tuple[str, int | None, V]],
        warehouse: str | None,
        generation: int,
    ) -> None:
        """Keep ``(sku, product id or None for an unknown sku, answer)`` read at ``generation``."""
        with self._lock:
            if generation != self.generation:
                return
            fresh_until = self.clock() + self.seconds
            for sku, product_id, answer in answers:
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
                    self._by_product.clear()
                key = (sku, warehouse)
                self._entries[key] = (fresh_until, answer)
                if product_id is not None:
                    self._by_product.setdefault(product_id, set()).add(key)

    def forget(self, product_ids: Collection[int] | None) -> None:
        """Drop the answers about these products (every answer for None)."""
        with self._lock:
            self.generation += 1
            if product_ids is None:
                self._entries.clear()
                self._by_product.clear()
                return
            for product_id in product_ids:
                for key in self._by_product.pop(product_id, ()):
                    self._entries.pop(key, None)


def current() -> AvailabilityCache[Any] | None:
    """This app's cache, or None when it is off."""
    return context.app().extensions.get(EXTENSION)  # type: ignore[no-any-return]


def init_app(app: Flask) -> None:
    seconds = float(app.config.get("AVAILABILITY_CACHE_SECONDS") or 0)
    cache: AvailabilityCache[Any] | None = AvailabilityCache(seconds) if seconds > 0 else None
    app.extensions[EXTENSION] = cache
    if cache is not None:
        forgets_too(app, cache)


class Forgetting(Protocol):
    def forget(self, product_ids: Collection[int] | None) -> None: ...


def forgets_too(app: Flask, memory: Forgetting) -> None:
    """Have ``memory`` (another per-process memory of stock, such as the reservation plans')
    forget what every write that changes availability changes, at the moments this cache does."""
    app.extensions.setdefault(FORGETTING, []).append(memory)


def _forgetting() -> list[Forgetting]:
    return context.app().extensions.get(FORGETTING) or []  # type: ignore[no-any-return]


class _Pending:
    """What a transaction changed, forgotten when it ends (rolled back too: forgetting is safe)."""

    def __init__(self, memories: list[Forgetting]) -> None:
        self.memories = memories
        self.product_ids: set[int] | None = set()

    def add(self, product_ids: Collection[int] | None) -> None:
        if product_ids is None or self.product_ids is None:
            self.product_ids = None
        else:
            self.product_ids.update(product_ids)


@events.availability_changed.connect
def _note_change(
    _sender: Any, *, session: Session | None, product_ids: Collection[int] | None
) -> None:
    if not has_app_context():
        return
    memories = _forgetting()
    if not memories:
        return
    if session is None:  # already committed
        for memory in memories:
            memory.forget(product_ids)
        return
    pending: _Pending | None = session.info.get(PENDING)
    if pending is None or pending.memories is not memories:
        pending = session.info[PENDING] = _Pending(memories)
    pending.add(product_ids)


@event.listens_for(Session, "after_transaction_end")
def _forget_at_end(session: Session, transaction: SessionTransaction) -> None:
    """Forget once the outermost transaction has committed (or rolled back), not at a savepoint.

    Forgetting before the commit would let a read of this process put the old figure back
    before the new one is visible.
    """
    if transaction.parent is not None:
        return
    pending: _Pending | None = session.info.pop(PENDING, None)
    if pending is not None:
        for memory in pending.memories:
            memory.forget(pending.product_ids)
