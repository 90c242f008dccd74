"""Choosing warehouses for an order: one that fills it all, nearest first; else the fewest."""

from __future__ import annotations

import pytest

from inventory.reservations import allocation
from inventory.reservations.allocation import Line, Pick, Site, allocate, great_circle_km, rank

SHANGHAI = (31.23, 121.47)
BEIJING = (39.90, 116.41)
GUANGZHOU = (23.13, 113.26)

SH = Site("SH", priority=100, latitude=SHANGHAI[0], longitude=SHANGHAI[1])
BJ = Site("BJ", priority=100, latitude=BEIJING[0], longitude=BEIJING[1])
GZ = Site("GZ", priority=100, latitude=GUANGZHOU[0], longitude=GUANGZHOU[1])


def test_great_circle_distance_matches_known_city_pairs():
    assert great_circle_km(*SHANGHAI, *BEIJING) == pytest.approx(1068, rel=0.01)
    assert great_circle_km(51.5074, -0.1278, 48.8566, 2.3522) == pytest.approx(344, rel=0.01)
    assert great_circle_km(*SHANGHAI, *SHANGHAI) == 0


def test_one_warehouse_that_fills_the_whole_order_beats_a_split():
    stock = {"A": {"SH": 5, "BJ": 10}, "B": {"SH": 5, "BJ": 10}}
    result = allocate([Line("A", 8), Line("B", 8)], stock, [SH, BJ], destination=SHANGHAI)
    assert result.ok
    assert result.warehouses == ["BJ"]
    assert result.picks == [Pick(0, "A", "BJ", 8), Pick(1, "B", "BJ", 8)]


def test_nearest_warehouse_to_the_destination_wins_among_those_that_can_fill():
    stock = {"A": {"SH": 5, "BJ": 5, "GZ": 5}}
    assert allocate([Line("A", 2)], stock, [SH, BJ, GZ], BEIJING).warehouses == ["BJ"]
    assert allocate([Line("A", 2)], stock, [SH, BJ, GZ], GUANGZHOU).warehouses == ["GZ"]
    assert allocate([Line("A", 2)], stock, [SH, BJ, GZ], (31.0, 121.0)).warehouses == ["SH"]


def test_without_destination_priority_then_code_decides():
    low = Site("ZZ", priority=10)
    stock = {"A": {"SH": 5, "BJ": 5, "ZZ": 5}}
    assert allocate([Line("A", 1)], stock, [SH, BJ, low]).warehouses == ["ZZ"]
    assert allocate([Line("A", 1)], stock, [SH, BJ]).warehouses == ["BJ"]  # same priority: code


def test_warehouses_without_coordinates_come_after_located_ones_when_a_destination_is_given():
    nowhere = Site("AAA", priority=0)
    ranked = rank([nowhere, GZ, SH], SHANGHAI)
    assert [s.code for s in ranked] == ["SH", "GZ", "AAA"]


def test_split_uses_the_fewest_warehouses_not_the_nearest_first():
    # Greedy by distance from Shanghai would take SH, then BJ, then GZ (three parcels);
    # BJ and GZ together fill the order in two.
    stock = {
        "A": {"SH": 1, "BJ": 4, "GZ": 0},
        "B": {"SH": 1, "BJ": 0, "GZ": 4},
    }
    result = allocate([Line("A", 4), Line("B", 4)], stock, [SH, BJ, GZ], SHANGHAI)
    assert result.ok
    assert sorted(result.warehouses) == ["BJ", "GZ"]
    assert sum(p.quantity for p in result.picks if p.sku == "A") == 4
    assert sum(p.quantity for p in result.picks if p.sku == "B") == 4


def test_a_line_split_takes_from_the_nearest_chosen_warehouse_first():
    stock = {"A": {"SH": 3, "BJ": 3, "GZ": 3}}
    result = allocate([Line("A", 5)], stock, [SH, BJ, GZ], GUANGZHOU)
    # Two warehouses are needed; GZ and SH are the nearest two to Guangzhou.
    assert result.picks == [Pick(0, "A", "GZ", 3), Pick(0, "A", "SH", 2)]


def test_equally_small_splits_prefer_the_better_ranked_warehouses():
    stock = {"A": {"SH": 2, "BJ": 2, "GZ": 2}}
    near_beijing = allocate([Line("A", 4)], stock, [SH, BJ, GZ], BEIJING)
    assert near_beijing.warehouses == ["BJ", "SH"]


def test_lines_that_cannot_be_filled_anywhere_are_all_reported_and_nothing_is_picked():
    stock = {"A": {"SH": 2, "BJ": 1}, "B": {"SH": 9}, "C": {}}
    result = allocate([Line("A", 4), Line("B", 1), Line("C", 1)], stock, [SH, BJ])
    assert not result.ok
    assert result.picks == []
    assert [(s.line, s.sku, s.requested, s.available) for s in result.shortages] == [
        (0, "A", 4, 3),
        (2, "C", 1, 0),
    ]


def test_negative_stock_counts_as_nothing_to_sell():
    stock = {"A": {"SH": -5, "BJ": 3}}
    result = allocate([Line("A", 3)], stock, [SH, BJ])
    assert result.picks == [Pick(0, "A", "BJ", 3)]
    short = allocate([Line("A", 4)], stock, [SH, BJ])
    assert short.shortages[0].available == 3


def test_many_warehouses_fall_back_to_a_greedy_cover_that_still_fills_the_order(monkeypatch):
    monkeypatch.setattr(allocation, "MAX_SETS_PER_SIZE", 3)
    sites = [Site(f"W{i:02d}", priority=i) for i in range(12)]
    stock = {f"S{i}": {f"W{i:02d}": 1} for i in range(12)}
    lines = [Line(f"S{i}", 1) for i in range(0, 12, 3)]
    result = allocate(lines, stock, sites)
    assert result.ok
    assert sorted(result.warehouses) == ["W00", "W03", "W06", "W09"]


def test_allocation_is_stable_for_the_same_input():
    stock = {"A": {"SH": 2, "BJ": 2, "GZ": 2}, "B": {"SH": 1, "BJ": 1, "GZ": 1}}
    first = allocate([Line("A", 3), Line("B", 2)], stock, [GZ, SH, BJ])
    for order in ([SH, BJ, GZ], [BJ, GZ, SH]):
        assert allocate([Line("A", 3), Line("B", 2)], stock, order) == first
