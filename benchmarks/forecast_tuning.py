"""Tune the forecasting engine's constants on development series, then report on the others.

Every source (M3, car parts, synthetic weekly retail; see ``_forecast_sets``) is split by a hash
of the series id: the grid below is scored on the development half only, and the report half is
forecast only at the end, once with the constants in the code and once with the chosen ones.
The script changes no code: a chosen value goes into ``forecasting/`` by hand, and only when
the report half agrees it is not worse (see docs/forecasting.md).

How a value is chosen: one constant at a time, in the order of ``KNOBS``, each grid scored with
the values already chosen for the constants before it. Constants of the point forecast are
judged by the point error of each source (M3: MASE, the M3 convention; car parts and retail:
RMSSE, because MASE rewards forecasting zero for sporadic demand); constants of the quantiles
by the scaled pinball loss of the 90% and 95% quantiles (a proper score: it rewards coverage
and narrowness together). The objective is the mean over sources of the ratio to the current
value's figure, so each source counts once whatever its size (if it has at least
``MIN_SOURCE_SERIES`` series in scope). A value replaces the current one only if it improves
that objective by more than ``MARGIN``: smaller differences are noise. The report half agrees
with the chosen set if neither its point error nor its scaled pinball loss is worse, as mean
ratios over sources, than with the constants in the code.

A constant only matters for the series whose demand class takes its path through the engine
(regular or sporadic), so its grid is scored on those development series only.

    python benchmarks/forecast_tuning.py [--jobs 2] [--m3 600] [--only ERROR_TAIL_DF ...]

Prints the grids, the chosen values and the report-half figures; exits 0 (the accuracy targets
are checked by forecast_m3.py and forecast_intermittent.py, on the report half).
"""

from __future__ import annotations

import os

# Per-series work is small; threaded BLAS would only add spinning threads. Set before numpy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Literal  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _forecast_sets import (  # noqa: E402
    RETAIL_SERIES,
    Case,
    carparts_cases,
    carparts_path,
    in_split,
    m3_cases,
    retail_cases,
    spread,
)

from forecasting import engine, smoothing, zoo  # noqa: E402
from forecasting.metrics import coverage, mase, pinball, rmsse, smape  # noqa: E402

QUANTILES = (0.5, 0.9, 0.95)
POINT_METRIC = {"m3": "mase", "carparts": "rmsse", "retail": "rmsse"}
MARGIN = 0.005
# A source with fewer series in a knob's scope is shown but left out of the objective: a ratio
# over a handful of series is noise (car parts has few regular series, M3 few sporadic ones).
MIN_SOURCE_SERIES = 30
SPORADIC = ("intermittent", "lumpy")


@dataclass(frozen=True)
class Knob:
    """A constant of the engine and the values tried for it."""

    module: ModuleType
    name: str
    values: tuple[object, ...]
    scope: Literal["regular", "sporadic"]
    objective: Literal["point", "interval"]
    label: Callable[[object], str] = str


def _members_label(value: object) -> str:
    return "with holt" if "holt" in tuple(value) else "without holt"  # type: ignore[arg-type]


def _theta_label(value: object) -> str:
    return f"theta4 {value['theta4']}"  # type: ignore[index]


