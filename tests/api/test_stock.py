"""Stock endpoints of API.md: movements of every type, counts, levels and the ledger listing."""

from __future__ import annotations

import pytest

from tests.factories import assert_problem


@pytest.fixture
def setup(make_product, make_warehouse):
    make_product(sku="A")
    make_product(sku="B")
    make_warehouse(code="W1")
    make_warehouse(code="W2")
    make_warehouse(code="NEG", allow_negative_stock=True)


def level(api, sku: str, warehouse: str) -> dict:
    items = api.get("/stock", query_string={"sku": sku, "warehouse": warehouse}).json["items"]
    assert len(items) == 1
    return items[0]


def move(api, **body):
    return api.post("/stock/movements", json=body)


def test_receipt_then_issue_changes_on_hand_and_returns_movement_and_level(admin, setup):
    r = move(admin, type="receipt", sku="A", warehouse="W1", quantity=10, reference="PO-1")
    assert r.status_code == 201, r.json
    (m,) = r.json["movements"]
    assert m["type"] == "receipt"
    assert m["quantity"] == 10
    assert m["on_hand_after"] == 10
    assert m["reference"] == "PO-1"
    assert m["actor"] == admin.username
    assert r.json["levels"] == [
        {
            "sku": "A",
            "warehouse": "W1",
            "on_hand": 10,
            "reserved": 0,
            "available": 10,
            "incoming": 0,
            "over_reserved": False,
        }
    ]
    r = move(admin, type="issue", sku="A", warehouse="W1", quantity=4)
    assert r.status_code == 201
    assert r.json["movements"][0]["quantity"] == -4
    assert level(admin, "A", "W1")["on_hand"] == 6


def test_issue_beyond_available_is_409_and_writes_nothing(admin, setup):
    move(admin, type="receipt", sku="A", warehouse="W1", quantity=3)
    body = assert_problem(move(admin, type="issue", sku="A", warehouse="W1", quantity=4), 409)
    assert body["type"].endswith("insufficient-stock")
    assert "3 available" in str(body["errors"])
    assert level(admin, "A", "W1")["on_hand"] == 3
    assert len(admin.get("/stock/movements?sku=A").json["items"]) == 1


def test_negative_adjustment_beyond_available_is_409(admin, setup):
    move(admin, type="receipt", sku="A", warehouse="W1", quantity=2)
    assert_problem(
        move(admin, type="adjustment", sku="A", warehouse="W1", quantity=-5, reason="damaged"), 409
    )
    assert level(admin, "A", "W1")["on_hand"] == 2


def test_warehouse_allowing_negative_stock_may_go_below_zero(admin, setup):
    r = move(admin, type="issue", sku="A", warehouse="NEG", quantity=5)
    assert r.status_code == 201
    assert level(admin, "A", "NEG")["on_hand"] == -5
    assert level(admin, "A", "NEG")["available"] == -5


def test_adjustment_needs_a_reason_and_is_audited(admin, setup):
    assert_problem(
        move(admin, type="adjustment", sku="A", warehouse="W1", quantity=5), 422, "reason"
    )
    assert_problem(
        move(admin, type="adjustment", sku="A", warehouse="W1", quantity=5, reason="  "),
        422,
        "reason",
    )
    r = move(
        admin, type="adjustment", sku="A", warehouse="W1", quantity=5, reason="found in aisle 3"
    )
    assert r.status_code == 201
    assert r.json["movements"][0]["reason"] == "found in aisle 3"
    audit = admin.get("/audit?object_type=stock").json["items"]
    assert audit[0]["action"] == "stock.adjust"
    assert audit[0]["reason"] == "found in aisle 3"


def test_adjustment_of_zero_is_422(admin, setup):
    assert_problem(
        move(admin, type="adjustment", sku="A", warehouse="W1", quantity=0, reason="x"),
        422,
        "quantity",
    )


def test_transfer_moves_units_between_warehouses_as_two_linked_movements(admin, setup):
    move(admin, type="receipt", sku="A", warehouse="W1", quantity=10)
    r = move(admin, type="transfer", sku="A", warehouse="W1", to_warehouse="W2", quantity=4)
    assert r.status_code == 201
    out, into = sorted(r.json["movements"], key=lambda m: m["quantity"])
    assert (out["type"], out["quantity"], out["warehouse"]) == ("transfer_out", -4, "W1")
    assert (into["type"], into["quantity"], into["warehouse"]) == ("transfer_in", 4, "W2")
    assert out["transfer_id"] == into["transfer_id"] is not None
    assert {(lv["warehouse"], lv["on_hand"]) for lv in r.json["levels"]} == {("W1", 6), ("W2", 4)}


