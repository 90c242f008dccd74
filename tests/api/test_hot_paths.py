"""The storefront's hot paths (``core.hot_paths``) answer exactly as the ordinary dispatch does.

Every request here is sent twice, through the installed dispatcher and through Flask's own
(``HotPaths.ordinary``), and the answers are compared: status, headers, body. Whether the short
way answered is recorded too, so that a case meant for it cannot pass by silently going the
ordinary way, and a case meant for the ordinary way (input the schemas refuse, a browser's
cookie) cannot be answered short.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from marshmallow import ValidationError
from werkzeug.test import EnvironBuilder, run_wsgi_app

from core.hot_paths import HotPaths
from core.inputs import check_document
from core.observability import REQUEST_COUNT
from tests.factories import ApiClient, MakeUser

#: Differ between any two requests, or with the reservation each one made.
PER_REQUEST_HEADERS = {"X-Request-ID", "Date"}
PER_RESERVATION_HEADERS = frozenset({"Location", "Content-Length"})
PER_RESERVATION_FIELDS = {"id", "reference", "created_at", "expires_at"}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    short: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Paths:
    hot: HotPaths
    token: str
    ordinary_calls: int = 0

    def _send(self, wsgi: Callable[..., Any], method: str, path: str, **kw: Any) -> Answer:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        environ = EnvironBuilder(path=path, method=method, headers=headers, **kw).get_environ()
        before = self.ordinary_calls
        app_iter, status, sent = run_wsgi_app(wsgi, environ)
        try:
            body = b"".join(app_iter)
        finally:
            getattr(app_iter, "close", lambda: None)()
        return Answer(int(status.split()[0]), dict(sent), body, short=self.ordinary_calls == before)

    def short_way(self, method: str, path: str, **kw: Any) -> Answer:
        return self._send(self.hot, method, path, **kw)

    def ordinary_way(self, method: str, path: str, **kw: Any) -> Answer:
        return self._send(self.hot.ordinary, method, path, **kw)


@pytest.fixture
def paths(app: Flask, storefront: ApiClient, monkeypatch: pytest.MonkeyPatch) -> Paths:
    hot = app.wsgi_app
    assert isinstance(hot, HotPaths)
    found = Paths(hot, storefront.token or "")
    ordinary = hot.ordinary

    def counted(environ: dict[str, Any], start_response: Any) -> Any:
        found.ordinary_calls += 1
        return ordinary(environ, start_response)

    monkeypatch.setattr(hot, "ordinary", counted)
    return found


@pytest.fixture
def stocked(make_product, make_warehouse, receive) -> None:
    for sku in ("A", "B", "C"):
        make_product(sku=sku)
    make_warehouse(code="W1")
    make_warehouse(code="W2")
    receive("A", "W1", 500)
    receive("A", "W2", 300)
    receive("B", "W2", 400)


def assert_same(short: Answer, ordinary: Answer, ignore: frozenset[str] = frozenset()) -> None:
    assert short.status == ordinary.status, (short.body, ordinary.body)
    skip = PER_REQUEST_HEADERS | ignore
    assert {k: v for k, v in short.headers.items() if k not in skip} == {
        k: v for k, v in ordinary.headers.items() if k not in skip
    }
    assert set(short.headers) == set(ordinary.headers)


def without(document: dict[str, Any], names: set[str]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in names}


AVAILABILITY_CASES = [
    ("GET", "/api/v1/availability", {"query_string": "sku=A&sku=B&sku=Z"}),
    ("GET", "/api/v1/availability", {"query_string": "sku=A&warehouse=W2"}),
    ("GET", "/api/v1/availability", {"query_string": "sku=A", "base_url": "https://shop.test"}),
    ("GET", "/api/v1/availability", {"query_string": "sku=%E5%95%86%E5%93%81&sku=a+b"}),
    ("POST", "/api/v1/availability", {"json": {"skus": ["A", "B", "C", "Z"]}}),
    ("POST", "/api/v1/availability", {"json": {"skus": ["A"], "warehouse": "W1"}}),
]


@pytest.mark.parametrize(("method", "path", "kw"), AVAILABILITY_CASES)
def test_availability_is_answered_short_and_the_same(paths, stocked, method, path, kw):
    short = paths.short_way(method, path, **kw)
    ordinary = paths.ordinary_way(method, path, **kw)
    assert short.short
    assert not ordinary.short
    assert short.status == 200
    assert_same(short, ordinary)
    assert short.body == ordinary.body
    assert ("Strict-Transport-Security" in short.headers) is ("base_url" in kw)


def test_a_reservation_is_answered_short_and_the_same(paths, stocked):
    order = {
        "order_ref": "O-1",
        "lines": [{"sku": "A", "quantity": 3}, {"sku": "B", "quantity": 1}],
    }
    short = paths.short_way("POST", "/api/v1/reservations", json=order)
    ordinary = paths.ordinary_way("POST", "/api/v1/reservations", json=order)
    assert short.short
    assert short.status == 201
    assert_same(short, ordinary, PER_RESERVATION_HEADERS)
    assert short.headers["Location"] == f"/api/v1/reservations/{short.json['id']}"
    assert without(short.json, PER_RESERVATION_FIELDS) == without(
        ordinary.json, PER_RESERVATION_FIELDS
    )
    # Both held their units.
    held = paths.short_way("GET", "/api/v1/availability", query_string="sku=A&sku=B").json
    assert [item["available"] for item in held["items"]] == [800 - 6, 400 - 2]


def test_an_idempotent_retry_replays_whichever_way_it_comes(paths, stocked):
    order = {"order_ref": "O-2", "lines": [{"sku": "A", "quantity": 2}]}
    key = {"Idempotency-Key": "retry-me"}
    first = paths.short_way("POST", "/api/v1/reservations", json=order, headers=key)
    again_short = paths.short_way("POST", "/api/v1/reservations", json=order, headers=key)
    again_ordinary = paths.ordinary_way("POST", "/api/v1/reservations", json=order, headers=key)
    assert first.short
    assert first.status == 201
    assert "Idempotent-Replayed" not in first.headers
    for again in (again_short, again_ordinary):
        assert again.status == 201
        assert again.body == first.body
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.headers["Location"] == first.headers["Location"]
    assert_same(again_short, again_ordinary)
    available = paths.short_way("GET", "/api/v1/availability", query_string="sku=A").json
    assert available["items"][0]["available"] == 800 - 2


def problem(answer: Answer) -> dict[str, Any]:
    assert answer.headers["Content-Type"] == "application/problem+json"
    return without(answer.json, {"request_id"})


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("short of stock", 409),
        ("unknown sku", 422),
        ("key reused for another order", 422),
        ("bad key", 422),
        ("unknown token", 401),
        ("viewer", 403),
    ],
)
def test_refusals_after_the_input_passed_are_the_ordinary_ones(
    paths, stocked, make_user: MakeUser, case, status
):
    order: dict[str, Any] = {"order_ref": "O-3", "lines": [{"sku": "A", "quantity": 1}]}
    headers: dict[str, str] = {}
    held = 0
    if case == "short of stock":
        order["lines"] = [{"sku": "C", "quantity": 1}]
    elif case == "unknown sku":
        order["lines"] = [{"sku": "NOPE", "quantity": 1}]
    elif case == "key reused for another order":
        headers = {"Idempotency-Key": "used"}
        paths.ordinary_way(
            "POST", "/api/v1/reservations", json={**order, "order_ref": "other"}, headers=headers
        )
        held = 1  # by that first order, and by nothing after it
    elif case == "bad key":
        headers = {"Idempotency-Key": "has spaces"}
    elif case == "unknown token":
        headers = {"Authorization": "Bearer not-a-token"}
    elif case == "viewer":
        headers = {"Authorization": f"Bearer {make_user('viewer').token}"}
    short = paths.short_way("POST", "/api/v1/reservations", json=order, headers=headers)
    ordinary = paths.ordinary_way("POST", "/api/v1/reservations", json=order, headers=headers)
    assert short.short
    assert short.status == status
    assert_same(short, ordinary)
    assert problem(short) == problem(ordinary)
    available = paths.short_way("GET", "/api/v1/availability", query_string="sku=A").json
    assert available["items"][0]["available"] == 800 - held


@pytest.mark.parametrize(
    ("method", "kw"),
    [
        ("POST", {"json": {"order_ref": "O", "lines": [{"sku": "A", "quantity": 0}]}}),
        ("POST", {"json": {"order_ref": "O", "lines": [{"sku": "A", "quantity": 1}], "x": 1}}),
        ("POST", {"json": {"order_ref": "O", "lines": [{"sku": "A\u0000", "quantity": 1}]}}),
        ("POST", {"json": {"order_ref": "O", "lines": [{"sku": "A", "quantity": True}]}}),
        ("POST", {"json": {"order_ref": "O", "lines": []}}),
        ("POST", {"json": ["not", "an", "object"]}),
        ("POST", {"data": b"{not json", "content_type": "application/json"}),
        ("POST", {"data": b"order_ref=O", "content_type": "application/x-www-form-urlencoded"}),
    ],
)
def test_input_the_schema_refuses_goes_the_ordinary_way(paths, stocked, method, kw):
    short = paths.short_way(method, "/api/v1/reservations", **kw)
    ordinary = paths.ordinary_way(method, "/api/v1/reservations", **kw)
    assert not short.short
    assert 400 <= short.status < 500
    assert_same(short, ordinary)
    assert problem(short) == problem(ordinary)


@pytest.mark.parametrize(
    "kw",
    [
        {"query_string": "sku=A&sku="},
        {"query_string": "sku=A&page=2"},
        {"query_string": "warehouse=W1"},
        {"query_string": "sku=A&warehouse=W1&warehouse=W2"},
        {"query_string": "sku=%00"},
        {"query_string": "&".join(f"sku=S{i}" for i in range(101))},
    ],
)
def test_queries_the_schema_refuses_or_reads_differently_go_the_ordinary_way(paths, stocked, kw):
    short = paths.short_way("GET", "/api/v1/availability", **kw)
    ordinary = paths.ordinary_way("GET", "/api/v1/availability", **kw)
    assert not short.short
    assert_same(short, ordinary)
    assert short.body.replace(b" ", b"") == ordinary.body.replace(b" ", b"") or problem(
        short
    ) == problem(ordinary)


def test_a_browser_with_its_cookie_goes_the_ordinary_way(paths, stocked):
    answer = paths.short_way(
        "GET", "/api/v1/availability", query_string="sku=A", headers={"Cookie": "session=x"}
    )
    assert not answer.short
    assert answer.status == 200


def test_requests_answered_short_are_counted_by_route(paths, stocked):
    def served() -> float:
        return REQUEST_COUNT.labels("POST", "/api/v1/availability", "200")._value.get()

    before = served()
    answer = paths.short_way("POST", "/api/v1/availability", json={"skus": ["A"]})
    assert answer.short
    assert served() == before + 1
    assert len(answer.headers["X-Request-ID"]) == 32
    echoed = paths.short_way(
        "POST", "/api/v1/availability", json={"skus": ["A"]}, headers={"X-Request-ID": "req-7"}
    )
    assert echoed.headers["X-Request-ID"] == "req-7"
    # The second request takes the rule the first one matched: counted under the same route.
    assert echoed.short
    assert served() == before + 2


@pytest.mark.parametrize(
    "app_config",
    [{"HOT_PATHS": False}, {"RATELIMIT_DEFAULT": "10000 per minute"}],
    ids=["switched off", "limits on every request"],
)
def test_the_ordinary_way_answers_everything_when_it_must(app, app_config):
    """Switched off, or when every request is to be counted by the limiter's hook."""
    assert not isinstance(app.wsgi_app, HotPaths)


