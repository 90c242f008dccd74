"""Stock policy: safety stock, reorder point and order-up-to from a forecast and a lead time.

Expected values are worked out here from the textbook formulas or straight from scipy's
distributions, never by calling the code under test twice.
"""

from __future__ import annotations

import itertools
import math

import pytest
from scipy import stats

from procurement.replenishment.policy import (
    PolicyInput,
    compute_policy,
    sd_from_quantiles,
)


def flat(mean: float, sd: float, periods: int = 30, **kwargs: object) -> PolicyInput:
    return PolicyInput(period_means=[mean] * periods, period_sds=[sd] * periods, **kwargs)  # type: ignore[arg-type]


def test_textbook_base_stock_level():
    """Snyder & Shen's base-stock example (stockpyl): mu=50, sigma=8, L=4, h=0.18, p=0.7.

    With review every period the order-up-to level protects L + 1 = 5 periods at the critical
    ratio p / (p + h); the book's optimal base-stock level is 264.77.
    """
    h, p = 0.18, 0.7
    policy = compute_policy(flat(50, 8, lead_time=4, review_period=1, service_level=p / (p + h)))
    assert policy.order_up_to == pytest.approx(264.77, abs=0.01)
    assert policy.protection_interval == 5
    assert policy.demand_mean == pytest.approx(250)
    assert policy.demand_sd == pytest.approx(8 * math.sqrt(5))


def test_demand_and_lead_time_variability_combine():
    """d=100, sd_d=20, L=9 periods with sd_L=2, 95%: SS = 1.645 * sqrt(9*400 + 100^2*4)."""
    z = 1.6448536269514722
    expected_ss = z * math.sqrt(9 * 20**2 + 100**2 * 2**2)  # about 343.5
    policy = compute_policy(
        flat(100, 20, lead_time=9, lead_time_sd=2, review_period=0, service_level=0.95)
    )
    assert policy.z == pytest.approx(z)
    assert policy.safety_stock == pytest.approx(expected_ss)
    assert policy.reorder_point == pytest.approx(900 + expected_ss)
    assert policy.order_up_to == pytest.approx(900 + expected_ss)
    # A weekly review extends the protection interval to L + R = 10 for the order-up-to level.
    weekly = compute_policy(
        flat(100, 20, lead_time=9, lead_time_sd=2, review_period=1, service_level=0.95)
    )
    ss10 = z * math.sqrt(10 * 20**2 + 100**2 * 2**2)
    assert weekly.safety_stock == pytest.approx(ss10)
    assert weekly.order_up_to == pytest.approx(1000 + ss10)
    assert weekly.reorder_point == pytest.approx(900 + ss10)


def test_forecast_errors_per_horizon_are_summed_not_scaled():
    means = [10.0, 12.0, 14.0]
    sds = [1.0, 2.0, 3.0]
    policy = compute_policy(
        PolicyInput(period_means=means, period_sds=sds, lead_time=2, review_period=1)
    )
    assert policy.demand_mean == pytest.approx(36)
    assert policy.demand_sd == pytest.approx(math.sqrt(1 + 4 + 9))
    # not the one-step error times sqrt(3)
    assert policy.demand_sd != pytest.approx(1.0 * math.sqrt(3))


def test_fractional_interval_takes_that_fraction_of_the_last_period():
    policy = compute_policy(
        PolicyInput(
            period_means=[10, 20, 30, 40], period_sds=[2, 2, 4, 4], lead_time=1.5, review_period=1
        )
    )
    assert policy.demand_mean == pytest.approx(10 + 20 + 0.5 * 30)
    assert policy.demand_sd == pytest.approx(math.sqrt(4 + 4 + 0.5 * 16))
    assert policy.lead_time_demand_mean == pytest.approx(10 + 0.5 * 20)


