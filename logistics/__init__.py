"""Logistics: carriers, their services and rate cards, shipments, and choosing who carries what.

Depends on inventory (warehouses, products, committed reservations) and never on procurement.
``rating`` and ``assignment`` are pure; ``services`` reads and writes; ``api`` and ``views`` serve.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from core.api import register_api
    from logistics import api, services, views

    register_api(app, api.blp)
    views.init_app(app)
    services.init_app_signals()
