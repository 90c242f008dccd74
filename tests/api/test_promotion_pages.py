"""The promotions pages: listed for everyone who plans, changed by planners, checked as the API."""

from __future__ import annotations

import contextlib
import re

import pytest

PASSWORD = "pw-12345678"


@pytest.fixture
def world(make_product, make_warehouse):
    make_product(sku="ABC-1", name="Bamboo wok")
    make_product(sku="B", name="Ladle")
    make_warehouse(code="W1", name="Shanghai")
    make_warehouse(code="W2", name="Beijing")


@pytest.fixture
def sign_in(app, make_user, world):
    """A test client signed in through the login form, and its API client."""

    def person(*roles: str):
        api = make_user(*roles, password=PASSWORD)
        web = app.test_client()
        r = web.post("/login", data={"username": api.username, "password": PASSWORD})
        assert r.status_code == 302
        return api, web

    return person


GOOD = {
    "name": "Spring sale",
    "sku": "abc-1",
    "warehouses": ["W1"],
    "start": "2030-03-01",
    "end": "2030-03-07",
    "expected_uplift": "0.3",
    "discount": "0.2",
}


def field_errors(html: str, field: str) -> list[str]:
    """The messages shown under one field (Bootstrap's invalid-feedback after the input)."""
    block = re.search(rf'id="{field}"[^>]*>(.*?)(?=<div class="(?:mb-3|row)|</form>)', html, re.S)
    assert block, field
    return [
        m.strip()
        for m in re.findall(r"invalid-feedback[^>]*>\s*(.*?)\s*</div>", block.group(1), re.S)
    ]


def test_planners_plan_a_promotion_through_the_form_and_see_it_listed(sign_in):
    api, web = sign_in("planner")
    r = web.post("/forecasts/promotions/new", data=GOOD)
    assert r.status_code == 302, r.get_data(as_text=True)
    page = web.get(r.headers["Location"]).get_data(as_text=True)
    assert "Promotion Spring sale planned." in page
    row = re.search(r'<tr data-promotion-id="(\d+)" data-sku="ABC-1">(.*?)</tr>', page, re.S)
    assert row, page
    assert "Bamboo wok" in row.group(2)
    assert "+30 %" in row.group(2)
    assert "20 %" in row.group(2)
    stored = api.get(f"/promotions/{row.group(1)}").json
    assert (stored["sku"], stored["warehouses"], stored["created_by"]) == (
        "ABC-1",
        ["W1"],
        api.username,
    )
    assert (stored["expected_uplift"], stored["discount"]) == (0.3, 0.2)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"end": "2030-02-27"}, "end", "The promotion ends before it starts."),
        ({"end": "2031-03-07"}, "end", "A promotion lasts a year at most."),
        ({"start": "1 March"}, "start", "Not a valid date."),
        ({"start": ""}, "start", "Missing data for required field."),
        ({"name": "  "}, "name", "Length must be between 1 and 200."),
        ({"sku": "NOPE"}, "sku", "unknown sku NOPE"),
        ({"warehouses": ["W1", "W9"]}, "warehouses", "unknown warehouse W9"),
        ({"discount": "1"}, "discount", "Must be greater than or equal to 0 and less than 1."),
        (
            {"expected_uplift": "-1"},
            "expected_uplift",
            "Must be greater than or equal to -0.99 and less than or equal to 20.",
        ),
        ({"expected_uplift": "lots"}, "expected_uplift", "Not a valid number."),
    ],
)
def test_the_form_refuses_what_the_api_refuses_next_to_the_field(sign_in, change, field, message):
    api, web = sign_in("planner")
    r = web.post("/forecasts/promotions/new", data={**GOOD, **change})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    if field == "warehouses":
        assert message in html.split('data-testid="warehouse-choices"')[1].split("</fieldset>")[0]
    else:
        assert message in field_errors(html, field)
    assert api.get("/promotions").json["items"] == []
    # The API answers the same body with a 422 on the same field.
    body = {k: v for k, v in {**GOOD, **change}.items() if v not in ("", "  ")}
    for key in ("expected_uplift", "discount"):
        if key in body:
            with contextlib.suppress(ValueError):
                body[key] = float(body[key])
    refused = api.post("/promotions", json=body)
    assert refused.status_code == 422
    assert field in refused.json["errors"]