def test_horizon_shorter_than_protection_interval_extends_with_the_tail():
    means = [10.0, 10.0, 20.0, 30.0]  # tail mean of these 4 periods is 17.5
    sds = [1.0, 1.0, 2.0, 3.0]
    policy = compute_policy(
        PolicyInput(period_means=means, period_sds=sds, lead_time=6, review_period=1)
    )
    # 4 forecast periods + 3 more at the tail mean, with the widest tail variance (9)
    assert policy.demand_mean == pytest.approx(70 + 3 * 17.5)
    assert policy.demand_sd == pytest.approx(math.sqrt(1 + 1 + 4 + 9 + 3 * 9))
    assert policy.lead_time_demand_mean == pytest.approx(70 + 2 * 17.5)


def test_sd_from_quantiles_uses_the_widest_symmetric_pair():
    q = {"0.1": 80.0, "0.25": 90.0, "0.5": 100.0, "0.75": 110.0, "0.9": 125.0}
    assert sd_from_quantiles(100.0, q) == pytest.approx(45 / (2 * stats.norm.ppf(0.9)))
    assert sd_from_quantiles(100.0, {0.05: 70.0, 0.5: 100.0, 0.95: 130.0}) == pytest.approx(
        60 / (2 * 1.6448536269514722)
    )


def test_sd_from_quantiles_without_a_pair_is_zero():
    assert sd_from_quantiles(5.0, {"0.5": 5.0, "0.9": 9.0}) == 0.0
    assert sd_from_quantiles(5.0, {}) == 0.0


def test_sd_of_a_normal_is_recovered():
    dist = stats.norm(40, 7)
    q = {level: float(dist.ppf(level)) for level in (0.1, 0.5, 0.9)}
    assert sd_from_quantiles(40.0, q) == pytest.approx(7)


def test_crossed_quantiles_are_refused():
    with pytest.raises(ValueError, match="quantiles"):
        sd_from_quantiles(5.0, {"0.1": 9.0, "0.9": 2.0})


def test_intermittent_level_is_the_negative_binomial_quantile():
    # per period mean 0.5, sd 1.2 (variance 1.44 > mean): over L + R = 4 periods m=2, v=5.76
    policy = compute_policy(
        flat(
            0.5, 1.2, periods=10, lead_time=4, review_period=0, intermittent=True, service_level=0.9
        )
    )
    m, v = 2.0, 4 * 1.44
    n, prob = m * m / (v - m), m / v
    expected = stats.nbinom(n, prob).ppf(0.9)
    assert policy.method == "negative_binomial"
    assert policy.reorder_point == pytest.approx(expected)
    assert policy.order_up_to == pytest.approx(expected)
    assert policy.safety_stock == pytest.approx(expected - m)
    # the smallest s with P(D <= s) >= 0.9, checked from the definition
    s = int(expected)
    assert stats.nbinom(n, prob).cdf(s) >= 0.9 > stats.nbinom(n, prob).cdf(s - 1)


def test_intermittent_without_overdispersion_is_poisson():
    # variance 0.2 per period < mean 0.3: Poisson with mean 0.3 * 5
    policy = compute_policy(
        flat(
            0.3,
            math.sqrt(0.2),
            periods=10,
            lead_time=3,
            review_period=2,
            intermittent=True,
            service_level=0.95,
        )
    )
    expected = stats.poisson(1.5).ppf(0.95)
    assert policy.order_up_to == pytest.approx(expected)
    assert policy.safety_stock == pytest.approx(expected - 1.5)
    # the reorder point is the lead-time mean plus the same safety stock
    assert policy.reorder_point == pytest.approx(0.9 + expected - 1.5)


def test_intermittent_with_lead_time_variability_widens_the_count_distribution():
    base = compute_policy(flat(1.0, 1.5, lead_time=5, review_period=1, intermittent=True))
    wider = compute_policy(
        flat(1.0, 1.5, lead_time=5, lead_time_sd=2, review_period=1, intermittent=True)
    )
    m, v = 6.0, 6 * 2.25 + 1.0 * 4
    assert wider.order_up_to == pytest.approx(stats.nbinom(m * m / (v - m), m / v).ppf(0.95))
    assert wider.order_up_to > base.order_up_to


