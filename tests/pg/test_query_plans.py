"""The plans PostgreSQL keeps for the storefront's two hottest reads.

A catalog of about a thousand products is small enough for the planner to prefer reading all of
it over a few index probes, on every call: 0.05-0.1 ms of the database's CPU per reservation or
availability question. These tests build such a catalog, run the statements as the service
does, and read the plan the server keeps for them.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from accounts.principal import Principal
from core import db
from inventory import reservations

pytestmark = pytest.mark.pg

#: The modules (the package re-exports their functions under the same names).
reserve_module = importlib.import_module("inventory.reservations.reserve")
availability = importlib.import_module("inventory.reservations.availability")
SHOP = Principal(user_id=None, username="shop", roles=frozenset({"storefront"}))
#: About the benchmark's catalog: small enough for the planner to read it whole if it may.
FILLER = 1050


@pytest.fixture
def catalog(app, make_product, make_warehouse, receive):
    for sku in ("A", "B"):
        make_product(sku=sku)
    make_warehouse(code="W1")
    receive("A", "W1", 20)
    receive("B", "W1", 20)
    with app.app_context(), db.engine().begin() as conn:
        conn.execute(
            text(
                "INSERT INTO products (sku, name, uom, currency, active, created_at, updated_at) "
                "SELECT 'FILL-' || i, 'Filler', 'ea', 'CNY', true, now(), now() "
                f"FROM generate_series(1, {FILLER}) AS i"
            )
        )
    # As a freshly loaded catalog is: the tests' cleanup deletes rows without vacuuming, so a
    # worker's earlier tests can leave dead products behind, and a table of mostly dead pages is
    # one the planner rightly probes rather than reads whole.
    with app.app_context(), db.engine().connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("VACUUM (FULL, ANALYZE) products")
        )


def kept_plan(statement: db.DriverStatement, params: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """How many generic and custom plans the pool's connection made for ``statement``, and the
    generic plan of the same text, as ``EXPLAIN (FORMAT JSON)`` shows it."""
    read_pool = db._read_engine()
    call = statement.prepared_call(read_pool, params)
    assert call is not None
    raw = read_pool.raw_connection()
    try:
        driver = raw.driver_connection
        counts = driver.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = %s",
            [call[0].decode()],  # type: ignore[union-attr]
        ).fetchone()
        driver.execute("SET plan_cache_mode = force_generic_plan")
        plan = explain(driver, call)
        driver.execute("RESET plan_cache_mode")
    finally:
        raw.close()
    return counts, plan


def explain(driver: Any, call: Any, options: str = "") -> dict[str, Any]:
    """The plan of ``call`` (``prepared_call``'s) prepared as the pool prepares it:
    ``EXPLAIN (<options>, FORMAT JSON)``'s top node."""
    _, sql, types, values = call
    driver.execute(f"PREPARE probe ({', '.join(type_names(driver, types))}) AS {sql}")
    arguments = ", ".join(
        "NULL" if v is None else "'" + v.decode().replace("'", "''") + "'" for v in values
    )
    prefix = f"{options}, " if options else ""
    (plan,) = driver.execute(f"EXPLAIN ({prefix}FORMAT JSON) EXECUTE probe({arguments})").fetchone()
    driver.execute("DEALLOCATE probe")
    return plan[0]["Plan"]  # type: ignore[no-any-return]


def type_names(driver: Any, oids: list[int]) -> list[str]:
    """Each placeholder's type as PREPARE takes it (``unknown`` where the server infers it)."""
    return [
        driver.execute("SELECT format_type(%s, NULL)", [oid]).fetchone()[0] if oid else "unknown"
        for oid in oids
    ]


def scans(node: dict[str, Any]) -> Iterator[tuple[str, str]]:
    if "Relation Name" in node:
        yield node["Node Type"], node["Relation Name"]
    for child in node.get("Plans", []):
        yield from scans(child)


def test_the_reservation_read_probes_each_sku_with_a_plan_made_once(app, catalog, check_invariants):
    with app.app_context():
        body = {"lines": [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 1}]}
        for i in range(7):  # from the sixth call on a connection, PostgreSQL may keep a plan
            reservations.reserve(SHOP, {**body, "order_ref": f"ORD-{i}"})
        counts, plan = kept_plan(
            reserve_module._optimistic_read(False, 2),
            {"now": db.now(), "sku_0": "A", "sku_1": "B"},
        )
    assert counts is not None, "the read was not prepared on the pool's connection"
    generic, custom = counts
    # Planned once, then kept: never planned again for a call's parameters (see
    # ``core.db._keep_generic_plans``), however the request's time compares with held lines.
    assert generic >= 1, (generic, custom)
    assert custom == 0, (generic, custom)
    found = list(scans(plan))
    assert ("Index Scan", "products") in found, found
    assert ("Seq Scan", "products") not in found, found
    check_invariants()


