"""Suppliers and their price lists: who procurement buys from, at which price, and in which
quantities. Callers read ``suppliers.create_supplier``, ``suppliers.add_item`` and so on; the
CSV formats are in ``suppliers.csv_import``.

Nothing here knows about purchase orders or scorecards: orders read suppliers, never the reverse
(an import-linter contract keeps it so).
"""

from __future__ import annotations

from procurement.suppliers.csv_import import ImportOutcome
from procurement.suppliers.price_lists import (
    add_item,
    get_item,
    import_price_list,
    list_items,
    market_prices,
    update_item,
)
from procurement.suppliers.services import (
    STATUS_ACTIONS,
    SUPPLIER_CSV_HEADER,
    SUPPLIER_FILTER_CHOICES,
    SUPPLIER_LIST,
    SupplierFilter,
    approved_suppliers,
    change_status,
    create_supplier,
    get_supplier,
    import_suppliers,
    list_suppliers,
    review,
    supplier_by_code,
    supplier_page,
    supplier_rows,
    update_supplier,
)

__all__ = [
    "STATUS_ACTIONS",
    "SUPPLIER_CSV_HEADER",
    "SUPPLIER_FILTER_CHOICES",
    "SUPPLIER_LIST",
    "ImportOutcome",
    "SupplierFilter",
    "add_item",
    "approved_suppliers",
    "change_status",
    "create_supplier",
    "get_item",
    "get_supplier",
    "import_price_list",
    "import_suppliers",
    "list_items",
    "list_suppliers",
    "market_prices",
    "review",
    "supplier_by_code",
    "supplier_page",
    "supplier_rows",
    "update_item",
    "update_supplier",
]
