"""Forecast pages and commands: chart data, the runs page, the CLI, Plotly served locally."""

from __future__ import annotations

import json
import random
import re
from datetime import timedelta

import pytest

from core.db import utcnow
from forecasting import demand

pytestmark = pytest.mark.usefixtures("drain_jobs")

END = demand.history_end(utcnow().date(), "W")
FIRST = END - timedelta(days=7 * 30 - 1)


@pytest.fixture
def history(make_product, make_warehouse, post_history):
    make_product(sku="A", name="Bamboo wok")
    make_warehouse(code="W1", name="Shanghai")
    noise = random.Random(3)
    days = {
        FIRST + timedelta(days=i): 4 + (i % 7 == 5) * 3 + noise.randint(0, 2) for i in range(210)
    }
    # Stock for exactly ten weeks, then nothing until week 12: weeks 10 and 11 out of stock.
    ten_weeks = sum(days[FIRST + timedelta(days=i)] for i in range(70))
    post_history("A", "W1", days, receipts={FIRST: ten_weeks, FIRST + timedelta(days=84): 5000})


@pytest.fixture
def browser_of(app, make_user):
    """A test client signed in through the login form as a new user with ``roles``."""

    def sign_in(*roles: str):
        api = make_user(*roles, password="pw-12345678")
        client = app.test_client()
        r = client.post("/login", data={"username": api.username, "password": "pw-12345678"})
        assert r.status_code == 302, r.get_data(as_text=True)
        return client

    return sign_in


def run_cli(app, *args: str):
    return app.test_cli_runner().invoke(args=["forecasting", *args])


def test_the_command_runs_a_forecast_in_the_foreground_with_a_progress_bar(app, history):
    result = run_cli(app, "run", "--horizon", "6", "--frequency", "W")
    assert result.exit_code == 0, result.output
    assert "Forecast run 1" in result.output
    assert re.search(r"run 1: succeeded, 1 of 1 series forecast, 0 failed; MASE \d", result.output)
    assert "models in the forecasts:" in result.output


def test_the_command_reports_bad_requests(app, history):
    result = run_cli(app, "run", "--sku", "NOPE")
    assert result.exit_code != 0
    assert "unknown sku NOPE" in result.output
    result = run_cli(app, "run", "--horizon", "40", "--frequency", "M")
    assert result.exit_code != 0
    assert "at most 36" in result.output


def test_the_import_command_is_all_or_nothing(app, history, tmp_path):
    good = tmp_path / "sales.csv"
    good.write_text(f"sku,warehouse,date,quantity\nA,W1,{FIRST},9\nA,W1,{FIRST + timedelta(1)},8\n")
    result = run_cli(app, "import", str(good))
    assert result.exit_code == 0, result.output
    assert "imported 2 days of demand (0 replaced)" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text(f"sku,warehouse,date,quantity\nA,W1,{FIRST},3\nZZ,W1,{FIRST},1\n")
    result = run_cli(app, "import", str(bad))
    assert result.exit_code != 0
    assert "row 3: unknown sku ZZ" in result.output


def test_forecast_page_shows_model_accuracy_and_chart_data(app, history, browser_of):
    assert run_cli(app, "run", "--horizon", "6").exit_code == 0
    client = browser_of("viewer")
    page = client.get("/forecasts?sku=A&warehouse=W1")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'src="/static/vendor/plotly.min.js"' in html
    assert 'data-testid="forecast-model"' in html
    assert "2 out of stock" in html
    data = json.loads(re.search(r'id="chart-data"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert len(data["forecast"]) == 6
    assert set(data["forecast"][0]["q"]) >= {"0.05", "0.25", "0.75", "0.95"}
    assert len(data["history"]) == 30
    assert [p["censored"] for p in data["history"]][10:12] == [True, True]
    # The first item with a forecast is shown when nothing is picked.
    assert 'value="A"' in client.get("/forecasts").get_data(as_text=True)


def test_forecast_page_before_any_run_says_how_to_get_one(history, browser_of):
    html = browser_of("planner").get("/forecasts").get_data(as_text=True)
    assert 'data-testid="no-forecasts"' in html
    assert "Start a forecast run" in html


def test_plotly_is_served_from_the_installed_package(client):
    with client.get("/static/vendor/plotly.min.js") as r:
        assert r.status_code == 200
        assert "javascript" in r.mimetype
        assert b"plotly" in r.data[:2000].lower()
        assert len(r.data) > 1_000_000


def test_planners_start_runs_from_the_runs_page_and_see_them_listed(app, history, browser_of):
    client = browser_of("planner")
    r = client.post("/forecasts/runs", data={"horizon": 4, "frequency": "W", "skus": "A"})
    assert r.status_code == 302
    page = client.get("/forecasts/runs").get_data(as_text=True)
    assert "Forecast run 1 started." in page
    assert re.search(r'data-run-id="1" data-job-id="\d+"', page)
    r = client.post("/forecasts/runs", data={"horizon": 4, "frequency": "W", "skus": "A B"})
    assert r.status_code == 200
    assert "unknown sku B" in r.get_data(as_text=True)


def test_pages_respect_roles(history, browser_of):
    assert browser_of("viewer").get("/forecasts/runs").status_code == 403
    assert browser_of("storefront").get("/forecasts").status_code == 403
    planner_nav = browser_of("planner").get("/forecasts").get_data(as_text=True)
    assert "Forecast runs" in planner_nav
    viewer_nav = browser_of("viewer").get("/forecasts").get_data(as_text=True)
    assert ">Forecasts<" in viewer_nav.replace("</i>", ">")
    assert "Forecast runs" not in viewer_nav


def test_forecast_page_for_an_unknown_item_says_so(history, browser_of):
    client = browser_of("planner")
    r = client.get("/forecasts?sku=NOPE&warehouse=W1")
    assert r.status_code == 404
    assert "no item NOPE" in r.get_data(as_text=True)
    r = client.get("/forecasts?sku=A&warehouse=NOWHERE")
    assert r.status_code == 404
    assert "no warehouse NOWHERE" in r.get_data(as_text=True)
