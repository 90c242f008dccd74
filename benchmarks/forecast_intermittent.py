"""Intermittent demand: the engine against Croston, SBA and TSB on the car parts data.

Protocol (Hyndman et al., 2008): parts with all 51 months present and at least 10 months with
demand in the first 45; train on the first 45 months, forecast the last 6. Only the report half
of those parts is forecast: the engine's constants were chosen on the other (development) half
(``forecast_tuning.py``; the split is a hash of the part number, see ``_forecast_sets``).

Point forecasts: RMSSE (root mean squared error scaled by the in-sample mean squared one-step
naive difference), averaged over parts. Baselines, measured in the same run: Croston, SBA and TSB
with the textbook smoothing constant 0.1 (also shown with smoothing tuned by in-sample MSE, for
reference). Quantiles: coverage of the engine's 90% quantile over the 6 test months and its
pinball loss, against the empirical 90th percentile of the last 24 training months.

    python benchmarks/forecast_intermittent.py [--data PATH]

The data comes from ``--data`` or ``CARPARTS_CSV`` (a CSV of Hyndman's expsmooth::carparts).
Prints PASS or MISS for each target and exits 1 if any is missed.
"""

from __future__ import annotations

import os

# Per-series work is tiny; threaded BLAS would only add spinning threads. Set before numpy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _forecast_sets import (  # noqa: E402
    CARPARTS_TEST,
    carparts_cases,
    carparts_path,
    in_split,
)

from forecasting import intermittent  # noqa: E402
from forecasting.engine import forecast  # noqa: E402
from forecasting.metrics import coverage, pinball, rmsse  # noqa: E402

# The car parts set (Hyndman's expsmooth::carparts, 2,674 monthly series; the project's copy
# usual copy holds 1,337) is not shipped with the repository: name a copy with --data or
# CARPARTS_CSV.
TEST = CARPARTS_TEST
Q = 0.9
RMSSE_GAIN = 0.05
COVERAGE_BAND = (0.85, 0.95)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="carparts.csv (or CARPARTS_CSV)")
    args = parser.parse_args(argv)
    path = carparts_path(args.data)
    if path is None or not path.is_file():
        parser.error("the car parts data set is needed: pass --data PATH or set CARPARTS_CSV")

    every = carparts_cases(path)
    cases = in_split(every, "report")
    train = np.vstack([c.y.to_numpy() for c in cases])
    test = np.vstack([c.actual for c in cases])

    baselines = {
        "Croston a=0.1": lambda y: intermittent.croston(y, 0.1).forecast(TEST),
        "SBA a=0.1": lambda y: intermittent.sba(y, 0.1).forecast(TEST),
        "TSB a=b=0.1": lambda y: intermittent.tsb(y, 0.1, 0.1).forecast(TEST),
        "Croston tuned": lambda y: intermittent.fit_croston(y).forecast(TEST),
        "SBA tuned": lambda y: intermittent.fit_croston(y, debiased=True).forecast(TEST),
        "TSB tuned": lambda y: intermittent.fit_tsb(y).forecast(TEST),
    }
    scores: dict[str, list[float]] = {name: [] for name in ["engine", *baselines]}
    eng_q: list[np.ndarray] = []
    base_q: list[np.ndarray] = []
    cpu = 0.0
    models: Counter[str] = Counter()
    for case, y, actual in zip(cases, train, test, strict=True):
        t0 = time.process_time()
        result = forecast(case.y, TEST, quantiles=(0.5, Q, 0.95))
        cpu += time.process_time() - t0
        models.update(result.members)
        scores["engine"].append(rmsse(actual, result.mean.to_numpy(), y))
        for name, method in baselines.items():
            scores[name].append(rmsse(actual, method(y), y))
        eng_q.append(result.quantiles[Q].to_numpy())
        base_q.append(np.full(TEST, np.quantile(y[-24:], Q)))

    n = len(cases)
    print(
        f"car parts report half: {n} of {len(every)} parts (the other half is for tuning), "
        f"train {train.shape[1]} months, test {TEST} months"
    )
    print(f"{'method':16s} {'RMSSE':>7s}")
    means = {name: float(np.mean(v)) for name, v in scores.items()}
    for name, value in means.items():
        print(f"{name:16s} {value:7.4f}")
    print(f"engine CPU: {cpu / n * 1000:.1f} ms per series")
    print(
        "models in the engine's combinations: "
        + ", ".join(f"{m} {c}" for m, c in models.most_common())
    )

    eq, bq = np.vstack(eng_q), np.vstack(base_q)
    scale = np.array([np.mean(np.abs(np.diff(y))) or 1.0 for y in train])[:, None]
    cov_e, cov_b = coverage(test, eq), coverage(test, bq)
    pin_e, pin_b = pinball(test, eq, Q), pinball(test, bq, Q)
    spin_e, spin_b = pinball(test / scale, eq / scale, Q), pinball(test / scale, bq / scale, Q)
    print(f"{'90% quantile':28s} {'coverage':>9s} {'pinball':>8s} {'scaled pinball':>15s}")
    print(f"{'engine':28s} {cov_e:9.1%} {pin_e:8.4f} {spin_e:15.4f}")
    print(f"{'empirical, last 24 months':28s} {cov_b:9.1%} {pin_b:8.4f} {spin_b:15.4f}")

    sba = means["SBA a=0.1"]
    checks = [
        (
            f"RMSSE at least {RMSSE_GAIN:.0%} below SBA a=0.1",
            means["engine"] <= (1 - RMSSE_GAIN) * sba,
            f"{means['engine']:.4f} vs {sba:.4f} ({means['engine'] / sba - 1:+.1%})",
        ),
        (
            f"90% coverage within {COVERAGE_BAND[0]:.0%}-{COVERAGE_BAND[1]:.0%}",
            COVERAGE_BAND[0] <= cov_e <= COVERAGE_BAND[1],
            f"{cov_e:.1%}",
        ),
        (
            "pinball loss no worse than the empirical percentile",
            pin_e <= pin_b and spin_e <= spin_b,
            f"{pin_e:.4f} vs {pin_b:.4f}; scaled {spin_e:.4f} vs {spin_b:.4f}",
        ),
    ]
    for label, ok, detail in checks:
        print(f"{'PASS' if ok else 'MISS'}  {label}: {detail}")
    missed = sum(not ok for _, ok, _ in checks)
    print(f"{len(checks) - missed} of {len(checks)} targets met" + (": FAIL" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
