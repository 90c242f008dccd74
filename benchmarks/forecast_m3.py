"""Accuracy and CPU cost of the forecasting engine on the report half of the M3 competition.

The engine's constants were chosen on the other (development) half of M3 and of the other
sources (``forecast_tuning.py``); this benchmark forecasts only the report half, the series
of M3's 3,003 whose id hashes odd (see ``_forecast_sets``), so its figures are not tuned to.

Baseline, measured in the same run: statsmodels' ThetaModel with its default seasonal adjustment,
the method that won M3. Figures: sMAPE and MASE (M3 convention: scaled by the in-sample mean
absolute seasonal difference at the series' period), CPU milliseconds per series
(``time.process_time``), overall and by frequency; plus how often actuals fall at or below the
engine's 90% and 95% quantiles.

    python benchmarks/forecast_m3.py [--limit N] [--jobs 2]

Prints PASS or MISS for each target and exits 1 if any is missed (``--limit`` runs a spread
subset for a quick look; the targets are meant for the whole report half).
"""

from __future__ import annotations

import os

# One series is a few milliseconds of work on small arrays: multi-threaded BLAS only adds
# spinning threads, which inflates CPU time several-fold on a shared machine. Set before numpy
# loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections import defaultdict  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _forecast_sets import Case, in_split, m3_cases, spread  # noqa: E402

from forecasting.engine import forecast  # noqa: E402
from forecasting.metrics import mase, smape  # noqa: E402

TARGET_SMAPE = 12.6
TARGET_MASE = 1.40
TARGET_CPU_MS = 100.0
# One-sided coverage of the 90% and 95% quantiles over all forecast periods.
TARGET_COVER90 = (0.85, 0.95)
TARGET_COVER95 = (0.90, 0.98)
TYPES = ("yearly", "quarterly", "monthly", "other")


def _theta(y: pd.Series, period: int, horizon: int) -> np.ndarray:
    from statsmodels.tsa.forecasting.theta import ThetaModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ThetaModel(y, period=period, deseasonalize=period > 1)
        return np.asarray(model.fit().forecast(horizon), dtype=float)


def evaluate(case: Case) -> dict[str, object]:
    """Forecast one M3 series with the engine and the baseline; errors and CPU time of each."""
    y, actual, period, h = case.y, case.actual, case.period, case.horizon
    x = y.to_numpy()
    t0 = time.process_time()
    result = forecast(y, h)
    t1 = time.process_time()
    base = _theta(y, period, h)
    t2 = time.process_time()
    eng = result.mean.to_numpy()
    return {
        "type": case.group,
        "engine": (smape(actual, eng), mase(actual, eng, x, period), (t1 - t0) * 1000),
        "theta": (smape(actual, base), mase(actual, base, x, period), (t2 - t1) * 1000),
        "cover90": float(np.mean(actual <= result.quantiles[0.9].to_numpy())),
        "cover95": float(np.mean(actual <= result.quantiles[0.95].to_numpy())),
        "model": result.model,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="first N series only")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (at most 2)")
    args = parser.parse_args(argv)

    every = m3_cases()
    report = in_split(every, "report")
    # An even spread over the half, so a quick run sees every frequency.
    cases = spread(report, args.limit)
    jobs = max(1, min(args.jobs, 2))
    started = time.perf_counter()
    if jobs == 1:
        rows = [evaluate(c) for c in cases]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            rows = list(pool.map(evaluate, cases, chunksize=25))
    wall = time.perf_counter() - started

    by_type: dict[str, list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        by_type[str(row["type"])].append(row)
    print(
        f"M3 report half: {len(rows)} of its {len(report)} series (of {len(every)}; the other "
        f"half is for tuning), {jobs} process(es), {wall:.0f} s wall"
    )
    header = f"{'':10s} {'n':>5s}  {'engine sMAPE':>12s} {'MASE':>6s} {'ms':>6s}"
    print(header + f"   {'Theta sMAPE':>11s} {'MASE':>6s} {'ms':>6s}")
    groups = [(t, by_type[t]) for t in TYPES if by_type.get(t)] + [("all", rows)]
    summary: dict[str, tuple[float, ...]] = {}
    for name, group in groups:
        e = np.array([r["engine"] for r in group], dtype=float)
        b = np.array([r["theta"] for r in group], dtype=float)
        em, bm = e.mean(axis=0), b.mean(axis=0)
        summary[name] = (*em, *bm)
        print(
            f"{name:10s} {len(group):5d}  {em[0]:12.3f} {em[1]:6.3f} {em[2]:6.1f}"
            f"   {bm[0]:11.3f} {bm[1]:6.3f} {bm[2]:6.1f}"
        )
    c90 = float(np.mean([r["cover90"] for r in rows]))
    c95 = float(np.mean([r["cover95"] for r in rows]))
    print(f"engine quantile coverage: 90% -> {c90:.1%}, 95% -> {c95:.1%}")
    models: defaultdict[str, int] = defaultdict(int)
    for r in rows:
        for m in str(r["model"]).split("+"):
            models[m] += 1
    print(
        "models in the chosen combinations: "
        + ", ".join(f"{m} {c}" for m, c in sorted(models.items(), key=lambda kv: -kv[1]))
    )

    s_all = summary["all"]
    checks = [
        (
            f"sMAPE <= {TARGET_SMAPE}",
            s_all[0] <= TARGET_SMAPE,
            f"{s_all[0]:.3f} (Theta {s_all[3]:.3f})",
        ),
        (
            f"MASE <= {TARGET_MASE}",
            s_all[1] <= TARGET_MASE,
            f"{s_all[1]:.3f} (Theta {s_all[4]:.3f})",
        ),
        (
            f"CPU <= {TARGET_CPU_MS:.0f} ms per series",
            s_all[2] <= TARGET_CPU_MS,
            f"{s_all[2]:.1f} ms (Theta {s_all[5]:.1f} ms)",
        ),
        (
            f"90% quantile coverage within {TARGET_COVER90[0]:.0%}-{TARGET_COVER90[1]:.0%}",
            TARGET_COVER90[0] <= c90 <= TARGET_COVER90[1],
            f"{c90:.1%}",
        ),
        (
            f"95% quantile coverage within {TARGET_COVER95[0]:.0%}-{TARGET_COVER95[1]:.0%}",
            TARGET_COVER95[0] <= c95 <= TARGET_COVER95[1],
            f"{c95:.1%}",
        ),
    ]
    for label, ok, detail in checks:
        print(f"{'PASS' if ok else 'MISS'}  {label}: {detail}")
    missed = sum(not ok for _, ok, _ in checks)
    print(f"{len(checks) - missed} of {len(checks)} targets met" + (": FAIL" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
