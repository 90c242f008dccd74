"""A forecast run: every selected series through the engine, with a holdout backtest each.

Runs as the ``forecast_run`` job (in a thread, a Celery worker or the foreground command). Series
are read and written in batches of items: the batch's history is read in one short read
transaction, forecast with no transaction open, and its forecasts written in one short write
transaction, so progress reports and other users' writes are never held up by the run.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import insert, update

from core import jobs
from core.db import UnitOfWork, read_only, utcnow
from forecasting import demand, history
from forecasting.demand import DemandSeries, PromotionWindow
from forecasting.history import SeriesKey
from forecasting.models import Forecast, ForecastRun
from forecasting.services import PLANNERS, RUN_JOB

log = logging.getLogger(__name__)

#: Quantiles stored with every forecast: the 50 % and 90 % central bands, the median, and the
#: upper quantiles service levels are set from.
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.9, 0.95)
#: Items whose series are read, forecast and written together.
BATCH_ITEMS = 25
#: A holdout is only meaningful with at least this many observed periods left to fit on.
MIN_FIT_PERIODS = 8
#: Failures kept on the run for people to read; the count covers all.
MAX_FAILURES_KEPT = 50


class NothingToForecast(Exception):
    """The series has no period of observed demand at all."""


@dataclass
class SeriesResult:
    model: str
    periods: list[dict[str, Any]]
    mase: float | None
    wape: float | None
    bias: float | None
    #: Backtest totals, so a run's WAPE and bias weigh series by their volume.
    abs_error: float = 0.0
    error: float = 0.0
    volume: float = 0.0


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _frame(values: pd.Series) -> pd.DataFrame:
    return values.to_frame("promotion")


def forecast_series(
    series: DemandSeries,
    horizon: int,
    windows: Sequence[PromotionWindow],
    end: date,
) -> SeriesResult:
    """Forecast one series ``horizon`` periods past ``end`` and backtest it on its last periods.

    Promotions enter as a regressor (share of each period under promotion) when the history holds
    at least one observed promoted period the engine can learn the effect from; otherwise a
    planned promotion's ``expected_uplift`` scales the forecast of the periods it covers.
    """
    from forecasting import engine  # statsmodels loads on the first run, not with every web worker

    if not series.has_observed_demand:
        raise NothingToForecast("no period with observed demand")
    frequency = series.frequency
    y = series.demand
    future = demand.future_index(end, horizon, frequency)
    past_share = demand.promotion_share(y.index, frequency, windows)
    future_share = demand.promotion_share(future, frequency, windows)
    learnable = bool(((past_share > 0) & y.notna()).any())
    exog = _frame(past_share) if learnable else None
    future_exog = _frame(future_share) if learnable else None

    result = engine.forecast(y, horizon, quantiles=QUANTILES, exog=exog, future_exog=future_exog)
    mean = np.asarray(result.mean, dtype=float)
    bands = {q: np.asarray(result.quantiles[q], dtype=float) for q in QUANTILES}
    if not learnable and (future_share > 0).any():
        factor = 1.0 + demand.planned_uplift(future, frequency, windows).to_numpy()
        mean = mean * factor
        bands = {q: v * factor for q, v in bands.items()}
    periods = [
        {
            "start": start.date().isoformat(),
            "mean": _round(mean[i]),
            "quantiles": {str(q): _round(bands[q][i]) for q in QUANTILES},
            **(
                {"promotion": round(float(future_share.iloc[i]), 4)} if future_share.iloc[i] else {}
            ),
        }
        for i, start in enumerate(future)
    ]
    outcome = SeriesResult(str(result.model), periods, None, None, None)
    _backtest(outcome, y, horizon, exog)
    return outcome


def _round(value: float) -> float:
    return round(max(float(value), 0.0), 4) if math.isfinite(value) else 0.0


def _backtest(outcome: SeriesResult, y: pd.Series, horizon: int, exog: pd.DataFrame | None) -> None:
    """Fit on all but the last ``horizon`` periods, forecast them and compare with what happened."""
    from forecasting import engine, metrics

    train, test = y.iloc[:-horizon], y.iloc[-horizon:]
    if int(train.notna().sum()) < MIN_FIT_PERIODS or not test.notna().any():
        return
    fit = engine.forecast(
        train,
        horizon,
        quantiles=(0.5,),
        exog=exog.iloc[:-horizon] if exog is not None else None,
        future_exog=exog.iloc[-horizon:] if exog is not None else None,
    )
    predicted = np.asarray(fit.mean, dtype=float)
    actual = test.to_numpy(dtype=float)
    insample = train.to_numpy(dtype=float)
    outcome.mase = _finite(metrics.mase(actual, predicted, insample))
    outcome.wape = _finite(metrics.wape(actual, predicted))
    outcome.bias = _finite(metrics.bias(actual, predicted))
    seen = np.isfinite(actual)
    outcome.abs_error = float(np.abs(actual[seen] - predicted[seen]).sum())
    outcome.error = float((predicted[seen] - actual[seen]).sum())
    outcome.volume = float(np.abs(actual[seen]).sum())


@dataclass
class _Tally:
    done: int = 0
    failed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    models: Counter[str] = field(default_factory=Counter)
    mase: list[float] = field(default_factory=list)
    abs_error: float = 0.0
    error: float = 0.0
    volume: float = 0.0

    def add(self, result: SeriesResult) -> None:
        self.done += 1
        self.models.update(members_of(result.model))
        if result.mase is not None:
            self.mase.append(result.mase)
        self.abs_error += result.abs_error
        self.error += result.error
        self.volume += result.volume

    def fail(self, key: SeriesKey, reason: str) -> None:
        self.done += 1
        self.failed += 1
        if len(self.failures) < MAX_FAILURES_KEPT:
            self.failures.append({"sku": key.sku, "warehouse": key.warehouse, "error": reason})

    def accuracy(self) -> dict[str, float | None]:
        return {
            "mase": float(np.mean(self.mase)) if self.mase else None,
            "wape": self.abs_error / self.volume if self.volume else None,
            "bias": self.error / self.volume if self.volume else None,
        }


def members_of(model: str) -> list[str]:
    """The models in a chosen forecast: the engine names combinations "ets+arima with ..."."""
    name, _, extra = model.partition(" with ")
    return [m for m in name.split("+") if m] + ([f"with {extra}"] if extra else [])


def _batches(keys: list[SeriesKey]) -> list[list[SeriesKey]]:
    """Whole items per batch: their warehouses share the batch's ledger query."""
    out: list[list[SeriesKey]] = []
    items: list[int] = []
    for key in keys:
        if not out or (key.product_id not in items and len(items) >= BATCH_ITEMS):
            out.append([])
            items = []
        if key.product_id not in items:
            items.append(key.product_id)
        out[-1].append(key)
    return out


