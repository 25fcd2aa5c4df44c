"""Spare tenant schemas: built ahead of time from the template, renamed to a new tenant on sign-up.

Most of a tenant's provisioning time is PostgreSQL building its empty indexes (each B-tree build
is flushed to disk on its own). A spare is a schema and role at head made beforehand
(`flask tenants spares N`, for example from cron and after each deploy that adds a tenant
revision); provisioning then only renames both, which takes milliseconds. Without a spare of
the current head, a tenant is built from the template as before. Renames keep every object, owner and grant
(they refer to the schema and role by oid, and tenant code names no schema), so a claimed spare
is the same as a tenant built in place; `tests/tenancy/test_spares.py` compares catalogues.
"""

from __future__ import annotations

import secrets

from alembic.script import ScriptDirectory
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import Connection

from strata.db import Scope, db, public_scope
from strata.tenancy import migrations, template

SCHEMA_PREFIX = "strata_spare_"
# Spares of this database: schemas named strata_spare_…, owned by a role of our prefix.
_SPARES = text(
    "SELECT n.nspname, r.rolname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner "
    r"WHERE n.nspname LIKE 'strata\_spare\_%' AND r.rolname LIKE :role ORDER BY n.oid")


def _like(prefix: str) -> str:
    return prefix.replace("_", r"\_") + r"spare\_%"


def count(role_prefix: str) -> int:
    """Return how many spares this database holds."""
    return len(db.session.execute(_SPARES, {"role": _like(role_prefix)}).all())


def prepare(number: int, role_prefix: str, create_space, script: ScriptDirectory | None = None) -> int:
    """Build `number` spares at head, each in its own transaction; return how many were built."""
    script = script or migrations.script_directory()
    built = 0
    with public_scope():
        for _ in range(number):
            token = secrets.token_hex(6)
            schema, role = f"{SCHEMA_PREFIX}{token}", f"{role_prefix}spare_{token}"
            connection = db.session.connection()
            recorded = template.template_for(connection, script, create_space)
            create_space(connection, schema, role)
            template.apply(connection, recorded, Scope(0, "spare", schema, role))
            db.session.commit()
            built += 1
    return built


def _versions(connection: Connection, schema: str) -> set[str]:
    query = sql.SQL("SELECT version_num FROM {}.alembic_version").format(sql.Identifier(schema))
    return {row[0] for row in connection.exec_driver_sql(query.as_string(None))}


def claim(connection: Connection, schema: str, role: str, role_prefix: str, heads: set[str]) -> bool:
    """Rename a spare at `heads` to `schema` and `role` in the open transaction; False if none is free."""
    for spare_schema, spare_role in connection.execute(_SPARES, {"role": _like(role_prefix)}).all():
        locked = connection.execute(text("SELECT pg_try_advisory_xact_lock(hashtext(:s))"),
                                    {"s": spare_schema}).scalar()
        still_there = connection.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"),
                                         {"s": spare_schema}).first()
        if not locked or still_there is None or _versions(connection, spare_schema) != heads:
            continue
        statements = [
            sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(spare_schema), sql.Identifier(schema)),
            sql.SQL("ALTER ROLE {} RENAME TO {}").format(sql.Identifier(spare_role), sql.Identifier(role)),
        ]
        connection.exec_driver_sql(sql.SQL("; ").join(statements).as_string(None))
        return True
    return False
