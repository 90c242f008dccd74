"""A reservation belongs to the storefront account that made it: to any other it does not exist."""

from __future__ import annotations

import pytest

from tests.factories import assert_problem
from tests.reservation_factories import reserve


@pytest.fixture
def shops(make_user, make_product, make_warehouse, receive):
    make_product(sku="A")
    make_warehouse(code="W1")
    receive("A", "W1", 10)
    first, second = make_user("storefront"), make_user("storefront")
    r = reserve(first, {"A": 3})
    assert r.status_code == 201, r.json
    return first, second, r.json["id"]


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("post", "/extend", {"ttl_seconds": 600}),
        ("post", "/release", None),
        ("post", "/commit", None),
    ],
)
def test_another_storefront_gets_404_and_changes_nothing(shops, method, suffix, body):
    first, second, rid = shops
    kwargs = {"json": body} if body is not None else {}
    before = first.get(f"/reservations/{rid}").json
    assert_problem(getattr(second, method)(f"/reservations/{rid}{suffix}", **kwargs), 404)
    # Same answer as for an id that does not exist: nothing to learn by guessing.
    missing = getattr(second, method)(f"/reservations/{rid + 1000}{suffix}", **kwargs)
    assert missing.status_code == 404
    assert first.get(f"/reservations/{rid}").json == before
    assert first.get("/availability?sku=A").json["items"][0]["available"] == 7


def test_owner_and_admin_keep_access(shops, admin):
    first, _, rid = shops
    assert first.get(f"/reservations/{rid}").status_code == 200
    assert admin.get(f"/reservations/{rid}").status_code == 200
    assert first.post(f"/reservations/{rid}/extend", json={"ttl_seconds": 600}).status_code == 200
    assert first.post(f"/reservations/{rid}/release").json["status"] == "released"


def test_idempotency_key_of_one_account_replays_nothing_for_another(shops):
    first, second, _ = shops
    a = reserve(first, {"A": 1}, key="same-key")
    b = reserve(second, {"A": 1}, key="same-key")
    assert a.status_code == b.status_code == 201
    assert a.json["id"] != b.json["id"]


def test_service_refuses_a_sku_on_two_lines(app, shops):
    from accounts.principal import Principal
    from core.problems import Invalid
    from inventory import reservations

    shop = Principal(None, "shop", frozenset({"storefront"}))
    with app.app_context(), pytest.raises(Invalid) as refused:
        reservations.reserve(
            shop,
            {
                "order_ref": "ORD-2",
                "lines": [{"sku": "A", "quantity": 2}, {"sku": "A", "quantity": 3}],
            },
        )
    assert "1" in refused.value.errors["lines"]
