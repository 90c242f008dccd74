"""Planners in a real browser: the forecast chart with its bands, and runs with live progress."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from accounts import services as accounts
from accounts.principal import SYSTEM
from core import jobs
from core.db import utcnow
from forecasting import demand, services
from tests.e2e.conftest import login, open_page

pytestmark = pytest.mark.e2e

END = demand.history_end(utcnow().date(), "W")
FIRST = END - timedelta(days=7 * 30 - 1)


@pytest.fixture
def shop(live_server, make_product, make_warehouse, post_history):
    make_product(sku="WOK-1", name="Carbon steel wok")
    make_product(sku="MUG-2", name="Ceramic mug")
    make_warehouse(code="SH1", name="Shanghai")
    noise = random.Random(5)
    days = {
        FIRST + timedelta(days=i): 4 + 4 * (i % 7 >= 5) + noise.randint(0, 2) for i in range(210)
    }
    # Stock for exactly twelve weeks, then none until week 15: the chart must show weeks 12 to 14
    # as out of stock, not as weeks without sales.
    twelve_weeks = sum(days[FIRST + timedelta(days=i)] for i in range(84))
    restock = FIRST + timedelta(days=105)
    post_history("WOK-1", "SH1", days, receipts={FIRST: twelve_weeks, restock: 9000})
    post_history("MUG-2", "SH1", days, receipts={FIRST: 9000})
    with live_server.app.app_context():
        accounts.create_user("mei", ["planner"], password="pw-mei-1234")
    return live_server


def _queued_run(app, **data):
    """A run recorded and queued but not started, so the page can watch it start and finish."""
    with app.app_context():
        return services.start_run(
            SYSTEM, {"horizon": 6, "frequency": "W", **data}, executor=jobs.Executor.INLINE
        )


def test_forecast_page_draws_history_forecast_and_bands(shop, browser_page):
    started = _queued_run(shop.app)
    with shop.app.app_context():
        assert jobs.run_inline(started["job_id"]) is jobs.JobStatus.SUCCEEDED
    page = browser_page
    login(page, shop.url, "mei", "pw-mei-1234")
    open_page(page, "Planning", "Forecasts")
    page.wait_for_selector("#forecast-chart .main-svg")  # the first forecast is shown at once
    page.fill("#sku", "WOK-1")
    page.select_option("#warehouse", "SH1")
    page.click("form[data-testid=forecast-picker] button[type=submit]")
    page.wait_for_selector("#forecast-chart .main-svg")
    assert "WOK-1" in page.inner_text("h1 + div")

    names = page.evaluate("() => document.getElementById('forecast-chart').data.map(t => t.name)")
    for name in ("90 % band", "50 % band", "Forecast (mean)", "Demand", "Out of stock (censored)"):
        assert name in names
    legend = page.text_content("#forecast-chart .legend") or ""
    assert "50 % band" in legend
    assert "90 % band" in legend
    # Six forecast periods, and the stock-out weeks drawn as censored, not as zero demand.
    mean = page.evaluate(
        "() => document.getElementById('forecast-chart').data"
        ".find(t => t.name === 'Forecast (mean)').y"
    )
    assert len(mean) == 6
    assert all(v > 20 for v in mean)
    censored = page.evaluate(
        "() => document.getElementById('forecast-chart').data"
        ".find(t => t.name === 'Out of stock (censored)').x.length"
    )
    assert censored == 3
    assert page.inner_text("[data-testid=forecast-model]").strip()
    assert page.inner_text("[data-testid=accuracy-mase]").strip() != "—"
    assert "out of stock" in page.inner_text("[data-testid=censored-count]")
    assert page.locator("[data-testid=forecast-table] tbody tr").count() == 6


def test_runs_page_follows_a_run_live_until_it_finishes(shop, browser_page):
    queued = _queued_run(shop.app, skus=["MUG-2"])
    page = browser_page
    login(page, shop.url, "mei", "pw-mei-1234")
    page.goto(shop.url + "/forecasts/runs")
    row = f"tr[data-run-id='{queued['run_id']}']"
    assert page.get_attribute(row, "data-status") == "queued"

    # The work starts elsewhere (as a worker would); the open page picks up its progress.
    with shop.app.app_context():
        assert jobs.run_inline(queued["job_id"]) is jobs.JobStatus.SUCCEEDED
    page.wait_for_selector(f"{row}[data-status='succeeded']", timeout=20_000)
    assert page.inner_text(f"{row} .progress-bar").strip() == "100 %"
    series = f"{row} td[data-col=series]"
    page.wait_for_function(
        f"() => document.querySelector(\"{series}\").textContent.trim() === '1 / 1'"
    )
    assert page.inner_text(f"{row} td[data-col=mase]").strip() != "—"

    # Starting one from the form: it appears at the top and runs to the end in the server.
    page.fill("#horizon", "4")
    page.select_option("#frequency", "W")
    page.fill("#skus", "MUG-2 WOK-1")
    page.click("form[data-testid=start-run] button[type=submit]")
    page.wait_for_selector(".alert-success")
    newest = int(page.get_attribute("tbody tr:first-child", "data-run-id") or 0)
    assert newest == queued["run_id"] + 1
    try:
        page.wait_for_selector(
            f"tr[data-run-id='{newest}'][data-status='succeeded']", timeout=90_000
        )
    except Exception:
        with shop.app.app_context():
            run = services.get_run(newest)
        pytest.fail(f"run {newest} did not succeed in the server: {run}")
    assert page.inner_text(f"tr[data-run-id='{newest}'] td[data-col=series]").strip() == "2 / 2"
