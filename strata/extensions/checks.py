"""Rules over one manifest as a whole: names, types, defaults, indexes, references, limits.

`check(manifest)` returns every broken rule as a FieldError whose field is the JSON path.
Rules that need the database (conflicts with other plugins and core tables, relationship
targets outside this manifest) are in `registry.py`.
"""

from __future__ import annotations

from collections import Counter

from strata.errors import FieldError
from strata.extensions import ddl, names, values
from strata.extensions.manifest import SCALAR_TYPES, Manifest

FK_PROBLEMS = ("OneToOne", "OneToMany")

# A heap row must fit one 8 kB page: MaxHeapTupleSize is 8,160 bytes. Long text, numeric and jsonb values are
# moved out of line (TOAST) until the row fits, but each still leaves an 18-byte pointer behind; fixed-width
# values stay in the row, aligned. The worst case of a table is therefore the row header, the null bitmap,
# every fixed-width column at its aligned size and an 18-byte pointer per variable-width column.
MAX_ROW_BYTES = 8160
_FIXED_WIDTH = {"Int": 8, "Float": 8, "DateTime": 8, "Boolean": 1}
_TOAST_POINTER = 18
_ROW_HEADER = 24


def _name(errors: list[FieldError], path: str, name: str, what: str) -> bool:
    problem = names.identifier_problem(name)
    if problem is not None:
        errors.append(FieldError(path, problem[0], f"{path}: {what} {name!r} {problem[1]}."))
        return False
    return True


def _physical(errors: list[FieldError], path: str, physical: str, what: str) -> None:
    if len(physical.encode()) > names.MAX_IDENTIFIER_BYTES:
        errors.append(FieldError(path, "max_bytes", f"{path}: the {what} name {physical!r} is "
                                 f"{len(physical.encode())} bytes; PostgreSQL allows {names.MAX_IDENTIFIER_BYTES}."))


def _duplicates(errors: list[FieldError], path: str, items: list[str], what: str) -> None:
    for name, count in Counter(items).items():
        if count > 1:
            errors.append(FieldError(path, "unique", f"{path}: {what} {name!r} is declared {count} times."))


def relation_columns(manifest: Manifest, table: str) -> list[str]:
    """Return the foreign key columns the relationships add to `table`."""
    return [r.sourceField for r in manifest.relationships if r.source == table and r.type in FK_PROBLEMS]