def _orders() -> list[dict[str, Any]]:
    """Orders at and around every rule of ReservationCreateSchema, and a seeded random mix."""
    base: dict[str, Any] = {"order_ref": "O-1", "lines": [{"sku": "A", "quantity": 1}]}
    variants: list[dict[str, Any]] = [base]
    for ref in ("", "r" * 64, "r" * 65, 7, None, "nul\u0000", "\ud800", "订单"):
        variants.append({**base, "order_ref": ref})
    for sku in ("", "s" * 64, "s" * 65, 5, None, "a\u0000"):
        variants.append({**base, "lines": [{"sku": sku, "quantity": 1}]})
    for quantity in (0, 1, 1_000_000, 1_000_001, -1, True, 1.0, "1", None):
        variants.append({**base, "lines": [{"sku": "A", "quantity": quantity}]})
    for ttl in (0, 1, 86_400, -5, True, 1.5, "60", None):
        variants.append({**base, "ttl_seconds": ttl})
    for warehouse in ("", "W1", "w" * 32, "w" * 33, None, 3):
        variants.append({**base, "warehouse": warehouse})
    variants += [
        {**base, "lines": []},
        {**base, "lines": [{"sku": f"S{i}", "quantity": 1} for i in range(500)]},
        {**base, "lines": [{"sku": f"S{i}", "quantity": 1} for i in range(501)]},
        {**base, "lines": [{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 2}]},
        {**base, "lines": [{"sku": "A", "quantity": 1, "note": "x"}]},
        {**base, "lines": [{"sku": "A"}]},
        {**base, "lines": ["A"]},
        {**base, "lines": {"sku": "A", "quantity": 1}},
        {**base, "extra": 1},
        {**base, "destination": {"region": "EAST"}},
        {**base, "deliver_by": "2026-12-24"},
        {"lines": base["lines"]},
        {"order_ref": "O-1"},
    ]
    rng = random.Random(20261204)
    pieces: list[Any] = ["A", "", "x" * 65, 0, 1, 2, True, None, 2.5, [], {}]
    for _ in range(300):
        order: dict[str, Any] = {"order_ref": rng.choice(["O", "", 1, "x" * 64])}
        order["lines"] = [
            {"sku": rng.choice(["A", "B", "C", *pieces]), "quantity": rng.choice(pieces)}
            for _ in range(rng.randint(0, 3))
        ]
        if rng.random() < 0.3:
            order["ttl_seconds"] = rng.choice(pieces)
        if rng.random() < 0.3:
            order["warehouse"] = rng.choice(["W1", *pieces])
        variants.append(order)
    return variants


