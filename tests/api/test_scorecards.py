"""Supplier scorecards from real receipts: figures against a hand-computed history, empty
periods, the stored grade, the review flag on a fall to D and, where configured, refusal."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import assert_problem
from tests.procurement_factories import order_body

TODAY = datetime.now(UTC).date()


def ago(days):
    return TODAY - timedelta(days=days)


@pytest.fixture
def history(world, make_supplier, past_order):
    """ACME's year, worked out by hand in the test below; OTHER sells A at 12."""
    make_supplier(code="OTHER", items={"A": "12.00"})
    # On time, in full, lead time 9 days, 10 units.
    past_order(
        "ACME", "W1", {"A": 10}, sent=ago(100), expected=ago(90), deliveries=[(ago(91), "A", 10, 0)]
    )
    # Five days late, 2 of 10 rejected, closed short: late, not in full, lead time 15 days.
    past_order(
        "ACME",
        "W1",
        {"A": 10},
        sent=ago(80),
        expected=ago(70),
        deliveries=[(ago(65), "A", 8, 2)],
        close=ago(60),
    )
    # Nothing came and it was due 40 days ago: late, not in full.
    past_order("ACME", "W1", {"A": 10}, sent=ago(50), expected=ago(40))
    # More than a year ago: outside the default window.
    past_order(
        "ACME",
        "W1",
        {"A": 10},
        sent=ago(400),
        expected=ago(390),
        deliveries=[(ago(390), "A", 10, 0)],
    )


def test_scorecard_figures_match_the_hand_computed_history(history, make_user):
    card = make_user("viewer").get("/suppliers/ACME/scorecard").json
    assert card["orders_counted"] == 3
    assert card["on_time_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert card["in_full_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert card["reject_rate"] == pytest.approx(0.1)  # 2 of 20 delivered
    assert card["lead_time_mean_days"] == pytest.approx(12.0)  # (9 + 15) / 2
    assert card["lead_time_std_days"] == pytest.approx(math.sqrt(18), abs=0.01)
    assert card["price_index"] == pytest.approx(10 / 12, abs=1e-4)  # A at 10 against 12
    # 30 x 1/3 + 25 x 1/3 + 25 x (1 - 0.1/0.2) + 10 x (1 - 4.243/12) + 10 x 1 = 47.3
    assert card["score"] == 47.3
    assert card["grade"] == "D"
    assert card["units_delivered"] == 20


def test_a_window_without_settled_orders_has_no_score(history, buyer):
    card = buyer.get("/suppliers/ACME/scorecard", query_string={"days": 30}).json
    assert (card["orders_counted"], card["score"], card["grade"]) == (0, None, None)


def test_the_trend_has_one_entry_per_quarter(history, buyer):
    card = buyer.get("/suppliers/ACME/scorecard", query_string={"quarters": 6}).json
    trend = card["trend"]
    assert len(trend) == 6
    assert trend[-1]["start"] <= TODAY.isoformat() <= trend[-1]["end"]
    assert sum(p["orders_counted"] for p in trend) == 4
    assert all(p["grade"] is None for p in trend if p["orders_counted"] == 0)
    assert_problem(buyer.get("/suppliers/ACME/scorecard", query_string={"quarters": 99}), 422)


def test_a_new_supplier_is_not_punished_for_having_no_orders(world, make_supplier, buyer):
    make_supplier(code="FRESH", items={"A": "9"})
    card = buyer.get("/suppliers/FRESH/scorecard").json
    assert (card["orders_counted"], card["grade"], card["score"]) == (0, None, None)
    assert card["trend"]
    assert all(p["score"] is None for p in card["trend"])


def test_nightly_rescore_grades_and_flags_a_fall_to_d(app, history, buyer, admin):
    result = app.test_cli_runner().invoke(args=["procurement", "rescore"])
    assert result.exit_code == 0, result.output
    assert "ACME\tD\tflagged for review" in result.output
    supplier = buyer.get("/suppliers/ACME").json
    assert (supplier["grade"], supplier["score"], supplier["flagged_for_review"]) == (
        "D",
        47.3,
        True,
    )
    assert "grade fell to D" in supplier["flag_reason"]
    assert supplier["events"][-1]["kind"] == "flagged"
    assert [
        s["code"] for s in buyer.get("/suppliers", query_string={"flagged": True}).json["items"]
    ] == ["ACME"]
    # Flagged, but by default still orderable.
    assert buyer.post("/purchase-orders", json=order_body()).status_code == 201


def test_closing_the_order_that_drops_the_grade_to_d_raises_the_flag(world, past_order, buyer):
    for n in (2, 1):
        past_order(
            "ACME",
            "W1",
            {"A": 10},
            sent=ago(30 + n),
            expected=ago(20 + n),
            deliveries=[(ago(5 + n), "A", 5, 5)],
            close=ago(4 + n),
        )
    # Half rejected, not due for ten more days: under way, not judged yet.
    third = past_order(
        "ACME", "W1", {"A": 10}, sent=ago(3), expected=ago(-10), deliveries=[(ago(1), "A", 5, 5)]
    )
    supplier = buyer.get("/suppliers/ACME").json
    # Two bad orders give a score but no grade yet (SCORECARD_MIN_ORDERS is 3). Late, short and
    # half rejected score 0; only the steady 25-day lead time scores: 10 / (30 + 25 + 25 + 10).
    assert (supplier["grade"], supplier["score"], supplier["flagged_for_review"]) == (
        None,
        11.1,
        False,
    )
    r = buyer.post(f"/purchase-orders/{third['id']}/close", json={"reason": "never coming"})
    assert r.status_code == 200, r.json
    supplier = buyer.get("/suppliers/ACME").json
    assert (supplier["grade"], supplier["flagged_for_review"]) == ("D", True)


def test_review_records_who_and_why_and_lowers_the_flag(app, history, approver, buyer):
    app.test_cli_runner().invoke(args=["procurement", "rescore"])
    assert_problem(buyer.post("/suppliers/ACME/review", json={"reason": "x"}), 403)
    assert_problem(approver.post("/suppliers/ACME/review", json={}), 422, "reason")
    r = approver.post("/suppliers/ACME/review", json={"reason": "new QA plan agreed"})
    assert r.json["flagged_for_review"] is False
    event = buyer.get("/suppliers/ACME").json["events"][-1]
    assert (event["kind"], event["actor"], event["reason"]) == (
        "reviewed",
        approver.username,
        "new QA plan agreed",
    )
    assert_problem(approver.post("/suppliers/ACME/review", json={"reason": "again"}), 409)


class TestRefusingGradeD:
    @pytest.fixture
    def app_config(self):
        return {"SCORECARD_REFUSE_GRADE_D": True}

    def test_a_flagged_grade_d_supplier_gets_no_new_orders_until_reviewed(
        self, app, history, buyer, approver
    ):
        draft = buyer.post("/purchase-orders", json=order_body()).json
        app.test_cli_runner().invoke(args=["procurement", "rescore"])
        body = assert_problem(buyer.post("/purchase-orders", json=order_body()), 409, "supplier")
        assert body["type"].endswith("supplier-under-review")
        assert_problem(buyer.post(f"/purchase-orders/{draft['id']}/submit"), 409, "supplier")
        approver.post("/suppliers/ACME/review", json={"reason": "keep: sole source of A"})
        assert buyer.post("/purchase-orders", json=order_body()).status_code == 201
