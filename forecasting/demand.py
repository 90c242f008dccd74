"""Demand series from ledger events and imported days: periods, stock-outs and promotions.

Pure logic on numpy and pandas, so it can be tested without a database and reused by any caller
that has the raw events.

Definitions (all days are UTC days):

- **Demand** of a day is the units issued that day (``-quantity`` of ``issue`` movements, which
  include committed reservations), unless imported history covers that day: an imported day is the
  complete statement of that day's demand and replaces the ledger's figure.
- **A censored day** is one on which the item could not be sold freely, so the recorded demand is
  only a lower bound: on hand was at or below zero for at least half of the day, or the item sold
  out that day (it started the day with stock and ended it with none). Imported days carry their
  own ``stockout`` flag. Warehouses that allow negative stock keep selling at zero, so their
  stock level never censors demand.
- **A censored period** (week, month) is one in which at least half of the days were censored.
  Its demand is passed to the engine as NaN, i.e. missing, never as zero.
- **Periods**: days; weeks starting on Monday; calendar months. Only complete periods are used:
  history ends with the last period that ended before today, and a first period the item was not
  yet stocked for in full is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

#: API frequency -> pandas frequency of period starts.
PANDAS_FREQUENCY = {"D": "D", "W": "W-MON", "M": "MS"}
#: Longest history a run reads, in periods: older demand says little about next season's and
#: would only slow every run down.
MAX_PERIODS = {"D": 730, "W": 260, "M": 120}
#: Share of a period's days that must be censored for the period to be censored.
CENSORED_SHARE = 0.5

DAY = np.timedelta64(1, "D")
SECONDS_PER_DAY = 86_400.0


def period_start(day: date, frequency: str) -> date:
    if frequency == "D":
        return day
    if frequency == "W":
        return day - timedelta(days=day.weekday())
    if frequency == "M":
        return day.replace(day=1)
    raise ValueError(f"unknown frequency {frequency!r}")


def next_period(start: date, frequency: str) -> date:
    if frequency == "D":
        return start + timedelta(days=1)
    if frequency == "W":
        return start + timedelta(days=7)
    if frequency == "M":
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    raise ValueError(f"unknown frequency {frequency!r}")


def history_end(today: date, frequency: str) -> date:
    """Last day of the last complete period before ``today``."""
    return period_start(today, frequency) - timedelta(days=1)


def period_index(first: date, last: date, frequency: str) -> pd.DatetimeIndex:
    """Starts of the periods from the one holding ``first`` to the one holding ``last``."""
    return pd.date_range(
        period_start(first, frequency),
        period_start(last, frequency),
        freq=PANDAS_FREQUENCY[frequency],
    )


def future_index(end: date, horizon: int, frequency: str) -> pd.DatetimeIndex:
    """The ``horizon`` periods following the history that ends on ``end``."""
    return pd.date_range(
        next_period(period_start(end, frequency), frequency),
        periods=horizon,
        freq=PANDAS_FREQUENCY[frequency],
    )


def period_of_days(days: pd.DatetimeIndex, frequency: str) -> pd.DatetimeIndex:
    """Map each day to the start of its period."""
    if frequency == "D":
        return days
    if frequency == "W":
        return days - pd.to_timedelta(days.day_of_week, unit="D")
    if frequency == "M":
        return days - pd.to_timedelta(days.day - 1, unit="D")
    raise ValueError(f"unknown frequency {frequency!r}")


# --------------------------------------------------------------------------------------------------
# Stock-outs from the ledger


def _as_seconds(values: Iterable[datetime] | np.ndarray) -> np.ndarray:
    """UTC datetimes (aware or naive-UTC) as datetime64[s]."""
    return np.asarray(
        [
            v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) and v.tzinfo else v
            for v in values
        ],
        dtype="datetime64[s]",
    )


def censored_days(
    times: Sequence[datetime] | np.ndarray,
    levels: Sequence[int] | np.ndarray,
    first_day: date,
    last_day: date,
    *,
    opening_level: int | None = None,
) -> np.ndarray:
    """For each day from ``first_day`` to ``last_day``: was demand censored by a stock-out?

    ``times`` are the movements' times in order and ``levels`` the on-hand right after each
    (``stock_movements.on_hand_after``); ``opening_level`` is on hand before the first of them, if
    known. Before the first known level nothing is censored.
    """
    n_days = (last_day - first_day).days + 1
    if n_days <= 0:
        return np.zeros(0, dtype=bool)
    t = _as_seconds(times)
    v = np.asarray(levels, dtype=float)
    start = np.datetime64(first_day, "s")
    bounds = start + np.arange(n_days + 1) * DAY.astype("timedelta64[s]")
    if opening_level is not None:
        before = min(t[0], start) if t.size else start
        t = np.concatenate([[before - np.timedelta64(1, "s")], t])
        v = np.concatenate([[float(opening_level)], v])
    if t.size == 0:
        return np.zeros(n_days, dtype=bool)

    def level_at(points: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(t, points, side="right") - 1
        out = np.full(points.shape, np.nan)
        known = idx >= 0
        out[known] = v[idx[known]]
        return out

    inside = t[(t > bounds[0]) & (t < bounds[-1])]
    cuts = np.unique(np.concatenate([bounds, inside]))
    seg_level = level_at(cuts[:-1])
    seg_seconds = (cuts[1:] - cuts[:-1]).astype(float)
    seg_day = np.searchsorted(bounds, cuts[:-1], side="right") - 1
    out_seconds = np.bincount(seg_day, weights=seg_seconds * (seg_level <= 0), minlength=n_days)[
        :n_days
    ]
    share_out = out_seconds / SECONDS_PER_DAY

    # Sold out: the day opened with stock and closed without. A movement exactly at midnight
    # belongs to the new day, so the opening level is read just before the boundary.
    opening = level_at(bounds[:-1] - np.timedelta64(1, "s"))
    closing = level_at(bounds[1:] - np.timedelta64(1, "s"))
    sold_out = (opening > 0) & (closing <= 0)
    return (share_out >= CENSORED_SHARE) | sold_out


# --------------------------------------------------------------------------------------------------
# Series


@dataclass(frozen=True)
class DemandSeries:
    """Demand per period, ready for the engine, with what was recorded and what was censored."""

    frequency: str
    #: Float demand per period start; NaN where censored.
    demand: pd.Series
    #: Units actually recorded per period (a lower bound where censored).
    recorded: pd.Series
    censored: pd.Series

    @property
    def observations(self) -> int:
        return int(self.demand.shape[0])

    @property
    def censored_count(self) -> int:
        return int(self.censored.sum())

    @property
    def has_observed_demand(self) -> bool:
        return bool(np.isfinite(self.demand.to_numpy(dtype=float)).any())


def build_series(
    daily_quantity: pd.Series,
    daily_censored: pd.Series,
    first_day: date,
    end: date,
    frequency: str,
    *,
    max_periods: int | None = None,
) -> DemandSeries:
    """Sum days into complete periods from ``first_day`` to ``end`` (the last day of a period).

    ``daily_quantity`` and ``daily_censored`` are indexed by day (missing days: zero demand,
    not censored).
    """
    freq = PANDAS_FREQUENCY[frequency]
    if first_day > end:
        return empty_series(frequency)
    days = pd.date_range(first_day, end, freq="D")
    qty = _by_day(daily_quantity, days, 0).to_numpy(dtype=float)
    cens = _by_day(daily_censored, days, False).to_numpy(dtype=float)
    starts, lengths = _period_runs(days, frequency)
    recorded = np.add.reduceat(qty, starts)
    censored = np.add.reduceat(cens, starts) / lengths >= CENSORED_SHARE
    index = period_of_days(days[starts], frequency)
    if frequency != "D" and first_day > period_start(first_day, frequency) and len(index) > 1:
        # The item was not there for the whole first period: its demand would read low.
        recorded, censored, index = recorded[1:], censored[1:], index[1:]
    if max_periods is not None and len(index) > max_periods:
        keep = slice(len(index) - max_periods, None)
        recorded, censored, index = recorded[keep], censored[keep], index[keep]
    index = pd.DatetimeIndex(index, freq=freq)
    return DemandSeries(
        frequency,
        pd.Series(np.where(censored, np.nan, recorded), index=index, name="demand"),
        pd.Series(recorded, index=index, name="recorded"),
        pd.Series(censored, index=index, name="censored"),
    )


def _period_runs(days: pd.DatetimeIndex, frequency: str) -> tuple[np.ndarray, np.ndarray]:
    """Positions where each period starts among consecutive ``days``, and its number of days."""
    keys = period_of_days(days, frequency).asi8
    starts = np.concatenate([[0], np.flatnonzero(keys[1:] != keys[:-1]) + 1])
    lengths = np.diff(np.append(starts, len(days)))
    return starts, lengths


def _by_day(values: pd.Series, days: pd.DatetimeIndex, fill: object) -> pd.Series:
    if values.empty:
        return pd.Series(fill, index=days)
    series = values.copy()
    series.index = pd.DatetimeIndex(pd.to_datetime(series.index)).as_unit(days.unit)
    series = series.groupby(level=0).sum() if series.index.has_duplicates else series
    return series.reindex(days, fill_value=fill)


def empty_series(frequency: str) -> DemandSeries:
    index = pd.DatetimeIndex([], freq=PANDAS_FREQUENCY[frequency])
    return DemandSeries(
        frequency,
        pd.Series([], index=index, dtype=float, name="demand"),
        pd.Series([], index=index, dtype=float, name="recorded"),
        pd.Series([], index=index, dtype=bool, name="censored"),
    )


# --------------------------------------------------------------------------------------------------
# Promotions


@dataclass(frozen=True)
class PromotionWindow:
    """Days of a promotion (both ends included) and the planner's uplift estimate, if any."""

    starts_on: date
    ends_on: date
    expected_uplift: float | None = None