def test_the_common_order_check_loads_what_the_schema_loads(app):
    """``_plain_order`` never takes an order the schema refuses, never reads one differently,
    and takes the common ones itself (the rest still go through the schema)."""
    from inventory.api import _RESERVATION_REQUEST, _plain_order
    from inventory.schemas import ReservationCreateSchema

    assert isinstance(_RESERVATION_REQUEST, ReservationCreateSchema)
    taken = 0
    for order in _orders():
        plain = _plain_order(order)
        try:
            loaded = _RESERVATION_REQUEST.load(order)
        except ValidationError:
            loaded = None
        if plain is not None:
            taken += 1
            assert plain == loaded, order
            assert not check_document(order), order
        elif loaded is not None and order.keys() <= {
            "order_ref",
            "lines",
            "ttl_seconds",
            "warehouse",
        }:
            assert check_document(order), f"a common order left to the schema: {order}"
    assert taken >= 10


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_with_csrf_protection_on_an_api_client_is_answered_alike(paths, stocked, app_config):
    """As in production: the API's blueprints are exempt, a bearer token needs no CSRF token."""
    order = {"order_ref": "O-9", "lines": [{"sku": "B", "quantity": 1}]}
    short = paths.short_way("POST", "/api/v1/reservations", json=order)
    ordinary = paths.ordinary_way("POST", "/api/v1/reservations", json=order)
    assert short.short
    assert short.status == ordinary.status == 201
    assert_same(short, ordinary, PER_RESERVATION_HEADERS)


