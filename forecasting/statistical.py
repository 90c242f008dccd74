"""Candidates built on statsmodels: ETS (state space exponential smoothing) and ARIMA.

Refitting a statsmodels model at every backtest origin would cost tens of milliseconds per origin.
Instead each model is estimated once on the history before the first origin and run forward over
the rest with those parameters fixed, which yields its forecast from every origin without peeking
at the periods it is scored on. The forecast from the end of the series uses a fit on all of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np

from forecasting.seasonality import Seasonal, interpolate_missing
from forecasting.smoothing import damped_steps
from forecasting.zoo import Candidate, quiet

# Fewer observations than this before the first origin and the statsmodels fits are mostly noise.
MIN_FIT = 10
ARIMA_ORDERS = ((0, 0), (1, 0), (0, 1), (1, 1), (2, 0))


def statsmodels_candidates(
    z: np.ndarray, ends: Sequence[int], horizon: int, seasonal: Seasonal | None
) -> list[Candidate]:
    """ETS with damped trend and a small ARIMA order search, on the seasonally adjusted series."""
    if ends[0] < MIN_FIT:
        return []
    x = interpolate_missing(z)
    out: list[Candidate] = []
    for build in (_ets, _arima):
        cand = build(x, ends, horizon)
        if cand is not None:
            if seasonal is not None:
                cand.paths = np.vstack(
                    [seasonal.add(p, end) for p, end in zip(cand.paths, ends, strict=True)]
                )
                if cand.fitted is not None:
                    cand.fitted = seasonal.add(cand.fitted, 0)
            out.append(cand)
    return out


def _damped_path(level: np.ndarray, trend: np.ndarray, phi: float, horizon: int) -> np.ndarray:
    damp = damped_steps(phi, np.arange(1, horizon + 1, dtype=float))
    return level[:, None] + trend[:, None] * damp[None, :]


def _ets(x: np.ndarray, ends: Sequence[int], horizon: int) -> Candidate | None:
    """statsmodels ETS(A,Ad,N): additive errors, damped additive trend."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    def spec(data: np.ndarray) -> ETSModel:
        return ETSModel(data, error="add", trend="add", damped_trend=True)

    first = quiet(lambda: spec(x[: ends[0]]).fit(disp=False))
    if first is None:
        return None
    run = quiet(lambda: spec(x).smooth(first.params))
    full = quiet(lambda: spec(x).fit(disp=False))
    if run is None or full is None:
        return None
    states = np.asarray(run.states)  # row t: level and trend after t observations
    origins = np.asarray(ends[:-1])
    phi = float(first.params[list(first.param_names).index("damping_trend")])
    paths = _damped_path(states[origins, 0], states[origins, 1], phi, horizon)
    final = np.asarray(full.forecast(horizon), dtype=float)
    fitted = np.asarray(full.fittedvalues, dtype=float)
    return Candidate("ets", np.vstack([paths, final]), fitted)


def _arima(x: np.ndarray, ends: Sequence[int], horizon: int) -> Candidate | None:
    """ARIMA(p,d,q) with drift; d from a KPSS test, (p,q) by AICc over a small set of orders.

    Orders are estimated with statsmodels' Hannan-Rissanen regressions, fast enough to search;
    forecasts come from the ARMA recursion on the differenced series.
    """
    from statsmodels.tsa.arima.estimators.hannan_rissanen import hannan_rissanen
    from statsmodels.tsa.stattools import kpss

    first = ends[0]
    d = 0
    test = quiet(lambda: kpss(x[:first], regression="c", nlags="auto"))
    if test is not None and test[1] < 0.05:
        d = 1
    best: tuple[float, tuple[int, int], np.ndarray, np.ndarray, float] | None = None
    w_all = np.diff(x, n=d) if d else x
    w_first = w_all[: first - d]
    mean = float(w_first.mean())
    for p, q in ARIMA_ORDERS:
        if p + q + 3 >= w_first.shape[0]:
            continue
        if p == q == 0:
            ar, ma = np.empty(0), np.empty(0)
        else:
            est = quiet(partial(hannan_rissanen, w_first - mean, p, q, demean=False))
            if est is None:
                continue
            ar = np.asarray(est[0].ar_params, dtype=float)
            ma = np.asarray(est[0].ma_params, dtype=float)
            if not (_stable(ar) and _stable(-ma)):
                continue
        resid = _arma_residuals(w_first - mean, ar, ma)
        k = p + q + 2
        m = resid.shape[0]
        sigma2 = float(np.mean(resid**2))
        if sigma2 <= 0 or m - k - 1 <= 0:
            aicc = -np.inf if sigma2 <= 0 else np.inf
        else:
            aicc = m * np.log(sigma2) + 2 * k + 2 * k * (k + 1) / (m - k - 1)
        if best is None or aicc < best[0]:
            best = (aicc, (p, q), ar, ma, mean)
    if best is None:
        return None
    _, _order, ar, ma, mean = best
    resid = _arma_residuals(w_all - mean, ar, ma)
    paths = []
    for end in ends:
        wpath = mean + _arma_forecast(w_all[: end - d] - mean, resid[: end - d], ar, ma, horizon)
        paths.append(x[end - 1] + np.cumsum(wpath) if d else wpath)
    fitted_w = (w_all - mean) - resid + mean
    fitted = np.r_[np.full(d, np.nan), (x[:-1] + fitted_w) if d else fitted_w]
    return Candidate("arima", np.vstack(paths), fitted)


def _stable(coefs: np.ndarray) -> bool:
    """Roots of ``1 - sum(c_i L^i)`` outside the unit circle (stationary / invertible)."""
    if coefs.shape[0] == 0:
        return True
    roots = np.roots(np.r_[-coefs[::-1], 1.0])
    return bool(np.all(np.abs(roots) > 1.0 + 1e-6))


def _arma_residuals(w: np.ndarray, ar: np.ndarray, ma: np.ndarray) -> np.ndarray:
    """One-step errors of the ARMA recursion, pre-sample values taken as zero."""
    from scipy.signal import lfilter

    # e = (1 - sum ar L^i) / (1 + sum ma L^j) w
    return np.asarray(lfilter(np.r_[1.0, -ar], np.r_[1.0, ma], w))


def _arma_forecast(
    w: np.ndarray, e: np.ndarray, ar: np.ndarray, ma: np.ndarray, horizon: int
) -> np.ndarray:
    p, q = ar.shape[0], ma.shape[0]
    hist_w = list(w[-p:]) if p else []
    hist_e = list(e[-q:]) if q else []
    out = np.empty(horizon)
    for h in range(horizon):
        value = 0.0
        for i in range(p):
            value += ar[i] * hist_w[-1 - i]
        for j in range(q):
            if j >= h:
                value += ma[j] * hist_e[-1 - (j - h)] if (j - h) < len(hist_e) else 0.0
        out[h] = value
        if p:
            hist_w.append(value)
    return out
