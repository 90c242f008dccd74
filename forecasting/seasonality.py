"""Seasonality test and classical decomposition.

Smoothing and Theta forecasts are made on the seasonally adjusted series and re-seasonalised, as in
the M3 Theta method: a cheap, robust treatment that does not need a seasonal state per model and
copes with short histories, where seasonal state space models overfit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# 90% one-sided critical value of a chi-squared(1) statistic, the usual choice for the Theta method.
_CHI2_90 = 2.705543454095404


def interpolate_missing(y: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaNs, constant extrapolation at the ends."""
    ok = np.isfinite(y)
    if ok.all() or not ok.any():
        return y.copy()
    t = np.arange(y.shape[0])
    return np.interp(t, t[ok], y[ok])


def acf(y: np.ndarray, nlags: int) -> np.ndarray:
    """Sample autocorrelations 0..nlags (biased estimator, as in Box-Jenkins)."""
    x = y - y.mean()
    denom = float(x @ x)
    if denom <= 0.0:
        return np.r_[1.0, np.zeros(nlags)]
    n = x.shape[0]
    return np.array([float(x[: n - k] @ x[k:]) / denom for k in range(nlags + 1)])


def is_seasonal(y: np.ndarray, period: int) -> bool:
    """Test for seasonality at ``period`` from the autocorrelation at that lag.

    Needs two full seasons plus one observation; with less, seasonal indices are mostly noise.
    """
    if period < 2:
        return False
    x = interpolate_missing(y[np.isfinite(y).cumsum() > 0])
    n = x.shape[0]
    if n < 2 * period + 1 or np.ptp(x) == 0.0:
        return False
    rho = acf(x, period)
    stat = n * rho[-1] ** 2 / float(np.sum(rho[:-1] ** 2))
    return bool(rho[-1] > 0 and stat > _CHI2_90)


@dataclass(frozen=True)
class Seasonal:
    """Seasonal indices by position in the cycle, aligned so index 0 is the first observation."""

    period: int
    indices: np.ndarray
    multiplicative: bool

    def at(self, positions: np.ndarray) -> np.ndarray:
        """Indices for absolute time positions (0 = first observation of the fitted series)."""
        return self.indices[np.asarray(positions) % self.period]

    def remove(self, y: np.ndarray) -> np.ndarray:
        s = self.at(np.arange(y.shape[0]))
        return y / s if self.multiplicative else y - s

    def add(self, values: np.ndarray, start: int) -> np.ndarray:
        s = self.at(np.arange(start, start + values.shape[0]))
        return values * s if self.multiplicative else values + s


def decompose(y: np.ndarray, period: int, *, multiplicative: bool | None = None) -> Seasonal:
    """Classical decomposition: seasonal indices from deviations around a centred moving average.

    Multiplicative when the series is strictly positive (the usual case for sales, where the
    seasonal swing scales with the level); additive otherwise, so zeros never divide.
    """
    x = interpolate_missing(y)
    if multiplicative is None:
        multiplicative = bool(np.nanmin(y) > 0)
    if period % 2 == 0:
        w = np.r_[0.5, np.ones(period - 1), 0.5] / period
    else:
        w = np.ones(period) / period
    trend = np.convolve(x, w, mode="valid")
    offset = (w.shape[0] - 1) // 2
    core = y[offset : offset + trend.shape[0]]
    if multiplicative:
        with np.errstate(divide="ignore", invalid="ignore"):
            detr = np.where(trend > 0, core / trend, np.nan)
    else:
        detr = core - trend
    pos = (np.arange(trend.shape[0]) + offset) % period
    sums = np.bincount(pos, weights=np.where(np.isfinite(detr), detr, 0.0), minlength=period)
    counts = np.bincount(pos, weights=np.isfinite(detr).astype(float), minlength=period)
    neutral = 1.0 if multiplicative else 0.0
    idx = np.where(counts > 0, sums / np.maximum(counts, 1.0), neutral)
    if multiplicative:
        idx = idx / idx.mean()
        if idx.min() <= 0.05:
            return decompose(y, period, multiplicative=False)
    else:
        idx = idx - idx.mean()
    return Seasonal(period, idx, multiplicative)
