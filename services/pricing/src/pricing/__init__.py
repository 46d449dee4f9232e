"""Pricing: rate plans and quotes, exact to the currency's minor unit."""
