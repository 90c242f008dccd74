"""Two web nodes behind a load balancer: two gunicorn servers on one PostgreSQL and one Redis.

The balancer may send any request to either node, so nothing a person or the storefront relies
on may depend on which node answers: a sign-in made on one node holds on the other, a retried
reservation that reaches the other node gets the first answer and holds stock once, stock held
on one node is gone from the other's availability at once, a revoked token stops working
everywhere within ``AUTH_CACHE_SECONDS``, and failed sign-ins on both nodes count against one
limit. Without Redis a node still signs people in and still throttles, in its own memory.

Each node trusts one proxy hop (``TRUSTED_PROXIES=1``), as behind the balancer: every test sends
its own ``X-Forwarded-For`` address, so the sign-in counters of one test are not another's.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from accounts import services as accounts
from accounts.principal import SYSTEM
from core.db import dispose, read_only
from inventory import catalog, stock
from inventory.models import Reservation
from tests.conftest import TEST_PASSWORD_HASH, PgServer, migrate, require_redis
from tests.e2e.conftest import Gunicorn

pytestmark = pytest.mark.pg

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
AUTH_CACHE_SECONDS = 1.0
#: Sign-in attempts allowed per client address a minute, on the whole site.
SIGN_IN_LIMIT = 6
NODE_SETTINGS = {
    "TRUSTED_PROXIES": "1",
    "AUTH_CACHE_SECONDS": str(AUTH_CACHE_SECONDS),
    "SIGN_IN_RATE_LIMIT": f"{SIGN_IN_LIMIT} per minute",
    "SIGN_IN_USER_RATE_LIMIT": "1000 per minute",
}


@dataclass
class Site:
    """The nodes, and an app on their database to arrange data with."""

    nodes: list[Gunicorn]
    app: Flask
    database_url: str
    folder: Path
    user_ids: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def site(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_redis(REDIS_URL)
    from app import create_app

    folder = tmp_path_factory.mktemp("web-nodes")
    url = pg_server.create("stockroom_nodes")
    migrate(url)
    env = {**NODE_SETTINGS, "RATELIMIT_STORAGE_URI": REDIS_URL}
    nodes: list[Gunicorn] = []
    try:
        for name in ("a", "b"):
            nodes.append(Gunicorn(url, folder / f"node-{name}.log", **env))
        app = create_app(
            {
                "DATABASE_URL": url,
                "TESTING": True,
                "LOG_LEVEL": "WARNING",
                "PASSWORD_HASH_METHOD": TEST_PASSWORD_HASH,
            }
        )
        yield Site(nodes, app, url, folder)
        dispose(app)
    finally:
        for node in nodes:
            node.stop()
        pg_server.drop(url)


class Visitor:
    """One person's browser, or one storefront server, seen from the network: it keeps its
    cookies whichever node answers, comes from its own address, and follows no redirect."""

    def __init__(self) -> None:
        self.address = f"198.18.{uuid.uuid4().int % 250 + 1}.{uuid.uuid4().int % 250 + 1}"
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect()
        )

    def request(
        self,
        node: Gunicorn,
        path: str,
        *,
        form: dict[str, str] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        data = None
        sent = {"X-Forwarded-For": self.address, **(headers or {})}
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        request = urllib.request.Request(node.url + path, data=data, headers=sent)
        try:
            with self.opener.open(request, timeout=15) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def landing(self, node: Gunicorn) -> str:
        """Where the site's root sends this visitor: a first page, or the sign-in form."""
        status, headers, _ = self.request(node, "/")
        assert status == 302
        return urllib.parse.urlsplit(headers["Location"]).path

    def sign_in(self, node: Gunicorn, username: str, password: str) -> int:
        """The login form as a browser submits it, CSRF token included; the status answered."""
        _, _, page = self.request(node, "/login")
        found = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page)
        assert found, page[:500]
        status, _, _ = self.request(
            node,
            "/login",
            form={
                "csrf_token": found.group(1).decode(),
                "username": username,
                "password": password,
            },
        )
        return status


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _person(site: Site, *roles: str, password: str = "") -> str:
    username = f"p{uuid.uuid4().hex[:10]}"
    with site.app.app_context():
        site.user_ids[username] = accounts.create_user(
            username, list(roles), password=password or None
        ).id
    return username


def _token(site: Site, username: str) -> tuple[int, str]:
    with site.app.app_context():
        issued = accounts.create_token(username)
    return issued.id, issued.token


def _stocked_sku(site: Site, units: int) -> tuple[str, str]:
    sku, warehouse = f"N-{uuid.uuid4().hex[:8]}", f"N{uuid.uuid4().hex[:6]}"
    with site.app.app_context():
        catalog.create_warehouse(SYSTEM, {"code": warehouse, "name": "Node test"})
        catalog.create_product(SYSTEM, {"sku": sku, "name": "Widget"})
        stock.post_movement(
            SYSTEM, {"type": "receipt", "sku": sku, "warehouse": warehouse, "quantity": units}
        )
    return sku, warehouse


