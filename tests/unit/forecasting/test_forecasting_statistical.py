"""The statsmodels-based candidates: ARIMA recursion against statsmodels, ETS and order search."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from forecasting.statistical import (
    _arma_forecast,
    _arma_residuals,
    statsmodels_candidates,
)


def test_arma_forecasts_match_statsmodels_with_the_same_parameters() -> None:
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    rng = np.random.default_rng(0)
    e = rng.normal(0, 1, 300)
    w = np.zeros(300)
    for t in range(2, 300):
        w[t] = 0.5 * w[t - 1] - 0.2 * w[t - 2] + e[t] + 0.4 * e[t - 1]
    ar, ma = np.array([0.5, -0.2]), np.array([0.4])
    ours = _arma_forecast(w, _arma_residuals(w, ar, ma), ar, ma, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = SARIMAX(w, order=(2, 0, 1), trend="n").smooth(np.r_[ar, ma, 1.0]).forecast(5)
    assert ours == pytest.approx(np.asarray(theirs), abs=1e-6)


def test_candidates_cover_every_origin_and_follow_a_drifting_walk() -> None:
    rng = np.random.default_rng(1)
    y = 100 + np.cumsum(rng.normal(2.0, 1.0, 80))
    ends = [60, 65, 70, 75, 80]
    cands = {c.name: c for c in statsmodels_candidates(y, ends, 6, None)}
    assert set(cands) == {"ets", "arima"}
    for cand in cands.values():
        assert cand.paths.shape == (5, 6)
        assert np.isfinite(cand.paths).all()
        # Forecast from the end keeps climbing by roughly the drift per period.
        steps = np.diff(np.r_[y[-1], cand.paths[-1]])
        assert 0.5 < steps.mean() < 3.5
    # Backtest paths start from the data at their origin, not from the end of the series.
    assert abs(cands["arima"].paths[0][0] - y[60]) < 6


def test_too_little_history_gives_no_statsmodels_candidates() -> None:
    assert statsmodels_candidates(np.arange(12.0), [6, 12], 3, None) == []
