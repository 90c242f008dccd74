"""Reservations: all or nothing, allocation across warehouses, commit, release, expiry, extend."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from core.db import read_only
from inventory.models import Reservation
from tests.factories import assert_problem
from tests.reservation_factories import reserve

# Shanghai, Beijing and Guangzhou, with a customer in each city.
SH = {"latitude": 31.23, "longitude": 121.47}
BJ = {"latitude": 39.90, "longitude": 116.41}
GZ = {"latitude": 23.13, "longitude": 113.26}


@pytest.fixture
def world(make_product, make_warehouse, receive):
    for sku in ("A", "B", "C"):
        make_product(sku=sku)
    make_warehouse(code="SH1", **SH)
    make_warehouse(code="BJ1", **BJ)
    make_warehouse(code="GZ1", **GZ)
    receive("A", "SH1", 5)
    receive("A", "BJ1", 5)
    receive("A", "GZ1", 5)
    receive("B", "BJ1", 5)
    receive("B", "GZ1", 2)


def available(api, sku: str, warehouse: str | None = None) -> int:
    query = {"sku": sku, **({"warehouse": warehouse} if warehouse else {})}
    return api.get("/availability", query_string=query).json["items"][0]["available"]


def level(api, sku: str, warehouse: str) -> dict:
    (item,) = api.get("/stock", query_string={"sku": sku, "warehouse": warehouse}).json["items"]
    return item


def reservation_count(app) -> int:
    with app.app_context(), read_only() as s:
        return len(s.scalars(select(Reservation.id)).all())


# --- creating -------------------------------------------------------------------------------------


def test_a_reservation_holds_the_units_and_says_where(storefront, world, clock, check_invariants):
    r = reserve(storefront, {"A": 3}, order_ref="ORD-7", destination=SH)
    assert r.status_code == 201, r.json
    body = r.json
    assert body["order_ref"] == "ORD-7"
    assert body["status"] == "active"
    assert body["lines"] == [{"sku": "A", "quantity": 3, "warehouse": "SH1"}]
    assert (datetime.fromisoformat(body["expires_at"]) - clock.now).total_seconds() == 900
    assert body["created_by"] == storefront.username
    assert body["reference"] == f"reservation:{body['id']}"
    assert r.headers["Location"].endswith(f"/api/v1/reservations/{body['id']}")
    assert level(storefront, "A", "SH1")["reserved"] == 3
    assert level(storefront, "A", "SH1")["on_hand"] == 5
    assert storefront.get(f"/reservations/{body['id']}").json == body
    check_invariants()


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"warehouse": "BJ1", "destination": {**BJ, "region": "north"}, "deliver_by": "2026-12-24"},
        {"destination": {"region": "south"}, "ttl_seconds": 61},
    ],
)
def test_the_created_reservation_reads_back_the_same(storefront, world, extra):
    """The 201 is written without the response schema; reading it back goes through it."""
    r = reserve(storefront, {"A": 2, "B": 1}, **extra)
    assert r.status_code == 201, r.json
    assert storefront.get(f"/reservations/{r.json['id']}").json == r.json
    assert r.json["deliver_by"] == extra.get("deliver_by")
    assert r.json["destination"] == (
        {**extra["destination"], "region": extra["destination"]["region"].upper()}
        if "destination" in extra
        else None
    )


def test_ttl_seconds_sets_the_expiry(storefront, world, clock):
    body = reserve(storefront, {"A": 1}, ttl_seconds=120).json
    assert (datetime.fromisoformat(body["expires_at"]) - clock.now).total_seconds() == 120


def test_a_short_line_reserves_nothing_at_all(app, storefront, world, check_invariants):
    r = reserve(storefront, {"A": 2, "B": 8, "C": 1})
    body = assert_problem(r, 409)
    assert body["type"].endswith("insufficient-stock")
    assert set(body["errors"]) == {"lines.1.quantity", "lines.2.quantity"}
    assert "7 available" in body["errors"]["lines.1.quantity"][0]
    assert "0 available" in body["errors"]["lines.2.quantity"][0]
    assert available(storefront, "A") == 15
    assert reservation_count(app) == 0
    check_invariants()


def test_a_named_warehouse_must_fill_the_order_itself(storefront, world):
    body = assert_problem(reserve(storefront, {"B": 3}, warehouse="GZ1"), 409)
    assert "2 available in GZ1" in body["errors"]["lines.0.quantity"][0]
    r = reserve(storefront, {"B": 2}, warehouse="GZ1", destination=BJ)
    assert r.json["lines"] == [{"sku": "B", "quantity": 2, "warehouse": "GZ1"}]
    assert r.json["warehouse"] == "GZ1"


@pytest.mark.parametrize(("destination", "expected"), [(SH, "SH1"), (BJ, "BJ1"), (GZ, "GZ1")])
def test_the_nearest_warehouse_that_can_fill_the_order_ships_it(
    storefront, world, destination, expected
):
    r = reserve(storefront, {"A": 2}, destination=destination)
    assert r.json["lines"] == [{"sku": "A", "quantity": 2, "warehouse": expected}]


def test_one_warehouse_for_the_whole_order_beats_a_nearer_split(storefront, world):
    # Shanghai is nearest but has no B; Beijing has both.
    r = reserve(storefront, {"A": 2, "B": 2}, destination=SH)
    assert {ln["warehouse"] for ln in r.json["lines"]} == {"BJ1"}


def test_without_destination_the_warehouse_priority_decides(admin, storefront, world):
    assert admin.patch("/warehouses/GZ1", json={"priority": 1}).status_code == 200
    r = reserve(storefront, {"A": 1})
    assert r.json["lines"][0]["warehouse"] == "GZ1"


def test_an_order_no_warehouse_can_fill_alone_is_split_across_the_fewest(
    storefront, world, check_invariants
):
    r = reserve(storefront, {"A": 12, "B": 6}, destination=GZ)
    assert r.status_code == 201, r.json
    lines = r.json["lines"]
    assert {ln["warehouse"] for ln in lines} <= {"SH1", "BJ1", "GZ1"}
    assert sum(ln["quantity"] for ln in lines if ln["sku"] == "A") == 12
    assert sum(ln["quantity"] for ln in lines if ln["sku"] == "B") == 6
    # B needs Beijing and Guangzhou; A's 12 need all three warehouses anyway.
    assert {ln["warehouse"] for ln in lines if ln["sku"] == "B"} == {"BJ1", "GZ1"}
    assert available(storefront, "A") == 3
    assert available(storefront, "B") == 1
    check_invariants()


def test_a_split_picks_two_warehouses_over_three(storefront, make_product, make_warehouse, receive):
    make_product(sku="X")
    make_product(sku="Y")
    make_warehouse(code="NEAR", **SH)
    make_warehouse(code="MID", latitude=35.0, longitude=118.0)
    make_warehouse(code="FAR", **GZ)
    receive("X", "NEAR", 1)
    receive("Y", "NEAR", 1)
    receive("X", "MID", 4)
    receive("Y", "FAR", 4)
    r = reserve(storefront, {"X": 4, "Y": 4}, destination=SH)
    assert r.status_code == 201, r.json
    assert sorted((ln["sku"], ln["warehouse"]) for ln in r.json["lines"]) == [
        ("X", "MID"),
        ("Y", "FAR"),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lines": [{"sku": "A", "quantity": 1}]}, "order_ref"),
        ({"order_ref": "O", "lines": []}, "lines"),
        ({"order_ref": "O", "lines": [{"sku": "A", "quantity": 0}]}, "lines"),
        ({"order_ref": "O", "lines": [{"sku": "A", "quantity": 1.5}]}, "lines"),
        (
            {"order_ref": "O", "lines": [{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 2}]},
            "lines",
        ),
        (
            {"order_ref": "O", "lines": [{"sku": "A", "quantity": 1}], "ttl_seconds": 0},
            "ttl_seconds",
        ),
        (
            {"order_ref": "O", "lines": [{"sku": "A", "quantity": 1}], "ttl_seconds": 86401},
            "ttl_seconds",
        ),
        (
            {
                "order_ref": "O",
                "lines": [{"sku": "A", "quantity": 1}],
                "destination": {"latitude": 91, "longitude": 0},
            },
            "destination",
        ),
        ({"order_ref": "O", "lines": [{"sku": "ZZZ", "quantity": 1}]}, "lines.0.sku"),
        (
            {"order_ref": "O", "lines": [{"sku": "A", "quantity": 1}], "warehouse": "NOWHERE"},
            "warehouse",
        ),
        ({"order_ref": "O", "lines": [{"sku": "A", "quantity": 1}], "colour": "red"}, "colour"),
    ],
)
def test_bad_requests_are_422_naming_the_field_and_reserve_nothing(
    app, storefront, world, body, field
):
    assert_problem(storefront.post("/reservations", json=body), 422, field)
    assert reservation_count(app) == 0


def test_a_closed_warehouse_takes_no_reservations(admin, storefront, world):
    admin.patch("/warehouses/SH1", json={"active": False})
    assert_problem(reserve(storefront, {"A": 1}, warehouse="SH1"), 422, "warehouse")
    r = reserve(storefront, {"A": 1}, destination=SH)
    assert r.json["lines"][0]["warehouse"] != "SH1"


@pytest.mark.parametrize("role", ["warehouse", "buyer", "approver", "planner", "viewer"])
def test_only_storefront_and_admin_may_reserve(make_user, storefront, world, role):
    held = reserve(storefront, {"A": 1}).json["id"]
    api = make_user(role, warehouses=["SH1"] if role == "warehouse" else None)
    assert_problem(reserve(api, {"A": 1}), 403)
    assert_problem(api.get(f"/reservations/{held}"), 403)
    for action in ("commit", "release"):
        assert_problem(api.post(f"/reservations/{held}/{action}"), 403)
    assert_problem(api.post(f"/reservations/{held}/extend", json={"ttl_seconds": 60}), 403)


def test_admin_may_reserve_too(admin, world):
    assert reserve(admin, {"A": 1}).status_code == 201


def test_unknown_reservation_is_404(storefront, world):
    assert_problem(storefront.get("/reservations/999999"), 404)
    assert_problem(storefront.post("/reservations/999999/commit"), 404)


# --- commit and release ---------------------------------------------------------------------------


def test_commit_turns_the_hold_into_issue_movements(storefront, world, check_invariants):
    held = reserve(storefront, {"A": 7, "B": 1}, order_ref="ORD-9", destination=BJ).json
    r = storefront.post(f"/reservations/{held['id']}/commit")
    assert r.status_code == 200, r.json
    assert r.json["status"] == "committed"
    assert r.json["closed_at"] is not None
    movements = storefront.get(
        "/stock/movements", query_string={"reference": f"reservation:{held['id']}"}
    ).json["items"]
    assert sorted(
        (m["sku"], m["warehouse"], m["quantity"], m["type"]) for m in movements
    ) == sorted((ln["sku"], ln["warehouse"], -ln["quantity"], "issue") for ln in held["lines"])
    assert all(m["reason"] == "order ORD-9" for m in movements)
    assert all(m["actor"] == storefront.username for m in movements)
    assert available(storefront, "A") == 8
    assert level(storefront, "B", "BJ1") == {
        "sku": "B",
        "warehouse": "BJ1",
        "on_hand": 4,
        "reserved": 0,
        "available": 4,
        "incoming": 0,
        "over_reserved": False,
    }
    check_invariants()


def test_release_gives_the_units_back(storefront, world, check_invariants):
    held = reserve(storefront, {"A": 4}, destination=SH).json
    assert available(storefront, "A", "SH1") == 1
    r = storefront.post(f"/reservations/{held['id']}/release")
    assert r.status_code == 200
    assert r.json["status"] == "released"
    assert available(storefront, "A", "SH1") == 5
    assert (
        storefront.get("/stock/movements?reference=reservation:" + str(held["id"])).json["items"]
        == []
    )
    check_invariants()


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ("commit", "commit"),
        ("commit", "release"),
        ("commit", "extend"),
        ("release", "release"),
        ("release", "commit"),
        ("release", "extend"),
    ],
)
def test_a_reservation_no_longer_active_cannot_be_committed_released_or_extended(
    storefront, world, first, then, check_invariants
):
    held = reserve(storefront, {"A": 2}).json["id"]
    assert storefront.post(f"/reservations/{held}/{first}").status_code == 200
    on_hand = level(storefront, "A", "BJ1")["on_hand"] + level(storefront, "A", "SH1")["on_hand"]
    body = assert_problem(
        storefront.post(
            f"/reservations/{held}/{then}", json={"ttl_seconds": 60} if then == "extend" else None
        ),
        409,
    )
    assert body["type"].endswith("reservation-not-active")
    assert (
        on_hand
        == level(storefront, "A", "BJ1")["on_hand"] + level(storefront, "A", "SH1")["on_hand"]
    )
    check_invariants()


# --- expiry ---------------------------------------------------------------------------------------


def test_an_expired_hold_reads_expired_and_cannot_be_committed_or_released(
    storefront, world, clock, check_invariants
):
    held = reserve(storefront, {"A": 5}, warehouse="SH1", ttl_seconds=60).json["id"]
    clock.advance(seconds=60)
    assert storefront.get(f"/reservations/{held}").json["status"] == "expired"
    for action in ("commit", "release"):
        body = assert_problem(storefront.post(f"/reservations/{held}/{action}"), 409)
        assert "expired" in body["detail"]
    assert_problem(storefront.post(f"/reservations/{held}/extend", json={"ttl_seconds": 60}), 409)
    assert level(storefront, "A", "SH1")["on_hand"] == 5
    assert available(storefront, "A", "SH1") == 5
    check_invariants()


def test_a_new_reservation_takes_the_units_of_an_expired_hold_without_a_sweeper(
    storefront, world, clock, check_invariants
):
    first = reserve(storefront, {"A": 5, "B": 5}, warehouse="BJ1", ttl_seconds=30).json["id"]
    assert_problem(reserve(storefront, {"A": 5}, warehouse="BJ1"), 409)
    clock.advance(seconds=31)
    second = reserve(storefront, {"A": 5}, warehouse="BJ1")
    assert second.status_code == 201, second.json
    check_invariants()  # the lapsed A line was released, its B line still counts in `reserved`
    assert level(storefront, "B", "BJ1")["reserved"] == 5
    assert available(storefront, "B", "BJ1") == 5
    assert storefront.get(f"/reservations/{first}").json["status"] == "expired"
    assert_problem(storefront.post(f"/reservations/{first}/commit"), 409)


def test_an_issue_may_use_the_units_of_an_expired_hold(
    admin, storefront, world, clock, check_invariants
):
    reserve(storefront, {"B": 2}, warehouse="GZ1", ttl_seconds=30)
    issue = {"type": "issue", "sku": "B", "warehouse": "GZ1", "quantity": 2}
    assert_problem(admin.post("/stock/movements", json=issue), 409)
    clock.advance(seconds=30)
    assert admin.post("/stock/movements", json=issue).status_code == 201
    check_invariants()


def test_a_hold_is_active_until_the_last_instant(storefront, world, clock):
    held = reserve(storefront, {"A": 1}, ttl_seconds=10).json["id"]
    clock.advance(seconds=9.999)
    assert storefront.get(f"/reservations/{held}").json["status"] == "active"
    assert storefront.post(f"/reservations/{held}/commit").status_code == 200


# --- extend ---------------------------------------------------------------------------------------


def test_extend_keeps_the_hold_past_its_first_expiry(storefront, world, clock, check_invariants):
    held = reserve(storefront, {"A": 5}, warehouse="SH1", ttl_seconds=60).json["id"]
    clock.advance(seconds=50)
    r = storefront.post(f"/reservations/{held}/extend", json={"ttl_seconds": 300})
    assert r.status_code == 200, r.json
    assert (datetime.fromisoformat(r.json["expires_at"]) - clock.now).total_seconds() == 300
    clock.advance(seconds=200)
    assert available(storefront, "A", "SH1") == 0
    assert storefront.get(f"/reservations/{held}").json["status"] == "active"
    assert storefront.post(f"/reservations/{held}/commit").status_code == 200
    check_invariants()


def test_extend_never_shortens_a_hold(storefront, world, clock):
    held = reserve(storefront, {"A": 1}, ttl_seconds=600).json
    r = storefront.post(f"/reservations/{held['id']}/extend", json={"ttl_seconds": 60})
    assert r.json["expires_at"] == held["expires_at"]


@pytest.mark.parametrize(
    "body", [{}, {"ttl_seconds": 0}, {"ttl_seconds": "60"}, {"ttl_seconds": 86401}]
)
def test_extend_needs_a_valid_ttl(storefront, world, body):
    held = reserve(storefront, {"A": 1}).json["id"]
    assert_problem(storefront.post(f"/reservations/{held}/extend", json=body), 422, "ttl_seconds")


def test_a_count_below_what_is_reserved_is_posted_and_flagged(
    app, make_user, storefront, world, check_invariants
):
    r = reserve(storefront, {"A": 4}, warehouse="SH1")
    assert r.status_code == 201, r.json
    staff = make_user("warehouse", warehouses=["SH1"])
    counted = staff.post(
        "/stock/counts",
        json={"warehouse": "SH1", "reason": "shelf count", "lines": [{"sku": "A", "counted": 2}]},
    )
    # The count is a fact: posted, not refused, and the level is flagged for staff.
    assert counted.status_code == 201, counted.json
    (lv,) = counted.json["levels"]
    assert (lv["on_hand"], lv["reserved"], lv["over_reserved"]) == (2, 4, True)
    shown = level(staff, "A", "SH1")
    assert shown["over_reserved"] is True
    assert available(storefront, "A", "SH1") <= 0
    check_invariants()
    # Units that are not on the shelf cannot ship: committing the hold is refused, nothing moves.
    assert_problem(storefront.post(f"/reservations/{r.json['id']}/commit"), 409)
    assert level(staff, "A", "SH1")["on_hand"] == 2
    # Releasing the hold (or receiving stock) resolves it.
    assert storefront.post(f"/reservations/{r.json['id']}/release").status_code == 200
    after = level(staff, "A", "SH1")
    assert (after["reserved"], after["over_reserved"]) == (0, False)
    check_invariants()
