"""Replenishment: policies from stored forecasts, plans as jobs, plans into draft orders."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from scipy.stats import norm
from sqlalchemy import func, select

from core import db
from procurement.models import PurchaseOrder
from tests.factories import assert_problem
from tests.forecasting_factories import wait_for_job


@pytest.fixture
def shop(make_product, make_warehouse, make_supplier, receive):
    make_warehouse(code="W1")
    make_warehouse(code="W2")
    make_product(sku="A", name="Anvil")
    make_product(sku="B", name="Bolt")
    receive("A", "W1", 40)
    # FAST delivers in 7 days at 10.00; SLOW in 21 days at 9.50 (cheaper but slower).
    make_supplier(code="FAST", items={"A": {"unit_price": "10.00", "lead_time_days": 7}})
    make_supplier(
        code="SLOW",
        items={"A": {"unit_price": "9.50", "lead_time_days": 21}, "B": {"unit_price": "2.00"}},
    )


def expected_normal(mean: float, sd: float, lead_weeks: float, review_weeks: float, level: float):
    z = norm.ppf(level)
    ss = z * sd * math.sqrt(lead_weeks + review_weeks)
    return {
        "safety_stock": ss,
        "reorder_point": mean * lead_weeks + ss,
        "order_up_to": mean * (lead_weeks + review_weeks) + ss,
    }


def test_policy_from_the_forecast_spread_and_each_suppliers_lead_time(
    make_user, shop, store_forecast
):
    store_forecast("A", "W1", mean=70, sd=10)
    planner = make_user("planner")
    r = planner.get("/replenishment/policy?sku=A&warehouse=W1")
    assert r.status_code == 200, r.json
    body = r.json
    assert body["inventory_position"] == 40
    assert body["service_level"] == 0.95
    by_supplier = {p["supplier"]: p for p in body["suppliers"]}
    # Review every 7 days (one weekly period); lead time 21 days = 3 weeks for SLOW, 1 for FAST.
    for code, lead_weeks in (("SLOW", 3), ("FAST", 1)):
        want = expected_normal(70, 10, lead_weeks, 1, 0.95)
        for field, value in want.items():
            assert by_supplier[code][field] == pytest.approx(value, abs=0.01), (code, field)
    # The cheapest supplier's numbers are the headline; the slower one needs more safety stock.
    assert body["supplier"] == "SLOW"
    assert by_supplier["SLOW"]["safety_stock"] > by_supplier["FAST"]["safety_stock"]
    assert body["reorder_point"] == by_supplier["SLOW"]["reorder_point"]
    # A higher service level holds more.
    higher = planner.get("/replenishment/policy?sku=A&warehouse=W1&service_level=0.99").json
    assert higher["safety_stock"] > body["safety_stock"]


def test_policy_without_a_forecast_or_with_bad_input_says_so(make_user, shop):
    planner = make_user("planner")
    body = assert_problem(planner.get("/replenishment/policy?sku=A&warehouse=W1"), 404)
    assert "forecast" in body["detail"]
    assert_problem(
        planner.get("/replenishment/policy?sku=A&warehouse=W1&service_level=2"),
        422,
        "service_level",
    )
    assert_problem(planner.get("/replenishment/policy?sku=NOPE&warehouse=W1"), 404)


def run_plan(api, body):
    r = api.post("/replenishment/plans", json=body)
    assert r.status_code == 202, r.json
    job = wait_for_job(api, r.json["job_id"])
    assert job["status"] == "succeeded", job
    plan = api.get(f"/replenishment/plans/{r.json['plan_id']}")
    assert plan.status_code == 200
    return plan.json


def test_explicit_lines_are_sourced_at_least_cost_and_explained(make_user, make_supplier, shop):
    make_supplier(code="BULK", items={"B": {"unit_price": "1.00", "moq": 100}})
    buyer = make_user("buyer")
    plan = run_plan(buyer, {"lines": [{"sku": "B", "warehouse": "W1", "quantity": 30}]})
    (line,) = plan["lines"]
    # BULK is cheaper per unit but its MOQ of 100 costs 100.00; SLOW's 30 x 2.00 costs 60.00.
    assert (line["supplier"], line["quantity"], line["total"]) == ("SLOW", 30, "60.0000")
    assert line["explanation"]["next_best"]["supplier"] == "BULK"
    assert Decimal(str(line["explanation"]["next_best"]["cost_difference"])) == Decimal("40")
    assert plan["short"] == []
    assert plan["solver"]["status"].lower().startswith("optimal")


def test_the_policy_orders_what_falls_below_its_reorder_point(
    make_user, shop, store_forecast, receive
):
    receive("A", "W2", 100)
    store_forecast("A", "W1", mean=70, sd=10)
    store_forecast("A", "W2", mean=1, sd=0.5)  # 100 on hand: nothing to order
    planner = make_user("planner")
    plan = run_plan(planner, {})
    assert len(plan["lines"]) == 1, plan["lines"]
    (line,) = plan["lines"]
    assert (line["sku"], line["warehouse"]) == ("A", "W1")
    policy = line["policy"]
    assert policy["inventory_position"] == 40
    assert policy["inventory_position"] <= policy["reorder_point"]
    # Each supplier's need is its own order-up-to minus the position: SLOW's three-week lead time
    # needs 273 units at 9.50, FAST's one week 124 at 10.00, so the faster one is cheaper.
    fast = expected_normal(70, 10, 1, 1, 0.95)
    assert line["supplier"] == "FAST"
    assert line["quantity"] == math.ceil(fast["order_up_to"] - 40)
    assert line["explanation"]["next_best"]["supplier"] == "SLOW"


def test_a_tight_budget_covers_the_riskiest_line_first(
    make_user, make_product, make_supplier, shop, store_forecast
):
    make_product(sku="C", name="Chain")
    make_supplier(code="CHEAP", items={"C": {"unit_price": "9.50"}})
    store_forecast("A", "W1", mean=70, sd=10)  # 40 on hand: certain to run out
    store_forecast("C", "W1", mean=1, sd=3)  # nothing on hand either, but barely sells
    planner = make_user("planner")
    # Both lines together cost 1,240.00 (A: 124 x 10.00 from FAST) + 104.50 (C: 11 x 9.50).
    everything = run_plan(planner, {"warehouses": ["W1"]})
    assert everything["total"] == "1344.5000"
    plan = run_plan(planner, {"budget": "1300", "warehouses": ["W1"]})
    bought = {ln["sku"]: ln for ln in plan["lines"]}
    short = {ln["sku"]: ln for ln in plan["short"]}
    assert Decimal(plan["total"]) <= Decimal("1300")
    assert bought["A"]["quantity"] == 124  # certain to run out: covered in full
    assert short["C"]["quantity"] == 11 - bought.get("C", {"quantity": 0})["quantity"] > 0
    assert "budget" in plan["solver"]["duals"]
    assert bought["A"]["policy"]["supplier"] == "FAST"


def test_bad_plan_requests_name_the_field_and_start_nothing(app, make_user, shop):
    planner = make_user("planner")
    assert_problem(
        planner.post(
            "/replenishment/plans",
            json={"lines": [{"sku": "NOPE", "warehouse": "W1", "quantity": 1}]},
        ),
        404,
    )
    assert_problem(
        planner.post("/replenishment/plans", json={"service_level": 1.5}), 422, "service_level"
    )
    assert_problem(planner.post("/replenishment/plans", json={"budget": "-1"}), 422, "budget")
    assert_problem(
        planner.post(
            "/replenishment/plans", json={"lines": [{"sku": "A", "warehouse": "W1", "quantity": 0}]}
        ),
        422,
        "lines",
    )
    assert_problem(make_user("viewer").post("/replenishment/plans", json={}), 403)


def purchase_orders(app) -> int:
    with app.app_context(), db.read_only() as s:
        return s.scalar(select(func.count()).select_from(PurchaseOrder))


def test_apply_makes_one_draft_per_supplier_and_warehouse_once(app, make_user, shop):
    buyer = make_user("buyer")
    plan = run_plan(
        buyer,
        {
            "lines": [
                {"sku": "A", "warehouse": "W1", "quantity": 10},
                {"sku": "B", "warehouse": "W1", "quantity": 5},
                {"sku": "A", "warehouse": "W2", "quantity": 7},
            ]
        },
    )
    assert {ln["supplier"] for ln in plan["lines"]} == {"SLOW"}
    key = {"Idempotency-Key": "apply-plan-1"}
    r = buyer.post(f"/replenishment/plans/{plan['id']}/apply", headers=key)
    assert r.status_code == 201, r.json
    numbers = r.json["purchase_orders"]
    assert len(numbers) == 2  # SLOW to W1 (A and B) and SLOW to W2 (A)
    again = buyer.post(f"/replenishment/plans/{plan['id']}/apply", headers=key)
    assert again.status_code == 201
    assert again.json["purchase_orders"] == numbers
    assert purchase_orders(app) == 2
    assert_problem(buyer.post(f"/replenishment/plans/{plan['id']}/apply"), 409)
    orders = {po["number"]: po for po in buyer.get("/purchase-orders").json["items"]}
    assert {orders[n]["status"] for n in numbers} == {"draft"}
    w1 = next(orders[n] for n in numbers if orders[n]["warehouse"] == "W1")
    assert sorted((ln["sku"], ln["quantity"]) for ln in w1["lines"]) == [("A", 10), ("B", 5)]


def test_apply_is_all_or_nothing(app, make_user, make_supplier, shop):
    make_supplier(code="PACKS", items={"B": {"unit_price": "0.50", "pack_size": 10}})
    buyer = make_user("buyer")
    plan = run_plan(
        buyer,
        {
            "lines": [
                {"sku": "A", "warehouse": "W1", "quantity": 10},
                {"sku": "B", "warehouse": "W1", "quantity": 20},
            ]
        },
    )
    b = next(ln for ln in plan["lines"] if ln["sku"] == "B")
    assert b["supplier"] == "PACKS"
    # A buyer edits B to a quantity the supplier's pack size does not allow.
    edited = buyer.client.patch(
        f"/api/v1/replenishment/plans/{plan['id']}/lines/{b['id']}",
        json={"quantity": 15},
        headers={"Authorization": f"Bearer {buyer.token}"},
    )
    assert edited.status_code == 200, edited.json
    assert (
        next(ln for ln in edited.json["lines"] if ln["sku"] == "B")["edited_by"] == buyer.username
    )
    body = assert_problem(buyer.post(f"/replenishment/plans/{plan['id']}/apply"), 422)
    assert "PACKS" in body["detail"]
    assert purchase_orders(app) == 0
    assert buyer.get(f"/replenishment/plans/{plan['id']}").json["applied_at"] is None


def test_a_supplier_whose_own_policy_needs_nothing_does_not_break_the_plan(
    make_user, shop, store_forecast
):
    # 40 on hand; 10 a week. SLOW (3 weeks) is at its reorder point, FAST (1 week) needs nothing.
    store_forecast("A", "W1", mean=10, sd=5)
    planner = make_user("planner")
    policy = planner.get("/replenishment/policy?sku=A&warehouse=W1").json
    fast = next(p for p in policy["suppliers"] if p["supplier"] == "FAST")
    assert fast["order_up_to"] < 40 <= policy["order_up_to"]
    plan = run_plan(planner, {})
    (line,) = plan["lines"]
    assert (line["supplier"], line["quantity"]) == ("FAST", 1)
