"""Exponential smoothing and Theta fitted by grid search in one vectorised pass.

The linear (additive-error, additive or damped trend) smoothing models are linear in their initial
states, so for given smoothing parameters the best initial level and trend follow from a small least
squares problem. Running the recursion once over a whole grid of parameters, while accumulating the
sufficient statistics of that problem, gives the optimal fit of every grid point for every prefix of
the series at the same time. A rolling-origin backtest therefore costs no more than a single fit,
which is what makes per-series model selection affordable on hundreds of thousands of series.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

# The damping range follows common practice for damped trend smoothing: below 0.8 the trend dies out
# within a few periods, above 0.98 it is indistinguishable from a linear trend over short horizons.
ALPHAS = np.array([0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.65, 0.8, 0.9, 0.99])
BETA_FRACTIONS = np.array([0.02, 0.08, 0.2, 0.4, 0.7])
PHIS = np.array([0.8, 0.88, 0.94, 0.98, 1.0])
_RIDGE = 1e-9
# Theta forecasts put weight 1 - 1/theta on the regression line; as SES with drift, that is a
# drift of that weight times the regression slope. theta = 2 is the classic method; theta = 4
# trusts the long-run trend more, which pays off on steadily trending series. The "theta4" weight
# is tuned on development series (``python benchmarks/forecast_tuning.py``, docs/forecasting.md):
# {0.67, 0.75, 0.8} gave 0.9991, 1, 1.0012 times the point error of 0.75, within noise: kept.
THETA_WEIGHTS = {"theta": 0.5, "theta4": 0.75}


@dataclass(frozen=True)
class LinearFit:
    """A fitted linear smoothing model: parameters, initial and final states, fit quality."""

    name: str
    alpha: float
    beta: float
    phi: float
    level: float
    trend: float
    sse: float
    nobs: int
    drift: float = 0.0
    initial_level: float = 0.0
    initial_trend: float = 0.0

    def forecast(self, horizon: int) -> np.ndarray:
        """Point forecasts for steps 1..horizon from the end of the fitted data."""
        steps = np.arange(1, horizon + 1, dtype=float)
        return (
            self.level
            + self.trend * damped_steps(self.phi, steps)
            + self.drift * self._drift_path(steps)
        )

    def _drift_path(self, steps: np.ndarray) -> np.ndarray:
        # The Theta method's drift term (Hyndman & Billah, 2003): the drift applied with the
        # correction that accounts for the level having tracked part of it already.
        if self.drift == 0.0:
            return np.zeros_like(steps)
        a = self.alpha
        return steps - 1.0 + 1.0 / a - (1.0 - a) ** self.nobs / a


def damped_steps(phi: float, steps: np.ndarray) -> np.ndarray:
    """Cumulative trend multipliers ``phi + phi^2 + ... + phi^h`` (just ``h`` when undamped)."""
    if phi == 1.0:
        return steps
    return phi * (1.0 - phi**steps) / (1.0 - phi)


def _grid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smoothing parameters of every grid point: trendless rows first, then trend rows.

    The trend smoothing is a fraction of the level smoothing, which keeps every point inside
    the admissible region (0 < beta < alpha) without a separate check.
    """
    a_ses = ALPHAS
    b_ses = np.zeros_like(a_ses)
    p_ses = np.ones_like(a_ses)
    aa, ff, pp = np.meshgrid(ALPHAS, BETA_FRACTIONS, PHIS, indexing="ij")
    aa, ff, pp = aa.ravel(), ff.ravel(), pp.ravel()
    return (
        np.concatenate([a_ses, aa]),
        np.concatenate([b_ses, aa * ff]),
        np.concatenate([p_ses, pp]),
    )


_GRID = _grid()


def _run_grid(
    y: np.ndarray, ends: Sequence[int], alpha: np.ndarray, beta: np.ndarray, phi: np.ndarray
) -> list[dict[str, np.ndarray]]:
    """One pass of the recursion for every grid point, snapshotting statistics at each end.

    A snapshot holds the sums of the least-squares problem for the initial states, the states
    reached from zero initial states, and the transition products that map initial states to the
    state at that end.
    """
    g = alpha.shape[0]
    level = np.zeros(g)
    trend = np.zeros(g)
    # M = product of transition matrices so far; the state equals (level, trend) + M @ x0.
    m11 = np.ones(g)
    m12 = np.zeros(g)
    m21 = np.zeros(g)
    m22 = np.ones(g)
    s_ee = np.zeros(g)
    s_e1 = np.zeros(g)
    s_e2 = np.zeros(g)
    s_11 = np.zeros(g)
    s_12 = np.zeros(g)
    s_22 = np.zeros(g)
    count = 0
    ends_set = set(ends)
    snaps: dict[int, dict[str, np.ndarray]] = {}
    d11 = 1.0 - alpha
    d12 = phi * (1.0 - alpha)
    d21 = -beta
    d22 = phi * (1.0 - beta)
    for t in range(int(max(ends))):
        yt = y[t]
        if np.isfinite(yt):
            z1 = m11 + phi * m21
            z2 = m12 + phi * m22
            e0 = yt - (level + phi * trend)
            s_ee += e0 * e0
            s_e1 += e0 * z1
            s_e2 += e0 * z2
            s_11 += z1 * z1
            s_12 += z1 * z2
            s_22 += z2 * z2
            count += 1
            level, trend = level + phi * trend + alpha * e0, phi * trend + beta * e0
            m11, m12, m21, m22 = (
                d11 * m11 + d12 * m21,
                d11 * m12 + d12 * m22,
                d21 * m11 + d22 * m21,
                d21 * m12 + d22 * m22,
            )
        else:
            level, trend = level + phi * trend, phi * trend
            m11, m12, m21, m22 = m11 + phi * m21, m12 + phi * m22, phi * m21, phi * m22
        if t + 1 in ends_set:
            snaps[t + 1] = {
                "s_ee": s_ee.copy(),
                "s_e1": s_e1.copy(),
                "s_e2": s_e2.copy(),
                "s_11": s_11.copy(),
                "s_12": s_12.copy(),
                "s_22": s_22.copy(),
                "level": level.copy(),
                "trend": trend.copy(),
                "m11": m11.copy(),
                "m12": m12.copy(),
                "m21": m21.copy(),
                "m22": m22.copy(),
                "count": np.full(g, count, dtype=float),
            }
    return [snaps[e] for e in ends]


