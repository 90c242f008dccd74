"""Stockroom's application factory.

``from app import create_app`` builds nothing; ``flask --app app`` finds ``create_app`` itself.
Servers load ``wsgi:app`` and Celery workers ``celery_worker``, which build the app from the
environment. Each feature is one ``init_app``: adding a capability is one line in ``FEATURES``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from flask import Flask
from flask_migrate import Migrate

import accounts
import demo
import forecasting
import inventory
import logistics
import procurement
from core import api as core_api
from core import config as core_config
from core import (
    db,
    errors,
    health,
    hot_paths,
    i18n,
    idempotency,
    inputs,
    jobs,
    observability,
    security,
    web,
)
from core.db import Base


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build an app from the environment, with ``config`` overriding single settings (tests)."""
    app = Flask(__name__, instance_path=str(core_config.INSTANCE_DIR))
    # Before any route exists: ids beyond a BIGINT match no route (404) instead of failing later.
    app.url_map.converters["int"] = inputs.BoundedIntConverter
    app.url_map.converters["bigint"] = inputs.BigIntConverter
    app.config.update(core_config.from_environment())
    if config:
        app.config.update(config)
        if "DATABASE_URL" in config:
            app.config["DATABASE_URL"] = core_config.normalise_database_url(config["DATABASE_URL"])

    from accounts.auth import (
        account_language,
        current_principal,
        idempotency_scope,
        principal_or_none,
        save_account_language,
    )

    security.init_app(app)
    observability.init_app(app)
    db.init_app(app)
    errors.init_app(app)
    web.init_app(app, principal_or_none)
    i18n.init_app(app, account_language=account_language, save_language=save_account_language)
    core_api.init_app(app)
    health.init_app(app)
    idempotency.init_app(app, idempotency_scope)
    jobs.init_app(app, current_principal)
    Migrate(
        app,
        SimpleNamespace(metadata=Base.metadata),
        directory=str(health.MIGRATIONS_DIR),
        compare_type=True,
        render_as_batch=True,
    )
    accounts.init_app(app)
    # After authentication, so an anonymous caller hears 401 before anything about its input.
    inputs.init_app(app)
    for init_feature in FEATURES:
        init_feature(app)
    # Middleware last, outermost first: forwarded headers are read before anything else runs.
    hot_paths.init_app(app)
    security.trust_proxies(app)
    return app


#: Features after the kernel and accounts, in dependency order.
FEATURES: tuple[Callable[[Flask], None], ...] = (
    inventory.init_app,
    forecasting.init_app,
    procurement.init_app,
    logistics.init_app,
    demo.init_app,
)
