"""Rate cards: weight bands, minimum charge, fuel surcharge and rounding, lanes off the card."""

from __future__ import annotations

from decimal import Decimal

import pytest

from logistics.rating import RateCard, RateRow, quote, validate_rows

D = Decimal

# Rows listed out of weight order on purpose: the card must not rely on how an import sorted them.
ROWS = (
    RateRow("W1", "North", D("10"), D("6.00"), D("0.50"), D("0")),
    RateRow("W1", "North", D("2"), D("4.00"), D("1.00"), D("5.50")),
    RateRow("W1", "North", D("30"), D("9.00"), D("0.40"), D("0")),
    RateRow("W2", "South", D("5"), D("3.00"), D("0.25"), D("0")),
)
CARD = RateCard("GND", D("0"), ROWS)


@pytest.mark.parametrize(
    ("weight", "expected"),
    [
        # Exactly on a limit stays in that band: 2 kg is 4 + 1*2 = 6.00 in the "up to 2" band.
        ("2", "6.00"),
        # Just above goes to the next band: 6 + 0.5*2.001 = 7.0005 -> 7.00.
        ("2.001", "7.00"),
        # 10 kg is the top of the middle band: 6 + 0.5*10 = 11.00, not 9 + 0.4*10 = 13.00.
        ("10", "11.00"),
        ("10.5", "13.20"),  # 9 + 0.4*10.5
        ("30", "21.00"),  # 9 + 0.4*30, the top band's own limit
    ],
)
def test_a_weight_on_a_band_limit_belongs_to_that_band(weight, expected):
    assert quote(CARD, "W1", "North", D(weight)) == D(expected)


def test_the_minimum_charge_applies_when_the_formula_is_below_it():
    # 4 + 1*1 = 5.00 < 5.50 minimum; 4 + 1*1.6 = 5.60 > 5.50.
    assert quote(CARD, "W1", "North", D("1")) == D("5.50")
    assert quote(CARD, "W1", "North", D("1.6")) == D("5.60")
    assert quote(CARD, "W1", "North", D("0")) == D("5.50")


def test_fuel_surcharge_is_a_percentage_on_top_rounded_half_up_to_the_cent():
    card = RateCard("GND", D("12.5"), ROWS)
    # W2->South 3 kg: 3 + 0.25*3 = 3.75; * 1.125 = 4.21875 -> 4.22.
    assert quote(card, "W2", "South", D("3")) == D("4.22")
    # The minimum is surcharged too: 5.50 * 1.125 = 6.1875 -> 6.19.
    assert quote(card, "W1", "North", D("1")) == D("6.19")
    # Half a cent rounds up: 3 + 0.25*0.02 = 3.005 at 0% -> 3.01 (half-even: 3.00).
    assert quote(CARD, "W2", "South", D("0.02")) == D("3.01")


def test_a_lane_missing_from_the_card_has_no_price():
    assert quote(CARD, "W2", "North", D("1")) is None  # origin without this region
    assert quote(CARD, "W9", "North", D("1")) is None  # unknown origin
    assert quote(CARD, "W1", "East", D("1")) is None  # unknown region


def test_a_parcel_above_the_top_band_has_no_price():
    assert quote(CARD, "W1", "North", D("30.01")) is None
    assert quote(CARD, "W2", "South", D("5.5")) is None


def test_regions_match_regardless_of_case_but_origins_do_not():
    assert quote(CARD, "W1", "NORTH", D("2")) == D("6.00")
    assert quote(CARD, "W1", "north", D("2")) == D("6.00")
    card = RateCard("GND", D("0"), (RateRow("W1", "sOuTh", D("5"), D("1"), D("1"), D("0")),))
    assert quote(card, "W1", "South", D("1")) == D("2.00")
    assert quote(CARD, "w1", "North", D("2")) is None


def test_a_negative_weight_is_refused():
    with pytest.raises(ValueError, match="weight must not be negative"):
        quote(CARD, "W1", "North", D("-0.1"))


def test_validate_rows_names_duplicate_bands_and_negative_prices():
    rows = [
        RateRow("W1", "North", D("2"), D("4"), D("1"), D("0")),
        RateRow("W1", "NORTH", D("2"), D("4"), D("-1"), D("0")),
        RateRow("W1", "North", D("0"), D("4"), D("1"), D("0")),
    ]
    assert validate_rows(rows) == [
        "row 2 (W1 -> NORTH, up to 2 kg): a second band with the same weight limit on this lane",
        "row 2 (W1 -> NORTH, up to 2 kg): per_kg must not be negative",
        "row 3 (W1 -> North, up to 0 kg): the weight limit must be positive",
    ]
    assert validate_rows(ROWS) == []