def test_transfer_beyond_available_moves_nothing(admin, setup):
    move(admin, type="receipt", sku="A", warehouse="W1", quantity=1)
    assert_problem(
        move(admin, type="transfer", sku="A", warehouse="W1", to_warehouse="W2", quantity=2), 409
    )
    assert level(admin, "A", "W1")["on_hand"] == 1
    assert level(admin, "A", "W2")["on_hand"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "receipt", "sku": "A", "warehouse": "W1", "quantity": 0}, "quantity"),
        ({"type": "receipt", "sku": "A", "warehouse": "W1", "quantity": -1}, "quantity"),
        ({"type": "issue", "sku": "A", "warehouse": "W1", "quantity": -3}, "quantity"),
        ({"type": "receipt", "sku": "A", "warehouse": "W1", "quantity": 1.5}, "quantity"),
        ({"type": "receipt", "sku": "A", "warehouse": "W1", "quantity": "2"}, "quantity"),
        ({"type": "teleport", "sku": "A", "warehouse": "W1", "quantity": 1}, "type"),
        ({"type": "transfer", "sku": "A", "warehouse": "W1", "quantity": 1}, "to_warehouse"),
        (
            {
                "type": "transfer",
                "sku": "A",
                "warehouse": "W1",
                "to_warehouse": "W1",
                "quantity": 1,
            },
            "to_warehouse",
        ),
        (
            {"type": "receipt", "sku": "A", "warehouse": "W1", "to_warehouse": "W2", "quantity": 1},
            "to_warehouse",
        ),
        ({"type": "receipt", "sku": "ZZZ", "warehouse": "W1", "quantity": 1}, "sku"),
        ({"type": "receipt", "sku": "A", "warehouse": "ZZZ", "quantity": 1}, "warehouse"),
        (
            {
                "type": "transfer",
                "sku": "A",
                "warehouse": "W1",
                "to_warehouse": "ZZZ",
                "quantity": 1,
            },
            "to_warehouse",
        ),
        ({"sku": "A", "warehouse": "W1", "quantity": 1}, "type"),
    ],
)
def test_invalid_movement_is_422_naming_the_field_and_changes_nothing(admin, setup, body, field):
    assert_problem(move(admin, **body), 422, field)
    assert admin.get("/stock/movements").json["items"] == []


def test_levels_list_every_pair_with_zeros_and_filter(admin, setup):
    move(admin, type="receipt", sku="A", warehouse="W1", quantity=7)
    rows = admin.get("/stock").json["items"]
    assert {(r["sku"], r["warehouse"]) for r in rows} == {
        (s, w) for s in "AB" for w in ("W1", "W2", "NEG")
    }
    only_a = admin.get("/stock?sku=A").json["items"]
    assert {r["warehouse"]: r["on_hand"] for r in only_a} == {"W1": 7, "W2": 0, "NEG": 0}
    fields = {"sku", "warehouse", "on_hand", "reserved", "available", "incoming", "over_reserved"}
    assert all(set(r) == fields for r in rows)


def test_level_filters_naming_unknown_things_are_404(admin, setup):
    assert_problem(admin.get("/stock?sku=NOPE"), 404, "sku")
    assert_problem(admin.get("/stock?warehouse=NOPE"), 404, "warehouse")


def test_ledger_lists_newest_first_with_signed_quantities_summing_to_on_hand(admin, setup):
    move(admin, type="receipt", sku="A", warehouse="W1", quantity=10)
    move(admin, type="issue", sku="A", warehouse="W1", quantity=3)
    move(admin, type="adjustment", sku="A", warehouse="W1", quantity=-2, reason="broken")
    move(admin, type="transfer", sku="A", warehouse="W1", to_warehouse="W2", quantity=1)
    move(admin, type="receipt", sku="B", warehouse="W1", quantity=5)
    items = admin.get("/stock/movements?sku=A&warehouse=W1").json["items"]
    assert [m["type"] for m in items] == ["transfer_out", "adjustment", "issue", "receipt"]
    assert sum(m["quantity"] for m in items) == level(admin, "A", "W1")["on_hand"] == 4
    assert [m["type"] for m in admin.get("/stock/movements?type=receipt").json["items"]] == [
        "receipt",
        "receipt",
    ]


