"""The per-process memory reservations are planned from: its window, what it forgets, its ids."""

from __future__ import annotations

import itertools

import pytest

from inventory.reservations import plan_cache
from inventory.reservations.plan_cache import PlanCache

#: Rows as the optimistic read returns them, with the drawn id last.
A_W1 = ("A", 1, 10, "W1", 1, None, None, True, 5, 0, 900)
A_W2 = ("A", 1, 20, "W2", 2, None, None, True, 7, 0, 900)
B_W1 = ("B", 2, 10, "W1", 1, None, None, True, 3, 1, 900)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_basket_is_remembered_for_the_window_and_only_whole(clock: Clock) -> None:
    plans = PlanCache(1.0, clock=clock)
    plans.keep([A_W1, A_W2], read_at=clock.now)
    assert plans.rows(["A"]) == ([A_W1[:10], A_W2[:10]], 100.0)
    assert plans.rows(["A", "B"]) is None  # B was never read
    clock.now += 0.99
    assert plans.rows(["A"]) is not None
    clock.now += 0.01
    assert plans.rows(["A"]) is None


def test_what_the_process_held_is_taken_off_as_of_the_original_read(clock: Clock) -> None:
    plans = PlanCache(1.0, clock=clock)
    clock.now += 0.5
    plans.held([A_W1, A_W2, B_W1], read_at=100.0, taken={(1, 20): 4, (2, 10): 3})
    rows, read_at = plans.rows(["A", "B"]) or ([], 0.0)
    assert read_at == 100.0
    available = {(row[0], row[3]): row[8] for row in rows}
    assert available == {("A", "W1"): 5, ("A", "W2"): 3, ("B", "W1"): 0}
    assert all(row[9] == base[9] for row, base in zip(rows, [A_W1, A_W2, B_W1], strict=True))
    clock.now += 0.5
    assert plans.rows(["A"]) is None  # the window runs from the read, not from the hold


def test_forgetting_by_product_by_sku_and_everything() -> None:
    plans = PlanCache(10.0)
    plans.keep([A_W1, A_W2, B_W1], read_at=plans.clock())
    plans.forget({2})
    assert plans.rows(["B"]) is None
    assert plans.rows(["A"]) is not None
    plans.forget_skus(["A"])
    assert len(plans) == 0
    plans.keep([A_W1, B_W1], read_at=plans.clock())
    plans.forget(None)
    assert len(plans) == 0


def test_memory_is_bounded() -> None:
    plans = PlanCache(10.0, max_entries=2)
    plans.keep([A_W1, B_W1], read_at=plans.clock())
    plans.keep([("C", 3, 10, "W1", 1, None, None, True, 1, 0)], read_at=plans.clock())
    assert len(plans) == 1
    assert plans.rows(["C"]) is not None


def test_ids_come_in_blocks_and_a_forked_process_draws_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sequence = itertools.count(1)
    draws: list[int] = []

    def draw(n: int) -> list[int]:
        draws.append(n)
        return [next(sequence) for _ in range(n)]

    plans = PlanCache(1.0)
    first = [plans.next_id(draw) for _ in range(plan_cache.ID_BLOCK + 1)]
    assert first == list(range(1, plan_cache.ID_BLOCK + 2))
    assert draws == [plan_cache.ID_BLOCK] * 2
    monkeypatch.setattr(plan_cache.os, "getpid", lambda: -1)  # the child of a fork
    assert plans.next_id(draw) == 2 * plan_cache.ID_BLOCK + 1
