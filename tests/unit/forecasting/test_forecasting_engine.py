"""The forecasting engine on the kinds of series a retailer has: short, flat, empty, trending,
seasonal, sporadic, censored by stock-outs, promoted, and pathological."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecasting.engine import ForecastResult, chunks, forecast, forecast_many


def weekly(values: object, start: str = "2023-01-01") -> pd.Series:
    data = np.asarray(values, dtype=float)
    return pd.Series(data, index=pd.date_range(start, periods=data.shape[0], freq="W-SUN"))


def monthly(values: object, start: str = "2018-01-01") -> pd.Series:
    data = np.asarray(values, dtype=float)
    return pd.Series(data, index=pd.date_range(start, periods=data.shape[0], freq="MS"))


def assert_well_formed(result: ForecastResult, y: pd.Series, horizon: int) -> None:
    assert isinstance(result.mean, pd.Series)
    assert len(result.mean) == horizon
    assert isinstance(result.mean.index, pd.DatetimeIndex)
    assert result.mean.index[0] > y.index[-1]
    assert result.quantiles.index.equals(result.mean.index)
    assert np.isfinite(result.mean.to_numpy()).all()
    q = result.quantiles.to_numpy()
    assert np.isfinite(q).all()
    assert (np.diff(q, axis=1) >= 0).all(), "quantiles must not cross"
    assert isinstance(result.model, str)
    assert result.model


def test_result_shape_and_future_index() -> None:
    y = monthly(np.arange(36) % 7 + 20)
    result = forecast(y, 6, quantiles=(0.1, 0.5, 0.9))
    assert_well_formed(result, y, 6)
    assert list(result.quantiles.columns) == [0.1, 0.5, 0.9]
    expected = pd.date_range("2021-01-01", periods=6, freq="MS")
    assert list(result.mean.index) == list(expected)
    assert result.backtest["selected"].sum() == len(result.members)
    assert set(result.accuracy) == {"mase", "wape", "bias"}


@pytest.mark.parametrize("n", [1, 2, 3])
def test_very_short_series(n: int) -> None:
    y = weekly([8, 12, 10][:n])
    result = forecast(y, 4)
    assert_well_formed(result, y, 4)
    assert result.model == "mean"
    assert result.mean.to_numpy() == pytest.approx(np.full(4, y.mean()))
    # With no history to estimate spread from, the quantiles still show uncertainty.
    assert (result.quantiles[0.9] > result.mean).all()


def test_single_point_needs_a_known_period() -> None:
    with pytest.raises(ValueError, match="period"):
        forecast(pd.Series([5.0], index=pd.DatetimeIndex(["2024-01-01"])), 3)


def test_flat_series_forecasts_the_level_with_no_spread() -> None:
    y = weekly([25] * 30)
    result = forecast(y, 8)
    assert_well_formed(result, y, 8)
    assert result.mean.to_numpy() == pytest.approx(np.full(8, 25.0))
    assert result.quantiles.to_numpy() == pytest.approx(np.full((8, 3), 25.0))


def test_all_zero_history_forecasts_zero() -> None:
    y = weekly([0] * 20)
    result = forecast(y, 5)
    assert result.model == "zero"
    assert result.demand_class == "zero"
    assert (result.mean == 0).all()
    assert (result.quantiles.to_numpy() == 0).all()


def test_trend_is_extrapolated() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(48)
    y = monthly(100 + 5 * t + rng.normal(0, 3, 48))
    result = forecast(y, 6)
    assert_well_formed(result, y, 6)
    truth = 100 + 5 * np.arange(48, 54)
    assert np.abs(result.mean.to_numpy() - truth).max() < 15
    assert result.mean.iloc[-1] > result.mean.iloc[0]


def test_seasonality_is_detected_and_forecast() -> None:
    rng = np.random.default_rng(2)
    t = np.arange(60)
    pattern = 40 * np.sin(2 * np.pi * t / 12)
    y = monthly(200 + pattern + rng.normal(0, 4, 60))
    result = forecast(y, 12)
    assert_well_formed(result, y, 12)
    assert result.seasonal
    assert result.season_length == 12
    truth = 200 + 40 * np.sin(2 * np.pi * np.arange(60, 72) / 12)
    assert np.corrcoef(result.mean.to_numpy(), truth)[0, 1] > 0.95
    assert np.abs(result.mean.to_numpy() - truth).mean() < 10


def test_no_seasonality_claimed_on_noise() -> None:
    rng = np.random.default_rng(4)
    y = monthly(100 + rng.normal(0, 5, 48))
    assert not forecast(y, 6).seasonal


def test_intermittent_demand_uses_croston_family_and_stays_non_negative() -> None:
    rng = np.random.default_rng(5)
    occurs = rng.random(80) < 0.25
    y = weekly(np.where(occurs, rng.poisson(3, 80) + 1, 0))
    result = forecast(y, 8)
    assert_well_formed(result, y, 8)
    assert result.demand_class in {"intermittent", "lumpy"}
    assert result.backtest.index.isin(["croston", "sba", "tsb"]).sum() == 3
    assert (result.mean >= 0).all()
    assert (result.quantiles.to_numpy() >= 0).all()
    rate = y.mean()
    assert 0.4 * rate < result.mean.mean() < 1.6 * rate
    # Most weeks have no demand, so the median is small; the 95% quantile covers a real order.
    assert result.quantiles[0.95].iloc[0] >= 1


def test_stock_outs_marked_missing_are_not_read_as_zero_demand() -> None:
    rng = np.random.default_rng(6)
    base = rng.poisson(20, 40).astype(float)
    censored = base.copy()
    censored[30:36] = np.nan  # out of stock: demand unknown
    as_zero = base.copy()
    as_zero[30:36] = 0.0
    r_nan = forecast(weekly(censored), 4)
    r_zero = forecast(weekly(as_zero), 4)
    assert_well_formed(r_nan, weekly(censored), 4)
    assert abs(r_nan.mean.mean() - 20) < 3
    assert r_zero.mean.mean() < r_nan.mean.mean() - 2


def test_trailing_stock_out_keeps_the_forecast_and_dates() -> None:
    y = weekly([10, 11, 9, 10, 12, 10, 11, 9, 10, np.nan, np.nan])
    result = forecast(y, 3)
    assert result.mean.index[0] == y.index[-1] + pd.Timedelta(weeks=1)
    assert result.mean.to_numpy() == pytest.approx(np.full(3, 10.2), abs=1.0)


def test_missing_dates_and_unset_freq_are_regularised() -> None:
    full = weekly(np.arange(30) % 5 + 10.0)
    gappy = full.drop(full.index[[5, 6, 20]])
    gappy.index = pd.DatetimeIndex(list(gappy.index))  # freq unset
    assert gappy.index.freq is None
    result = forecast(gappy, 4)
    assert result.mean.index[0] == full.index[-1] + pd.Timedelta(weeks=1)
    assert result.fitted is not None
    assert len(result.fitted) == 30


def test_daily_series_with_weekly_pattern() -> None:
    rng = np.random.default_rng(7)
    t = np.arange(140)
    weekday = np.array([1.0, 1.0, 1.0, 1.1, 1.4, 1.8, 0.7])
    y = pd.Series(
        50 * weekday[t % 7] + rng.normal(0, 2, 140),
        index=pd.date_range("2024-01-01", periods=140, freq="D"),
    )
    result = forecast(y, 14)
    assert result.seasonal
    expected = 50 * weekday[np.arange(140, 154) % 7]
    assert np.abs(result.mean.to_numpy() - expected).mean() < 5


def _exploding_series() -> np.ndarray:
    # Near zero for a year, then rapid growth: multiplicative-trend ETS extrapolates the growth
    # rate of the last months and runs off to astronomical values.
    return np.r_[np.full(12, 0.01), 0.5, 2, 6, 15, 30]


def test_raw_statsmodels_ets_explodes_where_the_engine_stays_bounded() -> None:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    values = _exploding_series()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = ETSModel(values, error="mul", trend="mul").fit(disp=False).forecast(12)
    assert np.max(raw) > 1000 * values.max()

    y = monthly(values)
    result = forecast(y, 12)
    assert_well_formed(result, y, 12)
    top = values.max() + 3 * np.ptp(values)
    assert result.mean.max() <= top
    assert result.quantiles.to_numpy().max() <= 10 * top
    assert (result.mean >= 0).all()
    assert any("exploded" in reason for reason in result.rejected.values())


def test_negative_forecasts_are_clipped_for_demand() -> None:
    y = weekly([50, 45, 40, 35, 30, 25, 20, 15, 10, 5, 2, 1])
    result = forecast(y, 12)
    assert (result.mean >= 0).all()
    assert (result.quantiles.to_numpy() >= 0).all()


def test_series_with_negative_values_is_not_clipped() -> None:
    y = weekly(-np.arange(30, dtype=float) - 5)
    result = forecast(y, 4)
    assert result.mean.iloc[-1] < -30


def test_quantiles_are_monotone_and_roughly_honest_on_simulated_data() -> None:
    rng = np.random.default_rng(11)
    hits = []
    horizon = 4
    for _ in range(60):
        level = 100 + np.cumsum(rng.normal(0, 2, 64))
        series = level + rng.normal(0, 5, 64)
        y = weekly(series[:60])
        result = forecast(y, horizon, quantiles=(0.05, 0.5, 0.9, 0.95))
        q = result.quantiles.to_numpy()
        assert (np.diff(q, axis=1) >= 0).all()
        hits.append(series[60:] <= q[:, 2])
    coverage = float(np.mean(hits))
    assert 0.8 <= coverage <= 0.98


def test_promotion_raises_the_forecast_in_promoted_periods() -> None:
    rng = np.random.default_rng(12)
    n = 78
    promo = np.zeros(n)
    promo[[8, 20, 33, 45, 58, 70]] = 1.0
    y = weekly(rng.poisson(100, n) * (1 + 0.5 * promo))
    future = pd.date_range(y.index[-1] + pd.Timedelta(weeks=1), periods=6, freq="W-SUN")
    planned = pd.DataFrame({"promo": [0, 0, 1, 0, 1, 0]}, index=future)
    exog = pd.DataFrame({"promo": promo}, index=y.index)

    result = forecast(y, 6, exog=exog, future_exog=planned)
    assert_well_formed(result, y, 6)
    assert result.uplift["promo"] == pytest.approx(0.5, abs=0.15)
    mean = result.mean.to_numpy()
    assert mean[2] > 1.3 * mean[1]
    assert mean[4] > 1.3 * mean[3]
    assert result.quantiles[0.9].iloc[2] > result.quantiles[0.9].iloc[1]
    # The baseline is fitted without the promoted weeks, so it is not inflated by them.
    assert mean[[0, 1, 3, 5]] == pytest.approx(np.full(4, 100.0), rel=0.1)
    assert "promotion" in result.model


def test_promotion_regressors_must_come_with_their_plan() -> None:
    y = weekly(np.arange(20) + 10.0)
    with pytest.raises(ValueError, match="future_exog"):
        forecast(y, 3, exog=pd.Series(np.zeros(20), index=y.index, name="promo"))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"horizon": 0}, ValueError),
        ({"horizon": 2, "quantiles": (0.5, 1.0)}, ValueError),
    ],
)
def test_invalid_arguments(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        forecast(weekly([1, 2, 3, 4, 5]), **kwargs)  # type: ignore[arg-type]


def test_invalid_series() -> None:
    with pytest.raises(TypeError):
        forecast(pd.Series([1.0, 2.0, 3.0]), 2)
    with pytest.raises(ValueError, match="observed"):
        forecast(weekly([np.nan, np.nan, np.nan]), 2)
    irregular = pd.Series(
        [1.0, 2.0, 3.0], index=pd.DatetimeIndex(["2024-01-01", "2024-01-03", "2024-01-06"])
    )
    with pytest.raises(ValueError, match="regular"):
        forecast(irregular, 2)


def test_forecast_many_reports_progress_by_chunk() -> None:
    series = {f"sku-{i}": weekly(np.arange(20) % (i + 2) + 5.0) for i in range(5)}
    series["broken"] = weekly([np.nan] * 6)
    calls: list[tuple[int, int]] = []
    results = forecast_many(
        series,
        3,
        progress=lambda done, total: calls.append((done, total)),
        chunk_size=2,
        errors="skip",
    )
    assert calls == [(2, 6), (4, 6), (6, 6)]
    assert set(results) == {f"sku-{i}" for i in range(5)}
    for key, result in results.items():
        assert_well_formed(result, series[key], 3)
    with pytest.raises(ValueError, match="observed"):
        forecast_many(series, 3)


def test_chunks_split_keys_for_workers() -> None:
    assert list(chunks(range(5), 2)) == [[0, 1], [2, 3], [4]]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(
        st.one_of(st.none(), st.floats(0, 1e4, allow_nan=False, allow_infinity=False)),
        min_size=1,
        max_size=80,
    ).filter(lambda v: any(x is not None for x in v)),
    horizon=st.integers(1, 20),
    freq=st.sampled_from(["D", "W-SUN", "MS", "QS"]),
)
def test_any_non_negative_history_gives_a_well_formed_forecast(
    values: list[float | None], horizon: int, freq: str
) -> None:
    data = np.array([np.nan if v is None else v for v in values], dtype=float)
    y = pd.Series(data, index=pd.date_range("2020-01-01", periods=data.shape[0], freq=freq))
    result = forecast(y, horizon)
    assert_well_formed(result, y, horizon)
    assert (result.mean >= 0).all()
    assert (result.quantiles.to_numpy() >= 0).all()
    observed = data[np.isfinite(data)]
    reach = 3 * (np.ptp(observed) or max(observed.mean(), 1.0)) * max(1, horizon / observed.size)
    assert result.mean.max() <= observed.max() + reach + 1e-6
