"""Jobs used by the isolation tests; run by a real RQ worker."""

from sqlalchemy import text

from strata.db import db
from workers import job


@job(queue="default")
def read_table(qualified_table: str) -> list:
    """Return every summary in `qualified_table`, read as the job's tenant."""
    return [row[0] for row in db.session.execute(text(f"SELECT summary FROM {qualified_table}"))]  # noqa: S608


@job(queue="default")
def whoami() -> dict:
    """Return the database role and search_path the job runs with."""
    role, path = db.session.execute(text("SELECT current_user, current_setting('search_path')")).one()
    return {"role": role, "search_path": path}
