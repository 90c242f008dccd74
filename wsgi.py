"""The WSGI entry point: ``gunicorn wsgi:app``.

Builds the app once per server process from the environment (``DATABASE_URL``, ``SECRET_KEY``,
``STOCKROOM_ENV``...), which is why it lives apart from ``app.create_app``: importing the factory
must not open a database or read secrets.
"""

from __future__ import annotations

from app import create_app

app = create_app()
