"""Web pages for buyers, approvers and warehouse staff."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("procurement_web", __name__, template_folder="templates")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
