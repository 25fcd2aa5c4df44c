"""The consumer against the simulator: rows, checkpoint, company upserts, faults."""

from sqlalchemy import func, select

from strata.business_objects.models import Company
from strata.db import db
from strata.streams.models import StreamEvent, StreamMetadata
from tests.streams.conftest import wait_for


def _count(*where) -> int:
    return db.session.scalar(select(func.count()).select_from(StreamEvent).where(*where))


def test_consumes_backlog_into_log_companies_and_checkpoint(simulator, make_stream, consumer):
    sim = simulator(backlog=300, pool=80, delete_rate=0.05)
    first = sim.config.first_timepoint
    stream_id = make_stream(sim.url, last_timepoint=first - 1)
    with consumer(stream_id):
        assert wait_for(lambda: db.session.get(StreamMetadata, stream_id).last_timepoint == first + 299)
    stream = db.session.get(StreamMetadata, stream_id)
    assert stream.last_event_id == str(first + 299)
    assert _count() == 300
    assert _count(StreamEvent.processing_status != "processed") == 0
    latest = db.session.execute(select(StreamEvent.company_number, func.max(StreamEvent.timepoint))
                                .group_by(StreamEvent.company_number)).all()
    companies = {c.company_number: c for c in db.session.scalars(select(Company))}
    for number, timepoint in latest:
        event = db.session.scalar(select(StreamEvent).where(StreamEvent.timepoint == timepoint))
        company = companies.get(number)
        if event.event_type == "changed":
            assert company.stream_timepoint == timepoint
            assert company.name == event.event_data["data"]["company_name"]
            assert company.company_status == event.event_data["data"]["company_status"]
        elif company is not None:
            assert company.stream_event_type == "deleted" and company.company_status == "removed"


def test_event_counter_follows_the_log_without_counting_it(simulator, make_stream, consumer):
    """`events_logged` is kept by the log's triggers: batches add, deletes subtract; stats read it and failed rows."""
    from strata.streams import service

    sim = simulator(backlog=120, pool=30, malformed_rate=0.05)
    first = sim.config.first_timepoint
    stream_id = make_stream(sim.url, last_timepoint=first - 1)
    with consumer(stream_id):
        assert wait_for(lambda: db.session.get(StreamMetadata, stream_id).last_timepoint == first + 119)
    db.session.expire_all()
    stream = db.session.get(StreamMetadata, stream_id)
    assert stream.events_logged == _count() > 120
    stats = service.stats(stream)
    assert stats.total == _count() and stats.failed == _count(StreamEvent.processing_status == "failed") > 0
    db.session.execute(StreamEvent.__table__.delete().where(StreamEvent.processing_status == "failed"))
    db.session.expire_all()
    assert db.session.get(StreamMetadata, stream_id).events_logged == _count() >= 120
