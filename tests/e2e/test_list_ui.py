"""The stock list in a real browser: search, filter, sort by a header, download the CSV."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from accounts import services as accounts
from tests.e2e.conftest import login

pytestmark = pytest.mark.e2e


@pytest.fixture
def shelves(live_server, make_product, make_warehouse, receive):
    make_warehouse(code="SH1", name="Shanghai")
    make_warehouse(code="BJ1", name="Beijing")
    make_product(sku="BOLT-10", name="Hex bolt M10", category="fasteners", reorder_point=10)
    make_product(sku="NUT-5", name="Wing nut", category="fasteners")
    make_product(sku="GLUE-1", name="Wood glue", category="adhesives")
    receive("BOLT-10", "SH1", 8)  # low: its reorder point is 10
    receive("BOLT-10", "BJ1", 40)
    receive("NUT-5", "SH1", 3)  # low: no reorder point, at or below LOW_STOCK_UNITS (5)
    receive("NUT-5", "BJ1", 50)
    receive("GLUE-1", "SH1", 2500)
    receive("GLUE-1", "BJ1", 1)  # low
    with live_server.app.app_context():
        accounts.create_user("mei", ["viewer"], password="pw-mei-1234")
    return live_server


def shown(page) -> list[str]:
    return page.eval_on_selector_all(
        "[data-testid=stock-table] tbody tr[data-sku]",
        "rows => rows.map(r => r.dataset.sku + '@' + r.dataset.warehouse)",
    )


def test_search_filter_sort_and_export_the_stock_list(shelves, browser_page, tmp_path: Path):
    page = browser_page
    login(page, shelves.url, "mei", "pw-mei-1234")
    page.goto(shelves.url + "/stock")
    assert len(shown(page)) == 6
    assert page.inner_text("[data-testid=list-count]").strip() == "1–6 of 6"

    page.fill("#f-q", "bolt")
    page.click("[data-testid=apply-filters]")
    page.wait_for_url(re.compile(r"/stock\?q=bolt$"))  # only what is set goes in the link
    assert shown(page) == ["BOLT-10@BJ1", "BOLT-10@SH1"]

    page.fill("#f-q", "")
    page.select_option("#level", "low")
    page.select_option("#category", "fasteners")
    page.click("[data-testid=apply-filters]")
    page.wait_for_url(re.compile(r"level=low"))
    assert shown(page) == ["BOLT-10@SH1", "NUT-5@SH1"]
    page.select_option("#category", "")
    page.click("[data-testid=apply-filters]")
    page.wait_for_url(lambda url: "category=fasteners" not in url)
    assert shown(page) == ["BOLT-10@SH1", "GLUE-1@BJ1", "NUT-5@SH1"]

    page.click("th[data-sort-key=available] a")
    page.wait_for_url(re.compile(r"sort=available"))
    assert shown(page) == ["GLUE-1@BJ1", "NUT-5@SH1", "BOLT-10@SH1"]
    page.click("th[data-sort-key=available] a")
    page.wait_for_url(re.compile(r"sort=-available"))
    assert shown(page) == ["BOLT-10@SH1", "NUT-5@SH1", "GLUE-1@BJ1"]
    assert page.get_attribute("th[data-sort-key=available]", "aria-sort") == "descending"
    # The filter survives sorting, and the form keeps the sort when filtering again.
    assert page.input_value("#level") == "low"

    with page.expect_download() as download_info:
        page.click("[data-testid=export-csv]")
    download = download_info.value
    assert re.fullmatch(r"stock-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    with target.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [f"{r['sku']}@{r['warehouse']}" for r in rows] == shown(page)
    assert [(r["available"], r["level"], r["low_at"]) for r in rows] == [
        ("8", "low", "10"),
        ("3", "low", "5"),
        ("1", "low", "5"),
    ]

    page.fill("#f-q", "GLUE")
    page.select_option("#level", "")
    page.click("[data-testid=apply-filters]")
    page.wait_for_url(re.compile(r"q=GLUE"))
    assert shown(page) == ["GLUE-1@SH1", "GLUE-1@BJ1"]  # still by available, descending
    assert page.inner_text("tr[data-warehouse=SH1] td[data-col=available]").strip() == "2,500"
    with page.expect_download() as download_info:
        page.click("[data-testid=export-csv]")
    target = tmp_path / "glue.csv"
    download_info.value.save_as(target)
    with target.open(encoding="utf-8-sig", newline="") as f:
        assert [r["available"] for r in csv.DictReader(f)] == ["2500", "1"]
