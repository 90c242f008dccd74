"""Purchase orders, one module per capability:

- ``writing``: create, edit, find and list orders (drafts are priced from the price list);
- ``transitions``: submit, approve, reject, send, cancel and close, each one row of a table
  run by one helper (lock, check, change, audit);
- ``receiving``: deliveries into stock through the ledger;
- ``price_check``: an order's prices against other suppliers', for approvers;
- ``changes``: what every change of an order shares (locking, versions, incoming, audit);
- ``workflow`` and ``pricing``: the pure rules (states and transitions, approval limits, price
  breaks, MOQ and pack sizes), free of web and database frameworks.

Callers import the capability (``from procurement.orders import transitions``). This package
re-exports nothing on purpose: the models import the pure rules from here, so an ``__init__``
that pulled in the use cases would import the models while they are still being defined.
"""
