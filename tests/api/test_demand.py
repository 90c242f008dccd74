"""Demand history: the CSV import (all or nothing), censoring of stock-outs, promotions API."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest

from core.db import utcnow
from tests.factories import assert_problem

TODAY = utcnow().date()
#: A Monday four weeks back, so every week used below is complete.
MONDAY = TODAY - timedelta(days=TODAY.weekday() + 28)


@pytest.fixture
def world(make_product, make_warehouse):
    make_product(sku="A")
    make_product(sku="B")
    make_warehouse(code="W1")
    make_warehouse(code="W2")


def csv_post(api, text: str, **kw):
    return api.post(
        "/demand/import", data=text.encode(), headers={"Content-Type": "text/csv"}, **kw
    )


def weekly(api, sku="A", warehouse="W1", frequency="W") -> list[dict]:
    r = api.get(
        "/demand", query_string={"sku": sku, "warehouse": warehouse, "frequency": frequency}
    )
    assert r.status_code == 200, r.json
    return r.json["periods"]


def day(n: int) -> date:
    return MONDAY + timedelta(days=n)


# --- import ---------------------------------------------------------------------------------------


def test_imported_days_become_demand_history(planner, world):
    rows = "\n".join(f"A,W1,{day(i)},{i % 3}" for i in range(14))
    r = csv_post(planner, "sku,warehouse,date,quantity\n" + rows + "\n")
    assert r.status_code == 201, r.json
    assert r.json == {"rows": 14, "replaced": 0}
    periods = weekly(planner)
    assert [p["start"] for p in periods[:2]] == [str(day(0)), str(day(7))]
    assert [p["quantity"] for p in periods[:2]] == [
        sum(i % 3 for i in range(7)),
        sum(i % 3 for i in range(7, 14)),
    ]
    assert not any(p["censored"] for p in periods)


def test_a_file_with_any_bad_row_imports_nothing_and_names_each_row(planner, world):
    text = (
        "sku,warehouse,date,quantity\n"
        f"A,W1,{day(0)},5\n"  # row 2: fine
        f"NOPE,W1,{day(0)},5\n"  # row 3: unknown sku
        f"A,W9,{day(1)},5\n"  # row 4: unknown warehouse
        "A,W1,2026-02-30,5\n"  # row 5: no such day
        f"A,W1,{day(2)},-1\n"  # row 6: negative
        f"A,W1,{day(3)},2.5\n"  # row 7: not whole
        f"A,W1,{TODAY + timedelta(days=1)},1\n"  # row 8: future
        f"A,W1,{day(0)},7\n"  # row 9: duplicate of row 2
        "A,W1\n"  # row 10: short
        f"B,W2,{day(4)},3\n"  # row 11: fine
    )
    body = assert_problem(csv_post(planner, text), 422)
    assert set(body["errors"]) == {f"row {n}" for n in (3, 4, 5, 6, 7, 8, 9, 10)}
    assert "unknown sku NOPE" in body["errors"]["row 3"]
    assert "unknown warehouse W9" in body["errors"]["row 4"]
    assert "row 2" in body["errors"]["row 9"][0]
    assert "nothing was imported" in body["detail"]
    assert weekly(planner, "B", "W2") == []
    assert weekly(planner, "A", "W1") == []


def test_header_must_name_the_columns(planner, world):
    body = assert_problem(csv_post(planner, f"sku,store,date,qty\nA,W1,{day(0)},1\n"), 422)
    assert body["errors"]["row 1"] == [
        "missing column warehouse",
        "missing column quantity",
        "unknown column store",
        "unknown column qty",
    ]
    assert_problem(csv_post(planner, ""), 422, "file")
    assert_problem(csv_post(planner, "sku,warehouse,date,quantity\n"), 422, "file")


def test_importing_a_day_again_replaces_it(planner, world):
    csv_post(planner, f"sku,warehouse,date,quantity\nA,W1,{day(0)},5\nA,W1,{day(1)},5\n")
    r = csv_post(planner, f"date,quantity,sku,warehouse\n{day(1)},2,A,W1\n")
    assert r.json == {"rows": 1, "replaced": 1}
    assert weekly(planner)[0]["quantity"] == 7


def test_import_accepts_a_form_upload_and_a_stockout_column(planner, world):
    text = "sku,warehouse,date,quantity,stockout\n" + "\n".join(
        f"A,W1,{day(i)},{0 if i < 5 else 4},{'yes' if i < 5 else 'no'}" for i in range(14)
    )
    r = planner.post(
        "/demand/import",
        data={"file": (io.BytesIO(text.encode("utf-8-sig")), "legacy.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 201, r.json
    first, second = weekly(planner)[:2]
    assert first["censored"]  # 5 of 7 days out of stock
    assert first["demand"] is None
    assert not second["censored"]
    assert second["demand"] == 28


def test_only_planners_import(make_user, world):
    text = f"sku,warehouse,date,quantity\nA,W1,{day(0)},5\n"
    for role in ("viewer", "buyer", "warehouse", "storefront"):
        assert_problem(csv_post(make_user(role), text), 403)
    assert csv_post(make_user("admin"), text).status_code == 201


# --- demand from the ledger -----------------------------------------------------------------------


def test_weeks_out_of_stock_are_censored_not_zero(planner, world, post_history):
    demand = {day(i): 4 for i in range(21)}
    # Stock for one week only; the second week nothing arrives; the third week it is back.
    post_history("A", "W1", demand, receipts={day(0): 28, day(14): 100})
    weeks = weekly(planner)[:3]
    assert [w["quantity"] for w in weeks] == [28, 0, 28]
    assert [w["censored"] for w in weeks] == [False, True, False]
    assert [w["demand"] for w in weeks] == [28.0, None, 28.0]
    days = weekly(planner, frequency="D")[:9]
    assert [d["censored"] for d in days] == [False] * 6 + [True] * 3  # sold out on day 6


def test_warehouses_that_may_go_negative_are_never_censored(
    admin, planner, make_warehouse, world, post_history
):
    make_warehouse(code="NEG", allow_negative_stock=True)
    post_history("A", "NEG", {day(i): 4 for i in range(14)}, receipts={day(0): 4})
    assert not any(w["censored"] for w in weekly(planner, warehouse="NEG"))


def test_storefront_may_not_read_demand(make_user, world):
    assert_problem(
        make_user("storefront").get("/demand", query_string={"sku": "A", "warehouse": "W1"}), 403
    )
    assert make_user("viewer").get("/demand?sku=A&warehouse=W1").status_code == 200


# --- promotions -----------------------------------------------------------------------------------


def test_planners_create_promotions_and_everyone_planning_reads_them(planner, make_user, world):
    start = TODAY + timedelta(days=10)
    r = planner.post(
        "/promotions",
        json={
            "name": "Spring sale",
            "sku": "A",
            "warehouses": ["W1"],
            "start": str(start),
            "end": str(start + timedelta(days=2)),
            "expected_uplift": 0.5,
            "discount": 0.2,
        },
    )
    assert r.status_code == 201, r.json
    promo = r.json
    assert promo["sku"] == "A"
    assert promo["warehouses"] == ["W1"]
    assert promo["created_by"] == planner.username
    shop_wide = planner.post(
        "/promotions", json={"name": "Double 11", "start": str(start), "end": str(start)}
    ).json
    assert shop_wide["sku"] is None
    assert shop_wide["warehouses"] == []

    viewer = make_user("viewer")
    listed = viewer.get("/promotions", query_string={"sku": "A", "warehouse": "W1"}).json["items"]
    assert [p["id"] for p in listed] == [shop_wide["id"], promo["id"]]
    assert [p["id"] for p in viewer.get("/promotions?sku=B").json["items"]] == [shop_wide["id"]]
    assert [p["id"] for p in viewer.get("/promotions?warehouse=W2").json["items"]] == [
        shop_wide["id"]
    ]
    past = viewer.get("/promotions", query_string={"active_to": str(TODAY)}).json["items"]
    assert past == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "sku": "NOPE", "start": "2030-01-02", "end": "2030-01-03"}, "sku"),
        (
            {"name": "x", "warehouses": ["W9"], "start": "2030-01-02", "end": "2030-01-03"},
            "warehouses",
        ),
        ({"name": "x", "start": "2030-01-03", "end": "2030-01-02"}, "end"),
        ({"name": "x", "start": "2030-01-02"}, "end"),
        ({"name": "x", "start": "2030-01-02", "end": "2030-01-02", "discount": 1.5}, "discount"),
        ({"start": "2030-01-02", "end": "2030-01-02"}, "name"),
    ],
)
def test_bad_promotions_are_422_naming_the_field(planner, world, body, field):
    assert_problem(planner.post("/promotions", json=body), 422, field)
    assert planner.get("/promotions").json["items"] == []


def test_only_planners_create_promotions(make_user, world):
    body = {"name": "x", "start": "2030-01-02", "end": "2030-01-02"}
    assert_problem(make_user("buyer").post("/promotions", json=body), 403)
    assert_problem(make_user("storefront").get("/promotions"), 403)


def test_a_promotion_names_its_item_in_any_case(planner, make_product, world):
    make_product(sku="ABC-1")
    body = {"name": "Any case", "sku": "abc-1", "start": "2030-01-02", "end": "2030-01-03"}
    r = planner.post("/promotions", json=body)
    assert r.status_code == 201, r.json
    assert r.json["sku"] == "ABC-1"
    assert [p["id"] for p in planner.get("/promotions?sku=abc-1").json["items"]] == [r.json["id"]]


def test_planners_replace_and_withdraw_promotions_and_the_audit_log_keeps_both(
    planner, admin, make_user, world
):
    body = {"name": "Spring sale", "sku": "A", "start": "2030-03-01", "end": "2030-03-07"}
    promo = planner.post("/promotions", json=body).json
    changed = {**body, "sku": "B", "warehouses": ["W2"], "end": "2030-03-10", "discount": 0.1}
    r = planner.put(f"/promotions/{promo['id']}", json=changed)
    assert r.status_code == 200, r.json
    assert (r.json["sku"], r.json["warehouses"], r.json["end"]) == ("B", ["W2"], "2030-03-10")
    assert planner.get(f"/promotions/{promo['id']}").json == r.json

    # A replacement is checked exactly like a new promotion, and a refused one changes nothing.
    bad = planner.put(f"/promotions/{promo['id']}", json={**changed, "end": "2030-02-01"})
    assert_problem(bad, 422, "end")
    assert planner.get(f"/promotions/{promo['id']}").json["end"] == "2030-03-10"
    assert_problem(make_user("viewer").put(f"/promotions/{promo['id']}", json=changed), 403)
    assert_problem(make_user("buyer").delete(f"/promotions/{promo['id']}"), 403)

    assert planner.delete(f"/promotions/{promo['id']}").status_code == 204
    assert_problem(planner.get(f"/promotions/{promo['id']}"), 404)
    assert_problem(planner.delete(f"/promotions/{promo['id']}"), 404)
    assert planner.get("/promotions").json["items"] == []

    entries = admin.get("/audit", query_string={"object_type": "promotion"}).json["items"]
    by_action = {e["action"]: e for e in entries}
    assert set(by_action) == {"promotion.create", "promotion.update", "promotion.delete"}
    assert by_action["promotion.update"]["before"] == {
        "sku": "A",
        "warehouses": [],
        "end": "2030-03-07",
        "discount": None,
    }
    assert by_action["promotion.delete"]["before"]["sku"] == "B"
    assert all(e["actor"] == planner.username for e in entries)
