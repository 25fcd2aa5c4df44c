"""CSV imports too long for one request: the file waits in Redis, an RQ job imports it, the page polls.

`start()` keeps the file for an hour and enqueues `business_objects.import_csv` by name; the job
(`run()`) imports it in the tenant's transaction (committed by the job's tenant context), writing
`{"state", "done", "total", "report"}` to Redis as it goes, so the import page shows progress and
then the same report as an inline import. Running the job again after it finished changes nothing.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict
from typing import Any

from strata import csvfiles, jobs
from strata.business_objects import csvio
from strata.core import queues
from strata.db import db

TTL = 3600


def _key(tenant_id: int, token: str, part: str) -> str:
    return f"strata:csvimport:{tenant_id}:{token}:{part}"


def data_rows(text: str) -> int:
    """Return how many non-empty rows follow the header of CSV `text` (raise ValidationError for a NUL)."""
    return max(sum(1 for cells in csvfiles.reader(text) if any(c.strip() for c in cells)) - 1, 0)


def _write(tenant_id: int, token: str, **state: Any) -> None:
    queues.connection.set(_key(tenant_id, token, "state"), json.dumps(state), ex=TTL)


def start(tenant_id: int, entity_type: str, text: str, actor_id: int | None, import_valid_rows: bool) -> str:
    """Keep the file and enqueue its import; return the token its progress is read by."""
    token = secrets.token_urlsafe(12)
    queues.connection.set(_key(tenant_id, token, "file"), text.encode(), ex=TTL)
    _write(tenant_id, token, state="queued", done=0, total=data_rows(text), entity_type=entity_type)
    jobs.enqueue("business_objects.import_csv", tenant_id, tenant_id, entity_type, token, actor_id,
                 import_valid_rows, job_id=f"csvimport-{token}")
    return token


def status(tenant_id: int, token: str) -> dict[str, Any] | None:
    """Return the import's state (queued, running, done or failed, with its counts and report); None if unknown."""
    raw = queues.connection.get(_key(tenant_id, token, "state"))
    return json.loads(raw) if raw else None


def run(tenant_id: int, entity_type: str, token: str, actor_id: int | None, import_valid_rows: bool) -> dict:
    """Import the kept file inside the current tenant transaction; return the final state."""
    current = status(tenant_id, token) or {}
    if current.get("state") in ("done", "failed"):
        return current
    raw = queues.connection.get(_key(tenant_id, token, "file"))
    if raw is None:
        _write(tenant_id, token, state="failed", done=0, total=0, entity_type=entity_type,
               error="The uploaded file expired before it was imported; upload it again.")
        return status(tenant_id, token)

    def progress(done: int, total: int) -> None:
        _write(tenant_id, token, state="running", done=done, total=total, entity_type=entity_type)

    from strata.errors import ValidationError

    try:
        report = csvio.import_csv(entity_type, raw.decode(), actor_id, import_valid_rows=import_valid_rows,
                                  progress=progress)
    except ValidationError as exc:
        db.session.rollback()
        state = {"state": "failed", "done": 0, "total": 0, "error": str(exc)}
    else:
        db.session.flush()
        state = {"state": "done", "done": report.total, "total": report.total,
                 "report": {**asdict(report), "ok": report.ok}}
    _write(tenant_id, token, entity_type=entity_type, **state)
    queues.connection.delete(_key(tenant_id, token, "file"))
    return state
