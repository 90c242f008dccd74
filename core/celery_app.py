"""The Celery worker's entry point: ``celery -A core.celery_app worker``.

The worker builds the same Flask app as the web server (settings from the environment, every
feature's job kinds registered) and runs each job it receives in an app context of that app.
It needs ``CELERY_BROKER_URL`` and the same ``DATABASE_URL`` as the web server.
"""

from __future__ import annotations

import importlib

from flask import Flask

#: The top-level ``app`` module builds the app from the environment, as for the web server.
_flask_app: Flask = importlib.import_module("app").app

if "stockroom.celery" not in _flask_app.extensions:
    raise RuntimeError("Set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0) to run a worker.")

#: What ``celery -A core.celery_app`` finds.
celery = _flask_app.extensions["stockroom.celery"]
