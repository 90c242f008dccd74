"""Calendar handling: infer the period of a demand series, regularise it, extend it into the future.

Demand histories arrive from imports and database queries, often without ``freq`` set and with
periods missing altogether (no row for a week without sales data). The engine needs a regular grid:
absent periods become NaN (unknown), never zero, so a gap in the data is not mistaken for a week
without demand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pandas.tseries.offsets import BaseOffset, DateOffset

# Seasonal cycle length by period kind: the cycle that dominates retail demand at that granularity.
SEASON_LENGTH = {"D": 7, "B": 5, "W": 52, "M": 12, "Q": 4, "Y": 1, "h": 24}


@dataclass(frozen=True)
class Calendar:
    """The regular period grid of a series."""

    offset: BaseOffset
    kind: str

    @property
    def season_length(self) -> int:
        """Periods per seasonal cycle; 1 (no seasonality) for multiples such as two-day periods."""
        if getattr(self.offset, "n", 1) != 1:
            return 1
        return SEASON_LENGTH.get(self.kind, 1)

    def future(self, last: pd.Timestamp, horizon: int) -> pd.DatetimeIndex:
        """The ``horizon`` periods following ``last``."""
        idx = pd.date_range(last, periods=horizon + 1, freq=self.offset)
        return pd.DatetimeIndex(idx[1:])


def _kind(offset: BaseOffset) -> str:
    if type(offset) is DateOffset:
        kw = offset.kwds
        if "years" in kw:
            return "Y"
        if "months" in kw:
            return "Q" if kw["months"] == 3 else "M"
        if "weeks" in kw:
            return "W"
        if "days" in kw:
            return "D"
        return "other"
    head = offset.rule_code.split("-")[0].upper()
    for prefix, kind in (
        ("BQ", "Q"),
        ("BY", "Y"),
        ("BA", "Y"),
        ("BM", "M"),
        ("B", "B"),
        ("W", "W"),
        ("Q", "Q"),
        ("Y", "Y"),
        ("A", "Y"),
        ("D", "D"),
        ("M", "M"),
        ("SM", "M"),
        ("H", "h"),
    ):
        if head.startswith(prefix):
            return kind
    return "other"


def _guess_offset(index: pd.DatetimeIndex) -> BaseOffset | None:
    """An offset for a regular index with gaps, from the smallest spacing between dates."""
    days = (index[1:] - index[:-1]).total_seconds().to_numpy() / 86_400.0
    step = float(np.min(days))
    first = index[0]
    if step < 1 and abs(step * 24 - round(step * 24)) < 1e-9 and round(step * 24) >= 1:
        return to_offset(f"{round(step * 24)}h")
    if abs(step - round(step)) > 1e-9:
        return None
    if step == 1:
        return to_offset("D")
    if step == 7:
        return to_offset(f"W-{first.day_name()[:3].upper()}")
    months = {28: 1, 29: 1, 30: 1, 31: 1, 89: 3, 90: 3, 91: 3, 92: 3, 365: 12, 366: 12}.get(
        int(step)
    )
    if months is None:
        return to_offset(f"{int(step)}D")
    if (index.day == 1).all():
        return to_offset(
            {1: "MS", 3: "QS-" + first.month_name()[:3].upper(), 12: "YS"}[months]
            if months != 12
            else "YS-" + first.month_name()[:3].upper()
        )
    if index.is_month_end.all():
        return to_offset(
            {1: "ME", 3: "QE-" + first.month_name()[:3].upper(), 12: "YE"}[months]
            if months != 12
            else "YE-" + first.month_name()[:3].upper()
        )
    return DateOffset(years=1) if months == 12 else DateOffset(months=months)


def regularise(y: pd.Series) -> tuple[pd.Series, Calendar]:
    """Sort, check and complete the index of ``y``; missing periods are inserted as NaN.

    Raises ``TypeError`` for a non-datetime index and ``ValueError`` when the period cannot be
    determined or the dates do not lie on one regular grid.
    """
    if isinstance(y.index, pd.PeriodIndex):
        y = y.copy()
        y.index = y.index.to_timestamp()
    if not isinstance(y.index, pd.DatetimeIndex):
        raise TypeError("the series needs a DatetimeIndex")
    if y.index.has_duplicates:
        raise ValueError("the series has duplicate dates")
    declared = y.index.freq
    if not y.index.is_monotonic_increasing:
        y = y.sort_index()
    index = pd.DatetimeIndex(y.index)
    offset: BaseOffset | None = declared
    if offset is None and len(index) >= 3:
        inferred = pd.infer_freq(index)
        offset = to_offset(inferred) if inferred else None
    if offset is None and len(index) >= 2:
        offset = _guess_offset(index)
    if offset is None:
        raise ValueError("cannot determine the period of the series: set index.freq")
    grid = pd.date_range(index[0], index[-1], freq=offset)
    if len(grid) != len(index) or not grid.equals(index):
        if not index.isin(grid).all():
            raise ValueError("the dates of the series do not lie on a regular grid")
        y = y.reindex(grid)
    values = pd.Series(pd.to_numeric(y, errors="coerce").to_numpy(dtype=float), index=grid)
    return values, Calendar(offset, _kind(offset))