def test_position_cover_and_suggested_order():
    inp = flat(10, 3, lead_time=5, review_period=2, on_hand=40, reserved=5, incoming=20)
    policy = compute_policy(inp, period_days=7)
    ss = stats.norm.ppf(0.95) * 3 * math.sqrt(7)
    assert policy.inventory_position == 55
    assert policy.reorder_point == pytest.approx(50 + ss)
    assert policy.order_up_to == pytest.approx(70 + ss)
    assert policy.suggested_order == math.ceil(70 + ss - 55)
    # 55 units at 10 a week = 5.5 weeks = 38.5 days
    assert policy.days_of_cover == pytest.approx(38.5)


def test_no_order_above_the_reorder_point():
    policy = compute_policy(flat(10, 3, lead_time=5, review_period=2, on_hand=80))
    assert policy.inventory_position > policy.reorder_point
    assert policy.suggested_order == 0


def test_no_demand_means_no_days_of_cover_figure():
    policy = compute_policy(flat(0, 0, lead_time=3, on_hand=10))
    assert policy.days_of_cover is None
    assert policy.suggested_order == 0
    assert policy.stockout_probability == 0.0


def test_stockout_probability_falls_as_position_rises():
    probabilities = [
        compute_policy(flat(10, 4, lead_time=3, on_hand=on_hand)).stockout_probability
        for on_hand in range(0, 80, 5)
    ]
    assert all(a >= b for a, b in itertools.pairwise(probabilities))
    assert probabilities[0] > 0.99
    assert probabilities[-1] < 1e-6
    # lead-time demand is N(30, 4*sqrt(3)): at position 30 half the time it runs out
    assert compute_policy(flat(10, 4, lead_time=3, on_hand=30)).stockout_probability == (
        pytest.approx(0.5)
    )


def test_stockout_counts_only_receipts_due_within_the_lead_time():
    early = compute_policy(flat(10, 4, lead_time=3, on_hand=10, incoming=30))
    late = compute_policy(
        flat(10, 4, lead_time=3, on_hand=10, incoming=30, incoming_before_lead_time=0)
    )
    assert early.inventory_position == late.inventory_position == 40
    assert late.stockout_probability == pytest.approx(stats.norm.sf(10, 30, 4 * math.sqrt(3)))
    assert early.stockout_probability < late.stockout_probability


def test_intermittent_stockout_probability_is_monotone_and_exact():
    probabilities = []
    for on_hand in range(12):
        policy = compute_policy(flat(0.5, 1.2, lead_time=4, intermittent=True, on_hand=on_hand))
        probabilities.append(policy.stockout_probability)
    assert all(a >= b for a, b in itertools.pairwise(probabilities))
    m, v = 2.0, 4 * 1.44
    assert probabilities[3] == pytest.approx(stats.nbinom(m * m / (v - m), m / v).sf(3))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"service_level": 1.0}, "service_level"),
        ({"service_level": 0.0}, "service_level"),
        ({"lead_time": -1}, "lead_time"),
        ({"lead_time_sd": -0.5}, "lead_time_sd"),
        ({"review_period": -1}, "review_period"),
        ({"period_sds": [1.0]}, "period_sds"),
        ({"period_means": [], "period_sds": []}, "period_means"),
        ({"incoming": 5, "incoming_before_lead_time": 9}, "incoming_before_lead_time"),
    ],
)
def test_invalid_inputs_name_the_field(kwargs, field):
    base: dict[str, object] = {"period_means": [1.0, 2.0], "period_sds": [1.0, 1.0], "lead_time": 2}
    base.update(kwargs)
    with pytest.raises(ValueError, match=field):
        compute_policy(PolicyInput(**base))  # type: ignore[arg-type]


def test_period_days_must_be_positive():
    with pytest.raises(ValueError, match="period_days"):
        compute_policy(flat(1, 1, lead_time=1), period_days=0)
