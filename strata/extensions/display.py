"""How extension rows read on a page: column labels, enum labels, linked names and dates in the tenant's zone.

The REST API returns stored values; people read labels. `grid(spec, rows, …)` returns, per row and
column, the text to show and (for a relationship) the row it points at: enum values through the
manifest's `localization` in the reader's language, key columns as the target row's name (its `name`,
`title` or `label` column, fetched once per page and column), date-times in the tenant's timezone.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from strata.db import db
from strata.extensions import catalog, runtime
from strata.extensions.runtime import TableSpec

NAME_COLUMNS = ("name", "title", "label")


def heading(name: str) -> str:
    """Return a column name as a heading: `closes_on` → `Closes on`."""
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def enum_labels(spec: TableSpec, languages: list[str]) -> dict[str, dict[str, str]]:
    """Return {field: {value: label}} for the enum fields, in the first of `languages` the manifest has."""
    manifest = runtime.current().manifests.get(spec.plugin_id)
    found: dict[str, dict[str, str]] = {}
    for name, field in spec.fields.items():
        enum = manifest.enum(field["type"]) if manifest is not None else None
        if enum is None:
            continue
        locale = next((lang for lang in languages if lang in enum.localization), None) or next(
            (lang.split("-")[0] for lang in languages if lang.split("-")[0] in enum.localization), None)
        labels = enum.localization.get(locale, {}) if locale else {}
        found[name] = {value: labels.get(value, value) for value in enum.values}
    return found


def linked_names(spec: TableSpec, rows: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Return {relation column: {key: name}} for the keys on this page whose target has a name column."""
    found: dict[str, dict[str, str]] = {}
    for column, rel in spec.relations.items():
        keys = {row[column] for row in rows if row.get(column) is not None}
        label = next((c for c in NAME_COLUMNS if catalog.column(rel["target"], c) is not None), None)
        if not keys or label is None:
            continue
        target = sa.table(rel["target"], sa.column(rel["column"]), sa.column(label))
        key = target.c[rel["column"]]
        query = sa.select(sa.cast(key, sa.Text), target.c[label]).where(sa.cast(key, sa.Text).in_(
            [str(k) for k in keys]))
        found[column] = {value: str(name) for value, name in db.session.execute(query)}
    return found


def _when(value: str, zone: ZoneInfo) -> str:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def grid(spec: TableSpec, rows: list[dict[str, Any]], *, timezone: str, languages: list[str]) -> list[dict]:
    """Return each row as {column: {"text", "title", "link"}} ready for the data page."""
    enums, names = enum_labels(spec, languages), linked_names(spec, rows)
    zone = ZoneInfo(timezone or "UTC")
    shown = []
    for row in rows:
        cells: dict[str, dict[str, Any]] = {}
        for name, value in row.items():
            cell: dict[str, Any] = {"text": "" if value is None else str(value), "title": None, "link": None}
            kind = spec.fields.get(name, {}).get("type")
            if value is None:
                pass
            elif name in enums:
                cell.update(text=enums[name].get(value, value), title=value if enums[name].get(value) != value
                            else None)
            elif name in spec.relations:
                label = names.get(name, {}).get(str(value))
                cell.update(text=label or str(value), title=str(value), link=spec.relations[name]["target"])
            elif kind == "DateTime" or name in ("created_at", "updated_at"):
                cell.update(text=_when(str(value), zone), title=str(value))
            elif kind == "Json":
                cell.update(text=json.dumps(value, ensure_ascii=False))
            elif kind == "Boolean":
                cell.update(text="yes" if value else "no")
            cells[name] = cell
        shown.append(cells)
    return shown
