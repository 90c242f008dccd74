"""Logistics: carriers, their services and rate cards, shipments, and choosing who carries what.

Depends on inventory (warehouses, products, committed reservations) and never on procurement.
"""