def test_availability_of_a_basket_probes_each_sku_and_of_a_batch_joins(app, catalog):
    basket = ["A", "B", "FILL-7"]
    with app.app_context():  # held lines for the lapsed-hold check to compare with
        reservations.reserve(SHOP, {"order_ref": "HELD", "lines": [{"sku": "A", "quantity": 2}]})
    batch = [f"FILL-{i}" for i in range(1, availability.PROBE_EACH_UP_TO + 2)]
    with app.app_context():
        for _ in range(7):
            answers = availability.availability(basket)
        assert [(a.sku, a.available) for a in answers] == [("A", 18), ("B", 20), ("FILL-7", 0)]
        counts, plan = kept_plan(
            availability._AVAILABILITY[(False, True, True)],
            {"now": db.now(), "skus": json.dumps(basket)},
        )
        assert counts is not None
        assert counts[0] >= 1, counts
        assert counts[1] == 0, counts
        found = list(scans(plan))
        assert ("Index Scan", "products") in found, found
        assert ("Seq Scan", "products") not in found, found

        # A batch takes the join, and answers the same way.
        answers = availability.availability(batch)
        assert len(answers) == len(batch)
        assert all(a.known for a in answers)
        _, plan = kept_plan(
            availability._AVAILABILITY[(False, True, False)],
            {"now": db.now(), "skus": json.dumps(batch)},
        )
        assert ("Index Scan", "products") not in list(scans(plan))


def test_a_batch_read_in_parts_answers_as_one_piece_does(app, catalog, monkeypatch):
    """Above ``PART_SKUS`` skus the batch is read in parts at once, their rows taken in chunks
    as they come; the answer is the one piece's, in the order asked, each sku once."""
    batch = ["B", "NOT-A-SKU", *(f"FILL-{i}" for i in range(1, 400)), "A", "B", "FILL-3"]
    parts: list[int] = []
    side_by_side = db.DriverStatement.chunks_side_by_side

    def spy(self: db.DriverStatement, calls: list[dict[str, Any]], chunk_rows: int) -> Any:
        parts.append(len(calls))
        return side_by_side(self, calls, chunk_rows=7)

    monkeypatch.setattr(db.DriverStatement, "chunks_side_by_side", spy)
    monkeypatch.setattr(availability, "PART_SKUS", 150)
    with app.app_context():
        reservations.reserve(SHOP, {"order_ref": "ORD-1", "lines": [{"sku": "A", "quantity": 5}]})
        in_parts = availability.availability(batch)
        monkeypatch.setattr(availability, "PART_SKUS", len(batch))
        whole = availability.availability(batch)
    assert parts == [3]  # 402 distinct skus; the second read, of one part, was one piece
    assert in_parts == whole
    assert [a.sku for a in in_parts] == list(dict.fromkeys(batch))
    assert in_parts[0].available == 20
    assert in_parts[-1].available == 15
    assert in_parts[1].known is False


