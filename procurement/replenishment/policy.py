"""Stock policy for one (item, warehouse): safety stock, reorder point and order-up-to level.

The model is a periodic-review (R, s, S) policy. Every ``review_period`` periods the buyer looks
at the inventory position (on hand - reserved + incoming); when it is at or below the reorder
point ``s`` an order brings it back up to ``S``. What that order must protect against is demand
over the *protection interval* L + R: the order placed now arrives after the lead time L, and
the next order can only be placed R periods later.

Uncertainty comes from two places and both are summed as variances:

* the forecast's own error, per future period, read from its quantiles. Forecast errors widen
  with the horizon, so the variance over L + R periods is the sum of each period's variance and
  not the one-step error times sqrt(L), which would understate the risk of long lead times;
* the supplier's lead-time variability: a lead time one period longer than expected costs one
  more period of demand, so it adds d^2 * sd_L^2, d being the mean demand per period.

With a constant per-period sd this is the textbook ``SS = z * sqrt(L * sd_d^2 + d^2 * sd_L^2)``
(L + R in place of L for the order-up-to level). Items whose demand is mostly zeros
(``intermittent``) are poorly served by a normal curve, whose left tail goes negative and whose
right tail is too thin; for them the level is the service-level quantile of a negative binomial
with the same mean and variance (a Poisson when the variance does not exceed the mean).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from scipy import stats

# Forecasts are only so long. Past their end the demand per period is taken as the mean of the
# last few periods (a week of days, or seven weeks), which smooths a day-of-week pattern instead
# of repeating whichever weekday happened to come last.
EXTEND_TAIL = 7
# Floating-point dust must not add a whole unit to an order.
_ROUNDING_SLACK = 1e-9

Method = Literal["normal", "negative_binomial"]


def sd_from_quantiles(mean: float, quantiles: Mapping[float, float] | Mapping[str, float]) -> float:
    """The normal-equivalent sd of one period's demand from its forecast quantiles.

    The widest symmetric pair (q, 1 - q) is used because the tails are what safety stock is
    about; (q90 - q10) / (2 * 1.2816) for the usual 10/90 pair. Quantile keys may be the strings
    a stored forecast carries ("0.1"). ``mean`` is accepted so that a pair that brackets no
    sensible spread (the upper below the lower) is reported against the forecast it came from.
    """
    levels = {float(k): float(v) for k, v in quantiles.items()}
    best: tuple[float, float, float] | None = None
    for low, low_value in levels.items():
        if not 0.0 < low < 0.5:
            continue
        high = next((h for h in levels if abs(h + low - 1.0) < 1e-9), None)
        if high is None:
            continue
        if best is None or low < best[0]:
            best = (low, low_value, levels[high])
    if best is None:
        return 0.0
    low, low_value, high_value = best
    if high_value < low_value:
        raise ValueError(
            f"quantiles: the {1 - low:g} quantile ({high_value}) is below the {low:g} quantile "
            f"({low_value}) of a forecast with mean {mean}"
        )
    return (high_value - low_value) / (2.0 * float(stats.norm.ppf(1.0 - low)))


@dataclass(frozen=True)
class PolicyInput:
    """One (item, warehouse): its forecast per future period, its supplier and its stock.

    ``incoming_before_lead_time`` is the part of ``incoming`` due before an order placed now
    would arrive; only that part protects against running out in the meantime. ``None`` means
    all of it.
    """

    period_means: Sequence[float]
    period_sds: Sequence[float]
    lead_time: float
    lead_time_sd: float = 0.0
    review_period: float = 1.0
    service_level: float = 0.95
    intermittent: bool = False
    on_hand: float = 0
    reserved: float = 0
    incoming: float = 0
    incoming_before_lead_time: float | None = None


@dataclass(frozen=True)
class Policy:
    """The levels for one (item, warehouse), all in units and periods of the forecast.

    ``safety_stock`` is sized on the protection interval (``demand_sd``); ``reorder_point`` and
    ``order_up_to`` add it to the mean demand over L and over L + R. ``lead_time_demand_mean``
    and ``lead_time_demand_sd`` describe demand until an order placed now arrives, which is what
    ``stockout_probability`` is about.
    """

    protection_interval: float
    demand_mean: float
    demand_sd: float
    safety_stock: float
    reorder_point: float
    order_up_to: float
    inventory_position: float
    suggested_order: int
    days_of_cover: float | None
    stockout_probability: float
    method: Method
    z: float
    lead_time_demand_mean: float
    lead_time_demand_sd: float


def _validate(p: PolicyInput, period_days: float) -> None:
    def finite(name: str, value: float) -> None:
        if not math.isfinite(value):
            raise ValueError(f"{name}: must be a finite number, got {value!r}")

    if not 0.0 < p.service_level < 1.0:
        raise ValueError(f"service_level: must be strictly between 0 and 1, got {p.service_level}")
    for name in ("lead_time", "lead_time_sd", "review_period"):
        value = float(getattr(p, name))
        finite(name, value)
        if value < 0:
            raise ValueError(f"{name}: must not be negative, got {value}")
    if len(p.period_means) != len(p.period_sds):
        raise ValueError(
            f"period_sds: {len(p.period_sds)} values for {len(p.period_means)} period_means"
        )
    if not p.period_means:
        raise ValueError("period_means: the forecast has no periods")
    for i, (m, s) in enumerate(zip(p.period_means, p.period_sds, strict=True)):
        finite(f"period_means[{i}]", m)
        finite(f"period_sds[{i}]", s)
        if m < 0:
            raise ValueError(f"period_means[{i}]: demand must not be negative, got {m}")
        if s < 0:
            raise ValueError(f"period_sds[{i}]: must not be negative, got {s}")
    for name in ("on_hand", "reserved", "incoming"):
        finite(name, float(getattr(p, name)))
    if p.incoming_before_lead_time is not None:
        finite("incoming_before_lead_time", p.incoming_before_lead_time)
        if not 0 <= p.incoming_before_lead_time <= p.incoming:
            raise ValueError(
                "incoming_before_lead_time: must be between 0 and incoming "
                f"({p.incoming}), got {p.incoming_before_lead_time}"
            )
    finite("period_days", period_days)
    if period_days <= 0:
        raise ValueError(f"period_days: must be positive, got {period_days}")


def _over(p: PolicyInput, length: float) -> tuple[float, float]:
    """Mean and variance of forecast demand over the first ``length`` periods (may be fractional).

    A fraction of a period contributes that fraction of its mean and of its variance (demand in
    disjoint stretches of time taken as independent). Beyond the horizon the mean of the last
    periods is repeated, and the widest of their variances, since errors only grow further out.
    """
    means = [float(m) for m in p.period_means]
    variances = [float(s) ** 2 for s in p.period_sds]
    tail = slice(-min(EXTEND_TAIL, len(means)), None)
    tail_mean = sum(means[tail]) / len(means[tail])
    tail_variance = max(variances[tail])
    whole = math.floor(length)
    fraction = length - whole
    mean = sum(means[:whole])
    variance = sum(variances[:whole])
    beyond = max(0, whole - len(means))
    mean += beyond * tail_mean
    variance += beyond * tail_variance
    if fraction > 0:
        nxt_mean = means[whole] if whole < len(means) else tail_mean
        nxt_variance = variances[whole] if whole < len(variances) else tail_variance
        mean += fraction * nxt_mean
        variance += fraction * nxt_variance
    return mean, variance


def _with_lead_time_risk(p: PolicyInput, length: float, mean: float, variance: float) -> float:
    """Add d^2 * sd_L^2, with d the mean demand per period over the same stretch."""
    per_period = mean / length if length > 0 else float(p.period_means[0])
    return variance + per_period**2 * float(p.lead_time_sd) ** 2


def _count_distribution(mean: float, variance: float) -> stats.rv_discrete | None:
    """Negative binomial with this mean and variance; Poisson when not over-dispersed."""
    if mean <= 0:
        return None
    if variance <= mean:
        return stats.poisson(mean)
    n = mean * mean / (variance - mean)
    return stats.nbinom(n, mean / variance)


def compute_policy(p: PolicyInput, *, period_days: float = 1.0) -> Policy:
    """Safety stock, reorder point, order-up-to level and what to order now.

    ``period_days`` is the length of one forecast period in days (1 daily, 7 weekly); it only
    turns the mean demand per period into days of cover.
    """
    _validate(p, period_days)
    lead = float(p.lead_time)
    interval = lead + float(p.review_period)
    z = float(stats.norm.ppf(p.service_level))

    mean_pi, var_pi = _over(p, interval)
    var_pi = _with_lead_time_risk(p, interval, mean_pi, var_pi)
    mean_l, var_l = _over(p, lead)
    var_l = _with_lead_time_risk(p, lead, mean_l, var_l) if lead > 0 else 0.0
    sd_pi, sd_l = math.sqrt(var_pi), math.sqrt(var_l)

    method: Method
    if p.intermittent:
        method = "negative_binomial"
        protection = _count_distribution(mean_pi, var_pi)
        level = 0.0 if protection is None else float(protection.ppf(p.service_level))
        safety_stock = level - mean_pi
    else:
        method = "normal"
        safety_stock = z * sd_pi
    reorder_point = mean_l + safety_stock
    order_up_to = mean_pi + safety_stock

    position = float(p.on_hand) - float(p.reserved) + float(p.incoming)
    suggested = 0
    if position <= reorder_point:
        suggested = max(0, math.ceil(order_up_to - position - _ROUNDING_SLACK))

    # Before an order placed now arrives, only what is already due by then can be sold.
    due = p.incoming if p.incoming_before_lead_time is None else p.incoming_before_lead_time
    available = float(p.on_hand) - float(p.reserved) + float(due)
    if method == "negative_binomial":
        during_lead = _count_distribution(mean_l, var_l)
        if available < 0:
            stockout = 1.0
        elif during_lead is None:
            stockout = 0.0
        else:
            stockout = float(during_lead.sf(math.floor(available + _ROUNDING_SLACK)))
    elif sd_l > 0:
        stockout = float(stats.norm.sf(available, loc=mean_l, scale=sd_l))
    else:
        stockout = 1.0 if mean_l > available else 0.0

    per_period = mean_pi / interval if interval > 0 else float(p.period_means[0])
    daily = per_period / period_days
    days_of_cover = None if daily <= 0 else max(0.0, position) / daily

    return Policy(
        protection_interval=interval,
        demand_mean=mean_pi,
        demand_sd=sd_pi,
        safety_stock=safety_stock,
        reorder_point=reorder_point,
        order_up_to=order_up_to,
        inventory_position=position,
        suggested_order=suggested,
        days_of_cover=days_of_cover,
        stockout_probability=stockout,
        method=method,
        z=z,
        lead_time_demand_mean=mean_l,
        lead_time_demand_sd=sd_l,
    )
