"""Migration generator: the difference between two manifest versions as SQL steps, each with its rollback.

A `Step` is a few statements that belong together (copy the data, then drop the column) and
the statements that undo them. The forward SQL is every step in order; the rollback SQL is
every step's rollback in reverse order. Steps that lose data say so in `destructive`: the
registry refuses them unless the migration allows it, and each such step first copies the
affected rows into a backup table, which its rollback copies back from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from psycopg import sql

from strata.errors import FieldError
from strata.extensions import ddl, names
from strata.extensions.ddl import Target, render
from strata.extensions.manifest import Manifest

# (old type, new type) changes that keep every value: no backup, not destructive.
WIDENING = {("Int", "Float"), ("Int", "Decimal"), ("Float", "Decimal")}


@dataclass
class Step:
    """Statements that belong together, the statements that undo them, and what they touch."""

    description: str
    sql: list[str]
    rollback: list[str]
    tables: list[str] = field(default_factory=list)
    destructive: str = ""


@dataclass
class Plan:
    """The steps of one migration, and changes refused outright."""

    steps: list[Step] = field(default_factory=list)
    refusals: list[FieldError] = field(default_factory=list)

    def forward(self) -> list[str]:
        """Return every forward statement in order."""
        return [s for step in self.steps for s in step.sql]

    def backward(self) -> list[str]:
        """Return every rollback statement in order."""
        return [s for step in reversed(self.steps) for s in step.rollback]

    def destructive(self) -> list[Step]:
        """Return the steps that drop or narrow data."""
        return [s for s in self.steps if s.destructive]

    def as_json(self) -> list[dict[str, Any]]:
        """Return the steps as stored in `extension_migrations.steps`."""
        return [asdict(s) for s in self.steps]


def script(statements: list[str]) -> str:
    """Return statements as one SQL script."""
    return "".join(f"{s};\n" for s in statements)


def sha256(text: str) -> str:
    """Return the hex SHA-256 of `text`."""
    return hashlib.sha256(text.encode()).hexdigest()


def _number(value: int | float) -> str:
    """Return a number's canonical text: the same for every spelling jsonb may give back (1e16, 10000000000000000)."""
    exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    return "0" if exact == 0 else str(exact.normalize())


def canonical_json(value: Any) -> str:
    """Return `value` as canonical JSON text: sorted keys, no spaces, numbers as `_number` writes them.

    A definition is stored as `jsonb`, which keeps numbers as `numeric`: 1e16 comes back as the integer
    10000000000000000 and -0.0 as 0. Hashing this form makes the checksum of what is stored equal the
    checksum of what was written, so no valid manifest fails its own verification.
    """
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{json.dumps(str(k))}:{canonical_json(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int | float):
        return _number(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def schema_checksum(definition: dict[str, Any]) -> str:
    """Return the SHA-256 of a manifest definition in canonical JSON."""
    return sha256(canonical_json(definition))


def legacy_schema_checksum(definition: dict[str, Any]) -> str:
    """Return the checksum records written before `canonical_json` carry (still accepted by `verify`)."""
    return sha256(json.dumps(definition, sort_keys=True, separators=(",", ":")))


def sql_checksum(migration_sql: str, rollback_sql: str | None) -> str:
    """Return the SHA-256 over a migration's SQL and its rollback SQL."""
    return sha256(f"{migration_sql}\n-- rollback --\n{rollback_sql or ''}")


@dataclass
class Context:
    """What the phases of `generate` share: both manifests, resolved targets, duplicate counts and the plan."""

    old: Manifest | None
    new: Manifest
    migration_id: str
    old_targets: dict[int, Target]
    new_targets: dict[int, Target]
    duplicates: dict[tuple[str, tuple[str, ...]], int]
    plan: Plan

    def physical(self, table: str) -> str:
        """Return the physical name of a table of the new manifest."""
        return names.table_name(self.new.metadata.namespace, table)

    def add(self, *args, **kwargs) -> None:
        """Append a Step to the plan."""
        self.plan.steps.append(Step(*args, **kwargs))

    def refuse(self, path: str, rule: str, message: str) -> None:
        """Record a change that cannot be applied at all (allow_destructive does not help)."""
        self.plan.refusals.append(FieldError(path, rule, message))


def generate(old: Manifest | None, new: Manifest, *, migration_id: str, old_targets: dict[int, Target] | None = None,
             new_targets: dict[int, Target] | None = None,
             duplicates: dict[tuple[str, tuple[str, ...]], int] | None = None) -> Plan:
    """Return the plan that takes the tenant's schema from `old` (None: nothing installed) to `new`."""
    from strata.extensions import generator_steps as s

    ctx = Context(old, new, migration_id, old_targets or {}, new_targets or {}, duplicates or {}, Plan())
    if old is not None and old.metadata.namespace != new.metadata.namespace:
        ctx.refuse("metadata.namespace", "immutable", "metadata.namespace cannot change between versions "
                   f"(installed: {old.metadata.namespace!r}); uninstall the extension to rename it.")
        return ctx.plan
    s.drop_relationships(ctx)
    s.drop_indexes(ctx)
    s.create_enums(ctx)
    s.create_tables(ctx)
    s.alter_tables(ctx)
    s.remove_enum_values(ctx)
    s.drop_columns(ctx)
    s.drop_tables(ctx)
    s.drop_enums(ctx)
    s.add_indexes(ctx)
    s.add_relationships(ctx)
    return ctx.plan


def enum_recreate(manifest: Manifest, enum: str, labels: list[str]) -> list[str]:
    """Return statements that rebuild an enum type with `labels` and convert the manifest's columns using it."""
    physical = names.enum_name(manifest.metadata.namespace, enum)
    old = names.short(f"{physical}__old")
    statements = [render("ALTER TYPE {} RENAME TO {}", physical, old), ddl.create_enum(manifest, enum, labels)]
    for table in manifest.tables:
        for f in table.fields:
            if f.type != enum:
                continue
            t = names.table_name(manifest.metadata.namespace, table.name)
            if f.default is not None:
                statements.append(render("ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT", t, f.name))
            statements.append(render("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING {}::text::{}",
                                     t, f.name, physical, f.name, physical))
            if f.default is not None:
                statements.append(render("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}", t, f.name,
                                         ddl.literal(manifest, f, f.default)))
    statements.append(render("DROP TYPE {}", old))
    return statements


def in_list(labels: list[str]) -> sql.Composable:
    """Return a parenthesised list of literals."""
    return sql.SQL("({})").format(sql.SQL(", ").join(sql.Literal(v) for v in labels))