_WITHOUT_HOLT = ("ses", "theta", "theta4", "damped")
KNOBS: tuple[Knob, ...] = (
    Knob(engine, "BACKTEST_SPAN", (1, 2, 3), "regular", "point"),
    Knob(engine, "BACKTEST_ORIGINS", (6, 12, 24), "regular", "point"),
    Knob(engine, "MEMBER_SHARE", (0.0, 0.25, 0.5, 0.75, 1.0), "regular", "point"),
    Knob(
        zoo,
        "LINEAR_MEMBERS",
        (_WITHOUT_HOLT, (*_WITHOUT_HOLT, "holt")),
        "regular",
        "point",
        _members_label,
    ),
    Knob(
        smoothing,
        "THETA_WEIGHTS",
        tuple({"theta": 0.5, "theta4": w} for w in (0.67, 0.75, 0.8)),
        "regular",
        "point",
        _theta_label,
    ),
    Knob(engine, "SPORADIC_BACKTEST_ORIGINS", (2, 4, 8), "sporadic", "point"),
    Knob(engine, "SPORADIC_MEMBERS", (1, 2, 3, 5), "sporadic", "point"),
    Knob(engine, "ERROR_TAIL_DF", (2, 3, 4, 6, 30), "regular", "interval"),
    Knob(engine, "VARIANCE_FLOOR_WEIGHT", (0.0, 0.25, 0.5, 0.75), "regular", "interval"),
    Knob(engine, "RECENT_WINDOW", (12, 24, 36), "sporadic", "interval"),
    Knob(engine, "SPORADIC_COUNT_WEIGHT", (0.25, 0.5, 0.75), "sporadic", "interval"),
)
# The values in the code, read when this module loads (in every worker process too).
IN_CODE: dict[str, object] = {k.name: getattr(k.module, k.name) for k in KNOBS}

Config = tuple[tuple[str, object], ...]
Score = dict[str, float | str]


def _apply(config: Config) -> None:
    """Set every tunable constant: the config's value, else the one in the code."""
    chosen = dict(config)
    for knob in KNOBS:
        setattr(knob.module, knob.name, chosen.get(knob.name, IN_CODE[knob.name]))


def _score(task: tuple[Case, Config]) -> Score:
    """Forecast one case under a config; its errors, scaled pinball losses and coverage."""
    case, config = task
    _apply(config)
    t0 = time.process_time()
    result = engine.forecast(
        case.y,
        case.horizon,
        quantiles=QUANTILES,
        exog=case.exog,
        future_exog=case.future_exog,
    )
    cpu = time.process_time() - t0
    actual = case.actual
    mean = result.mean.to_numpy()
    hist = case.y.to_numpy(dtype=float)
    diffs = np.abs(np.diff(hist))
    diffs = diffs[np.isfinite(diffs)]
    scale = float(diffs.mean()) if diffs.shape[0] and diffs.mean() > 0 else 1.0
    q90, q95 = (result.quantiles[q].to_numpy() for q in (0.9, 0.95))
    return {
        "class": result.demand_class,
        "smape": smape(actual, mean),
        "mase": mase(actual, mean, hist, case.period),
        "rmsse": rmsse(actual, mean, hist),
        "pinball": 0.5 * (pinball(actual, q90, 0.9) + pinball(actual, q95, 0.95)) / scale,
        "cover90": coverage(actual, q90),
        "cover95": coverage(actual, q95),
        "ms": cpu * 1000.0,
    }


class Runner:
    """Scores cases under configs, remembering what it has already computed."""

    def __init__(self, jobs: int) -> None:
        self.pool = ProcessPoolExecutor(max_workers=jobs) if jobs > 1 else None
        self.cache: dict[tuple[str, str, str], Score] = {}

    def scores(self, cases: Sequence[Case], config: Config) -> list[Score]:
        config = _canonical(config)
        key = repr(config)  # values may be unhashable (a dict of weights)
        todo = [c for c in cases if (key, c.source, c.series_id) not in self.cache]
        tasks = [(c, config) for c in todo]
        done = self.pool.map(_score, tasks, chunksize=8) if self.pool else map(_score, tasks)
        for case, score in zip(todo, done, strict=True):
            self.cache[(key, case.source, case.series_id)] = score
        return [self.cache[(key, c.source, c.series_id)] for c in cases]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def _canonical(config: Config) -> Config:
    """The config without entries equal to the code's values, in knob order (a cache key)."""
    chosen = dict(config)
    return tuple(
        (k.name, chosen[k.name])
        for k in KNOBS
        if k.name in chosen and chosen[k.name] != IN_CODE[k.name]
    )


def _mean(values: list[float]) -> float:
    a = np.asarray(values, dtype=float)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.shape[0] else float("nan")


