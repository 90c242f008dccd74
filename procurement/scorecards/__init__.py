"""Supplier scorecards: how reliably each supplier delivers on time, in full, without rejects and
at a fair price, graded A to D. ``scoring`` computes the figures from plain data; ``services``
gathers the history from the database and stores the latest grade on the supplier.
"""

from __future__ import annotations

from procurement.scorecards.services import (
    COMPARED_FIGURES,
    Comparison,
    SupplierScorecard,
    card_view,
    compare,
    comparison_view,
    compute,
    rescore,
    rescore_all,
    scorecard_for,
)

__all__ = [
    "COMPARED_FIGURES",
    "Comparison",
    "SupplierScorecard",
    "card_view",
    "compare",
    "comparison_view",
    "compute",
    "rescore",
    "rescore_all",
    "scorecard_for",
]
