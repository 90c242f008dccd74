"""The one-pass smoothing fits, seasonal decomposition and calendar handling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.periods import regularise
from forecasting.seasonality import decompose, is_seasonal
from forecasting.smoothing import LinearFit, fit_family, one_step_fitted


def _sse(y: np.ndarray, fit: LinearFit) -> float:
    pred = one_step_fitted(y, [fit])[0] - fit.drift
    return float(np.nansum((y - pred) ** 2))


def test_fits_for_every_prefix_equal_separate_fits() -> None:
    rng = np.random.default_rng(0)
    y = 50 + np.cumsum(rng.normal(0.5, 2, 40))
    together = fit_family(y, [25, 32, 40])
    for end, fits in zip([25, 32, 40], together, strict=True):
        alone = fit_family(y[:end], [end])[0]
        for name in ("ses", "theta", "damped", "holt"):
            assert fits[name].sse == pytest.approx(alone[name].sse)
            assert fits[name].forecast(5) == pytest.approx(alone[name].forecast(5))


def test_reported_sse_is_that_of_the_recursion_from_the_fitted_initial_states() -> None:
    rng = np.random.default_rng(1)
    y = 20 + 0.3 * np.arange(50) + rng.normal(0, 1, 50)
    fits = fit_family(y, [50])[0]
    for name in ("ses", "damped", "holt"):
        assert _sse(y, fits[name]) == pytest.approx(fits[name].sse, rel=1e-6)


def test_initial_states_are_optimal_for_the_chosen_parameters() -> None:
    # Perturbing the fitted initial level can only make the fit worse.
    rng = np.random.default_rng(2)
    y = 10 + rng.normal(0, 1, 30)
    ses = fit_family(y, [30])[0]["ses"]
    for delta in (-0.5, 0.5):
        moved = LinearFit(
            "ses", ses.alpha, 0.0, 1.0, 0, 0, 0, 30, initial_level=ses.initial_level + delta
        )
        assert _sse(y, moved) > ses.sse


def test_linear_series_is_fitted_exactly_by_holt() -> None:
    y = 3.0 + 2.0 * np.arange(20)
    holt = fit_family(y, [20])[0]["holt"]
    assert holt.sse == pytest.approx(0.0, abs=1e-6)
    assert holt.forecast(3) == pytest.approx([43.0, 45.0, 47.0])


def test_theta_matches_statsmodels_theta_model() -> None:
    import warnings

    from statsmodels.tsa.forecasting.theta import ThetaModel

    rng = np.random.default_rng(3)
    y = 100 + 0.8 * np.arange(60) + rng.normal(0, 4, 60)
    ours = fit_family(y, [60])[0]["theta"].forecast(6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = np.asarray(ThetaModel(y, period=1, deseasonalize=False).fit().forecast(6))
    # Same method; alpha and the initial level are estimated slightly differently.
    assert ours == pytest.approx(theirs, rel=0.03)


def test_missing_values_are_skipped_by_the_recursion() -> None:
    y = np.array([10.0, 10.0, np.nan, np.nan, 10.0, 10.0, 10.0, 10.0])
    fits = fit_family(y, [8])[0]
    assert fits["ses"].forecast(2) == pytest.approx([10.0, 10.0])
    assert fits["ses"].nobs == 6


def test_seasonality_test_and_multiplicative_indices() -> None:
    pattern = np.array([0.8, 0.9, 1.0, 1.3, 1.2, 0.8])
    y = np.tile(pattern, 6) * 100
    assert is_seasonal(y, 6)
    s = decompose(y, 6)
    assert s.multiplicative
    assert s.indices == pytest.approx(pattern / pattern.mean(), rel=1e-6)
    assert s.remove(y) == pytest.approx(np.full(36, 100 * pattern.mean()), rel=1e-6)
    assert not is_seasonal(np.arange(36.0), 6)
    assert not is_seasonal(y[:12], 6)  # fewer than two full seasons and one period


def test_zeros_get_additive_seasonal_indices() -> None:
    y = np.tile([0.0, 5.0, 10.0, 5.0], 5)
    s = decompose(y, 4)
    assert not s.multiplicative
    assert s.indices == pytest.approx([-5.0, 0.0, 5.0, 0.0])


@pytest.mark.parametrize(
    ("freq", "kind", "season"),
    [
        ("D", "D", 7),
        ("W-MON", "W", 52),
        ("MS", "M", 12),
        ("ME", "M", 12),
        ("QS", "Q", 4),
        ("YS", "Y", 1),
    ],
)
def test_period_is_inferred_without_freq(freq: str, kind: str, season: int) -> None:
    index = pd.date_range("2020-01-01", periods=12, freq=freq)
    y = pd.Series(np.arange(12.0), index=pd.DatetimeIndex(list(index)))
    values, calendar = regularise(y.drop(y.index[4]))
    assert calendar.kind == kind
    assert calendar.season_length == season
    assert values.index.equals(index)
    assert np.isnan(values.iloc[4])
    assert calendar.future(values.index[-1], 2)[0] > values.index[-1]
