"""Demand classification (Syntetos & Boylan, 2005): how often demand occurs, how much it varies.

The class decides which model family is worth trying: smoothing and Theta for smooth and erratic
demand, Croston-type methods when demand arrives in occasional bursts. The cut-offs are those of
Syntetos, Boylan and Croston (2005), where SBA starts to beat Croston and SES in mean squared error.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49


class DemandClass(StrEnum):
    """Syntetos-Boylan demand classes, plus ``zero`` for a history without any demand."""

    SMOOTH = "smooth"
    ERRATIC = "erratic"
    INTERMITTENT = "intermittent"
    LUMPY = "lumpy"
    ZERO = "zero"

    @property
    def is_sporadic(self) -> bool:
        """Demand arrives in occasional bursts, so per-period level models mislead."""
        return self in (DemandClass.INTERMITTENT, DemandClass.LUMPY)


@dataclass(frozen=True)
class DemandProfile:
    """Average inter-demand interval, squared coefficient of variation of sizes, and the class."""

    adi: float
    cv2: float
    demand_class: DemandClass
    nonzero: int
    observed: int


def classify(y: np.ndarray) -> DemandProfile:
    """Classify a demand history; missing periods (NaN) are ignored rather than read as zero.

    ADI is the number of observed periods per period with demand. CV² uses the population
    variance of the non-zero sizes, so a single demand gives CV² = 0 rather than undefined.
    """
    x = np.asarray(y, dtype=float)
    x = x[np.isfinite(x)]
    nonzero = x[x != 0]
    k = int(nonzero.shape[0])
    if k == 0:
        return DemandProfile(float("inf"), 0.0, DemandClass.ZERO, 0, int(x.shape[0]))
    adi = x.shape[0] / k
    mean = float(np.mean(nonzero))
    # Relative sizes keep the ratio finite for any magnitude (mean**2 can underflow or overflow).
    cv2 = float(np.var(nonzero / mean)) if mean != 0 else 0.0
    if adi < ADI_CUTOFF:
        cls = DemandClass.SMOOTH if cv2 < CV2_CUTOFF else DemandClass.ERRATIC
    else:
        cls = DemandClass.INTERMITTENT if cv2 < CV2_CUTOFF else DemandClass.LUMPY
    return DemandProfile(float(adi), cv2, cls, k, int(x.shape[0]))
