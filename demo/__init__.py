"""Demo data: seeders that build a realistic retailer on top of the features.

The demo imports the features and never the reverse, and its ``demo seed --reset`` drops every
table, so a production app does not even register the command: only apps built for
``development``, ``demo`` or ``test`` (``STOCKROOM_ENV``) have it.
"""

from __future__ import annotations

from flask import Flask

#: Environments whose app offers ``flask demo``; anything else (production, staging...) does not.
DEMO_ENVIRONMENTS = frozenset({"development", "demo", "test"})


def init_app(app: Flask) -> None:
    if app.config.get("ENV_NAME", "production") not in DEMO_ENVIRONMENTS:
        return
    from demo.cli import group

    app.cli.add_command(group)
