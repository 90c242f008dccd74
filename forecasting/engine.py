"""Forecasting engine: one demand series in, point forecast and quantiles out.

Pure and self-contained (pandas, numpy, scipy, statsmodels; no web framework, no database), so it
runs the same in a request, a background job or a benchmark.

How a forecast is made:

1. The index is regularised: the period is inferred, missing periods become NaN. NaN means
   "unknown" (a stock-out, a closure), never zero demand; models skip those periods.
2. The history is classified (Syntetos-Boylan). Sporadic demand gets Croston, SBA and TSB next to
   smoothing models; everything else gets the smoothing/Theta family, statsmodels' ETS and ARIMA,
   and naive baselines, on the seasonally adjusted series when a seasonality test says so.
3. Every candidate is backtested on rolling origins over the last stretch of history. Candidates
   whose forecasts are not finite or run far outside the range of the history are dropped.
4. The forecast is the mean of the best-scoring candidates. Combining the best few is more accurate
   than betting on the single best backtest, which is noisy on short histories. Scores are scaled
   squared errors, never absolute errors: for sporadic demand a zero forecast minimises absolute
   error and would always win.
5. Quantiles come from the combination's own backtest errors, growing with the horizon, with
   heavy (Student t) tails; for sporadic demand they average a count distribution around the
   forecast with the empirical distribution of recent periods.
6. Promotions (``exog``) are learnt as a multiplicative uplift over the baseline forecast, the
   baseline being fitted with promoted periods left out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import TypeVar

import numpy as np
import pandas as pd
from scipy import stats

from forecasting import metrics
from forecasting.classify import DemandClass, DemandProfile, classify
from forecasting.parallel import single_threaded_blas
from forecasting.periods import Calendar, regularise
from forecasting.seasonality import Seasonal, decompose, is_seasonal
from forecasting.statistical import statsmodels_candidates
from forecasting.zoo import (
    Candidate,
    intermittent_candidates,
    naive_candidates,
    smoothing_candidates,
)

DEFAULT_QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.95)
# Below this many observations there is nothing to backtest: the forecast is the plain mean.
MIN_OBSERVATIONS = 4
# Forecasts beyond this many history ranges above the maximum (or below the minimum) are rejected
# as exploded; legitimate trends on business series stay well inside it.
EXPLOSION_RANGES = 3.0
# Periods of history the models see. Older data barely moves exponentially weighted models and
# makes every fit slower; long daily histories are the common case this protects against.
HISTORY_LIMIT = 200

# Constants chosen by backtest accuracy, on the *development* half of M3, car parts and synthetic
# weekly retail demand, then checked on the *report* half:
#     python benchmarks/forecast_tuning.py --jobs 2
# "dev" lists the objective for each value of the grid: the mean over sources of the error
# relative to the value in the code (below 1 is better; point error for the forecast, scaled
# pinball loss for the quantiles). docs/forecasting.md has the grids, the figures, the rule for
# changing a value and the constants deliberately left untuned.

# Backtest origins lie in the last BACKTEST_SPAN horizons of history (never in its first half).
# dev {1, 2, 3}: 1.003, 1, 0.994. 3 won, but the report half found the chosen set 0.12% worse
# in point error (M3 MASE 1.2870 vs 1.2863), so 2 stays.
BACKTEST_SPAN = 2
# At most this many evenly spaced origins for regular demand, and for sporadic demand.
# dev {6, 12, 24}: 1.005, 1.001, 1. Sporadic dev {2, 4, 8}: 1.001, 1, 0.994; 8 won but was
# part of the set the report half rejected (and doubles the CPU per sporadic series), so 4 stays.
BACKTEST_ORIGINS = 24
SPORADIC_BACKTEST_ORIGINS = 4
# The combination averages the best MEMBER_SHARE of the regular candidates (rounded up, at least
# one), and the best SPORADIC_MEMBERS for sporadic demand.
# dev {0 (the single best), 0.25, 0.5, 0.75, 1}: 1.038, 1.009, 1, 1.001, 1.014.
# Sporadic dev {1, 2, 3, 5}: 1.003, 1.001, 1, 1.001.
MEMBER_SHARE = 0.5
SPORADIC_MEMBERS = 3
# Tail weight of forecast errors: degrees of freedom of the Student t (see ``_spread_quantiles``).
# dev {2, 3, 4, 6, 30} (scaled pinball): 1.037, 1, 0.997, 1, 1.015; M3's 90% quantile covered
# 89.8, 87.5, 86.3, 85.2, 83.8% of its development actuals.
ERROR_TAIL_DF = 3
# Variance floor: the backtest error variance is never below this blend with the in-sample
# one-step residual variance (see ``_error_scale``).
# dev {0, 0.25, 0.5, 0.75}: 0.992, 0.995, 1, 1.005. 0 won (narrower intervals: M3 coverage of
# the 90% quantile 86.7% vs 87.5%), but was part of the set the report half rejected: 0.5 stays.
VARIANCE_FLOOR_WEIGHT = 0.5
# Periods whose empirical distribution is the "recent history" view of sporadic demand, and the
# weight of the count-distribution view against it (see ``_sporadic_quantiles``).
# dev window {12, 24, 36}: 1.037, 1, 0.991; 36 won but was part of the rejected set: 24 stays.
# dev weight {0.25, 0.5, 0.75}: 1.008, 1, 1.013.
RECENT_WINDOW = 24
SPORADIC_COUNT_WEIGHT = 0.5

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class ForecastResult:
    """A forecast for one series.

    ``mean`` and ``quantiles`` are indexed by the future periods; ``quantiles`` has one column per
    requested quantile (named by the float). ``model`` names the model, or the members of the
    combination joined by ``+``. ``backtest`` has one row per candidate model with its backtest
    scores; ``accuracy`` holds MASE, WAPE and bias of the final forecast method on the backtest.
    """

    mean: pd.Series
    quantiles: pd.DataFrame
    model: str
    demand_class: str
    members: tuple[str, ...] = ()
    backtest: pd.DataFrame = field(default_factory=pd.DataFrame)
    accuracy: dict[str, float] = field(default_factory=dict)
    fitted: pd.Series | None = None
    seasonal: bool = False
    season_length: int = 1
    uplift: dict[str, float] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)


@dataclass
class _Outcome:
    """Array-level result before it is dressed in pandas."""

    mean: np.ndarray
    quantile_fn: Callable[[Sequence[float]], np.ndarray]
    model: str
    members: tuple[str, ...]
    backtest: pd.DataFrame
    accuracy: dict[str, float]
    fitted: np.ndarray | None
    seasonal: bool
    rejected: dict[str, str]


def forecast(
    y: pd.Series,
    horizon: int,
    *,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    exog: pd.DataFrame | pd.Series | None = None,
    future_exog: pd.DataFrame | pd.Series | None = None,
) -> ForecastResult:
    """Forecast ``horizon`` periods of ``y`` with quantiles.

    ``y`` needs a regular DatetimeIndex (daily, weekly, monthly, quarterly or yearly; ``freq`` may
    be unset and periods may be absent). NaN marks periods whose demand is unknown. ``exog`` holds
    regressors aligned with ``y`` (e.g. a 0/1 promotion flag, or a discount depth) and
    ``future_exog`` their planned values for the forecast periods. Only the most recent
    ``HISTORY_LIMIT`` periods (more for long seasons or horizons) are used; ``result.fitted``
    covers those.
    """
    if not isinstance(y, pd.Series):
        raise TypeError("y must be a pandas Series")
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ValueError("horizon must be a positive integer")
    horizon = int(horizon)
    qs = _check_quantiles(quantiles)
    values, calendar = regularise(y)
    if not values.notna().any():
        raise ValueError("the series has no observed values")
    future = calendar.future(values.index[-1], horizon)
    limit = max(HISTORY_LIMIT, 3 * calendar.season_length + 1, 4 * horizon)
    if values.iloc[-limit:].notna().any():
        values = values.iloc[-limit:]
    values = values.iloc[int(np.argmax(values.notna().to_numpy())) :]
    x_hist, x_future = _align_exog(exog, future_exog, values.index, future)

    with single_threaded_blas():
        return _forecast_series(values, calendar, future, horizon, qs, x_hist, x_future)


def _forecast_series(
    values: pd.Series,
    calendar: Calendar,
    future: pd.DatetimeIndex,
    horizon: int,
    qs: tuple[float, ...],
    x_hist: pd.DataFrame | None,
    x_future: pd.DataFrame | None,
) -> ForecastResult:
    arr = values.to_numpy(dtype=float)
    uplift: dict[str, float] = {}
    baseline = arr
    promoted = None
    if x_hist is not None and x_future is not None:
        promoted = (x_hist != 0).any(axis=1) & np.isfinite(arr)
        if promoted.any() and (~promoted & np.isfinite(arr)).sum() >= 1:
            baseline = np.where(promoted, np.nan, arr)

    profile = classify(arr if promoted is None else baseline)
    # Candidates may overflow or divide by zero on extreme inputs; such forecasts come out
    # non-finite or exploded and are rejected explicitly, so the floating-point warnings carry
    # nothing the caller could act on.
    unit = _unit(arr)
    with np.errstate(all="ignore"):
        outcome = _forecast_array(baseline / unit, horizon, calendar, profile, unit)
        qvals = outcome.quantile_fn(qs) * unit
    mean = outcome.mean * unit
    in_sample = outcome.fitted * unit if outcome.fitted is not None else None
    model = outcome.model
    if x_hist is not None and x_future is not None and promoted is not None:
        beta = _learn_uplift(arr, in_sample, x_hist, promoted)
        if beta is not None:
            uplift = dict(zip(x_hist.columns.astype(str), beta.tolist(), strict=True))
            factor = np.maximum(0.0, 1.0 + x_future.to_numpy(dtype=float) @ beta)
            mean = mean * factor
            qvals = qvals * factor[:, None]
            if np.any(factor != 1.0):
                model = f"{model} with promotion uplift"

    nonneg = bool(np.nanmin(arr) >= 0)
    if nonneg:
        mean = np.maximum(mean, 0.0)
        qvals = np.maximum(qvals, 0.0)
    qvals = np.maximum.accumulate(qvals, axis=1)
    mean_s = pd.Series(mean, index=future, name="mean")
    qdf = pd.DataFrame(qvals, index=future, columns=pd.Index(list(qs), dtype=float))
    fitted = None
    if in_sample is not None:
        fitted = pd.Series(in_sample, index=values.index, name="fitted")
    return ForecastResult(
        mean=mean_s,
        quantiles=qdf,
        model=model,
        demand_class=str(profile.demand_class),
        members=outcome.members,
        backtest=outcome.backtest,
        accuracy=outcome.accuracy,
        fitted=fitted,
        seasonal=outcome.seasonal,
        season_length=calendar.season_length,
        uplift=uplift,
        rejected=outcome.rejected,
    )


def forecast_many(
    series: Mapping[K, pd.Series],
    horizon: int,
    *,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    exog: Mapping[K, pd.DataFrame | pd.Series] | None = None,
    future_exog: Mapping[K, pd.DataFrame | pd.Series] | None = None,
    progress: Callable[[int, int], None] | None = None,
    chunk_size: int = 100,
    errors: str = "raise",
) -> dict[K, ForecastResult]:
    """Forecast many series; ``progress(done, total)`` is called after every chunk.

    Series are independent, so a job may also split the mapping itself (see ``chunks``) and run
    the chunks in separate worker processes. With ``errors="skip"`` a series that cannot be
    forecast (no observed values, irregular dates) is left out of the result instead of stopping
    the run.
    """
    if errors not in ("raise", "skip"):
        raise ValueError("errors must be 'raise' or 'skip'")
    total = len(series)
    done = 0
    out: dict[K, ForecastResult] = {}
    for chunk in chunks(series, chunk_size):
        for key in chunk:
            try:
                out[key] = forecast(
                    series[key],
                    horizon,
                    quantiles=quantiles,
                    exog=None if exog is None else exog.get(key),
                    future_exog=None if future_exog is None else future_exog.get(key),
                )
            except (ValueError, TypeError):
                if errors == "raise":
                    raise
            done += 1
        if progress is not None:
            progress(done, total)
    return out


def chunks(keys: Iterable[K], size: int) -> Iterator[list[K]]:
    """Split keys into lists of at most ``size``, the unit of work and progress of a batch job."""
    if size < 1:
        raise ValueError("size must be positive")
    it = iter(keys)
    while batch := list(islice(it, size)):
        yield batch


# --------------------------------------------------------------------------------------------
# Array-level forecasting


def _unit(y: np.ndarray) -> float:
    """A power of two near the series' magnitude; models work on ``y / unit``.

    Squared errors of series in the billions (or in the billionths) overflow (or underflow)
    doubles and statsmodels' optimisers are tuned for numbers near one. Scaling by a power of two
    is exact, so every model gives the same answer as on the original scale, only safely.
    """
    top = float(np.nanmax(np.abs(y)))
    if not np.isfinite(top) or top == 0.0:
        return 1.0
    return float(2.0 ** np.round(np.log2(top)))


def _forecast_array(
    y: np.ndarray, horizon: int, calendar: Calendar, profile: DemandProfile, unit: float
) -> _Outcome:
    observed = y[np.isfinite(y)]
    nonneg = observed.shape[0] > 0 and bool(observed.min() >= 0)
    if profile.demand_class is DemandClass.ZERO and nonneg:
        return _constant(y, horizon, 0.0, "zero", spread=0.0)
    if observed.shape[0] < MIN_OBSERVATIONS:
        return _short(y, horizon)
    if profile.demand_class.is_sporadic and nonneg:
        return _sporadic(y, horizon, unit)
    return _regular(y, horizon, calendar.season_length, nonneg)


def _constant(y: np.ndarray, horizon: int, value: float, name: str, *, spread: float) -> _Outcome:
    mean = np.full(horizon, value)

    def quantiles(qs: Sequence[float]) -> np.ndarray:
        z = stats.norm.ppf(np.asarray(qs))
        return mean[:, None] + spread * z[None, :]

    fitted = np.full(y.shape[0], value)
    return _Outcome(mean, quantiles, name, (name,), pd.DataFrame(), {}, fitted, False, {})


def _short(y: np.ndarray, horizon: int) -> _Outcome:
    """Too little history to compare models: the mean, with a deliberately wide spread.

    With one to three observations the spread cannot be estimated; assume at least a coefficient
    of variation of one half, so planners see the uncertainty rather than false precision.
    """
    observed = y[np.isfinite(y)]
    mean = float(observed.mean())
    spread = max(float(observed.std()), 0.5 * abs(mean))
    return _constant(y, horizon, mean, "mean", spread=spread)


def _origins(n: int, horizon: int, minimum: int, limit: int) -> list[int]:
    """Backtest origins: the ends of the training prefixes, over the last ``BACKTEST_SPAN``
    horizons.

    At most ``limit`` origins, evenly spaced, and never fewer than ``minimum`` training periods.
    """
    lo = max(n // 2, n - BACKTEST_SPAN * horizon, minimum)
    if lo >= n:
        return []
    span = list(range(lo, n))
    if len(span) > limit:
        pick = np.unique(np.round(np.linspace(0, len(span) - 1, limit)).astype(int))
        span = [span[i] for i in pick]
    return span


def _regular(y: np.ndarray, horizon: int, period: int, nonneg: bool) -> _Outcome:
    n = y.shape[0]
    seasonal: Seasonal | None = decompose(y, period) if is_seasonal(y, period) else None
    z = seasonal.remove(y) if seasonal is not None else y
    origins = _origins(n, horizon, MIN_OBSERVATIONS, limit=BACKTEST_ORIGINS)
    ends = [*origins, n]
    candidates = smoothing_candidates(z, ends, horizon, seasonal)
    candidates += naive_candidates(y, ends, horizon, period, seasonal)
    candidates += statsmodels_candidates(z, ends, horizon, seasonal)
    return _select(y, ends, horizon, candidates, seasonal is not None, nonneg, sporadic=False)


def _sporadic(y: np.ndarray, horizon: int, unit: float) -> _Outcome:
    n = y.shape[0]
    origins = _origins(n, horizon, MIN_OBSERVATIONS, limit=SPORADIC_BACKTEST_ORIGINS)
    ends = [*origins, n]
    candidates = intermittent_candidates(y, ends, horizon)
    candidates += smoothing_candidates(y, ends, horizon, None, with_log=False)
    return _select(y, ends, horizon, candidates, False, True, sporadic=True, unit=unit)


def _select(
    y: np.ndarray,
    ends: list[int],
    horizon: int,
    candidates: list[Candidate],
    seasonal: bool,
    nonneg: bool,
    *,
    sporadic: bool,
    unit: float = 1.0,
) -> _Outcome:
    n = y.shape[0]
    observed = y[np.isfinite(y)]
    lo, hi = float(observed.min()), float(observed.max())
    width = (hi - lo) or max(abs(float(observed.mean())), 1.0)
    reach = EXPLOSION_RANGES * width * max(1.0, horizon / observed.shape[0])
    rejected: dict[str, str] = {}
    kept: list[Candidate] = []
    for cand in candidates:
        final = cand.paths[-1]
        if not np.all(np.isfinite(final)):
            rejected[cand.name] = "forecast not finite"
        elif final.max() > hi + reach or final.min() < lo - reach:
            rejected[cand.name] = "forecast exploded beyond the range of the history"
        else:
            if nonneg:
                cand.paths = np.maximum(cand.paths, 0.0)
            kept.append(cand)
    if not kept:
        fallback = naive_candidates(y, ends, horizon, 1, None)[0]
        if sporadic:
            fallback = Candidate("mean", np.full((len(ends), horizon), observed.mean()))
        kept = [fallback]

    # Actuals after each origin, aligned with the forecast steps.
    origins = ends[:-1]
    actual = np.full((len(origins), horizon), np.nan)
    for i, o in enumerate(origins):
        k = min(horizon, n - o)
        actual[i, :k] = y[o : o + k]
    diffs = np.diff(observed)
    scale = float(np.mean(np.abs(diffs))) if diffs.shape[0] else 0.0
    if scale == 0.0:
        scale = max(abs(float(observed.mean())), 1.0)

    paths = np.stack([c.paths for c in kept])  # candidates x ends x horizon
    errors = (actual[None, :, :] - paths[:, :-1, :]) / scale
    if np.isfinite(actual).any():
        score = _nanmean(errors**2, axis=(1, 2))
        # A backtest forecast that is not finite where there is an actual to compare is a failure,
        # not a gap.
        broken = (~np.isfinite(paths[:, :-1, :]) & np.isfinite(actual)[None]).any(axis=(1, 2))
        score = np.where(np.isfinite(score) & ~broken, score, np.inf)
    else:
        score = np.zeros(len(kept))
    order = np.argsort(score, kind="stable")
    k = _members_count(len(kept), sporadic)
    chosen = order[:k]
    names = tuple(kept[i].name for i in chosen)
    combo = paths[chosen].mean(axis=0)
    mean = combo[-1]
    fitted = _combined_fitted([kept[i] for i in chosen], n)

    combo_err = actual - combo[:-1]
    backtest = _backtest_table(kept, score, errors, scale, chosen)
    accuracy = _accuracy(actual, combo[:-1], scale)
    if sporadic:
        quantile_fn = _sporadic_quantiles(observed, mean, unit)
    else:
        quantile_fn = _spread_quantiles(mean, combo_err, y, fitted)
    model = names[0] if len(names) == 1 else "+".join(names)
    return _Outcome(mean, quantile_fn, model, names, backtest, accuracy, fitted, seasonal, rejected)


def _nanmean(a: np.ndarray, axis: int | tuple[int, ...]) -> np.ndarray:
    """Mean over finite entries; NaN where there are none (without numpy's warning)."""
    ok = np.isfinite(a)
    total = np.where(ok, a, 0.0).sum(axis=axis)
    count = ok.sum(axis=axis)
    return np.divide(total, count, out=np.full(np.shape(total), np.nan), where=count > 0)


def _members_count(available: int, sporadic: bool) -> int:
    """How many of the best candidates to average: a share of the field (the better half)."""
    if sporadic:
        return max(1, min(SPORADIC_MEMBERS, available))
    # The small tolerance keeps shares such as 0.1 * 30 from rounding up past the intended count.
    return max(1, min(available, math.ceil(MEMBER_SHARE * available - 1e-9)))


def _combined_fitted(members: list[Candidate], n: int) -> np.ndarray | None:
    rows = [m.fitted for m in members if m.fitted is not None and m.fitted.shape[0] == n]
    if not rows:
        return None
    return _nanmean(np.vstack(rows), axis=0)


def _backtest_table(
    kept: list[Candidate],
    score: np.ndarray,
    errors: np.ndarray,
    scale: float,
    chosen: np.ndarray,
) -> pd.DataFrame:
    selected = np.zeros(len(kept), dtype=bool)
    selected[chosen] = True
    mase = _nanmean(np.abs(errors), axis=(1, 2))
    rmsse = np.sqrt(score)
    return pd.DataFrame(
        {"rmsse": rmsse, "mase": mase, "selected": selected},
        index=pd.Index([c.name for c in kept], name="model"),
    ).sort_values("rmsse")


def _accuracy(actual: np.ndarray, predicted: np.ndarray, scale: float) -> dict[str, float]:
    ok = np.isfinite(actual) & np.isfinite(predicted)
    if not ok.any():
        return {}
    a, f = actual[ok], predicted[ok]
    return {
        "mase": float(np.mean(np.abs(a - f)) / scale),
        "wape": metrics.wape(a, f),
        "bias": metrics.bias(a, f),
    }


def _spread_quantiles(
    mean: np.ndarray, errors: np.ndarray, y: np.ndarray, fitted: np.ndarray | None
) -> Callable[[Sequence[float]], np.ndarray]:
    """Quantiles of a Student t (``ERROR_TAIL_DF``) around the mean, scale from backtests.

    The scale at step h is modelled as ``s2 * (1 + c * (h - 1))`` (a random walk has c = 1, a
    stationary series c near 0), fitted to the backtest's squared errors by step. The t rather
    than the normal because forecast errors are heavy-tailed: the scale comes from a short
    backtest and the future holds breaks the past did not (normal intervals covered 84% of M3
    instead of 90%). The degrees of freedom are tuned on the development series.
    """
    horizon = mean.shape[0]
    sigma = _error_scale(errors, y, fitted, horizon)

    def quantiles(qs: Sequence[float]) -> np.ndarray:
        z = stats.t.ppf(np.asarray(qs), ERROR_TAIL_DF)
        return mean[:, None] + sigma[:, None] * z[None, :]

    return quantiles


def _error_scale(
    errors: np.ndarray, y: np.ndarray, fitted: np.ndarray | None, horizon: int
) -> np.ndarray:
    """Error scale per forecast step: ``s * h ** (b / 2)``, fitted to the backtest errors.

    A power of the step covers the usual shapes: b near 0 for a stationary series, 1 for a
    random walk, 2 when the trend itself is uncertain. ``b`` is a weighted regression of the log
    mean squared error on log step (steps with more backtest errors weigh more). The level ``s``
    also draws on the in-sample one-step residuals, which are many where backtest errors are few:
    the backtest variance is floored at its blend with their variance (``VARIANCE_FLOOR_WEIGHT``
    on the residuals), because a handful of lucky backtest errors must not make narrow intervals.
    """
    steps = np.arange(1, horizon + 1, dtype=float)
    sq = errors**2
    counts = np.isfinite(sq).sum(axis=0).astype(float)
    residual_var = np.nan
    if fitted is not None:
        res = y - fitted
        res = res[np.isfinite(res)]
        if res.shape[0] >= 2:
            residual_var = float(np.mean(res**2))
    if counts.sum() >= 5:
        msq = _nanmean(sq, axis=0)
        s2, b = _fit_growth(msq, counts, steps)
        if np.isfinite(residual_var):
            w = VARIANCE_FLOOR_WEIGHT
            s2 = max(s2, (1.0 - w) * s2 + w * residual_var)
    elif np.isfinite(residual_var):
        s2, b = residual_var, 1.0
    else:
        observed = y[np.isfinite(y)]
        s2, b = float(np.var(np.diff(observed))) if observed.shape[0] > 2 else 0.0, 1.0
    return np.sqrt(np.maximum(s2, 0.0) * steps**b)


def _fit_growth(msq: np.ndarray, counts: np.ndarray, steps: np.ndarray) -> tuple[float, float]:
    """Weighted fit of ``log msq = log s2 + b log step``; ``b`` kept within [0, 2]."""
    ok = (counts > 0) & np.isfinite(msq) & (msq > 0)
    if not ok.any():
        return 0.0, 1.0
    w, x, v = counts[ok], np.log(steps[ok]), np.log(msq[ok])
    sw = w.sum()
    mx, mv = float((w * x).sum() / sw), float((w * v).sum() / sw)
    vx = float((w * (x - mx) ** 2).sum())
    b = float((w * (x - mx) * (v - mv)).sum() / vx) if vx > 0 else 1.0
    b = min(max(b, 0.0), 2.0)
    # Level: the weighted mean of msq / step^b, so the fit is unbiased on the natural scale.
    s2 = float((w * msq[ok] / steps[ok] ** b).sum() / sw)
    return s2, b


def _poisson_quantiles(rate: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Poisson quantiles, one row per rate; the normal limit for large rates, where scipy fails."""
    lam = np.maximum(rate, 1e-12)[:, None]
    exact = stats.poisson.ppf(q[None, :], np.minimum(lam, 1e6))
    approx = np.round(lam + stats.norm.ppf(q)[None, :] * np.sqrt(lam))
    return np.asarray(np.where(lam > 1e6, approx, exact), dtype=float)


def _sporadic_quantiles(
    observed: np.ndarray, mean: np.ndarray, unit: float = 1.0
) -> Callable[[Sequence[float]], np.ndarray]:
    """Average of two views of next periods' demand, quantile by quantile.

    One view is a count distribution around the forecast mean, which follows the model (e.g. a
    fading part): Poisson when demand comes in whole units, otherwise "no demand with probability
    1 - p, else a size drawn from recent history" with ``p`` matching the mean. The other is the
    empirical distribution of the last ``RECENT_WINDOW`` periods, which knows the real dispersion
    but not where demand is heading. Averaging quantiles of competing forecasts (weight
    ``SPORADIC_COUNT_WEIGHT`` on the count view) is more robust than either alone.
    """
    recent = observed[-RECENT_WINDOW:]
    # Whole units are judged, and counted, on the original scale (``observed`` is in ``unit``s).
    integer = bool(np.all(observed * unit == np.round(observed * unit)))
    sizes = recent[recent > 0]
    if sizes.shape[0] < 3:
        sizes = observed[observed > 0]
    sizes = np.sort(sizes)

    def count_view(q: np.ndarray) -> np.ndarray:
        m = np.maximum(mean, 0.0)
        if integer:
            return _poisson_quantiles(m * unit, q) / unit
        out = np.zeros((m.shape[0], q.shape[0]))
        if sizes.shape[0] == 0:
            return out
        size_mean = float(sizes.mean())
        for h, mh in enumerate(m):
            p = min(1.0, mh / size_mean)
            level = (q - (1.0 - p)) / p if p > 0 else np.full_like(q, -1.0)
            positive = level > 0
            if positive.any():
                out[h, positive] = np.quantile(sizes, np.clip(level[positive], 0.0, 1.0))
        return out

    def quantiles(qs: Sequence[float]) -> np.ndarray:
        q = np.asarray(qs, dtype=float)
        empirical = np.quantile(recent, q)[None, :].repeat(mean.shape[0], axis=0)
        w = SPORADIC_COUNT_WEIGHT
        return w * count_view(q) + (1.0 - w) * empirical

    return quantiles


# --------------------------------------------------------------------------------------------
# Inputs


def _check_quantiles(quantiles: Sequence[float]) -> tuple[float, ...]:
    qs = tuple(float(q) for q in quantiles)
    if not qs or any(not 0.0 < q < 1.0 for q in qs):
        raise ValueError("quantiles must lie strictly between 0 and 1")
    if list(qs) != sorted(set(qs)):
        qs = tuple(sorted(set(qs)))
    return qs


def _as_frame(x: pd.DataFrame | pd.Series) -> pd.DataFrame:
    if isinstance(x, pd.Series):
        return x.to_frame(name=x.name if x.name is not None else "exog")
    if isinstance(x, pd.DataFrame):
        return x
    raise TypeError("exog must be a pandas Series or DataFrame")


def _align_exog(
    exog: pd.DataFrame | pd.Series | None,
    future_exog: pd.DataFrame | pd.Series | None,
    index: pd.DatetimeIndex,
    future: pd.DatetimeIndex,
) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Regressors on the history's grid (absent periods: 0) and on the forecast periods."""
    if exog is None:
        if future_exog is not None:
            raise ValueError("future_exog needs exog: the effect is learnt from history")
        return None, None
    if future_exog is None:
        raise ValueError("exog needs future_exog: the planned values for the forecast periods")
    hist = _as_frame(exog)
    fut = _as_frame(future_exog)
    if list(hist.columns) != list(fut.columns):
        raise ValueError("exog and future_exog must have the same columns")
    hist = _on_grid(hist, index, "exog")
    fut = _on_grid(fut, future, "future_exog")
    return hist.astype(float), fut.astype(float)


def _on_grid(x: pd.DataFrame, index: pd.DatetimeIndex, what: str) -> pd.DataFrame:
    if isinstance(x.index, pd.DatetimeIndex):
        return x.reindex(index).fillna(0.0)
    if len(x) == len(index):
        return pd.DataFrame(x.to_numpy(), index=index, columns=x.columns)
    raise ValueError(f"{what} must be indexed by date or have one row per period")


def _learn_uplift(
    y: np.ndarray,
    baseline_fitted: np.ndarray | None,
    x_hist: pd.DataFrame,
    promoted: np.ndarray,
) -> np.ndarray | None:
    """Relative effect of each regressor: least squares of ``y - b = b * (x @ beta)``.

    ``b`` is the baseline model's one-step forecast, made without promoted periods in the fit,
    so it is what demand would have been without the promotion. Weighting by ``b`` (rather than
    averaging ratios) keeps low-volume periods from dominating.
    """
    if baseline_fitted is None:
        return None
    b = baseline_fitted
    rows = promoted & np.isfinite(b) & np.isfinite(y) & (b > 0)
    if not rows.any():
        return None
    x = x_hist.to_numpy(dtype=float)[rows]
    design = b[rows, None] * x
    target = y[rows] - b[rows]
    beta, *_ = np.linalg.lstsq(design, target, rcond=None)
    return beta