def test_only_hooks_with_nothing_to_do_are_left_out(app, paths, stocked):
    """The application's own hooks are all accounted for: none is left to run on the short way
    (which is why it is short), and none of the ones left out is unknown."""
    hooks = paths.hot._hooks_for(["storefront"])
    assert hooks.before == []
    assert hooks.after == []


@pytest.fixture
def extra_hooks(app: Flask) -> list[str]:
    """A hook added by some later feature: the short way must run it like the ordinary one."""
    seen: list[str] = []

    @app.before_request
    def _closed_for_stocktake() -> Any:
        seen.append("before")
        if app.config.get("STOCKTAKE"):
            return {"detail": "closed"}, 503
        return None

    @app.after_request
    def _stamp(response: Any) -> Any:
        response.headers["X-Stamp"] = "yes"
        return response

    return seen


def test_hooks_of_later_features_run_on_the_short_way_too(app, paths, stocked, extra_hooks):
    short = paths.short_way("GET", "/api/v1/availability", query_string="sku=A")
    ordinary = paths.ordinary_way("GET", "/api/v1/availability", query_string="sku=A")
    assert short.short
    assert extra_hooks == ["before", "before"]
    assert short.headers["X-Stamp"] == "yes"
    assert_same(short, ordinary)
    app.config["STOCKTAKE"] = True
    short = paths.short_way("GET", "/api/v1/availability", query_string="sku=A")
    ordinary = paths.ordinary_way("GET", "/api/v1/availability", query_string="sku=A")
    assert short.status == ordinary.status == 503
    assert short.body == ordinary.body
    assert_same(short, ordinary)


