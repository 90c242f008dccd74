"""Demand forecasting: statistical models, backtests and forecast runs."""
