"""Strata domain code: models and logic, one package per feature, no HTTP request handling."""
