"""CSV export and import of companies, partners and products, and setting one custom field on many objects.

Export streams the rows of a list request (same filters and sort as `query.list_objects`)
in batches, with the core columns and every active custom field as a column. Import checks
every row through `service.create`, each inside its own SAVEPOINT so a refused row leaves
no trace, and wraps the whole file in one more SAVEPOINT: if any row fails, nothing is
written unless the caller asked to import the valid rows only. Committing is left to the
caller's tenant scope, as in `service`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import IO, Any

from strata import csvfiles
from strata.business_objects import cache, query, service
from strata.business_objects.fields import FieldSpec, to_jsonable
from strata.db import current_scope, db, enter_scope
from strata.errors import NotFound, ValidationError

MAX_BYTES = 10 * 1024 * 1024
# A file of up to INLINE_ROWS rows is imported inside the request (about 4–5 ms a row); a longer one, up to
# MAX_ROWS, by a background job (`strata.business_objects.imports`).
INLINE_ROWS = 1_000
MAX_ROWS = 50_000
MAX_BULK_IDS = 1_000
PROGRESS_EVERY = 100
BATCH = 500
MULTI_SEPARATOR = "|"
READ_ONLY = ("id", "created_at", "updated_at")  # exported for reference; ignored on import


@dataclass(frozen=True)
class RowError:
    """One problem of an imported row (row 1 is the header, as in a spreadsheet) or a bulk-set object."""

    row: int | None
    field: str
    rule: str
    message: str
    id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ImportReport:
    """What an import did: rows seen, written and refused, with every error."""

    total: int = 0
    imported: int = 0
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class BulkReport:
    """What a bulk set did: objects updated, or (nothing written) the errors by object id."""

    updated: int = 0
    errors: list[RowError] = field(default_factory=list)


# --- export ---------------------------------------------------------------------------------------------------------

def export_fields(entity_type: str) -> list[FieldSpec]:
    """Return every active custom field of `entity_type` (tenant-wide first, then per company), one per name."""
    config = cache.current()
    seen: dict[str, FieldSpec] = {}
    scoped = [f for f in config.fields if f.extra["entity_type"] == entity_type]
    for spec in sorted(scoped, key=lambda f: (f.company_id is not None, f.position, f.label.lower(), f.name)):
        seen.setdefault(spec.name, spec)
    return list(seen.values())


def export_header(entity_type: str) -> list[str]:
    """Return the CSV header of `entity_type`: id, core columns, custom fields, timestamps."""
    kind = service.kind_of(entity_type)
    return ["id", *(f.name for f in kind.fields), *(f.name for f in export_fields(entity_type)),
            "created_at", "updated_at"]


def cell(value: Any) -> str:
    """Return a typed value as CSV text (lists joined with "|", JSON as JSON, booleans as true/false)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return MULTI_SEPARATOR.join(value)
    if isinstance(value, dict | list):
        return json.dumps(to_jsonable(value))
    return str(to_jsonable(value))


def _chunk(rows: Iterable[list[str]]) -> str:
    return csvfiles.text(rows)


def export_csv(entity_type: str, *, q: str | None = None, filters: list[query.Filter] = (),
               sort: list[query.Sort] = (), company_id: int | None = None) -> Iterator[str]:
    """Yield the CSV text of every matching object, header first, a batch of rows at a time; raise ValidationError.

    Filters and sort are checked before the first chunk, so a bad one raises before anything is sent.
    """
    kind = service.kind_of(entity_type)
    statements, _, _ = query.build(entity_type, q=q, filters=filters, sort=sort, company_id=company_id)
    header = export_header(entity_type)
    custom_names = header[1 + len(kind.fields):-2]
    statement = statements.page.limit(None).offset(None).execution_options(yield_per=BATCH)
    scope = current_scope()

    def generate() -> Iterator[str]:
        # A streamed response is read after its view returned, when the request may already
        # have left the tenant scope: enter it again for the reads, and leave it afterwards.
        previous = current_scope()
        if previous is not scope:
            db.session.rollback()
            enter_scope(scope)
        try:
            yield _chunk([header])
            yield from _rows(entity_type, kind, custom_names, statement)
        finally:
            if previous is not scope:
                db.session.rollback()
                enter_scope(previous)

    return generate()


