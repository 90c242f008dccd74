"""Forecast accuracy measures.

Positions where the actual value is missing (NaN, e.g. a stock-out) are left out of every measure,
so censored periods neither reward nor punish a forecast. Scaled measures (MASE, RMSSE) divide by
the in-sample error of a naive forecast, which makes them comparable across items of any volume.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def _pair(actual: ArrayLike, forecast: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(actual, dtype=float)
    f = np.asarray(forecast, dtype=float)
    a, f = np.broadcast_arrays(a, f)
    ok = np.isfinite(a)
    return a[ok], f[ok]


def _naive_errors(insample: ArrayLike, period: int) -> np.ndarray:
    x = np.asarray(insample, dtype=float)
    if x.shape[0] <= period:
        return np.empty(0)
    d = x[period:] - x[:-period]
    return d[np.isfinite(d)]


def smape(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Symmetric MAPE in percent (0-200), as in the M3 competition; 0/0 counts as a perfect hit."""
    a, f = _pair(actual, forecast)
    if a.shape[0] == 0:
        return float("nan")
    denom = np.abs(a) + np.abs(f)
    ratio = np.divide(np.abs(a - f), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(200.0 * np.mean(ratio))


def mase(actual: ArrayLike, forecast: ArrayLike, insample: ArrayLike, period: int = 1) -> float:
    """Mean absolute error scaled by the in-sample mean absolute (seasonal) naive error."""
    a, f = _pair(actual, forecast)
    scale = _naive_errors(insample, period)
    if a.shape[0] == 0 or scale.shape[0] == 0:
        return float("nan")
    denom = float(np.mean(np.abs(scale)))
    mae = float(np.mean(np.abs(a - f)))
    if denom == 0.0:
        return 0.0 if mae == 0.0 else float("inf")
    return mae / denom


def rmsse(actual: ArrayLike, forecast: ArrayLike, insample: ArrayLike, period: int = 1) -> float:
    """Root mean squared error scaled by the in-sample mean squared naive error (M5 measure).

    Unlike MAE-based measures it is not minimised by forecasting zero for sporadic demand.
    """
    a, f = _pair(actual, forecast)
    scale = _naive_errors(insample, period)
    if a.shape[0] == 0 or scale.shape[0] == 0:
        return float("nan")
    denom = float(np.mean(scale**2))
    mse = float(np.mean((a - f) ** 2))
    if denom == 0.0:
        return 0.0 if mse == 0.0 else float("inf")
    return float(np.sqrt(mse / denom))


def wape(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Weighted absolute percentage error: total absolute error over total actual volume."""
    a, f = _pair(actual, forecast)
    total = float(np.sum(np.abs(a)))
    err = float(np.sum(np.abs(a - f)))
    if total == 0.0:
        return 0.0 if err == 0.0 else float("inf")
    return err / total


def bias(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Signed total error over total actual volume; positive means over-forecasting."""
    a, f = _pair(actual, forecast)
    total = float(np.sum(np.abs(a)))
    err = float(np.sum(f - a))
    if total == 0.0:
        return 0.0 if err == 0.0 else float(np.sign(err) * np.inf)
    return err / total


def pinball(actual: ArrayLike, quantile_forecast: ArrayLike, q: float) -> float:
    """Mean pinball (quantile) loss of a forecast of the ``q`` quantile."""
    a, f = _pair(actual, quantile_forecast)
    if a.shape[0] == 0:
        return float("nan")
    diff = a - f
    return float(np.mean(np.maximum(q * diff, (q - 1.0) * diff)))


def coverage(actual: ArrayLike, upper: ArrayLike, lower: ArrayLike | None = None) -> float:
    """Share of actual values at or below ``upper`` (and at or above ``lower`` if given)."""
    a, u = _pair(actual, upper)
    if a.shape[0] == 0:
        return float("nan")
    inside = a <= u
    if lower is not None:
        _, lo = _pair(actual, lower)
        inside &= a >= lo
    return float(np.mean(inside))
