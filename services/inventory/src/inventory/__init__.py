"""Inventory: resources and the capacity ledger. Nothing else may oversell."""
