"""Products, warehouses, the stock ledger, stock levels, availability and reservations."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from core import hot_paths
    from core.api import register_api
    from inventory import api, cli, views
    from inventory.reservations import availability_cache, plan_cache, sweeper
    from inventory.reservations import views as holds_views

    register_api(app, api.catalog)
    register_api(app, api.stock)
    register_api(app, api.storefront)
    hot_paths.register(app, api.HOT_ROUTES)
    views.init_app(app)
    holds_views.init_app(app)
    cli.init_app(app)
    sweeper.init_app(app)
    availability_cache.init_app(app)
    plan_cache.init_app(app)