def summarise(cases: Sequence[Case], scores: Sequence[Score]) -> dict[str, dict[str, float]]:
    """Mean figures per source: sMAPE, MASE, RMSSE, scaled pinball, coverage, CPU."""
    by_source: dict[str, list[Score]] = defaultdict(list)
    for case, score in zip(cases, scores, strict=True):
        by_source[case.source].append(score)
    out: dict[str, dict[str, float]] = {}
    for source, group in by_source.items():
        figures = {
            m: _mean([float(s[m]) for s in group])
            for m in ("smape", "mase", "rmsse", "pinball", "cover90", "cover95", "ms")
        }
        figures["point"] = figures[POINT_METRIC[source]]
        figures["n"] = float(len(group))
        out[source] = figures
    return out


def objective(
    figures: dict[str, dict[str, float]], reference: dict[str, dict[str, float]], which: str
) -> float:
    """Mean over sources of the figure relative to the reference's: below 1 is better."""
    ratios = [
        figures[s][which] / reference[s][which]
        for s in reference
        if s in figures and reference[s][which] > 0 and reference[s]["n"] >= MIN_SOURCE_SERIES
    ]
    return float(np.mean(ratios)) if ratios else 1.0


def _in_scope(cases: Sequence[Case], classes: dict[tuple[str, str], str], scope: str) -> list[Case]:
    def sporadic(c: Case) -> bool:
        return classes[(c.source, c.series_id)] in SPORADIC

    def regular(c: Case) -> bool:
        return classes[(c.source, c.series_id)] not in (*SPORADIC, "zero")

    keep = sporadic if scope == "sporadic" else regular
    return [c for c in cases if keep(c)]


def tune(runner: Runner, dev: list[Case], knobs: Sequence[Knob]) -> dict[str, object]:
    """One sweep over the knobs on the development cases; the chosen value of each."""
    chosen: dict[str, object] = dict(IN_CODE)
    baseline = runner.scores(dev, ())
    classes = {(c.source, c.series_id): str(s["class"]) for c, s in zip(dev, baseline, strict=True)}
    for knob in knobs:
        cases = _in_scope(dev, classes, knob.scope)
        sources = sorted({c.source for c in cases})
        what = "point error" if knob.objective == "point" else "scaled pinball (90%, 95%)"
        print(
            f"\n{knob.name} (now {knob.label(chosen[knob.name])}): "
            f"{len(cases)} {knob.scope} development series, judged by {what}"
        )
        if not cases:
            print("  no series in scope: kept")
            continue
        current = chosen[knob.name]
        values = knob.values if current in knob.values else (current, *knob.values)
        rows = []
        for value in values:
            config = tuple({**chosen, knob.name: value}.items())
            rows.append((value, summarise(cases, runner.scores(cases, config))))
        reference = next(fig for value, fig in rows if value == current)
        which = "point" if knob.objective == "point" else "pinball"
        counted = [s for s in sources if reference[s]["n"] >= MIN_SOURCE_SERIES]
        print(
            "  series: "
            + ", ".join(
                f"{s} {int(reference[s]['n'])}"
                + ("" if s in counted else " (too few: not counted)")
                for s in sources
            )
        )
        header = f"  {'value':>14s}"
        for s in sources:
            header += f" {s + ' ' + POINT_METRIC[s]:>16s} {'pinball':>8s} {'cov90':>6s}"
        print(header + f" {'objective':>10s}")
        best_value, best_obj = current, 1.0
        for value, fig in rows:
            obj = objective(fig, reference, which)
            line = f"  {knob.label(value):>14s}"
            for s in sources:
                f = fig[s]
                line += f" {f['point']:16.4f} {f['pinball']:8.4f} {f['cover90']:6.1%}"
            mark = " (now)" if value == current else ""
            print(line + f" {obj:10.4f}{mark}")
            if obj < best_obj:
                best_value, best_obj = value, obj
        if best_value != current and best_obj <= 1.0 - MARGIN:
            chosen[knob.name] = best_value
            print(f"  -> {knob.label(best_value)} ({best_obj - 1:+.2%} on development)")
        else:
            print(f"  -> keep {knob.label(current)} (no value better by more than {MARGIN:.1%})")
    return chosen


