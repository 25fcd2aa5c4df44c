"""Auto REST for installed extension tables under `/api/t/<slug>/x/<plugin>/<table>`, and `/openapi.json`.

`GET …/deal?stage=eq.won&amount=gte.100&or=(title.ilike.*acme*,amount.is.null)&select=title,amount
&order=amount.desc&limit=20` returns {items, total, total_exact, limit, offset} with a `Content-Range`
header: PostgREST's grammar (see strata.filters), `Range: 0-24` pages too, and `Prefer: count=exact|planned|
estimated|none` chooses the count (206 Partial Content for part of a counted result, 416 past its end).
Filter errors are 400 with PostgREST's {code, message, details, hint}; write errors 422. Viewers read;
editors write. Disabled or unknown tables are 404.
"""

from __future__ import annotations

import time

from flask import g, request, url_for

from blueprints import role_required, tenant_blueprint
from blueprints.extensions import retry_when_stale
from strata import filters
from strata.db import db
from strata.errors import ValidationError
from strata.extensions import insight, openapi, rest, runtime

bp = tenant_blueprint("extensions_rest", __name__, api=True)
retry_when_stale(bp)
_TABLE = "/x/<plugin_id>/<table>"


def _content_range(offset: int, shown: int, total: int | None) -> str:
    return f"{f'{offset}-{offset + shown - 1}' if shown else '*'}/{'*' if total is None else total}"


@bp.get(_TABLE)
def list_rows(plugin_id: str, table: str):
    """Return one page of an extension table's rows matching PostgREST filters; 400 (416) for a bad query."""
    spec = runtime.table(plugin_id, table)
    mode, asked = filters.count_mode(request.headers.get("Prefer"))
    try:
        found = rest.parse_filters(spec, list(request.args.lists()))
        order = rest.parse_order(spec, request.args.get("order"))
        chosen = rest.parse_select(spec, request.args.get("select"))
        limit, offset = rest.parse_page(request.args.get("limit"), request.args.get("offset"),
                                        request.headers.get("Range"))
        started = time.perf_counter()
        page = rest.list_rows(spec, found, order, limit, offset, count=mode, select=chosen)
    except ValidationError as exc:
        return filters.postgrest_error(exc)
    insight.record(g.access.tenant_id, plugin_id, table, filters.fields_of(found), [t.field for t in order],
                   (time.perf_counter() - started) * 1000)
    shown, total = len(page.rows), page.total
    headers = {"Content-Range": _content_range(offset, shown, total), "Range-Unit": "items"}
    if asked and page.total_exact and total is not None and offset and offset >= total:
        headers["Content-Range"] = f"*/{total}"
        return {"code": "PGRST103", "message": "Requested range not satisfiable", "hint": None,
                "details": f"An offset of {offset} was requested, but there are only {total} rows."}, 416, headers
    partial = asked and total is not None and (offset > 0 or offset + shown < total)
    body = {"items": page.rows, "total": total, "total_exact": page.total_exact, "limit": page.limit,
            "offset": page.offset}
    return body, 206 if partial else 200, headers


@bp.get(f"{_TABLE}/<row_id>")
def get_row(plugin_id: str, table: str, row_id: str):
    """Return one row; 404 if there is none."""
    return rest.get_row(runtime.table(plugin_id, table), row_id)


@bp.post(_TABLE)
@role_required("editor")
def create_row(plugin_id: str, table: str):
    """Create a row from a JSON object; 201, or 422 with {field, rule, message} for each broken rule."""
    row = rest.create_row(runtime.table(plugin_id, table), request.get_json(silent=True))
    db.session.commit()
    return row, 201


@bp.patch(f"{_TABLE}/<row_id>")
@role_required("editor")
def update_row(plugin_id: str, table: str, row_id: str):
    """Change the given columns of a row; 404 or 422."""
    row = rest.update_row(runtime.table(plugin_id, table), row_id, request.get_json(silent=True))
    db.session.commit()
    return row


@bp.delete(f"{_TABLE}/<row_id>")
@role_required("editor")
def delete_row(plugin_id: str, table: str, row_id: str):
    """Delete a row; 204, 404, or 422 while other rows refer to it."""
    rest.delete_row(runtime.table(plugin_id, table), row_id)
    db.session.commit()
    return "", 204


@bp.get(f"{_TABLE}/<row_id>/<relation>")
def list_links(plugin_id: str, table: str, row_id: str, relation: str):
    """Return the ids a row is linked to through a ManyToMany relationship."""
    return {"items": rest.list_links(runtime.table(plugin_id, table), row_id, relation)}


@bp.post(f"{_TABLE}/<row_id>/<relation>")
@role_required("editor")
def add_link(plugin_id: str, table: str, row_id: str, relation: str):
    """Link a row to the target in the JSON body {"target_id": …}; 201, 404 or 422."""
    body = request.get_json(silent=True)
    target = body.get("target_id") if isinstance(body, dict) else None
    if target is None:
        raise ValidationError.single("target_id", "required", "Send {\"target_id\": …} as the JSON body.")
    rest.add_link(runtime.table(plugin_id, table), row_id, relation, target)
    db.session.commit()
    return {"items": rest.list_links(runtime.table(plugin_id, table), row_id, relation)}, 201


@bp.delete(f"{_TABLE}/<row_id>/<relation>/<target_id>")
@role_required("editor")
def remove_link(plugin_id: str, table: str, row_id: str, relation: str, target_id: str):
    """Remove one link; 204 or 404."""
    rest.remove_link(runtime.table(plugin_id, table), row_id, relation, target_id)
    db.session.commit()
    return "", 204


@bp.get("/openapi.json")
def openapi_document():
    """Return the tenant's OpenAPI 3.1 document: core JSON endpoints and every enabled extension table."""
    server = url_for("api.root").rstrip("/")
    return openapi.build(openapi.app_routes(), runtime.current(), title=f"Strata API · {g.access.name}", server=server)
