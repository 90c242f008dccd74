"""GET/POST /availability: what the storefront may sell now, per sku and warehouse."""

from __future__ import annotations

import importlib

import jsonschema
import pytest
import sqlalchemy as sa

from core.config import normalise_database_url
from tests.factories import assert_problem
from tests.reservation_factories import reserve

#: The module (``inventory.reservations`` re-exports its function under the same name).
reserve_module = importlib.import_module("inventory.reservations.reserve")


@pytest.fixture
def world(make_product, make_warehouse, receive):
    for sku in ("A", "B", "C"):
        make_product(sku=sku)
    make_warehouse(code="W1")
    make_warehouse(code="W2")
    make_warehouse(code="NEG", allow_negative_stock=True)
    receive("A", "W1", 7)
    receive("A", "W2", 3)
    receive("B", "W2", 4)


def by_sku(response) -> dict:
    assert response.status_code == 200, response.json
    return {item["sku"]: item for item in response.json["items"]}


@pytest.mark.parametrize("role", ["storefront", "admin"])
def test_storefront_and_admin_may_ask(make_user, world, role):
    assert make_user(role).get("/availability?sku=A").status_code == 200


@pytest.mark.parametrize("role", ["warehouse", "buyer", "approver", "planner", "viewer"])
def test_other_roles_are_refused(make_user, world, role):
    api = make_user(role, warehouses=["W1"] if role == "warehouse" else None)
    assert_problem(api.get("/availability?sku=A"), 403)
    assert_problem(api.post("/availability", json={"skus": ["A"]}), 403)


def test_without_a_token_it_is_401(anonymous, world):
    assert_problem(anonymous.get("/availability?sku=A"), 401)


def test_totals_and_per_warehouse_figures(storefront, world):
    items = by_sku(storefront.get("/availability?sku=A&sku=B&sku=C"))
    assert items["A"] == {
        "sku": "A",
        "known": True,
        "available": 10,
        "warehouses": [{"code": "W1", "available": 7}, {"code": "W2", "available": 3}],
    }
    assert items["B"]["available"] == 4
    assert items["B"]["warehouses"] == [{"code": "W2", "available": 4}]
    assert items["C"] == {"sku": "C", "known": True, "available": 0, "warehouses": []}


def test_items_come_back_in_the_order_asked_without_duplicates(storefront, world):
    r = storefront.get("/availability?sku=B&sku=A&sku=B")
    assert [i["sku"] for i in r.json["items"]] == ["B", "A"]


def test_unknown_sku_is_listed_as_unknown_with_nothing_available(storefront, world):
    items = by_sku(storefront.get("/availability?sku=NOPE&sku=A"))
    assert items["NOPE"] == {"sku": "NOPE", "known": False, "available": 0, "warehouses": []}
    assert items["A"]["known"] is True


def test_one_warehouse_only_when_asked(storefront, world):
    items = by_sku(storefront.get("/availability?sku=A&sku=B&sku=C&warehouse=W1"))
    assert items["A"]["available"] == 7
    assert items["A"]["warehouses"] == [{"code": "W1", "available": 7}]
    assert items["B"]["warehouses"] == [{"code": "W1", "available": 0}]
    assert items["C"]["available"] == 0


def test_unknown_query_parameters_and_overlong_skus_are_422(storefront, world):
    assert_problem(storefront.get("/availability?sku=A&colour=red"), 422, "colour")
    assert_problem(storefront.get("/availability?sku=" + "X" * 65), 422, "sku")
    assert_problem(storefront.get("/availability?" + "&".join(["sku=A"] * 101)), 422, "sku")


def test_unknown_warehouse_is_422(storefront, world):
    assert_problem(storefront.get("/availability?sku=A&warehouse=NOWHERE"), 422, "warehouse")


def test_missing_or_too_many_skus_is_422(storefront, world):
    assert_problem(storefront.get("/availability"), 422, "sku")
    assert_problem(storefront.post("/availability", json={"skus": []}), 422, "skus")
    too_many = [f"S{i}" for i in range(1001)]
    assert_problem(storefront.post("/availability", json={"skus": too_many}), 422, "skus")


