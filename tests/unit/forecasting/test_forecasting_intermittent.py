"""Croston, SBA and TSB against hand-computed values; demand classification cut-offs."""

from __future__ import annotations

import numpy as np
import pytest

from forecasting import intermittent
from forecasting.classify import DemandClass, classify

# Demands of 2, 3 and 1 at periods 1, 4 and 6: intervals 2, 3, 2.
TINY = np.array([0, 2, 0, 0, 3, 0, 1], dtype=float)


def test_croston_smooths_sizes_and_intervals_separately() -> None:
    fit = intermittent.croston(TINY, alpha=0.5)
    # sizes: 2 -> 2 + .5(3-2) = 2.5 -> 2.5 + .5(1-2.5) = 1.75
    # intervals: 2 -> 2 + .5(3-2) = 2.5 -> 2.5 + .5(2-2.5) = 2.25
    assert fit.value == pytest.approx(1.75 / 2.25)
    # Before the first demand there is no estimate; afterwards the rate after the last demand.
    assert np.isnan(fit.fitted[:2]).all()
    assert fit.fitted[2:5] == pytest.approx([1.0, 1.0, 1.0])
    assert fit.fitted[5:] == pytest.approx([1.0, 1.0])
    assert fit.forecast(3) == pytest.approx([1.75 / 2.25] * 3)


def test_sba_removes_crostons_bias() -> None:
    fit = intermittent.sba(TINY, alpha=0.5)
    assert fit.value == pytest.approx((1 - 0.5 / 2) * 1.75 / 2.25)
    assert fit.name == "sba"


def test_tsb_updates_probability_every_period() -> None:
    fit = intermittent.tsb(TINY, alpha=0.5, beta=0.5)
    p, z = 3 / 7, 2.0  # initial: share of periods with demand, mean size
    for y in TINY:
        if y > 0:
            p += 0.5 * (1 - p)
            z += 0.5 * (y - z)
        else:
            p += 0.5 * (0 - p)
    assert fit.value == pytest.approx(p * z)
    assert fit.value == pytest.approx(0.64397321 * 1.75)


def test_tsb_forecast_decays_while_no_demand_arrives_but_croston_does_not() -> None:
    y = np.r_[np.tile([0, 0, 4], 8), np.zeros(9)]
    assert intermittent.tsb(y, 0.1, 0.2).value < 0.5 * intermittent.tsb(y[:24], 0.1, 0.2).value
    assert intermittent.croston(y, 0.1).value == pytest.approx(
        intermittent.croston(y[:24], 0.1).value
    )


def test_missing_periods_are_dropped_not_read_as_zero() -> None:
    with_gap = np.array([0, 2, np.nan, np.nan, 0, 0, 3, 0, 1])
    fit = intermittent.croston(with_gap, alpha=0.5)
    assert fit.value == pytest.approx(intermittent.croston(TINY, alpha=0.5).value)
    assert np.isnan(fit.fitted[2:4]).all()


def test_tuned_methods_pick_the_grid_point_with_lowest_in_sample_mse() -> None:
    rng = np.random.default_rng(3)
    y = rng.poisson(0.4, 60).astype(float)
    best = intermittent.fit_tsb(y)
    grid = [
        intermittent.tsb(y, a, b) for a in intermittent.TSB_ALPHAS for b in intermittent.TSB_BETAS
    ]
    assert best.mse == pytest.approx(min(f.mse for f in grid))
    assert intermittent.fit_croston(y, debiased=True).name == "sba"


def test_no_demand_at_all_forecasts_zero() -> None:
    zeros = np.zeros(10)
    assert intermittent.croston(zeros).value == 0.0
    assert intermittent.tsb(zeros).value == 0.0


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # every period has demand, sizes steady -> smooth
        ([5, 6, 5, 6, 5, 6, 5, 6], DemandClass.SMOOTH),
        # every period has demand, sizes swing (CV^2 = 0.64) -> erratic
        ([1, 9, 1, 9, 1, 9, 1, 9], DemandClass.ERRATIC),
        # demand every second period (ADI = 2), steady sizes -> intermittent
        ([0, 5, 0, 6, 0, 5, 0, 6], DemandClass.INTERMITTENT),
        # demand every second period, swinging sizes -> lumpy
        ([0, 1, 0, 9, 0, 1, 0, 9], DemandClass.LUMPY),
        ([0, 0, 0], DemandClass.ZERO),
    ],
)
def test_classification(values: list[float], expected: DemandClass) -> None:
    assert classify(np.array(values, dtype=float)).demand_class is expected


def test_classification_cut_offs_are_inclusive_on_the_sporadic_side() -> None:
    # ADI exactly 1.32 would need fractional periods; check the boundaries on the statistics.
    # 33 periods, 25 with demand: ADI = 1.32 -> intermittent side.
    y = np.r_[np.ones(25), np.zeros(8)]
    profile = classify(y)
    assert profile.adi == pytest.approx(1.32)
    assert profile.demand_class is DemandClass.INTERMITTENT
    # 26 with demand: ADI = 1.269 -> smooth side.
    assert classify(np.r_[np.ones(26), np.zeros(7)]).demand_class is DemandClass.SMOOTH
    # CV^2 of sizes 1 and 3: variance 1, mean 2 -> 0.25; sizes 1 and 5: 4 / 9 = 0.444;
    # sizes 1 and 6: 6.25 / 12.25 = 0.51 -> erratic.
    assert classify(np.tile([1.0, 5.0], 5)).demand_class is DemandClass.SMOOTH
    assert classify(np.tile([1.0, 6.0], 5)).demand_class is DemandClass.ERRATIC


def test_classification_ignores_missing_periods() -> None:
    y = np.array([5, np.nan, np.nan, 6, 5, np.nan, 6, 5])
    profile = classify(y)
    assert profile.adi == 1.0
    assert profile.observed == 5