def test_request_signals_are_sent_on_the_short_way(app, paths, stocked):
    """What an extension listening to Flask's request signals (tracing, error reporting) sees."""
    from flask import request_finished, request_started

    seen: list[tuple[str, int | None]] = []

    def started(sender: Any, **extra: Any) -> None:
        seen.append(("started", None))

    finished_with: list[dict[str, str]] = []

    def finished(sender: Any, response: Any, **extra: Any) -> None:
        seen.append(("finished", response.status_code))
        finished_with.append(dict(response.headers))

    with request_started.connected_to(started, app), request_finished.connected_to(finished, app):
        answer = paths.short_way("GET", "/api/v1/availability", query_string="sku=A")
    assert answer.short
    assert seen == [("started", None), ("finished", 200)]
    # The response as the client gets it: security headers and the request id included.
    assert finished_with == [dict(answer.headers)]
    assert "X-Request-ID" in finished_with[0]
    assert "X-Content-Type-Options" in finished_with[0]


def test_a_replay_is_known_by_its_document_whichever_way_each_came(paths, stocked):
    """An Idempotency-Key's fingerprint is the body's document, keys sorted: the short way's (the
    document the dispatcher parsed) and the ordinary way's (the body read from the stream) agree,
    whatever the spacing and the order of the keys, so a retry is a replay either way."""
    headers = {"Idempotency-Key": "the-same-order", "Content-Type": "application/json"}
    first = paths.short_way(
        "POST",
        "/api/v1/reservations",
        data=b'{"order_ref": "O-9", "lines": [{"sku": "A", "quantity": 2}]}',
        headers=headers,
    )
    retry = b'{"lines":[{"quantity":2,"sku":"A"}],"order_ref":"O-9"}'
    again = paths.ordinary_way("POST", "/api/v1/reservations", data=retry, headers=headers)
    short_again = paths.short_way("POST", "/api/v1/reservations", data=retry, headers=headers)
    assert first.short
    assert short_again.short
    assert first.status == again.status == short_again.status == 201
    assert first.json == again.json == short_again.json
    other = paths.short_way(
        "POST", "/api/v1/reservations", data=retry.replace(b":2", b":3"), headers=headers
    )
    assert other.status == 422
    available = paths.short_way("GET", "/api/v1/availability", query_string="sku=A").json
    assert available["items"][0]["available"] == 800 - 2