def test_reserved_units_are_not_available(storefront, world):
    assert reserve(storefront, {"A": 5}, warehouse="W1").status_code == 201
    items = by_sku(storefront.get("/availability?sku=A"))
    assert items["A"]["available"] == 5
    assert items["A"]["warehouses"][0] == {"code": "W1", "available": 2}


def test_a_warehouse_below_zero_offers_nothing_rather_than_a_negative(admin, storefront, world):
    admin.post(
        "/stock/movements", json={"type": "issue", "sku": "A", "warehouse": "NEG", "quantity": 2}
    )
    items = by_sku(storefront.get("/availability?sku=A"))
    assert {"code": "NEG", "available": 0} in items["A"]["warehouses"]
    assert items["A"]["available"] == 10


def test_closed_warehouses_are_left_out(admin, storefront, world):
    assert admin.patch("/warehouses/W2", json={"active": False}).status_code == 200
    items = by_sku(storefront.get("/availability?sku=A"))
    assert items["A"]["available"] == 7
    assert [w["code"] for w in items["A"]["warehouses"]] == ["W1"]


def test_large_basket_by_post(storefront, make_product, receive, world):
    skus = [f"BULK-{i:04d}" for i in range(1000)]
    for sku in skus[:3]:
        make_product(sku=sku)
        receive(sku, "W1", 2)
    r = storefront.post("/availability", json={"skus": skus, "warehouse": "W1"})
    items = by_sku(r)
    assert len(items) == 1000
    assert items["BULK-0000"]["available"] == 2
    assert items["BULK-0999"]["known"] is False


@pytest.mark.parametrize("warehouse", [None, "W1", "W2"])
def test_a_large_basket_answers_each_sku_as_a_small_one_does(
    admin, storefront, world, clock, warehouse
):
    """A basket of 1,000 skus is read in parts, their rows taken as they arrive, on PostgreSQL
    by another statement than a few skus': each sku's answer is the same either way. Here with
    a closed warehouse, one below zero, held and lapsed units, a product stocked nowhere and
    unknown skus; for one warehouse, a closed one and one that stocks nothing of a sku."""
    assert reserve(storefront, {"A": 5}, warehouse="W1", ttl_seconds=60).status_code == 201
    assert reserve(storefront, {"B": 1}, warehouse="W2", ttl_seconds=600).status_code == 201
    clock.advance(seconds=61)  # A's hold has lapsed, B's has not
    admin.post(
        "/stock/movements", json={"type": "issue", "sku": "A", "warehouse": "NEG", "quantity": 2}
    )
    assert admin.patch("/warehouses/W2", json={"active": False}).status_code == 200
    listed = ["C", "B", "A", *(f"NOPE-{i:03d}" for i in range(997))]
    where = {} if warehouse is None else {"warehouse": warehouse}
    large = storefront.post("/availability", json={"skus": listed, **where})
    small = storefront.post("/availability", json={"skus": listed[:4], **where})
    assert large.status_code == small.status_code == 200
    assert large.json["items"][:4] == small.json["items"]
    assert [item["sku"] for item in large.json["items"]] == listed
    items = by_sku(large)
    if warehouse is None:
        assert items["A"]["warehouses"] == [
            {"code": "NEG", "available": 0},
            {"code": "W1", "available": 7},
        ]
        assert items["B"] == {"sku": "B", "known": True, "available": 0, "warehouses": []}
    else:
        stocked = {"W1": {"A": 7, "B": 0, "C": 0}, "W2": {"A": 0, "B": 0, "C": 0}}[warehouse]
        for sku, units in stocked.items():
            assert items[sku]["warehouses"] == [{"code": warehouse, "available": units}]
    assert items["C"]["known"] is True
    assert items["NOPE-996"] == {
        "sku": "NOPE-996",
        "known": False,
        "available": 0,
        "warehouses": [],
    }


