"""Keep the linear algebra libraries single-threaded while forecasting.

A series is a few milliseconds of work on tiny arrays, yet OpenBLAS starts a thread per core for
the small matrix operations inside scipy's optimisers (statsmodels' ETS fit) and keeps them
spinning: on a busy two-core machine that multiplied the CPU time of a forecast four-fold.
Throughput on many series comes from running series in parallel processes instead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl is a declared dependency
        return None
    # Import the libraries whose thread pools matter first, so the controller sees them.
    import scipy.optimize  # noqa: F401
    import statsmodels.tsa.exponential_smoothing.ets  # noqa: F401

    return ThreadpoolController()


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit BLAS/OpenMP pools to one thread for the duration of the block."""
    controller = _controller()
    if controller is None:  # pragma: no cover
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield
