"""Products, warehouses, the stock ledger and stock levels."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from core.api import register_api
    from inventory import api, cli, views

    register_api(app, api.catalog)
    register_api(app, api.stock)
    views.init_app(app)
    cli.init_app(app)
