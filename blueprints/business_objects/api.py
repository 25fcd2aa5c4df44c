"""JSON CRUD for companies, partners and products under `/api/t/<slug>/…`, with list search, filters and sorts.

`GET /companies?q=acme&employees=gte.10&founded=lt.2020-01-01&or=(tier.eq.gold,tier.is.null)&sort=-employees,name
&limit=50&offset=0` returns `{items, total, total_exact, limit, offset}` (total exact up to a bound, the planner's
estimate beyond); any parameter other than q, sort, limit and offset is a filter in the platform's language
(strata.filters). Viewers read; editors write. Bad input is a 422 naming field and rule.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask_login import current_user

from blueprints import role_required, tenant_blueprint
from strata.business_objects import query, service
from strata.db import db
from strata.errors import ValidationError

bp = tenant_blueprint("business_objects_api", __name__, api=True)

COLLECTIONS = {"companies": "company", "partners": "partner", "products": "product"}
_ROUTE = "/<any(companies, partners, products):collection>"
_RESERVED = ("q", "sort", "limit", "offset")


def _one(entity_type: str, obj: Any) -> dict[str, Any]:
    return query.as_dict(entity_type, obj, query.custom_values_of(entity_type, [obj])[obj.id])


def _body() -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the JSON body's core values and its `custom_fields`; raise ValidationError if it is not an object."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError.single("body", "json", "The request body must be a JSON object, e.g. "
                                                     '{"name": "Acme", "custom_fields": {"employees": 10}}.')
    body = dict(body)
    custom = body.pop("custom_fields", None) or {}
    if not isinstance(custom, dict):
        raise ValidationError.single("custom_fields", "type", "custom_fields must be a JSON object of field: value.")
    return body, custom


@bp.get(_ROUTE)
def list_objects(collection: str):
    """Return one page of the collection as {items, total, limit, offset}; 422 for a bad filter or sort."""
    entity_type = COLLECTIONS[collection]
    filters = query.parse_filters(request.args.lists(), _RESERVED)
    page = query.list_objects(entity_type, q=request.args.get("q"), filters=filters,
                              sort=query.parse_sort(request.args.get("sort")),
                              limit=request.args.get("limit"), offset=request.args.get("offset"))
    items = [query.as_dict(entity_type, row, page.custom[row.id]) for row in page.rows]
    return {"items": items, "total": page.total, "total_exact": page.total_exact, "limit": page.limit,
            "offset": page.offset}


@bp.get(f"{_ROUTE}/<int:object_id>")
def get_object(collection: str, object_id: int):
    """Return one object with its custom fields; 404 if this tenant has no such object."""
    entity_type = COLLECTIONS[collection]
    return _one(entity_type, service.get(entity_type, object_id))


@bp.post(_ROUTE)
@role_required("editor")
def create_object(collection: str):
    """Create an object from a JSON body; return it with 201, or 422 naming each broken rule."""
    entity_type = COLLECTIONS[collection]
    values, custom = _body()
    obj = service.create(entity_type, values, custom, actor_id=current_user.id)
    db.session.commit()
    return _one(entity_type, obj), 201


@bp.patch(f"{_ROUTE}/<int:object_id>")
@role_required("editor")
def update_object(collection: str, object_id: int):
    """Apply the JSON body's changes to an object; return it, 404 or 422."""
    entity_type = COLLECTIONS[collection]
    values, custom = _body()
    obj = service.update(entity_type, object_id, values, custom, actor_id=current_user.id)
    db.session.commit()
    return _one(entity_type, obj)


@bp.delete(f"{_ROUTE}/<int:object_id>")
@role_required("editor")
def delete_object(collection: str, object_id: int):
    """Delete an object and its custom values; 204, 404, or 422 when it is still in use."""
    service.delete_object(COLLECTIONS[collection], object_id, actor_id=current_user.id)
    db.session.commit()
    return "", 204