def _rows(entity_type: str, kind: service.Kind, custom_names: list[str], statement) -> Iterator[str]:
    for batch in db.session.scalars(statement).partitions(BATCH):
        custom = query.custom_values_of(entity_type, batch)
        lines = []
        for obj in batch:
            values = custom[obj.id]
            lines.append([str(obj.id), *(cell(getattr(obj, f.name)) for f in kind.fields),
                          *(cell(values.get(name)) for name in custom_names),
                          cell(obj.created_at), cell(obj.updated_at)])
        yield _chunk(lines)


# --- import ---------------------------------------------------------------------------------------------------------

def read_text(source: str | bytes | IO[Any]) -> str:
    """Return the file's text (BOM dropped); raise ValidationError if it is too big or not UTF-8."""
    if hasattr(source, "read"):
        source = source.read(MAX_BYTES + 1)
    if isinstance(source, str):
        source = source.encode("utf-8") if len(source) > MAX_BYTES // 4 else source
    if isinstance(source, bytes):
        if len(source) > MAX_BYTES:
            raise ValidationError.single("file", "size", f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; "
                                                         "split it into smaller files.")
        try:
            source = source.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationError.single("file", "encoding", f"The file is not UTF-8 text (byte {exc.start} cannot "
                                                             "be read); save it as CSV UTF-8.") from None
    return source.removeprefix("\ufeff")


@dataclass(frozen=True)
class _Columns:
    """How each header maps onto the kind: core columns, custom fields (by name), or ignored."""

    width: int
    core: dict[int, str]
    custom: dict[int, FieldSpec]
    ignored: list[str]
    errors: list[RowError]


def _map_header(kind: service.Kind, header: list[str], specs: list[FieldSpec]) -> _Columns:
    by_name = {s.name: s for s in specs}
    by_label = {s.label.strip().lower(): s for s in specs}
    core_names = {f.name for f in kind.fields}
    core: dict[int, str] = {}
    custom: dict[int, FieldSpec] = {}
    ignored: list[str] = []
    errors: list[RowError] = []
    seen: set[str] = set()
    for index, raw in enumerate(header):
        name = raw.strip()
        key = name if name in core_names or name in by_name else name.lower()
        spec = by_name.get(key) or by_label.get(key)
        target = key if key in core_names else (spec.name if spec else None)
        if name in READ_ONLY:
            ignored.append(name)
        elif target is None:
            shown = name or f"(empty, column {index + 1})"
            errors.append(RowError(1, shown, "unknown_column",
                                   f"Column {shown!r} is not a {kind.entity_type} column or custom field; expected "
                                   f"some of: {', '.join([*core_names, *by_name])}."))
        elif target in seen:
            errors.append(RowError(1, name, "duplicate_column", f"Column {name!r} appears more than once."))
        else:
            seen.add(target)
            if target in core_names:
                core[index] = target
            else:
                custom[index] = spec
    return _Columns(len(header), core, custom, ignored, errors)


def _custom_cell(spec: FieldSpec, text: str) -> Any:
    if spec.field_type == "multiselect":
        return [part.strip() for part in text.split(MULTI_SEPARATOR) if part.strip()]
    return text


def _import_row(entity_type: str, columns: _Columns, cells: list[str], number: int,
                actor_id: int | None) -> list[RowError]:
    """Create one object from a row inside a SAVEPOINT; return its errors (the SAVEPOINT rolled back)."""
    if len(cells) > columns.width:
        return [RowError(number, "(row)", "cells", f"Row {number} has {len(cells)} cells but the header has "
                                                   f"{columns.width}.")]
    cells = cells + [""] * (columns.width - len(cells))
    values = {name: cells[i] for i, name in columns.core.items()}
    custom = {spec.name: _custom_cell(spec, cells[i]) for i, spec in columns.custom.items() if cells[i].strip()}
    try:
        with db.session.begin_nested():
            service.create(entity_type, values, custom, actor_id=actor_id)
    except ValidationError as exc:
        return [RowError(number, e.field, e.rule, e.message) for e in exc.errors]
    return []


