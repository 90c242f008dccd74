"""Logistics: carriers, their services and rate cards, shipments, and choosing who carries what.

Depends on inventory (warehouses, products, committed reservations) and never on procurement.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Nothing to mount yet: carriers, shipments and assignment arrive with their API."""
