"""Provisioning, lookup and removal of tenants, and the context that runs work as one."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from alembic.script import ScriptDirectory
from flask import current_app, has_app_context
from psycopg import sql
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from strata.accounts.models import Membership
from strata.db import Scope, db, enter_scope, leave_scope, public_scope
from strata.errors import NotFound, ValidationError
from strata.tenancy import migrations, spares, template
from strata.tenancy.models import Tenant
from strata.tenancy.slugs import role_name, role_prefix_for, schema_name, validate_slug

# Granted to every tenant role: the few public columns tenant code must read.
TENANT_GROUP_ROLE = "strata_tenant"


def _ddl(statement: sql.Composable) -> None:
    db.session.connection().exec_driver_sql(statement.as_string(None))


def _create_space(connection, schema: str, role: str) -> None:
    """Create the tenant's NOLOGIN role (a member of the tenant group, granted to us) and its schema."""
    statements = [
        sql.SQL("CREATE ROLE {} NOLOGIN IN ROLE {}").format(sql.Identifier(role), sql.Identifier(TENANT_GROUP_ROLE)),
        sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(role)),
        sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(sql.Identifier(schema), sql.Identifier(role)),
        sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(sql.Identifier(schema)),
    ]
    connection.exec_driver_sql(sql.SQL("; ").join(statements).as_string(None))


def validate_new_tenant(slug: str, name: str) -> None:
    """Raise ValidationError if a tenant with this slug and name may not be created."""
    validate_slug(slug)
    if not name or not name.strip():
        raise ValidationError.single("name", "required", "Name is required.")
    if len(name) > 200:
        raise ValidationError.single("name", "max_length", "Name must be at most 200 characters.")
    if db.session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise ValidationError.single("slug", "unique", f"A tenant with slug {slug!r} already exists.")
    exists = db.session.connection().exec_driver_sql(
        "SELECT 1 FROM pg_namespace WHERE nspname = %(s)s", {"s": schema_name(slug)})
    if exists.first() is not None:
        raise ValidationError.single(
            "slug", "unique", f"The database already holds a schema for {slug!r}; choose another slug."
        )


def role_prefix() -> str:
    """Return this database's prefix for tenant roles (DB_ROLE_PREFIX, or one made from the database name)."""
    configured = current_app.config.get("DB_ROLE_PREFIX") if has_app_context() else None
    return role_prefix_for(db.engine.url.database or "", configured)


def free_role_name(slug: str) -> str:
    """Return the tenant role name for `slug`, with a random suffix when a role of that name exists.

    Roles belong to the whole server: one left by a dropped database, or made by another
    application, must not block provisioning. The tenant row records the name chosen.
    """
    base = role_name(slug, role_prefix())
    candidate = base
    while db.session.connection().exec_driver_sql(
            "SELECT 1 FROM pg_roles WHERE rolname = %(r)s", {"r": candidate}).first() is not None:
        candidate = f"{base[:56]}_{secrets.token_hex(3)}"
    return candidate


def create_tenant(
    slug: str,
    name: str,
    *,
    owner_id: int | None = None,
    timezone: str = "UTC",
    script: ScriptDirectory | None = None,
) -> Tenant:
    """Create schema, role, grants, the tenant row (and owner membership) and migrate, all or nothing.

    Raises ValidationError for a bad or taken slug; any other failure rolls everything back.
    """
    slug = (slug or "").strip()
    name = (name or "").strip()
    with public_scope():
        validate_new_tenant(slug, name)
        schema, role = schema_name(slug), free_role_name(slug)
        try:
            script = script or migrations.script_directory()
            connection = db.session.connection()
            # A spare built ahead of time only needs renaming; otherwise the template is run now.
            claimed = spares.claim(connection, schema, role, role_prefix(), set(script.get_heads()))
            if not claimed:
                recorded = template.template_for(connection, script, _create_space)
                _create_space(connection, schema, role)
            tenant = Tenant(slug=slug, name=name, schema_name=schema, db_role=role, timezone=timezone)
            db.session.add(tenant)
            db.session.flush()
            if owner_id is not None:
                db.session.add(Membership(user_id=owner_id, tenant_id=tenant.id, role="admin"))
                db.session.flush()
            if not claimed:
                template.apply(db.session.connection(), recorded, tenant.scope())
            db.session.commit()
        except IntegrityError as exc:
            db.session.rollback()
            raise ValidationError.single("slug", "unique", f"A tenant with slug {slug!r} already exists.") from exc
        except Exception:
            db.session.rollback()
            raise
    return tenant


def prepare_spares(number: int) -> int:
    """Build `number` spare tenant schemas at head for fast provisioning; return how many were built."""
    return spares.prepare(number, role_prefix(), _create_space)


def drop_tenant(slug: str) -> None:
    """Drop the tenant's schema with all its data, its role and its row. Raises NotFound."""
    with public_scope():
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
        if tenant is None:
            raise NotFound(f"no tenant {slug!r}")
        try:
            _ddl(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(tenant.schema_name)))
            db.session.delete(tenant)
            db.session.flush()
            _ddl(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(tenant.db_role)))
            _ddl(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(tenant.db_role)))
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise


def list_tenants() -> list[Tenant]:
    """Return every tenant, by slug."""
    with public_scope():
        return list(db.session.scalars(select(Tenant).order_by(Tenant.slug)))


def member_counts() -> dict[int, int]:
    """Return the number of members of each tenant, by tenant id."""
    with public_scope():
        rows = db.session.execute(select(Membership.tenant_id, func.count()).group_by(Membership.tenant_id))
        return {tenant_id: count for tenant_id, count in rows}


def get_tenant(slug: str) -> Tenant:
    """Return the tenant with `slug`; raise NotFound."""
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(f"no tenant {slug!r}")
    return tenant


def migrate_tenants(script: ScriptDirectory | None = None, progress=None) -> migrations.MigrateReport:
    """Bring every tenant schema to head; return what happened per tenant."""
    scopes = [t.scope() for t in list_tenants()]
    db.session.rollback()
    return migrations.migrate_all(db.engine, scopes, script, progress)


@contextmanager
def tenant_context(tenant: int | Tenant | Scope) -> Iterator[Scope]:
    """Run the block as `tenant`: its role and schema on every transaction.

    Commits the session's open transaction when the block ends normally and rolls it
    back on error, like `Session.begin()`. Raises NotFound for an unknown tenant id.
    """
    if isinstance(tenant, Scope):
        scope = tenant
    else:
        if isinstance(tenant, int):
            found = db.session.get(Tenant, tenant)
            if found is None:
                raise NotFound(f"no tenant with id {tenant}")
            tenant = found
        scope = tenant.scope()
    token = enter_scope(scope)
    try:
        yield scope
        if db.session().in_transaction():
            db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    finally:
        leave_scope(token)
