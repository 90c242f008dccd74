"""Reading the list pages as a person would: rows in order, the count line, notices, the CSV."""

from __future__ import annotations

import csv
import html as html_lib
import io
import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.factories import MakeUser

PASSWORD = "list-pages-pw"


def web_user(app: Flask, make_user: MakeUser) -> Callable[..., FlaskClient]:
    """``person("warehouse", warehouses=["W1"])`` -> a test client signed in as a new user."""

    def person(*roles: str, warehouses: list[str] | None = None) -> FlaskClient:
        api = make_user(*roles, warehouses=warehouses, password=PASSWORD)
        client = app.test_client()
        r = client.post("/login", data={"username": api.username, "password": PASSWORD})
        assert r.status_code == 302, r.get_data(as_text=True)
        return client

    return person


def page(response: TestResponse) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def keys(html: str, attribute: str) -> list[str]:
    """The value of ``attribute`` on each table row, top to bottom."""
    return [html_lib.unescape(v) for v in re.findall(rf'<tr[^>]*\b{attribute}="([^"]*)"', html)]


def count_line(html: str) -> str:
    found = re.search(r'data-testid="list-count">(.*?)</div>', html, re.S)
    assert found, "no count line"
    return html_lib.unescape(found.group(1)).strip()


def notices(html: str) -> dict[str, str]:
    """Field -> the message the page shows about a value it did not use."""
    return {
        field: html_lib.unescape(text).strip()
        for field, text in re.findall(
            r'data-testid="list-notice" data-field="([^"]+)">(.*?)</div>', html, re.S
        )
    }


def link(html: str, testid: str) -> str | None:
    found = re.search(rf'data-testid="{testid}" href="([^"]+)"', html)
    return html_lib.unescape(found.group(1)) if found else None


def sort_link(html: str, key: str) -> str:
    found = re.search(rf'<th[^>]*data-sort-key="{key}"[^>]*><a [^>]*href="([^"]+)"', html)
    assert found, f"no sortable header {key}"
    return html_lib.unescape(found.group(1))


def csv_of(response: TestResponse) -> list[dict[str, Any]]:
    """The downloaded CSV as dicts, after checking it is one."""
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
