"""The database object, the model base and the tenant scope applied to every transaction.

A *scope* names the tenant whose schema and database role a transaction runs under.
When a session transaction begins while a scope is current, the `after_begin` hook runs
`set_config('role', …, true)` and `set_config('search_path', …, true)`, the function
form of `SET LOCAL ROLE` / `SET LOCAL search_path`. Both end with the transaction, so
a pooled connection never carries one tenant's role into another's request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from flask_sqlalchemy import SQLAlchemy
from psycopg import sql
from sqlalchemy import DateTime, MetaData, event, func
from sqlalchemy import text as sql_text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


def quote_ident(name: str) -> str:
    """Return `name` quoted as a PostgreSQL identifier."""
    return sql.Identifier(name).as_string(None)


@dataclass(frozen=True)
class Scope:
    """The tenant a transaction runs for: its id, slug, schema and role."""

    tenant_id: int
    slug: str
    schema: str
    role: str
    enforced: bool = True

    @property
    def search_path(self) -> str:
        return f"{quote_ident(self.schema)}, public"


_current: ContextVar[Scope | None] = ContextVar("strata_scope", default=None)

_APPLY_SQL = "SELECT set_config('role', %(role)s, true), set_config('search_path', %(path)s, true)"
_PATH_SQL = "SELECT set_config('search_path', %(path)s, true)"
_RESET_SQL = "SELECT set_config('role', 'none', true), set_config('search_path', 'public', true)"

# Per-connection bookkeeping for the open transaction: the scope the code wants and the
# scope last set on the server. A switch only records what is wanted; the `set_config`
# goes out just before the next statement and only when the two differ, so a request
# that steps into the public scope and back without a query there costs nothing.
_WANTED, _APPLIED = "strata_scope_wanted", "strata_scope_applied"
_UNKNOWN = object()  # after a savepoint rollback: the server may hold either state
switch_count = [0]  # scope switches sent by the hook in this process (read by bench/tenancy.py)
_SAVEPOINT_COMMANDS = ("SAVEPOINT", "ROLLBACK TO SAVEPOINT", "RELEASE SAVEPOINT")


def ping() -> None:
    """Run one trivial statement, so a dead database raises here (health checks)."""
    db.session.execute(sql_text("SELECT 1"))


def current_scope() -> Scope | None:
    """Return the scope of the running request or job, or None outside any tenant."""
    return _current.get()


def _scope_statement(scope: Scope | None) -> tuple[str, dict]:
    if scope is None:
        return _RESET_SQL, {}
    if scope.enforced:
        return _APPLY_SQL, {"role": scope.role, "path": scope.search_path}
    return _PATH_SQL, {"path": scope.search_path}


def apply_scope(connection: Connection, scope: Scope | None) -> None:
    """Switch the open transaction on `connection` to `scope` now (None: the login role, public)."""
    connection.info[_WANTED] = connection.info[_APPLIED] = scope
    statement, params = _scope_statement(scope)
    connection.exec_driver_sql(statement, params)


@event.listens_for(Session, "after_begin")
def _scope_new_transaction(session: Session, transaction, connection: Connection) -> None:
    if transaction.nested:
        return  # a savepoint inherits whatever its enclosing transaction has set
    # A new transaction starts as the login role with the default search_path.
    connection.info[_APPLIED] = None
    connection.info[_WANTED] = _current.get()


@event.listens_for(Engine, "before_cursor_execute")
def _apply_before_statement(conn, cursor, statement, parameters, context, executemany) -> None:
    info = conn.info
    if _WANTED not in info:
        return  # not a session transaction: callers of apply_scope manage it themselves
    wanted = info[_WANTED]
    if info.get(_APPLIED, _UNKNOWN) == wanted or statement.startswith(_SAVEPOINT_COMMANDS):
        return
    scope_sql, params = _scope_statement(wanted)
    # On the connection, not on `cursor`: that may be a server-side cursor, which would only DECLARE it.
    cursor.connection.execute(scope_sql, params)
    info[_APPLIED] = wanted
    switch_count[0] += 1


def _forget(conn, *args) -> None:
    conn.info.pop(_WANTED, None)
    conn.info.pop(_APPLIED, None)


def _unsure(conn, *args) -> None:
    if _APPLIED in conn.info:
        conn.info[_APPLIED] = _UNKNOWN


event.listen(Engine, "commit", _forget)
event.listen(Engine, "rollback", _forget)
event.listen(Engine, "rollback_savepoint", _unsure)


@event.listens_for(Engine, "connect")
def _no_server_side_prepares(dbapi_connection, connection_record) -> None:
    # psycopg prepares a query on the server after a few runs. The same text means another table
    # in the next tenant's search_path (its own enum types: "cached plan must not change result
    # type"), and behind PgBouncer in transaction mode the next transaction may reach a server
    # connection that never saw the PREPARE. So nothing is prepared; the plan cost is small.
    dbapi_connection.prepare_threshold = None


def _reapply() -> None:
    session = db.session()
    if session.in_transaction():
        session.connection().info[_WANTED] = _current.get()


def _switch(scope: Scope | None) -> object:
    token = _current.set(scope)
    _reapply()
    return token


def enter_scope(scope: Scope | None) -> object:
    """Make `scope` current for this context and the session's open transaction; return a token."""
    return _switch(scope)


def clear_scope() -> None:
    """Forget the current scope (end of a request); the next transaction runs as the login role."""
    _current.set(None)


def leave_scope(token: object) -> None:
    """Restore the scope that was current before `enter_scope` returned `token`."""
    _current.reset(token)
    _reapply()


@contextmanager
def public_scope() -> Iterator[None]:
    """Run the block as the app's login role on the public schema, then restore the scope.

    Used by the few domain functions that change platform tables (memberships, tenants)
    from inside a tenant request.
    """
    token = enter_scope(None)
    try:
        yield
    finally:
        leave_scope(token)
