"""Demand forecasting: statistical models, backtests and forecast runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the engine is pure: importing it must not need the web framework
    from flask import Flask


def init_app(app: Flask) -> None:
    """Mount the forecasting API and pages, its commands, and register the forecast-run job."""
    from core.api import register_api
    from forecasting import api, cli, runs, views

    del runs  # imported for its ``@job("forecast_run")`` registration
    register_api(app, api.blp)
    views.init_app(app)
    cli.init_app(app)