def row_width(manifest: Manifest, table: str) -> int:
    """Return the most bytes a full row of `table` can take in its heap page (after TOAST; see MAX_ROW_BYTES)."""
    spec = manifest.table(table)
    layout = [(16, 1), (8, 8), (8, 8)]  # id uuid, created_at, updated_at: (size, alignment)
    for field in spec.fields:
        if manifest.enum(field.type) is not None:
            layout.append((4, 4))
        elif field.type in _FIXED_WIDTH:
            size = _FIXED_WIDTH[field.type]
            layout.append((size, size))
        else:
            layout.append((_TOAST_POINTER, 1))  # an out-of-line pointer has a one-byte header: not aligned
    layout += [(_TOAST_POINTER, 1)] * len(relation_columns(manifest, table))  # a key may be uuid, bigint or text
    offset = -(-(_ROW_HEADER + -(-len(layout) // 8)) // 8) * 8
    for size, align in layout:
        offset = -(-offset // align) * align + size
    return offset


def _required_cycle(manifest: Manifest) -> list[str] | None:
    """Return tables that require each other in a loop through required foreign keys (no first row possible)."""
    edges: dict[str, set[str]] = {}
    for rel in manifest.relationships:
        if rel.required and rel.type in FK_PROBLEMS and manifest.table(rel.target) is not None:
            edges.setdefault(rel.source, set()).add(rel.target)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def check(manifest: Manifest) -> list[FieldError]:
    """Return every rule `manifest` breaks on its own (empty when it is sound)."""
    errors: list[FieldError] = []
    namespace = manifest.metadata.namespace
    if not _name(errors, "metadata.namespace", namespace, "namespace"):
        return errors
    _enums(errors, manifest)
    _duplicates(errors, "tables", [t.name for t in manifest.tables], "table")
    for i in range(len(manifest.tables)):
        _table(errors, manifest, i)
    _relationships(errors, manifest)
    if not errors and (cycle := _required_cycle(manifest)):
        errors.append(FieldError("relationships", "cycle", "relationships: required relationships form a loop ("
                                 f"{' → '.join(cycle)}), so no row could ever be inserted into these tables. "
                                 "Make one of them optional."))
    if not errors:
        _object_names(errors, manifest)
    return errors


def _enums(errors: list[FieldError], manifest: Manifest) -> None:
    _duplicates(errors, "enums", [e.name for e in manifest.enums], "enum")
    for i, enum in enumerate(manifest.enums):
        path = f"enums[{i}]"
        if _name(errors, f"{path}.name", enum.name, "enum"):
            _physical(errors, f"{path}.name", names.enum_name(manifest.metadata.namespace, enum.name), "enum")
        if enum.name in SCALAR_TYPES:
            errors.append(FieldError(f"{path}.name", "reserved", f"{path}.name: {enum.name!r} is a field type."))
        _duplicates(errors, f"{path}.values", enum.values, "value")
        for j, value in enumerate(enum.values):
            if not value or len(value.encode()) > names.MAX_IDENTIFIER_BYTES:
                errors.append(FieldError(f"{path}.values[{j}]", "max_bytes",
                                         f"{path}.values[{j}]: an enum value must be 1 to 63 bytes."))
        for locale, labels in enum.localization.items():
            for value in labels:
                if value not in enum.values:
                    errors.append(FieldError(f"{path}.localization.{locale}.{value}", "unknown",
                                             f"{path}.localization.{locale}: {value!r} is not a value of {enum.name}."))


def _table(errors: list[FieldError], manifest: Manifest, i: int) -> None:
    table, path, namespace = manifest.tables[i], f"tables[{i}]", manifest.metadata.namespace
    if _name(errors, f"{path}.name", table.name, "table"):
        _physical(errors, f"{path}.name", names.table_name(namespace, table.name), "table")
    if table.namespace not in (None, namespace, f"plugin_{namespace}"):
        errors.append(FieldError(f"{path}.namespace", "namespace", f"{path}.namespace: {table.namespace!r} "
                                 f"differs from metadata.namespace {namespace!r}."))
    _duplicates(errors, f"{path}.fields", [f.name for f in table.fields], "field")
    for j, field in enumerate(table.fields):
        _field(errors, manifest, f"{path}.fields[{j}]", field)
    columns = len(table.fields) + len(names.SYSTEM_COLUMNS) + len(relation_columns(manifest, table.name))
    if columns > names.MAX_COLUMNS:
        errors.append(FieldError(f"{path}.fields", "max_columns", f"{path}: {columns} columns with id, timestamps "
                                 f"and relationships; PostgreSQL allows {names.MAX_COLUMNS}."))
    elif (width := row_width(manifest, table.name)) > MAX_ROW_BYTES:
        errors.append(FieldError(f"{path}.fields", "row_width", f"{path}: a full row can take {width:,} bytes even "
                                 f"with every long value moved out of line; PostgreSQL stores at most "
                                 f"{MAX_ROW_BYTES:,} bytes in a row. Split the fields across two tables."))
    known = {f.name for f in table.fields} | set(names.SYSTEM_COLUMNS) | set(relation_columns(manifest, table.name))
    for kind in ("indexes", "uniqueConstraints"):
        for j, index in enumerate(getattr(table, kind)):
            where = f"{path}.{kind}[{j}]"
            if index.name is not None:
                _name(errors, f"{where}.name", index.name, "name")
            _duplicates(errors, f"{where}.fields", index.fields, "field")
            for k, name in enumerate(index.fields):
                if name not in known:
                    errors.append(FieldError(f"{where}.fields[{k}]", "unknown",
                                             f"{where}.fields[{k}]: {table.name} has no field {name!r}."))


def _field(errors: list[FieldError], manifest: Manifest, path: str, field) -> None:
    if _name(errors, f"{path}.name", field.name, "field"):
        if field.name in names.SYSTEM_COLUMNS or field.name in names.PG_SYSTEM_COLUMNS:
            errors.append(FieldError(f"{path}.name", "reserved", f"{path}.name: {field.name!r} is reserved "
                                     "(every table has id, created_at and updated_at)."))
    enum = manifest.enum(field.type)
    if field.type not in SCALAR_TYPES and enum is None:
        errors.append(FieldError(f"{path}.type", "type", f"{path}.type: {field.type!r} is neither one of "
                                 f"{', '.join(SCALAR_TYPES)} nor an enum of this manifest."))
        return
    rules = field.validation
    if rules is not None:
        if field.type != "String" and any(v is not None for v in (rules.minLength, rules.maxLength, rules.pattern)):
            errors.append(FieldError(f"{path}.validation", "applicable",
                                     f"{path}.validation: minLength, maxLength and pattern apply to String fields."))
        if field.type not in ("Int", "Float", "Decimal") and (rules.min is not None or rules.max is not None):
            errors.append(FieldError(f"{path}.validation", "applicable",
                                     f"{path}.validation: min and max apply to Int, Float and Decimal fields."))
        if None not in (rules.minLength, rules.maxLength) and rules.minLength > rules.maxLength:
            errors.append(FieldError(f"{path}.validation.minLength", "order",
                                     f"{path}.validation: minLength is greater than maxLength."))
        if None not in (rules.min, rules.max) and rules.min > rules.max:
            errors.append(FieldError(f"{path}.validation.min", "order", f"{path}.validation: min is greater than max."))
    if field.default is not None:
        spec = field.model_dump(mode="json", exclude_none=True)
        _, problem = values.validate(spec, field.default, enum.values if enum else None, f"{path}.default")
        if problem is not None:
            errors.append(problem)


def _relationships(errors: list[FieldError], manifest: Manifest) -> None:
    sources = Counter((r.source, r.sourceField) for r in manifest.relationships)
    for i, rel in enumerate(manifest.relationships):
        path = f"relationships[{i}]"
        source = manifest.table(rel.source)
        if source is None:
            errors.append(FieldError(f"{path}.source", "unknown", f"{path}.source: no table {rel.source!r} "
                                     "in this manifest."))
            continue
        if not _name(errors, f"{path}.sourceField", rel.sourceField, "field"):
            continue
        if sources[(rel.source, rel.sourceField)] > 1:
            errors.append(FieldError(f"{path}.sourceField", "unique", f"{path}.sourceField: {rel.source}."
                                     f"{rel.sourceField} is used by more than one relationship."))
        if source.field(rel.sourceField) is not None or rel.sourceField in names.SYSTEM_COLUMNS:
            errors.append(FieldError(f"{path}.sourceField", "conflict", f"{path}.sourceField: {rel.source} already "
                                     f"has a field {rel.sourceField!r}; the relationship creates its own column."))
        if rel.onDelete == "SetNull" and rel.required:
            errors.append(FieldError(f"{path}.onDelete", "conflict",
                                     f"{path}.onDelete: SetNull needs an optional (not required) relationship."))
        if rel.type == "ManyToMany":
            join = names.join_table_name(manifest.metadata.namespace, rel.source, rel.sourceField)
            _physical(errors, f"{path}.sourceField", join, "join table")
            if manifest.table(f"{rel.source}_{rel.sourceField}") is not None:
                errors.append(FieldError(f"{path}.sourceField", "conflict",
                                         f"{path}: the join table {join!r} clashes with a table of this manifest."))
        target = manifest.table(rel.target)
        if target is not None and rel.targetField != "id":
            field = target.field(rel.targetField)
            if field is None or not _unique(target, rel.targetField):
                errors.append(FieldError(f"{path}.targetField", "unique", f"{path}.targetField: {rel.target}."
                                         f"{rel.targetField} must be id or a field that is unique on its own."))


def _objects(manifest: Manifest) -> list[tuple[str, str]]:
    """Return (JSON path, physical name) of every table, type and index the manifest creates.

    Tables, their row types, enum types and indexes (primary keys and unique constraints
    included) share one namespace in the tenant's schema, so two of them may not have one name.
    """
    ns, found = manifest.metadata.namespace, []
    for i, enum in enumerate(manifest.enums):
        found.append((f"enums[{i}].name", names.enum_name(ns, enum.name)))
    for i, table in enumerate(manifest.tables):
        physical = names.table_name(ns, table.name)
        found += [(f"tables[{i}].name", physical), (f"tables[{i}].name", names.short(f"pk_{physical}"))]
    for i, rel in enumerate(manifest.relationships):
        path, source = f"relationships[{i}].sourceField", names.table_name(ns, rel.source)
        if rel.type == "ManyToMany":
            join = names.join_table_name(ns, rel.source, rel.sourceField)
            found += [(path, join), (path, names.short(f"pk_{join}")),
                      (path, names.constraint_name("ix", join, ["target_id"]))]
            continue
        found.append((path, names.constraint_name("ix", source, [rel.sourceField])))
        if rel.type == "OneToOne":
            found.append((path, names.constraint_name("uq", source, [rel.sourceField])))
    for i, table in enumerate(manifest.tables):  # after the relationships' own indexes: a copy of one is reported
        physical = names.table_name(ns, table.name)
        found += [(f"tables[{i}].indexes[{j}]", ddl.index_name(physical, index))
                  for j, index in enumerate(table.indexes)]
        found += [(f"tables[{i}].uniqueConstraints[{j}]", ddl.index_name(physical, unique, True))
                  for j, unique in enumerate(table.uniqueConstraints)]
    return found


def _object_names(errors: list[FieldError], manifest: Manifest) -> None:
    taken: dict[str, str] = {}
    for path, physical in _objects(manifest):
        first = taken.setdefault(physical, path)
        if first != path:
            errors.append(FieldError(path, "conflict", f"{path}: creates {physical!r}, which {first} creates "
                                     "too; give one of them another name."))


def _unique(table, field: str) -> bool:
    return any(list(u.fields) == [field] for u in table.uniqueConstraints) or any(
        i.unique and list(i.fields) == [field] for i in table.indexes)
