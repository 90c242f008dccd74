"""Suppliers and price lists, purchase orders with approvals, receipts and supplier scorecards."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from core.api import register_api
    from procurement import api, cli, views
    from procurement.replenishment import api as replenishment_api
    from procurement.replenishment import views as replenishment_views

    register_api(app, api.blp)
    register_api(app, api.po_blp)
    register_api(app, replenishment_api.blp)
    views.init_app(app)
    replenishment_views.init_app(app)
    cli.init_app(app)
