"""Accuracy measures against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forecasting import metrics


def test_smape_matches_hand_computation() -> None:
    # |100-110| / (100+110) = 10/210, |50-40| / 90 -> 200 * mean
    expected = 200 * (10 / 210 + 10 / 90) / 2
    assert metrics.smape([100, 50], [110, 40]) == pytest.approx(expected)


def test_smape_counts_zero_over_zero_as_perfect() -> None:
    assert metrics.smape([0, 10], [0, 10]) == 0.0


def test_mase_scales_by_in_sample_seasonal_naive_error() -> None:
    insample = [1, 3, 2, 4, 3, 5]  # lag-2 differences: 1, 1, 1, 1 -> scale 1
    assert metrics.mase([6, 8], [5, 10], insample, period=2) == pytest.approx((1 + 2) / 2)
    # lag-1 differences: 2, 1, 2, 1, 2 -> scale 1.6
    assert metrics.mase([6, 8], [5, 10], insample) == pytest.approx(1.5 / 1.6)


def test_rmsse_scales_by_mean_squared_naive_difference() -> None:
    insample = [0, 2, 0, 2]  # squared differences 4, 4, 4
    assert metrics.rmsse([1, 3], [0, 0], insample) == pytest.approx(math.sqrt((1 + 9) / 2 / 4))


def test_rmsse_does_not_reward_a_zero_forecast_of_sporadic_demand() -> None:
    insample = [0, 0, 4, 0, 0, 0, 4, 0]
    actual = [0, 0, 4, 0]
    # MASE prefers forecasting nothing; RMSSE prefers the demand rate.
    assert metrics.mase(actual, [0] * 4, insample) < metrics.mase(actual, [1] * 4, insample)
    assert metrics.rmsse(actual, [1] * 4, insample) < metrics.rmsse(actual, [0] * 4, insample)


def test_wape_and_bias() -> None:
    actual, forecast = [10, 20, 30], [12, 18, 36]
    assert metrics.wape(actual, forecast) == pytest.approx((2 + 2 + 6) / 60)
    assert metrics.bias(actual, forecast) == pytest.approx((2 - 2 + 6) / 60)
    assert metrics.bias(actual, [5, 10, 15]) == pytest.approx(-0.5)


def test_pinball_loss_weights_under_and_over_forecasts_by_quantile() -> None:
    # Under-forecast by 4 costs 0.9 * 4; over-forecast by 2 costs 0.1 * 2.
    assert metrics.pinball([10, 10], [6, 12], 0.9) == pytest.approx((3.6 + 0.2) / 2)
    assert metrics.pinball([10], [10], 0.9) == 0.0


def test_coverage_counts_actuals_at_or_below_the_bound() -> None:
    assert metrics.coverage([1, 2, 3, 4], [2, 2, 2, 5]) == pytest.approx(0.75)
    assert metrics.coverage([1, 2, 3, 4], [5, 5, 5, 5], lower=[2, 2, 2, 2]) == pytest.approx(0.75)


def test_missing_actuals_are_left_out() -> None:
    assert metrics.wape([10, np.nan, 30], [12, 0, 30]) == pytest.approx(2 / 40)
    assert metrics.coverage([np.nan, 1.0], [0.0, 2.0]) == 1.0
    assert math.isnan(metrics.smape([np.nan], [1.0]))
