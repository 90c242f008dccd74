"""The Holds page through the test client: who sees which warehouses, expiry, paging."""

from __future__ import annotations

import re

import pytest

from accounts import services as accounts
from tests.reservation_factories import reserve


@pytest.fixture
def held(app, make_product, make_warehouse, receive, storefront, clock):
    make_product(sku="A")
    make_product(sku="B")
    make_warehouse(code="W1", name="West")
    make_warehouse(code="W2", name="East")
    receive("A", "W1", 20)
    receive("B", "W2", 20)
    with app.app_context():
        accounts.create_user("west", ["warehouse"], warehouses=["W1"], password="pw-west-1")
        accounts.create_user("boss", ["admin"], password="pw-boss-1")
        accounts.create_user("shop", ["storefront"], password="pw-shop-1")
        accounts.create_user("eyes", ["viewer"], password="pw-eyes-1")
    ids = {
        "soon": reserve(storefront, {"A": 2}, order_ref="ORD-SOON", ttl_seconds=120).json["id"],
        "late": reserve(storefront, {"A": 3}, order_ref="ORD-LATE", ttl_seconds=3600).json["id"],
        "east": reserve(storefront, {"B": 4}, order_ref="ORD-EAST", ttl_seconds=600).json["id"],
        "gone": reserve(storefront, {"A": 1}, order_ref="ORD-GONE", ttl_seconds=60).json["id"],
    }
    clock.advance(seconds=60)  # ORD-GONE has lapsed: it is not an active hold any more
    return ids


def signed_in(app, username: str, password: str):
    client = app.test_client()
    r = client.post("/login", data={"username": username, "password": password})
    assert r.status_code == 302
    return client


def test_warehouse_staff_see_active_holds_of_their_warehouses_soonest_first(app, held):
    r = signed_in(app, "west", "pw-west-1").get("/holds")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    orders = re.findall(r"<td>(ORD-[A-Z]+)</td>", html)
    assert orders == ["ORD-SOON", "ORD-LATE"]
    assert "ORD-EAST" not in html
    summary = re.search(r'data-warehouse="W1">(.*?)</tr>', html, re.S).group(1)
    cells = re.findall(r"<span[^>]*>([\d,]+)</span>", summary)
    assert cells == ["2", "5", "1"]  # orders holding, units held, lapsed awaiting release
    assert 'data-warehouse="W2"' not in html
    assert "in 1 min" in html  # ORD-SOON expires 60 s from the page's now


def test_admins_see_every_warehouse_and_may_narrow_to_one(app, held):
    client = signed_in(app, "boss", "pw-boss-1")
    html = client.get("/holds").get_data(as_text=True)
    assert re.findall(r"<td>(ORD-[A-Z]+)</td>", html) == ["ORD-SOON", "ORD-EAST", "ORD-LATE"]
    narrowed = client.get("/holds?warehouse=W2").get_data(as_text=True)
    assert re.findall(r"<td>(ORD-[A-Z]+)</td>", narrowed) == ["ORD-EAST"]
    assert 'data-warehouse="W1"' in narrowed  # the summary still covers every warehouse


def test_staff_may_not_look_into_another_warehouse(app, held):
    assert signed_in(app, "west", "pw-west-1").get("/holds?warehouse=W2").status_code == 403


@pytest.mark.parametrize(("username", "password"), [("shop", "pw-shop-1"), ("eyes", "pw-eyes-1")])
def test_people_without_the_warehouse_role_are_refused(app, held, username, password):
    client = signed_in(app, username, password)
    assert client.get("/holds").status_code == 403
    assert "/holds" not in client.get("/stock").get_data(as_text=True)


def test_the_page_is_in_the_navigation_of_warehouse_staff(app, held):
    html = signed_in(app, "west", "pw-west-1").get("/stock").get_data(as_text=True)
    assert 'href="/holds"' in html


def test_a_committed_or_released_hold_leaves_the_page(app, held, storefront):
    storefront.post(f"/reservations/{held['soon']}/commit")
    storefront.post(f"/reservations/{held['late']}/release")
    html = signed_in(app, "west", "pw-west-1").get("/holds").get_data(as_text=True)
    assert re.findall(r"<td>(ORD-[A-Z]+)</td>", html) == []
    assert 'data-testid="no-holds"' in html


def test_many_holds_are_paged(app, held, storefront, monkeypatch):
    from inventory.reservations import views as holds_views

    monkeypatch.setattr(holds_views, "PAGE_SIZE", 2)
    client = signed_in(app, "boss", "pw-boss-1")
    first = client.get("/holds").get_data(as_text=True)
    assert re.findall(r"<td>(ORD-[A-Z]+)</td>", first) == ["ORD-SOON", "ORD-EAST"]
    link = re.search(r'data-testid="next-page" href="([^"]+)"', first).group(1)
    second = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert re.findall(r"<td>(ORD-[A-Z]+)</td>", second) == ["ORD-LATE"]
    assert client.get("/holds?cursor=garbage").status_code == 200
