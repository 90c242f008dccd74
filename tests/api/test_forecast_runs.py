"""Forecast runs as jobs: what reaches the engine, what is stored, who may do what."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

import forecasting.engine
from core.db import utcnow
from forecasting import demand as demand_logic
from forecasting.runs import members_of
from tests.factories import assert_problem
from tests.forecasting_factories import wait_for_job

pytestmark = pytest.mark.usefixtures("drain_jobs")

TODAY = utcnow().date()
HISTORY_END = demand_logic.history_end(TODAY, "W")
WEEKS = 40
FIRST = HISTORY_END - timedelta(days=7 * WEEKS - 1)  # a Monday, 40 complete weeks back


def weekdays(weeks: range) -> list:
    return [FIRST + timedelta(days=7 * w + d) for w in weeks for d in range(7)]


def steady(rate: int = 5, weeks: range = range(WEEKS)) -> dict:
    """Daily demand around ``rate`` on weekdays and ``rate + 3`` at weekends, with some noise."""
    noise = random.Random(rate)
    return {d: rate + 3 * (d.weekday() >= 5) + noise.randint(-2, 2) for d in weekdays(weeks)}


@pytest.fixture
def world(make_product, make_warehouse):
    for sku in ("A", "B", "C"):
        make_product(sku=sku)
    make_warehouse(code="W1")
    make_warehouse(code="W2")


@pytest.fixture
def spy(monkeypatch):
    """Record every call to the engine, passing it through to the real engine."""
    calls: list[dict] = []
    real = forecasting.engine.forecast

    def recording(y, horizon, **kw):
        calls.append({"y": y.copy(), "horizon": horizon, **kw})
        return real(y, horizon, **kw)

    monkeypatch.setattr(forecasting.engine, "forecast", recording)
    return calls


def test_members_of_a_combined_model():
    assert members_of("ets+arima with promotion uplift") == [
        "ets",
        "arima",
        "with promotion uplift",
    ]
    assert members_of("croston") == ["croston"]


def start(api, **body):
    return api.post("/forecasts/runs", json={"horizon": 4, "frequency": "W", **body})


def run_to_end(api, **body) -> dict:
    r = start(api, **body)
    assert r.status_code == 202, r.json
    job = wait_for_job(api, r.json["job_id"])
    assert job["status"] == "succeeded", job
    return api.get(f"/forecasts/runs/{r.json['run_id']}").json


def latest(api, sku="A", warehouse="W1") -> dict:
    r = api.get("/forecasts", query_string={"sku": sku, "warehouse": warehouse})
    assert r.status_code == 200, r.json
    return r.json


def test_a_run_is_a_job_that_forecasts_every_series_and_stores_accuracy(
    planner, world, post_history
):
    post_history("A", "W1", steady(), receipts={FIRST: 10_000})
    post_history("A", "W2", steady(3), receipts={FIRST: 10_000})
    post_history("B", "W1", steady(9), receipts={FIRST: 10_000})
    r = start(planner)
    assert r.status_code == 202
    assert r.headers["Location"].endswith(f"/api/v1/jobs/{r.json['job_id']}")
    job = wait_for_job(planner, r.json["job_id"])
    assert job["status"] == "succeeded", job
    assert job["progress"] == 1.0
    assert job["result"]["series"] == 3
    assert job["result"]["forecast"] == 3
    assert job["result"]["run_id"] == r.json["run_id"]

    run = planner.get(f"/forecasts/runs/{r.json['run_id']}").json
    assert run["status"] == "succeeded"
    assert (run["series_total"], run["series_done"], run["series_failed"]) == (3, 3, 0)
    assert run["history_end"] == str(HISTORY_END)
    assert all(1 <= n <= 3 for n in run["models"].values())
    for name in ("mase", "wape", "bias"):
        assert math.isfinite(run["accuracy"][name])

    fc = latest(planner)
    assert all(run["models"][m] >= 1 for m in members_of(fc["model"]))
    assert fc["run_id"] == run["id"]
    assert fc["frequency"] == "W"
    assert fc["model"]
    assert fc["observations"] == WEEKS
    assert fc["censored"] == 0
    assert [p["start"] for p in fc["periods"]] == [
        str(HISTORY_END + timedelta(days=1 + 7 * i)) for i in range(4)
    ]
    for p in fc["periods"]:
        q = p["quantiles"]
        assert set(q) == {"0.05", "0.25", "0.5", "0.75", "0.9", "0.95"}
        assert 0 <= q["0.05"] <= q["0.25"] <= q["0.5"] <= q["0.75"] <= q["0.9"] <= q["0.95"]
        assert q["0.05"] <= p["mean"] <= q["0.95"]
    # A steady 41 units a week is forecast as about that, and the backtest says so.
    assert all(abs(p["mean"] - 41) < 8 for p in fc["periods"])
    assert fc["accuracy"]["wape"] < 0.2
    assert latest(planner, "B", "W1")["periods"][0]["mean"] > fc["periods"][0]["mean"]


def test_a_new_run_supersedes_the_previous_forecast(planner, world, post_history):
    post_history("A", "W1", steady(), receipts={FIRST: 10_000})
    first = run_to_end(planner)
    second = run_to_end(planner, skus=["A"], warehouses=["W1"])
    assert latest(planner)["run_id"] == second["id"] != first["id"]
    runs = planner.get("/forecasts/runs").json["items"]
    assert [r["id"] for r in runs] == [second["id"], first["id"]]
    assert runs[0]["skus"] == ["A"]
    assert runs[0]["warehouses"] == ["W1"]


def test_stock_out_weeks_reach_the_engine_as_missing_not_zero(planner, world, post_history, spy):
    # Out of stock from week 20 to week 24: nothing was sold, but people wanted to buy.
    receipts = {FIRST: 20 * 41, FIRST + timedelta(days=7 * 25): 10_000}
    post_history("A", "W1", steady(), receipts=receipts)
    run_to_end(planner)
    final = [c for c in spy if c["horizon"] == 4 and len(c["y"]) == WEEKS]
    assert final, "the engine was never given the full history"
    y = final[-1]["y"]
    assert isinstance(y.index, pd.DatetimeIndex)
    assert y.index.freqstr == "W-MON"
    assert y.iloc[21:25].isna().all()  # weeks 21..24 wholly out of stock
    assert y.iloc[:19].notna().all()
    assert (y.dropna() > 0).all(), "a censored week was read as zero demand"
    fc = latest(planner)
    assert fc["censored"] >= 4
    assert all(p["mean"] > 25 for p in fc["periods"])  # not dragged down by the empty weeks
    weeks = planner.get("/demand?sku=A&warehouse=W1").json["periods"]
    assert [w["censored"] for w in weeks[21:25]] == [True] * 4


def _promoted(weeks: list[int], lift: float) -> dict:
    base = steady()
    for w in weeks:
        for d in weekdays(range(w, w + 1)):
            base[d] = round(base[d] * lift)
    return base


def test_planned_promotions_reach_the_engine_as_regressors_and_raise_the_forecast(
    planner, world, post_history, spy
):
    past = [5, 15, 25, 33]
    post_history("A", "W1", _promoted(past, 3.0), receipts={FIRST: 100_000})
    for w in past:
        monday = FIRST + timedelta(days=7 * w)
        r = planner.post(
            "/promotions",
            json={
                "name": f"week {w}",
                "sku": "A",
                "start": str(monday),
                "end": str(monday + timedelta(days=6)),
            },
        )
        assert r.status_code == 201
    planned = HISTORY_END + timedelta(days=8)  # the second forecast week
    planner.post(
        "/promotions",
        json={
            "name": "next",
            "sku": "A",
            "warehouses": ["W1"],
            "start": str(planned),
            "end": str(planned + timedelta(days=6)),
        },
    )
    run_to_end(planner, skus=["A"])

    final = next(c for c in reversed(spy) if c["horizon"] == 4 and len(c["y"]) == WEEKS)
    exog, future = final["exog"], final["future_exog"]
    assert exog is not None
    assert future is not None
    assert exog.index.equals(final["y"].index)
    assert list(exog.iloc[past, 0]) == [1.0] * 4
    assert exog.iloc[:, 0].sum() == 4
    assert list(future.iloc[:, 0]) == [0.0, 1.0, 0.0, 0.0]
    assert [d.date() for d in future.index] == [
        HISTORY_END + timedelta(days=1 + 7 * i) for i in range(4)
    ]

    periods = latest(planner)["periods"]
    plain = np.mean([periods[i]["mean"] for i in (0, 2, 3)])
    assert periods[1]["mean"] > 1.8 * plain
    assert periods[1]["promotion"] == 1.0
    assert "promotion" not in periods[0]
    # Another item without promotions is not affected.
    assert all(call["exog"] is None for call in spy if call["y"].name == "B")


def test_a_planned_uplift_applies_when_history_has_no_promotion_to_learn_from(
    planner, world, post_history, spy
):
    post_history("A", "W1", steady(), receipts={FIRST: 100_000})
    planned = HISTORY_END + timedelta(days=1)
    planner.post(
        "/promotions",
        json={
            "name": "first ever sale",
            "sku": "A",
            "start": str(planned),
            "end": str(planned + timedelta(days=6)),
            "expected_uplift": 0.5,
        },
    )
    run_to_end(planner)
    assert all(call["exog"] is None for call in spy)
    periods = latest(planner)["periods"]
    assert periods[0]["mean"] == pytest.approx(1.5 * periods[1]["mean"], rel=0.2)
    assert periods[0]["quantiles"]["0.95"] > periods[1]["quantiles"]["0.95"]


def test_series_that_cannot_be_forecast_are_listed_and_the_rest_succeed(
    planner, world, post_history
):
    post_history("A", "W1", steady(), receipts={FIRST: 10_000})
    post_history("B", "W1", steady(), receipts={FIRST: 1})  # sold out on day one, never back
    run = run_to_end(planner)
    assert run["series_failed"] == 1
    assert run["failures"] == [
        {"sku": "B", "warehouse": "W1", "error": "no period with observed demand"}
    ]
    assert_problem(planner.get("/forecasts?sku=B&warehouse=W1"), 404)
    assert latest(planner)["model"]


def test_a_run_where_nothing_can_be_forecast_fails_with_the_reason(planner, world, make_user):
    csv = "sku,warehouse,date,quantity,stockout\n" + "\n".join(
        f"C,W2,{FIRST + timedelta(days=i)},0,true" for i in range(7 * WEEKS)
    )
    planner.post("/demand/import", data=csv.encode(), headers={"Content-Type": "text/csv"})
    r = start(planner, skus=["C"])
    job = wait_for_job(planner, r.json["job_id"])
    assert job["status"] == "failed"
    assert "no period with observed demand" in job["error"]
    run = planner.get(f"/forecasts/runs/{r.json['run_id']}").json
    assert run["status"] == "failed"
    assert run["error"] == job["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"horizon": 0}, "horizon"),
        ({"horizon": 105}, "horizon"),  # two years of weeks at most
        ({"frequency": "Q"}, "frequency"),
        ({"skus": ["A", "NOPE"]}, "skus"),
        ({"warehouses": ["W9"]}, "warehouses"),
        ({"skus": []}, "skus"),
        ({"horizon": "4"}, "horizon"),
    ],
)
def test_bad_run_requests_are_422_and_start_nothing(planner, world, post_history, body, field):
    # Two weeks of sales make a series to forecast: what is refused is the request, not the data.
    post_history("A", "W1", steady(weeks=range(2)), receipts={FIRST: 10_000})
    assert_problem(start(planner, **body), 422, field)
    assert planner.get("/forecasts/runs").json["items"] == []


def test_nothing_to_forecast_is_422(planner, world):
    body = assert_problem(start(planner), 422)
    assert "Nothing to forecast" in body["detail"]


def test_roles(make_user, planner, world, post_history):
    post_history("A", "W1", steady(), receipts={FIRST: 10_000})
    for role in ("viewer", "buyer", "warehouse", "storefront", "approver"):
        assert_problem(start(make_user(role)), 403)
    run_to_end(planner)
    for role in ("viewer", "buyer", "warehouse", "approver"):
        api = make_user(role)
        assert api.get("/forecasts?sku=A&warehouse=W1").status_code == 200
        assert api.get("/forecasts/runs").status_code == 200
    storefront = make_user("storefront")
    assert_problem(storefront.get("/forecasts?sku=A&warehouse=W1"), 403)
    assert_problem(storefront.get("/forecasts/runs"), 403)
    assert_problem(planner.get("/forecasts?sku=A"), 422, "warehouse")
    assert_problem(planner.get("/forecasts?sku=A&warehouse=W2"), 404)
    assert_problem(planner.get("/forecasts?sku=NOPE&warehouse=W1"), 404)
    assert_problem(planner.get("/forecasts/runs/999"), 404)
