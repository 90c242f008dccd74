"""Demand series from ledger events: periods, censoring by stock-outs, promotion regressor."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from forecasting import demand
from forecasting.demand import PromotionWindow


def at(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


D0 = date(2026, 3, 2)  # a Monday


def days(n: int, start: date = D0) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]


# --- periods --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "frequency", "end"),
    [
        (date(2026, 3, 5), "D", date(2026, 3, 4)),
        (date(2026, 3, 5), "W", date(2026, 3, 1)),  # Thursday: last complete week ended Sunday
        (date(2026, 3, 2), "W", date(2026, 3, 1)),  # Monday
        (date(2026, 3, 5), "M", date(2026, 2, 28)),
        (date(2026, 1, 1), "M", date(2025, 12, 31)),
    ],
)
def test_history_ends_with_the_last_complete_period(today, frequency, end):
    assert demand.history_end(today, frequency) == end


def test_future_periods_follow_history():
    idx = demand.future_index(date(2026, 2, 28), 3, "M")
    assert [d.date() for d in idx] == [date(2026, 3, 1), date(2026, 4, 1), date(2026, 5, 1)]
    idx = demand.future_index(date(2026, 3, 1), 2, "W")
    assert [d.date() for d in idx] == [date(2026, 3, 2), date(2026, 3, 9)]


# --- aggregation ----------------------------------------------------------------------------------


def test_weeks_sum_days_and_days_without_issues_are_real_zeros():
    qty = pd.Series(dict.fromkeys(days(14), 2) | {D0 + timedelta(days=3): 0})
    series = demand.build_series(qty, pd.Series(dtype=bool), D0, D0 + timedelta(days=20), "W")
    assert list(series.demand) == [12.0, 14.0, 0.0]
    assert series.demand.index.freqstr == "W-MON"
    assert not series.censored.any()


def test_a_first_week_the_item_was_not_stocked_for_in_full_is_dropped():
    start = D0 + timedelta(days=4)  # Friday
    qty = pd.Series(dict.fromkeys(days(10, start), 1))
    series = demand.build_series(qty, pd.Series(dtype=bool), start, D0 + timedelta(days=13), "W")
    assert list(series.demand.index.date) == [D0 + timedelta(days=7)]
    assert list(series.demand) == [7.0]


def test_history_is_capped_to_the_most_recent_periods():
    qty = pd.Series({d: i for i, d in enumerate(days(30))})
    series = demand.build_series(
        qty, pd.Series(dtype=bool), D0, D0 + timedelta(days=29), "D", max_periods=5
    )
    assert list(series.demand) == [25.0, 26.0, 27.0, 28.0, 29.0]


# --- censoring ------------------------------------------------------------------------------------


def test_days_out_of_stock_are_censored_not_zero():
    # Stock 5 arrives Monday 08:00, sells out Tuesday 18:00, comes back Friday 09:00.
    times = [at(D0, 8), at(D0 + timedelta(1), 18), at(D0 + timedelta(4), 9)]
    levels = [5, 0, 10]
    flags = demand.censored_days(times, levels, D0, D0 + timedelta(days=6))
    #          Mon    Tue (sold out) Wed   Thu   Fri (09:00 back) Sat    Sun
    assert list(flags) == [False, True, True, True, False, False, False]


def test_a_short_stock_out_does_not_censor_the_day():
    times = [at(D0, 1), at(D0, 6), at(D0, 9)]  # out from 06:00 to 09:00
    flags = demand.censored_days(times, [3, 0, 8], D0, D0)
    assert list(flags) == [False]


def test_the_level_before_the_window_carries_into_it():
    restocked = at(D0 + timedelta(2), 11)
    flags = demand.censored_days([restocked], [4], D0, D0 + timedelta(3), opening_level=0)
    assert list(flags) == [True, True, False, False]  # Wed: out until 11:00, then stocked


def test_without_any_known_level_nothing_is_censored():
    assert not demand.censored_days([], [], D0, D0 + timedelta(5)).any()


def test_a_week_mostly_out_of_stock_is_missing_and_a_week_partly_out_is_kept():
    cens = pd.Series(dict.fromkeys(days(5), True) | dict.fromkeys(days(2, D0 + timedelta(7)), True))
    qty = pd.Series(dict.fromkeys(days(14), 3))
    series = demand.build_series(qty, cens, D0, D0 + timedelta(days=13), "W")
    assert np.isnan(series.demand.iloc[0])
    assert series.recorded.iloc[0] == 21
    assert series.demand.iloc[1] == 21
    assert list(series.censored) == [True, False]
    assert series.censored_count == 1


# --- promotions -----------------------------------------------------------------------------------


def test_promotion_regressor_is_the_share_of_each_period_under_promotion():
    idx = demand.period_index(D0, D0 + timedelta(days=20), "W")
    windows = [PromotionWindow(D0 + timedelta(days=5), D0 + timedelta(days=8))]  # Sat..Tue
    share = demand.promotion_share(idx, "W", windows)
    assert list(share.round(4)) == [round(2 / 7, 4), round(2 / 7, 4), 0.0]
    daily = demand.promotion_share(pd.date_range(D0, periods=4, freq="D"), "D", windows[:0])
    assert list(daily) == [0.0, 0.0, 0.0, 0.0]


def test_planned_uplift_averages_the_estimates_over_the_period():
    idx = demand.period_index(D0, D0, "W")
    windows = [
        PromotionWindow(D0, D0 + timedelta(days=6), 0.7),
        PromotionWindow(D0, D0, None),
    ]
    assert demand.planned_uplift(idx, "W", windows).iloc[0] == pytest.approx(0.7)
