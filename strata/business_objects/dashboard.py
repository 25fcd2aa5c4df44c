"""Dashboard cards: how many companies, partners and products the tenant keeps."""

from __future__ import annotations

from sqlalchemy import func, select

from strata.business_objects.models import Company, Partner, Product
from strata.db import db
from strata.tenancy.dashboard import Card, register_card


def _counter(model, title: str, collection: str, hint: str):
    def build() -> Card:
        count = db.session.scalar(select(func.count()).select_from(model))
        return Card(title, count, "objects.index", hint, {"collection": collection})

    return build


for _model, _title, _collection, _hint in (
    (Company, "Companies", "companies", "Organisations you work with; Companies House fills them in."),
    (Partner, "Partners", "partners", "People and firms that belong to a company."),
    (Product, "Products", "products", "What you sell, with your own custom fields."),
):
    register_card(_counter(_model, _title, _collection, _hint))
