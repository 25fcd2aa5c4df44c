"""Extensions: pages, management API, auto REST and the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, current_app, request
from sqlalchemy.exc import DBAPIError

from strata.db import db
from strata.extensions import runtime


def retry_when_stale(bp: Blueprint) -> None:
    """Run a view again, once, when its statement met an extension table another process just changed.

    Each process keeps the installed tables' definitions; an upgrade commits, then tells every process.
    A request that falls between the two uses the old definition (a dropped column, a retyped enum):
    PostgreSQL refuses the statement, the transaction is rolled back, this process re-reads the
    definitions and the view runs again. A second failure is a real error.
    """

    @bp.errorhandler(DBAPIError)
    def _stale(exc: DBAPIError):
        if not runtime.is_stale(exc) or getattr(request, "_strata_retried", False):
            raise exc
        db.session.rollback()
        runtime.forget()
        request._strata_retried = True
        view = current_app.view_functions[request.endpoint]
        return current_app.ensure_sync(view)(**(request.view_args or {}))
