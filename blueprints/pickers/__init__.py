"""Pickers: the options a searchable picker shows as a person types (htmx active search)."""
