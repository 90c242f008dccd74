"""Croston, SBA and TSB for intermittent demand.

statsmodels has no intermittent-demand methods. All three smooth demand sizes and the timing of
demand separately, because a plain level model dragged to zero after every empty period both
under-forecasts right after a demand and over-reacts to single orders:

* Croston (1972) smooths the non-zero sizes and the intervals between them: size / interval.
* SBA (Syntetos & Boylan, 2005) multiplies Croston by ``1 - beta/2`` to remove its upward bias.
* TSB (Teunter, Syntetos & Babai, 2011) smooths the probability of demand every period instead of
  the interval, so the forecast decays while no demand arrives: it sees obsolescence, which
  Croston and SBA cannot (they only update when a demand occurs).

Missing periods (NaN: stock-outs, closures) are dropped before fitting; they are neither demand
nor evidence of no demand. Each smoother runs as a linear filter in C (``scipy.signal.lfilter``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import lfilter

CROSTON_ALPHAS = (0.05, 0.1, 0.15, 0.2, 0.3)
TSB_ALPHAS = (0.05, 0.1, 0.2, 0.3)
TSB_BETAS = (0.01, 0.03, 0.06, 0.1, 0.15, 0.2, 0.3)


@dataclass(frozen=True)
class IntermittentFit:
    """A fitted intermittent-demand model.

    ``fitted`` holds the one-step-ahead forecast made before each period (NaN where the model
    has no estimate yet, or where the period was missing), aligned with the input.
    """

    name: str
    value: float
    fitted: np.ndarray
    params: dict[str, float] = field(default_factory=dict)
    mse: float = float("nan")

    def forecast(self, horizon: int) -> np.ndarray:
        """Flat forecast: these methods estimate a demand rate, not a path."""
        return np.full(horizon, self.value)


def ses_levels(x: np.ndarray, alpha: float, initial: float) -> np.ndarray:
    """Levels of simple exponential smoothing after each observation of ``x``."""
    if x.shape[0] == 0:
        return np.empty(0)
    zi = np.array([(1.0 - alpha) * initial])
    out, _ = lfilter([alpha], [1.0, alpha - 1.0], x, zi=zi)
    return np.asarray(out)


def _observed(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(y)
    return y[ok], ok


def _spread(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    out = np.full(ok.shape[0], np.nan)
    out[ok] = values
    return out


def _mse(x: np.ndarray, fitted: np.ndarray) -> float:
    ok = np.isfinite(fitted)
    if not ok.any():
        return float("inf")
    return float(np.mean((x[ok] - fitted[ok]) ** 2))


def croston(
    y: np.ndarray, alpha: float = 0.1, beta: float | None = None, *, debiased: bool = False
) -> IntermittentFit:
    """Croston's method; ``debiased`` applies the SBA correction ``1 - beta/2``.

    Sizes and intervals are initialised with the first demand and the periods up to it.
    ``beta`` (interval smoothing) defaults to ``alpha``, as in Croston's original method.
    """
    beta = alpha if beta is None else beta
    x, ok = _observed(y)
    pos = np.flatnonzero(x != 0)
    factor = 1.0 - beta / 2.0 if debiased else 1.0
    name = "sba" if debiased else "croston"
    params = {"alpha": alpha, "beta": beta}
    if pos.shape[0] == 0:
        return IntermittentFit(name, 0.0, _spread(np.full(x.shape[0], np.nan), ok), params)
    sizes = x[pos]
    intervals = np.diff(np.r_[-1, pos]).astype(float)
    z = ses_levels(sizes[1:], alpha, sizes[0])
    p = ses_levels(intervals[1:], beta, intervals[0])
    rate = factor * np.r_[sizes[0], z] / np.r_[intervals[0], p]
    # The forecast for period t uses the estimate after the last demand strictly before t.
    count_before = np.searchsorted(pos, np.arange(x.shape[0]), side="left")
    fitted = np.where(count_before > 0, rate[np.maximum(count_before - 1, 0)], np.nan)
    return IntermittentFit(name, float(rate[-1]), _spread(fitted, ok), params, _mse(x, fitted))


def sba(y: np.ndarray, alpha: float = 0.1, beta: float | None = None) -> IntermittentFit:
    """Syntetos-Boylan approximation: Croston with its bias removed."""
    return croston(y, alpha, beta, debiased=True)


def tsb(y: np.ndarray, alpha: float = 0.1, beta: float = 0.1) -> IntermittentFit:
    """Teunter-Syntetos-Babai: smoothed demand probability (every period) times smoothed size.

    The probability starts at the observed share of periods with demand and the size at the mean
    non-zero size; ``alpha`` smooths sizes, ``beta`` the probability.
    """
    x, ok = _observed(y)
    params = {"alpha": alpha, "beta": beta}
    occurs = (x != 0).astype(float)
    pos = np.flatnonzero(occurs)
    if pos.shape[0] == 0:
        return IntermittentFit("tsb", 0.0, _spread(np.zeros(x.shape[0]), ok), params, 0.0)
    sizes = x[pos]
    prob = ses_levels(occurs, beta, float(occurs.mean()))
    z = ses_levels(sizes, alpha, float(sizes.mean()))
    # Size estimate after each period: the level after the latest demand up to and including it.
    count_upto = np.searchsorted(pos, np.arange(x.shape[0]), side="right")
    size_path = np.where(count_upto > 0, z[np.maximum(count_upto - 1, 0)], sizes.mean())
    rate = prob * size_path
    start = float(occurs.mean() * sizes.mean())
    fitted = np.r_[start, rate[:-1]]
    return IntermittentFit("tsb", float(rate[-1]), _spread(fitted, ok), params, _mse(x, fitted))


def _best(fits: Sequence[IntermittentFit]) -> IntermittentFit:
    return min(fits, key=lambda f: (f.mse, f.params.get("alpha", 0.0)))


def fit_croston(y: np.ndarray, *, debiased: bool = False) -> IntermittentFit:
    """Croston or SBA with the smoothing constant chosen by in-sample one-step MSE.

    MSE rather than MAE: for sporadic demand MAE is minimised by forecasting zero.
    """
    return _best([croston(y, a, debiased=debiased) for a in CROSTON_ALPHAS])


def fit_tsb(y: np.ndarray) -> IntermittentFit:
    """TSB with size and probability smoothing chosen by in-sample one-step MSE."""
    return _best([tsb(y, a, b) for a in TSB_ALPHAS for b in TSB_BETAS])
