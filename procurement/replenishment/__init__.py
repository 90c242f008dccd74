"""Replenishment: how much stock each (item, warehouse) should hold, and what to buy from whom.

``policy`` turns a forecast's uncertainty and a supplier's lead-time history into safety stock,
reorder point and order-up-to level; ``sourcing`` chooses quantities and suppliers at least cost
under shared budget and capacity limits. Both are pure; the rest of the package reads and writes.
"""