def test_an_expired_hold_counts_again_the_moment_it_expires(storefront, world, clock):
    assert reserve(storefront, {"A": 7}, warehouse="W1", ttl_seconds=60).status_code == 201
    assert by_sku(storefront.get("/availability?sku=A"))["A"]["available"] == 3
    clock.advance(seconds=59)
    assert by_sku(storefront.get("/availability?sku=A"))["A"]["available"] == 3
    clock.advance(seconds=1)
    assert by_sku(storefront.get("/availability?sku=A"))["A"]["available"] == 10
    items = by_sku(storefront.post("/availability", json={"skus": ["A"], "warehouse": "W1"}))
    assert items["A"]["available"] == 7


@pytest.mark.parametrize("path", ["as deployed", "under row locks"])
def test_a_shorter_hold_after_a_longer_one_counts_again_the_moment_it_expires(
    storefront, world, clock, monkeypatch, check_invariants, path
):
    """Reads look for lapsed holds only on levels whose earliest hold expiry has passed: a hold
    that lapses sooner than those already on the level brings that moment forward, whichever
    way the reservation was written (PostgreSQL's function, or the statements it falls back on
    under row locks, which are SQLite's)."""
    if path == "under row locks":

        def stale(*_: object) -> None:
            raise reserve_module._StalePlan

        monkeypatch.setattr(reserve_module, "_reserve_in_one_statement", stale)
    for ttl, quantity in ((600, 2), (30, 3)):
        reply = reserve(
            storefront, {"A": quantity}, warehouse="W1", ttl_seconds=ttl, order_ref=f"T{ttl}"
        )
        assert reply.status_code == 201, reply.json
    check_invariants()
    basket = ["A", *(f"NOPE-{i:03d}" for i in range(999))]
    clock.advance(seconds=29)
    assert by_sku(storefront.get("/availability?sku=A"))["A"]["warehouses"][0]["available"] == 2
    clock.advance(seconds=1)
    for reply in (
        storefront.get("/availability?sku=A"),
        storefront.post("/availability", json={"skus": basket}),
    ):
        assert by_sku(reply)["A"]["warehouses"][0] == {"code": "W1", "available": 5}
    clock.advance(seconds=600)
    assert by_sku(storefront.get("/availability?sku=A"))["A"]["warehouses"][0]["available"] == 7


def test_off_by_default_every_answer_reads_the_database(app, database_url, storefront, world):
    assert app.config["AVAILABILITY_CACHE_SECONDS"] == 0
    assert by_sku(storefront.get("/availability?sku=A"))["A"]["available"] == 10
    # Another process (a command, another worker) changes the level behind this one's back.
    engine = sa.create_engine(normalise_database_url(database_url))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE stock_levels SET on_hand = on_hand - 1"))
    engine.dispose()
    assert by_sku(storefront.get("/availability?sku=A"))["A"]["available"] == 8


def test_responses_are_exactly_what_the_openapi_document_describes(client, storefront, world):
    doc = client.get("/api/openapi.json").json
    schemas = doc["components"]["schemas"]
    document = {"$ref": "#/components/schemas/Availability", "components": doc["components"]}
    responses = [
        storefront.get("/availability?sku=A&sku=NOPE&sku=C"),
        storefront.get("/availability?sku=A&sku=B&warehouse=W1"),
        storefront.post("/availability", json={"skus": ["B", "A", "NOPE"]}),
    ]
    for r in responses:
        assert r.status_code == 200
        assert r.mimetype == "application/json"
        jsonschema.validate(r.json, document)
        for item in r.json["items"]:
            assert list(item) == list(schemas["SkuAvailability"]["properties"])
            for site in item["warehouses"]:
                assert list(site) == list(schemas["WarehouseAvailability"]["properties"])


def test_skus_with_quotes_backslashes_and_any_script_are_answered_by_name(
    storefront, make_product, receive, world
):
    odd = ['Q"1', "B\\2", "螺丝-3", "a,b}{4"]
    for sku in odd:
        make_product(sku=sku)
        receive(sku, "W1", 2)
    r = storefront.post("/availability", json={"skus": [*odd, 'Q"1-not']})
    assert [(i["sku"], i["known"], i["available"]) for i in r.json["items"]] == [
        *[(sku, True, 2) for sku in odd],
        ('Q"1-not', False, 0),
    ]
    r = storefront.get("/availability", query_string=[("sku", sku) for sku in odd])
    assert [i["available"] for i in r.json["items"]] == [2, 2, 2, 2]