def promotion_share(
    index: pd.DatetimeIndex, frequency: str, windows: Sequence[PromotionWindow]
) -> pd.Series:
    """Share of each period's days under a promotion: the regressor, 0/1 for days."""
    return _per_period(index, frequency, windows, lambda w: 1.0, "promotion")


def planned_uplift(
    index: pd.DatetimeIndex, frequency: str, windows: Sequence[PromotionWindow]
) -> pd.Series:
    """Mean expected uplift over each period's days, from the planners' estimates."""
    return _per_period(index, frequency, windows, lambda w: w.expected_uplift or 0.0, "uplift")


def _per_period(
    index: pd.DatetimeIndex,
    frequency: str,
    windows: Sequence[PromotionWindow],
    value: object,
    name: str,
) -> pd.Series:
    if len(index) == 0:
        return pd.Series([], index=index, dtype=float, name=name)
    first = index[0].date()
    last = next_period(index[-1].date(), frequency) - timedelta(days=1)
    days = pd.date_range(first, last, freq="D")
    daily = np.zeros(len(days))
    for w in windows:
        lo = max((w.starts_on - first).days, 0)
        hi = min((w.ends_on - first).days, len(days) - 1)
        if lo <= hi:
            daily[lo : hi + 1] = np.maximum(daily[lo : hi + 1], value(w))  # type: ignore[operator]
    if not daily.any():
        return pd.Series(0.0, index=index, name=name)
    starts, lengths = _period_runs(days, frequency)
    per = pd.Series(np.add.reduceat(daily, starts) / lengths, index=days[starts])
    return pd.Series(per.reindex(index, fill_value=0.0).to_numpy(), index=index, name=name)
