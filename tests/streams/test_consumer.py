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
