"""Alerts to a report's owner: a run that failed or ended partial, and a schedule paused after a failure streak.

Each alert is a row of the owner's in-app notification list (`report_notifications`); when the
mail setting exists (`strata.mail`), it is also sent by email once, after the transaction that
recorded it commits. The owner is the member who created the report, else the one who started the run.
"""

from __future__ import annotations

from sqlalchemy import func, select, text, update

from strata.db import db
from strata.reports.models import Collection, Notification, Schedule, Workflow

_STREAK_SQL = text("""
    SELECT status FROM report_data_collections
    WHERE workflow_id = :wid AND trigger = 'schedule' AND status IN ('completed', 'failed', 'partial', 'cancelled')
    ORDER BY created_at DESC LIMIT :n""")


def _notify(user_id: int | None, workflow: Workflow, collection: Collection | None, kind: str, message: str) -> None:
    if user_id is not None:
        db.session.add(Notification(user_id=user_id, workflow_id=workflow.id, kind=kind, message=message,
                                    collection_id=collection.id if collection else None))


def run_ended(collection: Collection, counts: dict[str, int]) -> None:
    """Record the alerts a finished run calls for (not committed): failed or partial, and a failure streak."""
    if collection.status not in ("failed", "partial"):
        return
    workflow = db.session.get(Workflow, collection.workflow_id)
    owner = workflow.created_by or collection.requested_by
    failed, total = counts.get("failed", 0), sum(counts.values())
    _notify(owner, workflow, collection, collection.status,
            f"The run of “{workflow.name}” for {collection.start_date} to {collection.end_date} ended "
            f"{collection.status}: {failed} of {total} segments failed.")
    schedule = db.session.scalar(select(Schedule).where(Schedule.workflow_id == workflow.id))
    streak = int((schedule.schedule_config or {}).get("pauseAfterFailures") or 0) if schedule else 0
    if collection.trigger != "schedule" or not streak or not schedule.is_active:
        return
    latest = [row[0] for row in db.session.execute(_STREAK_SQL, {"wid": workflow.id, "n": streak})]
    if len(latest) == streak and all(status == "failed" for status in latest):
        schedule.is_active, schedule.next_run_at = False, None
        _notify(owner, workflow, collection, "paused",
                f"The schedule of “{workflow.name}” was paused after {streak} failed runs in a row.")


def deliver() -> int:
    """Email the alerts not sent yet, when the mail setting exists; commit; return how many were sent."""
    try:
        from strata import mail
    except ImportError:
        return 0
    pending = db.session.execute(text("""
        SELECT n.id, n.message, m.email FROM report_notifications n JOIN public.tenant_members m ON m.id = n.user_id
        WHERE NOT n.emailed ORDER BY n.id""")).all()
    for note_id, message, email in pending:
        mail.send(email, "Strata report alert", message)
        db.session.execute(update(Notification).where(Notification.id == note_id).values(emailed=True))
    db.session.commit()
    return len(pending)


def for_user(user_id: int, limit: int = 50) -> list[Notification]:
    """Return the member's latest notifications, newest first."""
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user_id)
                                   .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)))


def unread(user_id: int) -> int:
    """Return how many of the member's notifications are unread."""
    return db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.user_id == user_id, Notification.read_at.is_(None)))


def mark_read(user_id: int) -> None:
    """Mark all the member's notifications read (not committed)."""
    db.session.execute(update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
                       .values(read_at=func.now()))
