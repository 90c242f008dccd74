"""Logistics: carriers, their services and rate cards, shipments, and choosing who carries what.

Depends on inventory (warehouses, products, committed reservations) and never on procurement.
``rating`` and ``assignment`` are pure; ``carriers``, ``shipments`` and ``planning`` read and
write; ``api`` and ``views`` serve.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from core.api import register_api

    # ``api`` imports ``planning``, which registers the assignment job kind.
    from logistics import api, shipments, views

    register_api(app, api.blp)
    views.init_app(app)
    shipments.init_app_signals()
