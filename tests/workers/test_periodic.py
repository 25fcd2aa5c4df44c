"""Periodic jobs reach the queue through RQ's cron scheduler."""

from rq import Queue

from strata.core import queues
from workers import periodic


def tick() -> str:
    return "ticked"


def test_declared_job_is_enqueued_on_its_queue(app, monkeypatch):
    monkeypatch.setattr(periodic, "_registry", {})
    periodic.periodic(every=30, queue="backfills")(tick)

    scheduler = periodic.build_scheduler(queues.connection)
    [cron_job] = scheduler.get_jobs()
    assert cron_job.interval == 30
    enqueued = scheduler.enqueue_jobs()

    assert len(enqueued) == 1
    [job] = Queue("backfills", connection=queues.connection).get_jobs()
    assert job.func_name == "tests.workers.test_periodic.tick"
    assert scheduler.enqueue_jobs() == []  # not due again for 30 s


def test_feature_modules_import(monkeypatch):
    monkeypatch.setattr(periodic, "FEATURE_MODULES", ["tests.workers.test_periodic"])
    assert isinstance(periodic.declared(), list)
