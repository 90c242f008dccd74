"""The Celery worker's entry point: ``celery -A celery_worker worker``.

The worker builds the same Flask app as the web server (settings from the environment, every
feature's job kinds registered) and runs each job it receives in an app context of that app.
It needs ``CELERY_BROKER_URL`` and the same ``DATABASE_URL`` as the web server.
"""

from __future__ import annotations

from typing import Any

from app import create_app

flask_app = create_app()

if "stockroom.celery" not in flask_app.extensions:
    raise RuntimeError("Set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0) to run a worker.")

#: What ``celery -A celery_worker`` finds.
app: Any = flask_app.extensions["stockroom.celery"]

# A worker exists to run jobs: load the forecasting engine (statsmodels, scipy; seconds of imports)
# now, not in the first chunk it takes, which would otherwise finish seconds behind the others.
# Web processes keep loading it lazily.
import forecasting.engine  # noqa: E402, F401
