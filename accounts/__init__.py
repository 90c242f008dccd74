"""Users, roles, API tokens, sign-in, permissions and the audit log."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from accounts import admin_views, api, auth, cli, views
    from core.api import register_api

    auth.init_app(app)
    views.init_app(app)
    admin_views.init_app(app)
    cli.init_app(app)
    register_api(app, api.blp)
