"""The model zoo: every candidate produces forecasts from each backtest origin and from the end.

A candidate's ``paths`` hold one forecast path per origin ("end"): the forecast made with the data
``y[:end]``, on the original scale. The last end is the full series, so the last path is the
forecast proper and the earlier ones are its rolling-origin backtest. The engine ranks candidates on
those backtests and combines the best.

Cheap closed-form implementations (``smoothing``, ``intermittent``) are refitted at every origin.
statsmodels models are too expensive for that, so they are estimated once on the data before the
first origin and then run forward with those parameters; their forecast from the end uses a fit on
the full series.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from forecasting import intermittent
from forecasting.seasonality import Seasonal, interpolate_missing
from forecasting.smoothing import LinearFit, fit_family, one_step_fitted

# Members of the smoothing family offered as candidates. Holt's undamped trend is left out: it
# extrapolates short-lived trends too far. Tuned on development series
# (``python benchmarks/forecast_tuning.py``, docs/forecasting.md): adding Holt gave 1.0006 times
# the point error of the field without it, so it stays out.
LINEAR_MEMBERS = ("ses", "theta", "theta4", "damped")
LOG_MEMBERS = ("damped", "theta", "theta4")

T = TypeVar("T")


@dataclass
class Candidate:
    """Forecast paths of one model from every origin, plus in-sample one-step predictions."""

    name: str
    paths: np.ndarray
    fitted: np.ndarray | None = None


def _reseason(path: np.ndarray, seasonal: Seasonal | None, end: int) -> np.ndarray:
    return seasonal.add(path, end) if seasonal is not None else path


def smoothing_candidates(
    z: np.ndarray,
    ends: Sequence[int],
    horizon: int,
    seasonal: Seasonal | None,
    *,
    with_log: bool = True,
) -> list[Candidate]:
    """SES, Theta and damped trend on the seasonally adjusted series ``z``; also on its logarithm.

    On the log scale an additive trend becomes a constant growth rate, the shape of many sales
    series, and the forecast stays positive.
    """
    out: list[Candidate] = []
    scales: list[tuple[str, np.ndarray, Sequence[str], Callable[[np.ndarray], np.ndarray]]] = [
        ("", z, LINEAR_MEMBERS, lambda a: a)
    ]
    observed = z[np.isfinite(z)]
    if with_log and observed.shape[0] > 0 and observed.min() > 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            scales.append(("log-", np.log(z), LOG_MEMBERS, _safe_exp))
    for prefix, series, members, back in scales:
        fits = fit_family(series, ends)
        final: list[LinearFit] = [fits[-1][m] for m in members]
        fitted = one_step_fitted(series, final)
        for row, member in enumerate(members):
            paths = np.vstack(
                [
                    _reseason(back(f[member].forecast(horizon)), seasonal, end)
                    for f, end in zip(fits, ends, strict=True)
                ]
            )
            out.append(
                Candidate(prefix + member, paths, _reseason_fitted(back(fitted[row]), seasonal))
            )
    return out


def _safe_exp(a: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.exp(np.minimum(a, 700.0))


def _reseason_fitted(values: np.ndarray, seasonal: Seasonal | None) -> np.ndarray:
    return seasonal.add(values, 0) if seasonal is not None else values


def naive_candidates(
    y: np.ndarray, ends: Sequence[int], horizon: int, period: int, seasonal: Seasonal | None
) -> list[Candidate]:
    """Naive (last value, seasonally adjusted if seasonal) and seasonal naive."""
    z = seasonal.remove(y) if seasonal is not None else y
    filled = _carry_forward(z)
    paths = np.vstack([_reseason(np.full(horizon, filled[end - 1]), seasonal, end) for end in ends])
    fitted = _reseason_fitted(np.r_[np.nan, filled[:-1]], seasonal)
    out = [Candidate("naive", paths, fitted)]
    if period > 1 and len(y) >= 2 * period:
        yf = _carry_forward_seasonal(y, period)
        steps = np.arange(horizon)
        spaths = np.vstack([yf[end - period + (steps % period)] for end in ends])
        sfitted = np.r_[np.full(period, np.nan), yf[:-period]]
        out.append(Candidate("seasonal-naive", spaths, sfitted))
    return out


def _carry_forward(x: np.ndarray) -> np.ndarray:
    ok = np.isfinite(x)
    idx = np.where(ok, np.arange(x.shape[0]), 0)
    np.maximum.accumulate(idx, out=idx)
    out = x[idx]
    return np.where(ok.cumsum() > 0, out, np.nan)


def _carry_forward_seasonal(y: np.ndarray, period: int) -> np.ndarray:
    out = y.copy()
    for t in range(period, out.shape[0]):
        if not np.isfinite(out[t]):
            out[t] = out[t - period]
    return interpolate_missing(out)


def intermittent_candidates(y: np.ndarray, ends: Sequence[int], horizon: int) -> list[Candidate]:
    """Croston, SBA and TSB with tuned smoothing, refitted at every origin."""
    makers: dict[str, Callable[[np.ndarray], intermittent.IntermittentFit]] = {
        "croston": intermittent.fit_croston,
        "sba": lambda a: intermittent.fit_croston(a, debiased=True),
        "tsb": intermittent.fit_tsb,
    }
    out: list[Candidate] = []
    for name, make in makers.items():
        fits = [make(y[:end]) for end in ends]
        paths = np.vstack([f.forecast(horizon) for f in fits])
        out.append(Candidate(name, paths, fits[-1].fitted))
    return out


def quiet(fn: Callable[[], T]) -> T | None:
    """Run a statsmodels call with its warnings silenced; ``None`` if it fails.

    Convergence and estimation warnings are expected on short or odd series, and a fit that fails
    outright only removes one candidate: the backtest judges whatever remains. One odd series must
    never stop a run over hundreds of thousands.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with np.errstate(all="ignore"):
                return fn()
        except Exception:
            return None
