"""Pure pieces of the shared kernel."""

from __future__ import annotations

import os
import re

import pytest

from accounts.principal import Principal
from core.api import decode_cursor, encode_cursor
from core.config import normalise_database_url
from core.errors import flatten_validation_messages
from core.observability import new_request_id
from core.problems import Forbidden, Invalid


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u:p@h:5433/db", "postgresql+psycopg://u:p@h:5433/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///tmp/x.db", "sqlite:///tmp/x.db"),
    ],
)
def test_plain_postgres_urls_use_the_installed_driver(given, expected):
    assert normalise_database_url(given) == expected


@pytest.mark.parametrize("values", [["A-1", "W1"], [123], ["ünïcode", 5]])
def test_cursor_round_trips(values):
    cursor = encode_cursor(values)
    assert cursor.isascii()
    assert "=" not in cursor
    assert decode_cursor(cursor, len(values)) == values


@pytest.mark.parametrize("cursor", ["", "!!!", encode_cursor([1, 2]), "bm90IGpzb24"])
def test_foreign_cursors_are_422_on_the_cursor_field(cursor):
    with pytest.raises(Invalid) as caught:
        decode_cursor(cursor, 1)
    assert "cursor" in caught.value.errors


def test_webargs_messages_flatten_to_fields():
    assert flatten_validation_messages({"json": {"sku": ["x"]}}) == {"sku": ["x"]}
    assert flatten_validation_messages({"query": {"limit": ["y"]}, "json": {"a": ["z"]}}) == {
        "limit": ["y"],
        "a": ["z"],
    }
    assert flatten_validation_messages(["plain"]) == ["plain"]


def test_warehouse_scope():
    staff = Principal(1, "lin", frozenset({"warehouse"}), frozenset({"SH1"}))
    admin = Principal(2, "root", frozenset({"admin"}))
    buyer = Principal(3, "bo", frozenset({"buyer"}), frozenset({"SH1"}))
    assert staff.may_act_in("SH1")
    assert not staff.may_act_in("BJ1")
    assert admin.may_act_in("BJ1")
    assert not buyer.may_act_in("SH1")  # scope only matters with the warehouse role
    with pytest.raises(Forbidden):
        staff.ensure_warehouse("BJ1")


def test_admins_hold_every_role():
    admin = Principal(2, "root", frozenset({"admin"}))
    assert admin.has_any("buyer")
    assert admin.has_any("storefront")
    viewer = Principal(4, "v", frozenset({"viewer"}))
    assert not viewer.has_any("buyer", "warehouse")


def test_the_context_objects_are_the_ones_behind_flasks_proxies_and_need_a_context():
    from flask import Flask, g, request

    from core import context

    app = Flask(__name__)
    with pytest.raises(RuntimeError):
        context.app()
    with app.test_request_context("/x?sku=A"):
        g.marker = "kept"
        assert context.app() is app
        assert context.current_request() is request._get_current_object()  # type: ignore[attr-defined]
        assert context.current_request().args["sku"] == "A"
        assert context.app_globals().marker == "kept"
    with app.app_context(), pytest.raises(RuntimeError):
        context.current_request()


def test_request_ids_differ_between_worker_processes_forked_from_one() -> None:
    """gunicorn forks its workers from one process: each must draw ids of its own."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one id, then gone
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    ours = {new_request_id() for _ in range(1000)}
    assert len(ours) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", made) for made in [child, *ours])
    assert child not in ours