def _available(visitor: Visitor, node: Gunicorn, token: str, sku: str) -> int:
    status, _, body = visitor.request(
        node, f"/api/v1/availability?sku={sku}", headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 200, body
    return int(json.loads(body)["items"][0]["available"])


def test_a_person_signed_in_on_one_node_is_signed_in_on_the_other(site: Site) -> None:
    node_a, node_b = site.nodes
    username = _person(site, "buyer", password="pw-nodes-123")
    browser = Visitor()
    assert browser.landing(node_b) == "/login"

    assert browser.sign_in(node_a, username, "pw-nodes-123") == 302

    # The balancer sends the next page to the other node: the signed cookie holds there too.
    first_page = browser.landing(node_b)
    assert first_page != "/login"
    status, _, page = browser.request(node_b, first_page)
    assert status == 200
    assert f"</i>{username}".encode() in page

    # Deactivated by an administrator elsewhere: the next page on either node signs them out.
    with site.app.app_context():
        accounts.set_active(SYSTEM, site.user_ids[username], False, reason="left the company")
    assert browser.landing(node_a) == browser.landing(node_b) == "/login"


def test_a_retried_reservation_reaching_the_other_node_gets_the_first_answer(site: Site) -> None:
    node_a, node_b = site.nodes
    _, token = _token(site, _person(site, "storefront"))
    sku, warehouse = _stocked_sku(site, units=10)
    shop = Visitor()
    order = {"order_ref": f"ORD-{uuid.uuid4().hex[:8]}", "lines": [{"sku": sku, "quantity": 3}]}
    key = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}

    first_status, _, first = shop.request(node_a, "/api/v1/reservations", body=order, headers=key)
    # The storefront's connection dropped before the answer; its retry lands on node B.
    retry_status, _, retry = shop.request(node_b, "/api/v1/reservations", body=order, headers=key)

    assert first_status == retry_status == 201
    assert json.loads(retry) == json.loads(first)
    assert json.loads(first)["lines"] == [{"sku": sku, "quantity": 3, "warehouse": warehouse}]
    with site.app.app_context(), read_only() as s:
        held = s.scalar(
            select(func.count())
            .select_from(Reservation)
            .where(Reservation.order_ref == order["order_ref"])
        )
    assert held == 1
    # Held once: both nodes offer the 7 units left.
    assert _available(shop, node_a, token, sku) == _available(shop, node_b, token, sku) == 7


def test_stock_held_on_one_node_is_gone_from_the_others_availability_at_once(site: Site) -> None:
    node_a, node_b = site.nodes
    _, token = _token(site, _person(site, "storefront"))
    sku, _ = _stocked_sku(site, units=5)
    shop = Visitor()
    auth = {"Authorization": f"Bearer {token}"}
    assert _available(shop, node_b, token, sku) == 5

    for taken in range(1, 6):
        order = {"order_ref": f"ORD-{uuid.uuid4().hex[:8]}", "lines": [{"sku": sku, "quantity": 1}]}
        status, _, _ = shop.request(node_a, "/api/v1/reservations", body=order, headers=auth)
        assert status == 201
        assert _available(shop, node_b, token, sku) == 5 - taken

    # The last unit went on node A; node B must not sell it again.
    order = {"order_ref": "ORD-LATE", "lines": [{"sku": sku, "quantity": 1}]}
    status, _, _ = shop.request(node_b, "/api/v1/reservations", body=order, headers=auth)
    assert status == 409


def test_a_revoked_token_is_refused_by_every_node_within_the_cache_bound(site: Site) -> None:
    token_id, token = _token(site, _person(site, "storefront"))
    shop = Visitor()
    path = "/api/v1/availability?sku=NOTHING"
    auth = {"Authorization": f"Bearer {token}"}
    for _ in range(4):  # both workers of each node have checked the token and keep it
        for node in site.nodes:
            assert shop.request(node, path, headers=auth)[0] == 200

    # Revoked by ``flask accounts revoke-token`` on some machine: a process of its own.
    with site.app.app_context():
        accounts.revoke_token(token_id, reason="leaked")
    revoked_at = time.monotonic()

    # Each worker keeps its entry until it is AUTH_CACHE_SECONDS old, and the workers checked the
    # token at different moments: until the bound one worker may refuse while another still
    # answers. Past the bound (plus a margin for a check that was finishing), none may.
    time.sleep(max(0.0, revoked_at + AUTH_CACHE_SECONDS + 0.25 - time.monotonic()))
    for node in site.nodes:
        assert [shop.request(node, path, headers=auth)[0] for _ in range(8)] == [401] * 8


def test_failed_sign_ins_on_both_nodes_count_against_one_limit(site: Site) -> None:
    node_a, node_b = site.nodes
    username = _person(site, "buyer", password="pw-nodes-456")
    guesser = Visitor()
    statuses = [
        guesser.sign_in(site.nodes[attempt % 2], username, "wrong")
        for attempt in range(SIGN_IN_LIMIT + 1)
    ]
    # Each node on its own has seen only half the attempts; together they reach the limit.
    assert statuses == [401] * SIGN_IN_LIMIT + [429]
    assert guesser.sign_in(node_a, username, "pw-nodes-456") == 429
    assert guesser.sign_in(node_b, username, "pw-nodes-456") == 429
    # Another client address is not locked out by this one's guessing.
    assert Visitor().sign_in(node_b, username, "pw-nodes-456") == 302


def test_without_redis_a_node_signs_people_in_and_throttles_in_its_own_memory(
    site: Site,
) -> None:
    node = Gunicorn(
        site.database_url,
        site.folder / "node-no-redis.log",
        workers=1,
        **NODE_SETTINGS,
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0",  # nothing listens there
    )
    try:
        username = _person(site, "buyer", password="pw-nodes-789")
        assert Visitor().sign_in(node, username, "pw-nodes-789") == 302
        guesser = Visitor()
        statuses = [guesser.sign_in(node, username, "wrong") for _ in range(SIGN_IN_LIMIT + 2)]
        assert statuses[:SIGN_IN_LIMIT] == [401] * SIGN_IN_LIMIT
        assert statuses[SIGN_IN_LIMIT:] == [429, 429]
    finally:
        node.stop()
