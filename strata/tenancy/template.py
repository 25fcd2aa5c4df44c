"""Tenant templates: the SQL of a full tenant migration, recorded once and replayed per new tenant.

Running every tenant revision through Alembic costs hundreds of milliseconds per tenant.
The statements it sends, though, are the same for every fresh schema: the revisions name
no schema (the search_path does) and only the version table is schema-qualified. So the
first provisioning in a process migrates a throw-away schema and role inside a
savepoint that is rolled back, records every statement with its parameters rendered
as literals, and keeps the result. Each later tenant gets that script with the
throw-away names replaced by its own, sent as one batch (a single round trip) in the
provisioning transaction. `tests/tenancy/test_template.py` checks that a replayed schema
has the very catalogue of a migrated one.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

import psycopg
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection

from strata.db import Scope, apply_scope
from strata.tenancy import migrations


@dataclass(frozen=True)
class Template:
    """A recorded tenant migration: its SQL text with placeholder schema and role names."""

    heads: frozenset[str]
    schema: str
    role: str
    statements: tuple[str, ...]

    @property
    def script(self) -> str:
        return ";\n".join(self.statements) + ";\n"

    def render(self, schema: str, role: str) -> str:
        """Return the script for a tenant with `schema` and `role`."""
        # The placeholders are long random names, so no other text can contain them.
        return self.script.replace(self.role, role).replace(self.schema, schema)


_templates: dict[tuple, Template] = {}
_lock = threading.Lock()


def _key(script: ScriptDirectory) -> tuple:
    return tuple(script.version_locations or ()), tuple(sorted(script.get_heads()))


def _record(connection: Connection, script: ScriptDirectory, prepare) -> Template:
    """Migrate a throw-away tenant in a rolled-back savepoint and return what was sent."""
    token = secrets.token_hex(8)
    schema, role = f"strata_template_{token}", f"strata_template_{token}_role"
    sent: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if executemany:
            for params in parameters:
                sent.append(psycopg.ClientCursor(cursor.connection).mogrify(statement, params))
        elif parameters is None:
            sent.append(statement)
        else:
            sent.append(psycopg.ClientCursor(cursor.connection).mogrify(statement, parameters))

    # A savepoint in the caller's transaction, not a second connection: behind a pool of
    # one (PgBouncer) a second connection would wait for this transaction to end.
    savepoint = connection.begin_nested()
    try:
        prepare(connection, schema, role)
        event.listen(connection, "before_cursor_execute", capture)
        try:
            applied = migrations.upgrade_schema(connection, Scope(0, "template", schema, role), script)
        finally:
            event.remove(connection, "before_cursor_execute", capture)
    finally:
        savepoint.rollback()
    if not applied:
        raise RuntimeError("the tenant revisions applied nothing")
    statements = tuple(statement.strip().rstrip(";") for statement in sent if statement.strip())
    return Template(frozenset(script.get_heads()), schema, role, statements)


def template_for(connection: Connection, script: ScriptDirectory, prepare) -> Template:
    """Return the recorded migration for `script`'s heads, recording it on first use.

    `prepare(connection, schema, role)` creates the schema and role the way provisioning
    does, so the recording sees the same starting point as a real tenant.
    """
    key = _key(script)
    template = _templates.get(key)
    if template is None:
        with _lock:
            template = _templates.get(key)
            if template is None:
                template = _templates[key] = _record(connection, script, prepare)
    return template


def apply(connection: Connection, template: Template, scope: Scope) -> None:
    """Run `template` for `scope` in the caller's transaction, then return to the login role."""
    # The driver's connection: one simple-protocol round trip for the whole batch.
    connection.connection.driver_connection.execute(template.render(scope.schema, scope.role))
    apply_scope(connection, None)


def forget() -> None:
    """Drop the recorded templates (after revisions changed on disk within one process)."""
    _templates.clear()
