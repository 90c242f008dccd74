"""``celery -A tests.api.celery_failing_worker worker``: the real worker, with one item's history
unreadable, so a forecast run's chunk holding that item fails inside a real worker process.

The item is named by ``STOCKROOM_TEST_FAILING_SKU``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

import forecasting.history
from celery_worker import app
from forecasting.history import SeriesKey

FAILING_SKU = os.environ["STOCKROOM_TEST_FAILING_SKU"]
_real_load_demand = forecasting.history.load_demand


def _load_demand(s: Session, keys: Sequence[SeriesKey], frequency: str, end: date) -> Any:
    if any(k.sku == FAILING_SKU for k in keys):
        raise RuntimeError(f"the history of {FAILING_SKU} is unreadable")
    return _real_load_demand(s, keys, frequency, end)


forecasting.history.load_demand = _load_demand  # type: ignore[assignment]

__all__ = ["app"]
