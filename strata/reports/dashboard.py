"""Dashboard card: how many reports the tenant keeps and how many backfills run now."""

from __future__ import annotations

from sqlalchemy import func, select

from strata.db import db
from strata.reports.models import Collection, Workflow
from strata.tenancy.dashboard import Card, register_card


@register_card
def _reports_card() -> Card:
    count = db.session.scalar(select(func.count()).select_from(Workflow))
    running = db.session.scalar(select(func.count()).select_from(Collection).where(Collection.status == "running"))
    hint = f"{running} backfill(s) running now." if running else "Build a report from companies, events or things."
    return Card("Reports", count, "reports.index", hint)
