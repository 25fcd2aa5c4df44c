"""Searchable pickers: find a company, partner, product or thing by what a person types.

One search per kind, each returning at most `limit` (value, label, detail) choices: names that start
with the text first, then names that contain it, and an exact company number or id. A picker never
lists a whole table, so it works the same with ten companies or a million.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, or_, select

from strata.business_objects.models import Company, Partner, Product
from strata.db import db

LIMIT = 20
MAX_QUERY = 200


@dataclass(frozen=True)
class Choice:
    """One option of a picker: the value submitted, the name shown and a detail beside it."""

    value: str
    label: str
    detail: str = ""


def _ranked(model, q: str, extra=()):
    text = q.strip()[:MAX_QUERY]
    name = model.name
    query = select(model)
    if text:
        exact = [c == text for c in extra]
        if text.isdigit() and len(text) <= 9:
            exact.append(model.id == int(text))
        query = query.where(or_(name.icontains(text, autoescape=True), *exact))
        starts = case((func.lower(name).startswith(text.lower(), autoescape=True), 0), else_=1)
        query = query.order_by(case(*((e, -1) for e in exact), else_=0) if exact else 0, starts)
    return query.order_by(name, model.id)


def companies(q: str = "", limit: int = LIMIT) -> list[Choice]:
    """Return companies whose name contains `q` (those starting with it first), or whose number or id is `q`."""
    rows = db.session.scalars(_ranked(Company, q, (Company.company_number,)).limit(limit))
    return [Choice(str(c.id), c.name, c.company_number or "") for c in rows]


def partners(q: str = "", limit: int = LIMIT) -> list[Choice]:
    """Return partners whose name contains `q`, or whose id is `q`."""
    return [Choice(str(p.id), p.name, f"#{p.id}") for p in db.session.scalars(_ranked(Partner, q).limit(limit))]


def products(q: str = "", limit: int = LIMIT) -> list[Choice]:
    """Return products whose name contains `q`, or whose id is `q`."""
    return [Choice(str(p.id), p.name, f"#{p.id}") for p in db.session.scalars(_ranked(Product, q).limit(limit))]


def company_label(value) -> str:
    """Return the label a company picker shows for a chosen id (empty when there is none)."""
    try:
        key = int(value)
    except (TypeError, ValueError):
        return ""
    if not 0 < key < 2 ** 31:
        return ""
    found = db.session.get(Company, key)
    return f"{found.name}{f' ({found.company_number})' if found.company_number else ''}" if found else ""


SEARCHES = {"companies": companies, "partners": partners, "products": products}


def company_names(ids) -> dict[int, str]:
    """Return {id: name} of the given companies (the ones a page shows), however many the tenant has."""
    keys = {int(i) for i in ids if isinstance(i, int) or (isinstance(i, str) and i.isdigit())}
    keys = {k for k in keys if 0 < k < 2 ** 31}
    if not keys:
        return {}
    return dict(db.session.execute(select(Company.id, Company.name).where(Company.id.in_(keys))).all())