def test_ledger_pages_and_since_filter(admin, setup):
    for _ in range(5):
        move(admin, type="receipt", sku="A", warehouse="W1", quantity=1)
    first = admin.get("/stock/movements?limit=2").json
    second = admin.get(
        "/stock/movements", query_string={"limit": 2, "cursor": first["next_cursor"]}
    ).json
    ids = [m["id"] for m in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 4
    newest = first["items"][0]["created_at"]
    since = admin.get("/stock/movements", query_string={"since": newest}).json["items"]
    assert [m["id"] for m in since] == [first["items"][0]["id"]]
    assert_problem(admin.get("/stock/movements?since=yesterday"), 422, "since")


def test_ledger_orders_by_when_movements_happened_not_when_they_were_entered(app, admin, setup):
    from datetime import timedelta

    from sqlalchemy import select

    from accounts.principal import SYSTEM
    from core.db import UnitOfWork, utcnow
    from inventory import ledger
    from inventory.models import Product, Warehouse

    move(admin, type="receipt", sku="A", warehouse="W1", quantity=1)
    move(admin, type="receipt", sku="A", warehouse="W1", quantity=2)
    # A delivery received two days ago is entered now (as a late receipt note would be).
    with app.app_context(), UnitOfWork() as uow:
        s = uow.session
        product = s.scalar(select(Product).where(Product.sku == "A"))
        site = s.scalar(select(Warehouse).where(Warehouse.code == "W1"))
        ledger.apply(
            s,
            [
                ledger.Move(
                    product.id,
                    site.id,
                    "receipt",
                    7,
                    reason="late note",
                    occurred_at=utcnow() - timedelta(days=2),
                )
            ],
            SYSTEM,
        )
        uow.commit()
    move(admin, type="receipt", sku="A", warehouse="W1", quantity=3)
    everything = admin.get("/stock/movements?sku=A").json["items"]
    assert [m["quantity"] for m in everything] == [3, 2, 1, 7]
    times = [m["occurred_at"] for m in everything]
    assert times == sorted(times, reverse=True)
    # Pages stitched through the cursor keep that order.
    seen, cursor = [], None
    while True:
        page = admin.get(
            "/stock/movements",
            query_string={"sku": "A", "limit": 1, **({"cursor": cursor} if cursor else {})},
        ).json
        seen += [m["quantity"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [3, 2, 1, 7]


def test_cycle_count_adjusts_only_lines_that_differ(admin, setup):
    move(admin, type="receipt", sku="A", warehouse="W1", quantity=10)
    move(admin, type="receipt", sku="B", warehouse="W1", quantity=4)
    r = admin.post(
        "/stock/counts",
        json={
            "warehouse": "W1",
            "reason": "weekly count",
            "lines": [{"sku": "A", "counted": 8}, {"sku": "B", "counted": 4}],
        },
    )
    assert r.status_code == 201, r.json
    lines = {ln["sku"]: ln for ln in r.json["lines"]}
    assert lines["A"]["difference"] == -2
    assert lines["A"]["movement_id"] is not None
    assert lines["B"]["difference"] == 0
    assert lines["B"]["movement_id"] is None
    (adj,) = r.json["movements"]
    assert adj["type"] == "adjustment"
    assert adj["quantity"] == -2
    assert adj["reference"] == f"count:{r.json['id']}"
    assert adj["reason"] == "weekly count"
    assert level(admin, "A", "W1")["on_hand"] == 8
    again = admin.get(f"/stock/counts/{r.json['id']}").json
    assert again["lines"] == r.json["lines"]


def test_count_of_a_never_stocked_item_creates_its_stock(admin, setup):
    r = admin.post("/stock/counts", json={"warehouse": "W2", "lines": [{"sku": "B", "counted": 3}]})
    assert r.status_code == 201
    assert level(admin, "B", "W2")["on_hand"] == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"warehouse": "W1", "lines": []}, "lines"),
        ({"warehouse": "W1", "lines": [{"sku": "A", "counted": -1}]}, "lines"),
        (
            {"warehouse": "W1", "lines": [{"sku": "A", "counted": 1}, {"sku": "A", "counted": 2}]},
            "lines",
        ),
        (
            {"warehouse": "W1", "lines": [{"sku": "A", "counted": 1}, {"sku": "Q", "counted": 2}]},
            "lines.1.sku",
        ),
        ({"warehouse": "ZZ", "lines": [{"sku": "A", "counted": 1}]}, "warehouse"),
    ],
)
def test_invalid_count_is_422_and_changes_nothing(admin, setup, body, field):
    assert_problem(admin.post("/stock/counts", json=body), 422, field)
    assert admin.get("/stock/movements").json["items"] == []


def test_unknown_count_is_404(admin):
    assert_problem(admin.get("/stock/counts/999"), 404)


def test_allowing_negative_stock_later_applies_to_existing_levels(admin, setup):
    move(admin, type="receipt", sku="A", warehouse="W1", quantity=1)
    assert_problem(move(admin, type="issue", sku="A", warehouse="W1", quantity=3), 409)
    r = admin.patch("/warehouses/W1", json={"allow_negative_stock": True})
    assert r.status_code == 200
    assert r.json["allow_negative_stock"] is True
    assert move(admin, type="issue", sku="A", warehouse="W1", quantity=3).status_code == 201
    assert level(admin, "A", "W1")["on_hand"] == -2
    # It cannot be switched back while stock is below zero.
    body = assert_problem(admin.patch("/warehouses/W1", json={"allow_negative_stock": False}), 409)
    assert "allow_negative_stock" in body["errors"]
    move(admin, type="receipt", sku="A", warehouse="W1", quantity=2)
    assert admin.patch("/warehouses/W1", json={"allow_negative_stock": False}).status_code == 200
    assert_problem(move(admin, type="issue", sku="A", warehouse="W1", quantity=1), 409)
    audit = admin.get("/audit?object_type=warehouse&object_id=W1").json["items"]
    assert [a["after"] for a in audit[:2]] == [
        {"allow_negative_stock": False},
        {"allow_negative_stock": True},
    ]
