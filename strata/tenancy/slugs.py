"""Tenant slugs: the one identifier users choose that ends up in schema and role names."""

from __future__ import annotations

import re

from strata.errors import ValidationError

MAX_LENGTH = 40
PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
RESERVED = frozenset({"public", "information_schema", "admin", "api", "static", "t", "new", "strata"})
RESERVED_PREFIXES = ("pg_",)

_NAMED = {" ": "a space", "'": "a quote", '"': "a double quote", ";": "a semicolon", "-": "a hyphen"}


def validate_slug(slug: str) -> str:
    """Return `slug` if it may name a tenant; raise ValidationError naming the broken rule."""
    if not slug:
        raise ValidationError.single("slug", "required", "Slug is required.")
    if len(slug) > MAX_LENGTH:
        raise ValidationError.single(
            "slug", "max_length", f"Slug must be at most {MAX_LENGTH} characters (this one has {len(slug)})."
        )
    if not PATTERN.match(slug):
        bad = next((c for c in slug if not (c.islower() and c.isascii() or c.isdigit() or c == "_")), None)
        if bad is None:
            what = "must start with a lowercase letter"
        elif bad.isupper():
            what = f"must not contain capital letters ({bad!r})"
        else:
            what = f"must not contain {_NAMED.get(bad, repr(bad))}"
        raise ValidationError.single(
            "slug", "pattern", f"Slug {what}; use lowercase letters, digits and underscores, starting with a letter."
        )
    if slug in RESERVED or slug.startswith(RESERVED_PREFIXES):
        raise ValidationError.single("slug", "reserved", f"Slug {slug!r} is reserved; choose another.")
    return slug


def schema_name(slug: str) -> str:
    return f"tenant_{slug}"


PREFIX_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,19}$")


def role_prefix_for(database: str, configured: str | None = None) -> str:
    """Return the role prefix: `configured` (DB_ROLE_PREFIX) if set, else one made from the database name.

    Roles are cluster-wide while schemas are per database, so two Strata databases on one
    server (production and staging) need different prefixes for their tenant roles.
    """
    if configured:
        if not PREFIX_PATTERN.match(configured):
            raise ValueError(f"DB_ROLE_PREFIX must match {PREFIX_PATTERN.pattern}, got {configured!r}")
        return configured
    cleaned = re.sub(r"[^a-z0-9_]", "_", (database or "strata").lower())
    if not cleaned[:1].isalpha():
        cleaned = f"db{cleaned}"
    return f"{cleaned[:19]}_"


def role_name(slug: str, prefix: str) -> str:
    """Return the role for `slug` under `prefix` (at most 20 + 40 characters: within PostgreSQL's 63)."""
    return f"{prefix}{slug}"