@jobs.job(RUN_JOB, readers=PLANNERS)
def run_forecasts(params: dict[str, Any], report: jobs.Report) -> dict[str, Any]:
    """The ``forecast_run`` job: params ``{"run_id": ...}``; the run row holds the rest."""
    run_id = int(params["run_id"])
    with read_only() as s:
        run = s.get(ForecastRun, run_id)
        if run is None:
            raise LookupError(f"forecast run {run_id} does not exist")
        horizon, frequency, end = run.horizon, run.frequency, run.history_end
        keys = history.series_keys(s, run.skus, run.warehouses)
    total = len(keys)
    report(0.0, f"0 of {total} series")
    tally = _Tally()
    last_future = demand.future_index(end, horizon, frequency)[-1].date()
    for batch in _batches(keys):
        with read_only() as s:
            series = history.load_demand(s, batch, frequency, end)
            first = min(
                (v.demand.index[0].date() for v in series.values() if v.observations),
                default=end,
            )
            promotions = history.load_promotions(s, batch, first, last_future)
        rows = []
        for key in batch:
            try:
                result = forecast_series(series[key.ids], horizon, promotions[key.ids], end)
            except NothingToForecast as reason:
                tally.fail(key, str(reason))
            except Exception as exc:
                log.warning("forecast of %s failed: %s", key.label, exc, exc_info=True)
                tally.fail(key, f"{type(exc).__name__}: {exc}")
            else:
                tally.add(result)
                rows.append(_row(run_id, key, frequency, end, series[key.ids], result))
            report(tally.done / max(total, 1), f"{tally.done} of {total} series")
        _save(run_id, rows, tally)
    if total and tally.failed == total:
        reasons = "; ".join(
            f"{f['sku']}@{f['warehouse']}: {f['error']}" for f in tally.failures[:3]
        )
        _save(run_id, [], tally, finished=True)
        raise RuntimeError(f"No series could be forecast ({reasons}).")
    accuracy = _save(run_id, [], tally, finished=True)
    return {
        "run_id": run_id,
        "series": total,
        "forecast": total - tally.failed,
        "failed": tally.failed,
        "accuracy": accuracy,
    }


def _row(
    run_id: int,
    key: SeriesKey,
    frequency: str,
    end: date,
    series: DemandSeries,
    result: SeriesResult,
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "product_id": key.product_id,
        "warehouse_id": key.warehouse_id,
        "frequency": frequency,
        "model": result.model[:200],
        "history_end": end,
        "observations": series.observations,
        "censored": series.censored_count,
        "mase": result.mase,
        "wape": result.wape,
        "bias": result.bias,
        "periods": result.periods,
        "created_at": utcnow(),
    }


def _save(
    run_id: int, rows: list[dict[str, Any]], tally: _Tally, *, finished: bool = False
) -> dict[str, float | None]:
    accuracy = tally.accuracy()
    values: dict[str, Any] = {
        "series_done": tally.done,
        "series_failed": tally.failed,
        "failures": tally.failures or None,
        "models": dict(tally.models) or None,
        **accuracy,
    }
    if finished:
        values["finished_at"] = utcnow()
    with UnitOfWork() as uow:
        if rows:
            uow.session.execute(insert(Forecast), rows)
        uow.session.execute(update(ForecastRun).where(ForecastRun.id == run_id).values(**values))
        uow.commit()
    return accuracy
