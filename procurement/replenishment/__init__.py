"""Replenishment: how much stock each (item, warehouse) should hold, and what to buy from whom.

``policy`` (pure) turns a forecast's uncertainty and a supplier's lead-time history into safety
stock, reorder point and order-up-to level; ``sourcing`` (pure, OR-Tools) chooses quantities and
suppliers at least cost under shared budget and capacity limits. ``policies`` reads forecasts,
stock and price lists and applies ``policy``; ``plans`` runs sourcing as a job and turns a plan
into draft purchase orders; ``api`` and ``views`` serve them.
"""