def test_a_large_basket_answers_each_sku_while_the_rest_is_still_being_read(
    app, catalog, monkeypatch
):
    """``each`` hears of every sku once, the unknown included, and the first answers come before
    the last rows do: the caller writes them while the database reads on."""
    batch = ["NOT-A-SKU", "A", *(f"FILL-{i}" for i in range(1, 400)), "B", "A"]
    events: list[str] = []
    side_by_side = db.DriverStatement.chunks_side_by_side

    def spy(self: db.DriverStatement, calls: list[dict[str, Any]], chunk_rows: int) -> Any:
        for chunk in side_by_side(self, calls, chunk_rows=7):
            events.append("rows")
            yield chunk

    monkeypatch.setattr(db.DriverStatement, "chunks_side_by_side", spy)
    monkeypatch.setattr(availability, "PART_SKUS", 150)
    heard: list[str] = []

    def each(answer: availability.SkuAvailability) -> None:
        events.append("answer")
        heard.append(answer.sku)

    with app.app_context():
        answers = availability.availability(batch, each=each)
    assert sorted(heard) == sorted(dict.fromkeys(batch))
    assert [a.sku for a in answers] == list(dict.fromkeys(batch))
    assert events.index("answer") < len(events) - 1 - events[::-1].index("rows")
    assert heard[-1] == "NOT-A-SKU"  # unknown skus are known to be so only at the end


def lapsed_checks(statement: db.DriverStatement, params: dict[str, Any]) -> int:
    """How many times a run of the read looked for lapsed holds: its probes of held lines."""
    read_pool = db._read_engine()
    call = statement.prepared_call(read_pool, params)
    raw = read_pool.raw_connection()
    try:
        plan = explain(raw.driver_connection, call, "ANALYZE")
    finally:
        raw.close()

    def loops(node: dict[str, Any]) -> int:
        own = node["Actual Loops"] if node.get("Relation Name") == "reservation_lines" else 0
        return own + sum(loops(child) for child in node.get("Plans", []))

    return loops(plan)


def test_reads_look_for_lapsed_holds_only_where_one_may_have_lapsed(app, catalog, clock):
    """At a promotion's peak most levels hold something and nothing on them has lapsed: the
    read looks only at levels whose earliest hold expiry has passed, and once the lapsed holds
    are released, at none."""
    batch = ["A", "B", *(f"FILL-{i}" for i in range(1, 60))]
    with app.app_context():
        for sku, ttl in (("A", 600), ("B", 30)):
            reservations.reserve(
                SHOP,
                {"order_ref": sku, "ttl_seconds": ttl, "lines": [{"sku": sku, "quantity": 5}]},
            )
        join, probes = (availability._AVAILABILITY[(False, True, each)] for each in (False, True))

        def checks() -> tuple[int, int]:
            return (
                lapsed_checks(join, {"now": db.now(), "skus": json.dumps(batch)}),
                lapsed_checks(probes, {"now": db.now(), "skus": json.dumps(["A", "B"])}),
            )

        assert checks() == (0, 0)
        clock.advance(seconds=30)
        assert checks() == (1, 1)  # B's level, whose hold has lapsed
        assert [a.available for a in availability.availability(batch[:2])] == [15, 20]
        assert reservations.release_expired().reservations == 1
        assert checks() == (0, 0)
        assert [a.available for a in availability.availability(batch[:2])] == [15, 20]


def test_a_sku_typed_in_another_case_is_found_through_the_index(app, catalog):
    """``find_product`` and the check every new product makes read ``lower(sku)`` by index."""
    from sqlalchemy import func, select
    from sqlalchemy.dialects import postgresql

    from inventory import catalog as catalog_service
    from inventory.models import Product

    with app.app_context():
        assert catalog_service.find_product("fill-7").sku == "FILL-7"
        query = select(Product.id).where(func.lower(Product.sku) == "fill-7")
        literal = {"literal_binds": True}
        sql = str(query.compile(dialect=postgresql.dialect(), compile_kwargs=literal))
        with db.engine().connect() as conn:
            (plan,) = conn.execute(text(f"EXPLAIN (FORMAT JSON) {sql}")).scalar_one()
    found = list(scans(plan["Plan"]))
    assert ("Seq Scan", "products") not in found, found
    assert any(relation == "products" for _, relation in found), found
