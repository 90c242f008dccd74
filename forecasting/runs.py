"""A forecast run: every selected series through the engine, with a holdout backtest each.

Runs as the chunked ``forecast_run`` job: the run's series are split into chunks of whole items
(``FORECAST_CHUNK_SERIES``, about 50 series each). On Celery every chunk is a task of its own, so
N workers forecast one run about N times as fast; in a thread or the foreground command the
chunks run one after the other. A chunk's history is read in one short read transaction,
forecast with no transaction open, and its forecasts written in one short write transaction
together with the chunk's completion, so a chunk's results are stored exactly once and progress
reports and other users' writes are never held up by the run. The last chunk to complete merges
the chunks' tallies into the run's accuracy, models and failures.
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
from flask import current_app
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
    mase_sum: float = 0.0
    mase_count: int = 0
    abs_error: float = 0.0
    error: float = 0.0
    volume: float = 0.0

    def add(self, result: SeriesResult) -> None:
        self.done += 1
        self.models.update(members_of(result.model))
        if result.mase is not None:
            self.mase_sum += result.mase
            self.mase_count += 1
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
            "mase": self.mase_sum / self.mase_count if self.mase_count else None,
            "wape": self.abs_error / self.volume if self.volume else None,
            "bias": self.error / self.volume if self.volume else None,
        }

    def as_dict(self) -> dict[str, Any]:
        """What a chunk hands to the merge (JSON)."""
        return {
            "done": self.done,
            "failed": self.failed,
            "failures": self.failures,
            "models": dict(self.models),
            "mase_sum": self.mase_sum,
            "mase_count": self.mase_count,
            "abs_error": self.abs_error,
            "error": self.error,
            "volume": self.volume,
        }

    def merge(self, other: dict[str, Any]) -> None:
        self.done += int(other.get("done", 0))
        self.failed += int(other.get("failed", 0))
        room = MAX_FAILURES_KEPT - len(self.failures)
        self.failures.extend(list(other.get("failures") or [])[: max(room, 0)])
        self.models.update(other.get("models") or {})
        self.mase_sum += float(other.get("mase_sum", 0.0))
        self.mase_count += int(other.get("mase_count", 0))
        self.abs_error += float(other.get("abs_error", 0.0))
        self.error += float(other.get("error", 0.0))
        self.volume += float(other.get("volume", 0.0))


def members_of(model: str) -> list[str]:
    """The models in a chosen forecast: the engine names combinations "ets+arima with ..."."""
    name, _, extra = model.partition(" with ")
    return [m for m in name.split("+") if m] + ([f"with {extra}"] if extra else [])


def chunks_of(keys: list[SeriesKey], size: int) -> list[list[SeriesKey]]:
    """About ``size`` series per chunk, whole items each: an item's warehouses share its reads.

    An item alone with more warehouses than ``size`` makes a chunk of its own.
    """
    out: list[list[SeriesKey]] = []
    current: list[SeriesKey] = []
    for key in keys:
        starts_item = not current or current[-1].product_id != key.product_id
        if starts_item and len(current) >= size:
            out.append(current)
            current = []
        current.append(key)
    if current:
        out.append(current)
    return out


def _key_of(row: list[Any]) -> SeriesKey:
    product_id, warehouse_id, sku, warehouse, allow_negative = row
    return SeriesKey(int(product_id), int(warehouse_id), str(sku), str(warehouse), allow_negative)


def split_run(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``forecast_run`` job's chunks: the run's series, ``FORECAST_CHUNK_SERIES`` at a time.

    The series are listed again now (an item may have been added since the run was asked for)
    and the run's total follows, so its progress reads "n of total" to the end.
    """
    run_id = int(params["run_id"])
    size = max(1, int(current_app.config.get("FORECAST_CHUNK_SERIES", 50)))
    with UnitOfWork() as uow:
        s = uow.session
        run = s.get(ForecastRun, run_id)
        if run is None:
            raise LookupError(f"forecast run {run_id} does not exist")
        keys = history.series_keys(s, run.skus, run.warehouses)
        run.series_total = len(keys)
        uow.commit()
    return [
        {
            "series": [
                [k.product_id, k.warehouse_id, k.sku, k.warehouse, k.allow_negative] for k in chunk
            ]
        }
        for chunk in chunks_of(keys, size)
    ]


def forecast_chunk(
    params: dict[str, Any], piece: dict[str, Any], chunk: jobs.Chunk
) -> dict[str, Any]:
    """One chunk: read its history in one short read, forecast with no transaction open, and
    write its forecasts, the run's counters and the chunk's completion in one transaction."""
    run_id = int(params["run_id"])
    keys = [_key_of(row) for row in piece["series"]]
    with read_only() as s:
        run = s.get(ForecastRun, run_id)
        if run is None:
            raise LookupError(f"forecast run {run_id} does not exist")
        horizon, frequency, end = run.horizon, run.frequency, run.history_end
        last_future = demand.future_index(end, horizon, frequency)[-1].date()
        series = history.load_demand(s, keys, frequency, end)
        first = min(
            (v.demand.index[0].date() for v in series.values() if v.observations),
            default=end,
        )
        promotions = history.load_promotions(s, keys, first, last_future)
    tally = _Tally()
    rows = []
    for i, key in enumerate(keys):
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
        chunk.report((i + 1) / len(keys))
    with UnitOfWork() as uow:
        s = uow.session
        if rows:
            s.execute(insert(Forecast), rows)
        done, total = s.execute(
            update(ForecastRun)
            .where(ForecastRun.id == run_id)
            .values(
                series_done=ForecastRun.series_done + tally.done,
                series_failed=ForecastRun.series_failed + tally.failed,
            )
            .returning(ForecastRun.series_done, ForecastRun.series_total)
            .execution_options(synchronize_session=False)
        ).one()
        result_of_chunk = tally.as_dict()
        chunk.complete(s, result_of_chunk, message=f"{done} of {total} series")
        uow.commit()
    return result_of_chunk


def merge_run(params: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
    """Every chunk is in: the run's accuracy, models and failures over all its series."""
    run_id = int(params["run_id"])
    tally = _Tally()
    for part in results:
        tally.merge(part)
    accuracy = tally.accuracy()
    with UnitOfWork() as uow:
        uow.session.execute(
            update(ForecastRun)
            .where(ForecastRun.id == run_id)
            .values(
                series_done=tally.done,
                series_failed=tally.failed,
                failures=tally.failures or None,
                models=dict(tally.models) or None,
                finished_at=utcnow(),
                **accuracy,
            )
        )
        uow.commit()
    if tally.done and tally.failed == tally.done:
        reasons = "; ".join(
            f"{f['sku']}@{f['warehouse']}: {f['error']}" for f in tally.failures[:3]
        )
        raise RuntimeError(f"No series could be forecast ({reasons}).")
    return {
        "run_id": run_id,
        "series": tally.done,
        "forecast": tally.done - tally.failed,
        "failed": tally.failed,
        "accuracy": accuracy,
    }


jobs.chunked_job(RUN_JOB, split=split_run, chunk=forecast_chunk, merge=merge_run, readers=PLANNERS)


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