def test_planners_edit_and_delete_promotions_and_the_audit_log_names_them(sign_in, make_user):
    api, web = sign_in("planner")
    promo = api.post(
        "/promotions", json={"name": "Spring sale", "start": "2030-03-01", "end": "2030-03-07"}
    ).json
    form = web.get(f"/forecasts/promotions/{promo['id']}/edit").get_data(as_text=True)
    assert 'value="Spring sale"' in form
    assert 'value="2030-03-07"' in form
    r = web.post(
        f"/forecasts/promotions/{promo['id']}/edit",
        data={**GOOD, "name": "Spring sale", "sku": "", "end": "2030-03-02"},
    )
    html = r.get_data(as_text=True)
    assert "The promotion ends before it starts." not in html
    r = web.post(f"/forecasts/promotions/{promo['id']}/edit", data={**GOOD, "end": "2030-02-01"})
    assert "The promotion ends before it starts." in field_errors(r.get_data(as_text=True), "end")
    assert api.get(f"/promotions/{promo['id']}").json["end"] == "2030-03-02"

    r = web.post(f"/forecasts/promotions/{promo['id']}/delete")
    assert r.status_code == 302
    assert "Promotion Spring sale deleted." in web.get("/forecasts/promotions").get_data(
        as_text=True
    )
    assert api.get("/promotions").json["items"] == []
    audit = make_user("admin").get("/audit", query_string={"object_type": "promotion"}).json
    assert [e["action"] for e in audit["items"]] == [
        "promotion.delete",
        "promotion.update",
        "promotion.create",
    ]
    assert {e["actor"] for e in audit["items"]} == {api.username}


def test_readers_see_promotions_but_only_planners_change_them(sign_in, make_user):
    planner_api, _ = sign_in("planner")
    promo = planner_api.post(
        "/promotions", json={"name": "Double 11", "start": "2030-11-11", "end": "2030-11-11"}
    ).json
    _, viewer = sign_in("viewer")
    page = viewer.get("/forecasts/promotions").get_data(as_text=True)
    assert "</i>Promotions</a>" in page
    assert "Double 11" in page
    assert "every item" in page
    assert "every warehouse" in page
    assert "Plan a promotion" not in page
    assert 'data-testid="delete-' not in page
    for method, url in [
        ("get", "/forecasts/promotions/new"),
        ("post", "/forecasts/promotions/new"),
        ("get", f"/forecasts/promotions/{promo['id']}/edit"),
        ("post", f"/forecasts/promotions/{promo['id']}/delete"),
    ]:
        r = getattr(viewer, method)(url, data=GOOD if method == "post" else None)
        assert r.status_code == 403, url
        assert "This page needs one of the roles: planner." in r.get_data(as_text=True)
    assert planner_api.get(f"/promotions/{promo['id']}").json["name"] == "Double 11"
    _, storefront = sign_in("storefront")
    assert storefront.get("/forecasts/promotions").status_code == 403
    assert "</i>Promotions</a>" not in storefront.get("/").get_data(as_text=True)


def test_the_list_filters_as_the_api_does(sign_in):
    api, web = sign_in("planner")
    api.post("/promotions", json={**GOOD, "expected_uplift": 0.3, "discount": 0.2})
    api.post(
        "/promotions",
        json={"name": "Ladle days", "sku": "B", "start": "2030-05-01", "end": "2030-05-02"},
    )
    page = web.get("/forecasts/promotions?sku=abc-1").get_data(as_text=True)
    assert "Spring sale" in page
    assert "Ladle days" not in page
    page = web.get("/forecasts/promotions?active_from=2030-04-01").get_data(as_text=True)
    assert "Spring sale" not in page
    assert "Ladle days" in page
    r = web.get("/forecasts/promotions?active_from=someday")
    assert r.status_code == 422
    assert "active_from: Not a valid date." in r.get_data(as_text=True)
    r = web.get("/forecasts/promotions?sku=NOPE")
    assert r.status_code == 404
    assert "unknown sku NOPE" in r.get_data(as_text=True)


def test_an_unknown_promotion_is_a_404_page(sign_in):
    _, web = sign_in("planner")
    assert web.get("/forecasts/promotions/999/edit").status_code == 404
    assert web.post("/forecasts/promotions/999/delete").status_code == 404


def test_the_pages_and_the_api_messages_read_in_chinese(sign_in):
    api, web = sign_in("planner")
    zh = {"Accept-Language": "zh-CN"}
    r = web.post("/forecasts/promotions/new", data={**GOOD, "end": "2030-02-01"}, headers=zh)
    html = r.get_data(as_text=True)
    assert "计划促销" in html
    assert "促销的结束日期早于开始日期。" in field_errors(html, "end")
    r = web.post("/forecasts/promotions/new", data={**GOOD, "start": ""}, headers=zh)
    assert "此字段为必填项。" in field_errors(r.get_data(as_text=True), "start")
    # The API itself stays English: programs read it.
    refused = api.post(
        "/promotions", json={"name": "x", "start": "2030-03-02", "end": "2030-03-01"}
    )
    assert refused.json["errors"]["end"] == ["The promotion ends before it starts."]
    page = web.get("/forecasts/promotions", headers=zh).get_data(as_text=True)
    assert "</i>促销</a>" in page