def import_csv(entity_type: str, source: str | bytes | IO[Any], actor_id: int | None, *,
               import_valid_rows: bool = False, max_rows: int | None = None,
               progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Validate every row and create the objects; return an ImportReport. Raise ValidationError for an unusable file.

    With any refused row nothing is written, unless `import_valid_rows` (then the valid rows are).
    `progress(done, total)` is called every PROGRESS_EVERY rows (background imports show it).
    """
    kind = service.kind_of(entity_type)
    reader = csvfiles.reader(read_text(source))
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise ValidationError.single("file", "empty", "The file is empty; the first row must name the columns.")
        specs = export_fields(entity_type)
        columns = _map_header(kind, header, specs)
        report = ImportReport(errors=list(columns.errors), ignored_columns=columns.ignored)
        if columns.errors:
            return report
        rows = [(index + 2, cells) for index, cells in enumerate(reader) if any(c.strip() for c in cells)]
    except csv.Error as exc:
        raise ValidationError.single("file", "csv", f"The file is not valid CSV: {exc}.") from None
    max_rows = MAX_ROWS if max_rows is None else max_rows
    if len(rows) > max_rows:
        raise ValidationError.single("file", "rows", f"The file has {len(rows)} rows; at most {max_rows} can be "
                                                     "imported at once.")
    report.total = len(rows)
    whole = db.session.begin_nested()
    for done, (number, cells) in enumerate(rows):
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done, report.total)
        errors = _import_row(entity_type, columns, cells, number, actor_id)
        if errors:
            report.failed += 1
            report.errors.extend(errors)
        else:
            report.imported += 1
    if report.failed and not import_valid_rows:
        whole.rollback()
        report.imported = 0
    else:
        whole.commit()
    return report


# --- bulk set -------------------------------------------------------------------------------------------------------

def bulk_set(entity_type: str, ids: Iterable[int | str], field_name: str, raw_value: Any,
             actor_id: int | None) -> BulkReport:
    """Set custom field `field_name` to `raw_value` on every object in `ids`, all or nothing; return a BulkReport.

    Each object is validated as `service.update` does and audited on its own. Raise ValidationError for
    an unknown field, bad ids or too many of them.
    """
    service.kind_of(entity_type)
    if field_name not in {s.name for s in export_fields(entity_type)}:
        raise ValidationError.single("field", "unknown_field", f"{field_name!r} is not a custom field of a "
                                                               f"{entity_type}.")
    try:
        wanted = list(dict.fromkeys(int(i) for i in ids))
    except (TypeError, ValueError):
        raise ValidationError.single("ids", "type", "Object ids must be whole numbers.") from None
    if not wanted:
        raise ValidationError.single("ids", "required", "Choose at least one object.")
    if len(wanted) > MAX_BULK_IDS:
        raise ValidationError.single("ids", "range", f"At most {MAX_BULK_IDS} objects can be changed at once.")
    report = BulkReport()
    whole = db.session.begin_nested()
    for object_id in wanted:
        try:
            with db.session.begin_nested():
                service.update(entity_type, object_id, custom_fields={field_name: raw_value}, actor_id=actor_id)
        except ValidationError as exc:
            report.errors.extend(RowError(None, e.field, e.rule, e.message, id=object_id) for e in exc.errors)
        except NotFound:
            report.errors.append(RowError(None, "id", "exists", f"There is no {entity_type} with id {object_id}.",
                                          id=object_id))
        else:
            report.updated += 1
    if report.errors:
        whole.rollback()
        report.updated = 0
    else:
        whole.commit()
    return report