def report(runner: Runner, cases: list[Case], chosen: dict[str, object]) -> None:
    """Figures on the report half with the constants in the code and, if they differ, chosen."""
    configs: dict[str, Config] = {"in code": ()}
    changed = {k: v for k, v in chosen.items() if v != IN_CODE[k]}
    if changed:
        configs["chosen"] = tuple(changed.items())
    results = {name: summarise(cases, runner.scores(cases, cfg)) for name, cfg in configs.items()}
    print(f"\nREPORT half: {len(cases)} series, forecast once per set of constants")
    print(
        f"  {'constants':10s} {'source':9s} {'n':>5s} {'sMAPE':>7s} {'MASE':>7s} {'RMSSE':>7s}"
        f" {'pinball':>8s} {'cov90':>6s} {'cov95':>6s} {'ms':>6s}"
    )
    for name, fig in results.items():
        for source, f in fig.items():
            print(
                f"  {name:10s} {source:9s} {int(f['n']):5d} {f['smape']:7.3f} {f['mase']:7.4f}"
                f" {f['rmsse']:7.4f} {f['pinball']:8.4f} {f['cover90']:6.1%}"
                f" {f['cover95']:6.1%} {f['ms']:6.1f}"
            )
    if not changed:
        print("the chosen constants are those in the code: nothing to change")
        return
    now, new = results["in code"], results["chosen"]
    point, interval = objective(new, now, "point"), objective(new, now, "pinball")
    print(
        f"chosen vs in code on the report half: point error {point - 1:+.2%}, "
        f"scaled pinball {interval - 1:+.2%} (mean over sources of the ratios)"
    )
    agrees = point <= 1.0 and interval <= 1.0
    print(
        "report half agrees: the chosen values are not worse"
        if agrees
        else "report half DISAGREES: keep the values in the code"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (at most 2)")
    parser.add_argument("--m3", type=int, default=600, help="M3 development series (spread)")
    parser.add_argument("--report-m3", type=int, default=None, help="M3 report series (all)")
    parser.add_argument(
        "--retail", type=int, default=RETAIL_SERIES, help="synthetic items (both halves)"
    )
    parser.add_argument("--carparts", default=None, help="carparts.csv (or CARPARTS_CSV)")
    parser.add_argument("--only", nargs="*", default=None, help="tune these constants only")
    parser.add_argument("--no-report", action="store_true", help="stop after the grids")
    args = parser.parse_args(argv)

    knobs = [k for k in KNOBS if args.only is None or k.name in args.only]
    if args.only and len(knobs) != len(args.only):
        parser.error(f"constants are: {', '.join(k.name for k in KNOBS)}")
    path = carparts_path(args.carparts)
    if path is None or not path.is_file():
        parser.error("the car parts data set is needed: pass --carparts PATH or set CARPARTS_CSV")
    m3, parts, retail = m3_cases(), carparts_cases(path), retail_cases(args.retail)
    dev = (
        spread(in_split(m3, "development"), args.m3)
        + in_split(parts, "development")
        + in_split(retail, "development")
    )
    print("constants in the code: " + ", ".join(f"{k}={v}" for k, v in IN_CODE.items()))
    counts: defaultdict[str, int] = defaultdict(int)
    for c in dev:
        counts[c.source] += 1
    print(
        "DEVELOPMENT half: "
        + ", ".join(f"{s} {n}" for s, n in counts.items())
        + f" series (M3 spread over its {len(in_split(m3, 'development'))})"
    )
    runner = Runner(max(1, min(args.jobs, 2)))
    started = time.perf_counter()
    try:
        chosen = tune(runner, dev, knobs)
        print("\nchosen: " + ", ".join(f"{k}={v}" for k, v in chosen.items()))
        differs = [k for k in chosen if chosen[k] != IN_CODE[k]]
        print("differs from the code: " + (", ".join(differs) if differs else "nothing"))
        if not args.no_report:
            rep = (
                spread(in_split(m3, "report"), args.report_m3)
                + in_split(parts, "report")
                + in_split(retail, "report")
            )
            report(runner, rep, chosen)
    finally:
        runner.close()
    print(f"{time.perf_counter() - started:.0f} s wall")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
