"""Web pages for stock, products and warehouses."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("inventory_web", __name__, template_folder="templates")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