def _solve_two(s: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares initial level and trend per grid point, and the resulting SSE."""
    a11 = s["s_11"] + _RIDGE
    a12 = s["s_12"]
    a22 = s["s_22"] + _RIDGE
    det = a11 * a22 - a12 * a12
    det = np.where(np.abs(det) < 1e-300, 1e-300, det)
    l0 = (a22 * s["s_e1"] - a12 * s["s_e2"]) / det
    b0 = (a11 * s["s_e2"] - a12 * s["s_e1"]) / det
    sse = s["s_ee"] - (l0 * s["s_e1"] + b0 * s["s_e2"])
    return l0, b0, np.maximum(sse, 0.0)


def _solve_one(s: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    a11 = s["s_11"] + _RIDGE
    l0 = s["s_e1"] / a11
    sse = s["s_ee"] - l0 * s["s_e1"]
    return l0, np.maximum(sse, 0.0)


def _ols_slope(y: np.ndarray) -> float:
    t = np.arange(y.shape[0], dtype=float)
    ok = np.isfinite(y)
    if ok.sum() < 2:
        return 0.0
    tt = t[ok] - t[ok].mean()
    denom = float(tt @ tt)
    return float(tt @ (y[ok] - y[ok].mean()) / denom) if denom > 0 else 0.0


def fit_family(y: np.ndarray, ends: Sequence[int]) -> list[dict[str, LinearFit]]:
    """Fit SES, Holt, damped trend and Theta to every prefix ``y[:end]`` in one pass.

    Returns one mapping per end from model name to its fit. Missing values (NaN) are skipped by the
    recursion: the state is carried forward by its own forecast, as a state space model would.
    """
    alpha, beta, phi = _GRID
    snapshots = _run_grid(y, ends, alpha, beta, phi)
    n_ses = ALPHAS.shape[0]
    ses_rows = np.arange(n_ses)
    trend_rows = np.arange(n_ses, alpha.shape[0])
    holt_rows = trend_rows[phi[trend_rows] == 1.0]
    damped_rows = trend_rows[phi[trend_rows] < 1.0]
    out: list[dict[str, LinearFit]] = []
    for end, s in zip(ends, snapshots, strict=True):
        nobs = int(s["count"][0])
        l1, sse1 = _solve_one(s)
        l2, b2, sse2 = _solve_two(s)
        fits: dict[str, LinearFit] = {}

        i = int(ses_rows[np.argmin(sse1[ses_rows])])
        level = float(s["level"][i] + s["m11"][i] * l1[i])
        ses = LinearFit(
            "ses",
            float(alpha[i]),
            0.0,
            1.0,
            level,
            0.0,
            float(sse1[i]),
            nobs,
            initial_level=float(l1[i]),
        )
        fits["ses"] = ses
        slope = _ols_slope(y[:end])
        for name, weight in THETA_WEIGHTS.items():
            fits[name] = replace(ses, name=name, nobs=int(end), drift=weight * slope)
        for name, rows in (("holt", holt_rows), ("damped", damped_rows)):
            i = int(rows[np.argmin(sse2[rows])])
            lvl = float(s["level"][i] + s["m11"][i] * l2[i] + s["m12"][i] * b2[i])
            trd = float(s["trend"][i] + s["m21"][i] * l2[i] + s["m22"][i] * b2[i])
            fits[name] = LinearFit(
                name,
                float(alpha[i]),
                float(beta[i]),
                float(phi[i]),
                lvl,
                trd,
                float(sse2[i]),
                nobs,
                initial_level=float(l2[i]),
                initial_trend=float(b2[i]),
            )
        out.append(fits)
    return out


def one_step_fitted(y: np.ndarray, fits: Sequence[LinearFit]) -> np.ndarray:
    """In-sample one-step-ahead predictions of several fitted models, one row per model.

    Runs the recursions of all models side by side from their initial states; missing values are
    predicted but do not update the state.
    """
    k = len(fits)
    alpha = np.array([f.alpha for f in fits])
    beta = np.array([f.beta for f in fits])
    phi = np.array([f.phi for f in fits])
    drift = np.array([f.drift for f in fits])
    level = np.array([f.initial_level for f in fits])
    trend = np.array([f.initial_trend for f in fits])
    out = np.empty((k, y.shape[0]))
    for t in range(y.shape[0]):
        pred = level + phi * trend
        out[:, t] = pred + drift
        yt = y[t]
        if np.isfinite(yt):
            e = yt - pred
            level, trend = pred + alpha * e, phi * trend + beta * e
        else:
            level, trend = pred, phi * trend
    return out
