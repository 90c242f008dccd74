"""A large basket's answers from its parts' rows, in whatever order the parts' chunks come.

Each part's statement sends its open warehouses (ids and codes) first, then a row per known sku
naming the warehouses that stock it by id. These tests hand ``_Answers.add_sites`` rows the way
``DriverStatement.chunks_side_by_side`` does, chunk by chunk and part by part.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest

availability = importlib.import_module("inventory.reservations.availability")

OPEN = (None, None, [1, 2], None, ["W1", "W2"])


def answers(warehouse: str | None = None) -> Any:
    heard: list[Any] = []
    found = availability._Answers(warehouse, heard.append)
    return found, heard


def test_each_sku_lists_its_open_warehouses_by_code_with_their_units():
    found, heard = answers()
    found.add_sites([OPEN, ("A", 10, [2, 1], [4, 3], None), ("B", 11, None, None, None)])
    assert found.by_sku["A"] == ("A", True, 7, (("W1", 3), ("W2", 4)))
    assert found.by_sku["B"] == ("B", True, 0, ())
    assert found.product_ids == {"A": 10, "B": 11}
    assert [answer.sku for answer in heard] == ["A", "B"]


def test_what_a_closed_warehouse_holds_is_neither_listed_nor_counted():
    found, _ = answers()
    found.add_sites([OPEN, ("A", 10, [3, 1], [50, 3], None), ("B", 11, [3], [9], None)])
    assert found.by_sku["A"] == ("A", True, 3, (("W1", 3),))
    assert found.by_sku["B"] == ("B", True, 0, ())


def test_a_closed_warehouse_asked_for_offers_nothing_and_is_checked_to_exist():
    found, _ = answers("W3")
    found.add_sites([OPEN, ("A", 10, [3], [50], None)])
    assert found.by_sku["A"] == ("A", True, 0, (("W3", 0),))
    assert found.unstocked is True


def test_each_part_is_read_with_its_own_warehouses_whichever_comes_first():
    found, _ = answers()
    found.add_sites([(None, None, [1], None, ["W1"]), ("A", 10, [1], [2], None)], part=1)
    found.add_sites([(None, None, [1], None, ["EAST"]), ("B", 11, [1], [5], None)], part=0)
    found.add_sites([("C", 12, [1], [1], None)], part=1)
    assert found.by_sku["A"].warehouses == (("W1", 2),)
    assert found.by_sku["B"].warehouses == (("EAST", 5),)
    assert found.by_sku["C"].warehouses == (("W1", 1),)


def test_rows_that_come_before_their_parts_warehouses_are_answered_once_those_come():
    found, heard = answers()
    found.add_sites([("A", 10, [1], [2], None)], part=2)
    assert heard == []
    found.add_sites([("B", 11, [2], [5], None), OPEN, ("C", 12, [1, 2], [1, 1], None)], part=2)
    assert {answer.sku: answer.available for answer in heard} == {"A": 2, "B": 5, "C": 2}
    found.add_unknown(["A", "B", "C", "D"])
    assert found.by_sku["D"] == ("D", False, 0, ())


def test_a_part_whose_warehouses_never_came_is_an_error_not_a_missing_answer():
    found, _ = answers()
    found.add_sites([("A", 10, [1], [2], None)], part=0)
    with pytest.raises(RuntimeError):
        found.add_unknown(["A"])
