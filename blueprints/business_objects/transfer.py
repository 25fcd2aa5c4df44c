"""CSV export and import of companies, partners and products, and setting one custom field on many at once.

Every member may export; editors and admins may import and bulk-set. An import that wrote
nothing because of refused rows answers 422 with the errors by row and column.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Response, abort, flash, g, render_template, request, stream_with_context
from flask_login import current_user
from htmx_flask import make_response

from blueprints import page_or_partial, role_required, tenant_blueprint
from strata.business_objects import csvio, imports, query
from strata.db import db
from strata.errors import ValidationError

bp = tenant_blueprint("transfer", __name__)

COLLECTIONS = {"companies": "company", "partners": "partner", "products": "product"}
_ROUTE = "/<any(companies, partners, products):collection>"
_RESERVED = ("q", "sort", "limit", "offset", "company_id")


def _company_id(raw: str | None) -> int | None:
    """Return the partners' company filter, or raise ValidationError for junk."""
    if raw is None or not raw.strip():
        return None
    if not raw.strip().isdigit():
        raise ValidationError.single("company_id", "type", "company_id must be a company's id (a whole number).")
    return int(raw)


@bp.get(f"{_ROUTE}/export.csv")
def export(collection: str):
    """Stream the collection as a CSV attachment, filtered and sorted like its list; 422 for a bad filter."""
    entity_type = COLLECTIONS[collection]
    filters = query.parse_filters(request.args.lists(), _RESERVED)
    chunks = csvio.export_csv(entity_type, q=request.args.get("q"), filters=filters,
                              sort=query.parse_sort(request.args.get("sort")),
                              company_id=_company_id(request.args.get("company_id")))
    filename = f"{collection}-{datetime.now(UTC):%Y%m%d-%H%M}.csv"
    return Response(stream_with_context(chunks), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})


def _render_import(collection: str, status: int = 200, report: csvio.ImportReport | None = None,
                   file_errors: list | None = None, import_valid_rows: bool = False):
    entity_type = COLLECTIONS[collection]
    columns = [c for c in csvio.export_header(entity_type) if c not in csvio.READ_ONLY]
    return page_or_partial("business_objects/transfer/import.html", "business_objects/transfer/_import_result.html",
                           status, collection=collection, columns=columns, report=report,
                           file_errors=file_errors or [], import_valid_rows=import_valid_rows,
                           max_rows=csvio.MAX_ROWS, max_mb=csvio.MAX_BYTES // (1024 * 1024))


@bp.get(f"{_ROUTE}/import")
@role_required("editor")
def import_form(collection: str):
    """Return the upload page for a CSV of the collection."""
    return _render_import(collection)


@bp.post(f"{_ROUTE}/import")
@role_required("editor")
def import_file(collection: str):
    """Import an uploaded CSV; return the result (422 when refused rows or a bad file meant nothing was written)."""
    valid_only = request.form.get("import_valid_rows") in ("on", "true", "1", "yes")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _render_import(collection, 422, file_errors=["Choose a CSV file to import."],
                              import_valid_rows=valid_only)
    try:
        text = csvio.read_text(upload.stream)
        if imports.data_rows(text) > csvio.INLINE_ROWS:  # a long file is imported by a job; the page polls
            token = imports.start(g.access.tenant_id, COLLECTIONS[collection], text, current_user.id, valid_only)
            return _render_job(collection, token, 202)
        report = csvio.import_csv(COLLECTIONS[collection], text, current_user.id, import_valid_rows=valid_only)
    except ValidationError as exc:
        db.session.rollback()
        return _render_import(collection, 422, file_errors=[e.message for e in exc.errors],
                              import_valid_rows=valid_only)
    if report.imported:
        db.session.commit()
    else:
        db.session.rollback()
    status = 422 if report.errors and not report.imported else 200
    return _render_import(collection, status, report=report, import_valid_rows=valid_only)


def _render_job(collection: str, token: str, status: int = 200):
    job = imports.status(g.access.tenant_id, token)
    if job is None or job.get("entity_type") != COLLECTIONS[collection]:
        abort(404)
    if job["state"] == "failed":
        return _render_import(collection, 422, file_errors=[job["error"]])
    if job["state"] == "done":
        report = job["report"]
        return _render_import(collection, 422 if report["errors"] and not report["imported"] else 200, report=report)
    entity_type = COLLECTIONS[collection]
    return page_or_partial("business_objects/transfer/import.html", "business_objects/transfer/_import_progress.html",
                           status, collection=collection, job=job, token=token, file_errors=[],
                           columns=[c for c in csvio.export_header(entity_type) if c not in csvio.READ_ONLY],
                           max_rows=csvio.MAX_ROWS, max_mb=csvio.MAX_BYTES // (1024 * 1024))


@bp.get(f"{_ROUTE}/import/<token>")
@role_required("editor")
def import_progress(collection: str, token: str):
    """Show a background import's progress (polling itself while it runs), then its report."""
    return _render_job(collection, token)


@bp.post(f"{_ROUTE}/bulk")
@role_required("editor")
def bulk(collection: str):
    """Set one custom field on the chosen objects; return the count, or 422 with the errors by object id."""
    ids = request.form.getlist("ids[]") or request.form.getlist("ids")
    field_name = request.form.get("field", "").strip()
    try:
        report = csvio.bulk_set(COLLECTIONS[collection], ids, field_name, request.form.get("value", ""),
                                current_user.id)
    except ValidationError as exc:
        db.session.rollback()
        report = csvio.BulkReport(errors=[csvio.RowError(None, e.field, e.rule, e.message) for e in exc.errors])
    if report.errors:
        db.session.rollback()
    else:
        db.session.commit()
        noun = collection if report.updated != 1 else COLLECTIONS[collection]
        flash(f"Set {field_name} on {report.updated} {noun}.", "success")
    body = render_template("business_objects/transfer/_bulk_result.html", report=report, field_name=field_name,
                           collection=collection, entity_type=COLLECTIONS[collection])
    if report.errors:
        return body, 422
    # The list listens for this event and reloads itself with the new values.
    return make_response(body, 200, trigger="objects-changed")
