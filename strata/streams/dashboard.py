"""The tenant dashboard's stream card: the company-profile stream's state and its last timepoint."""

from __future__ import annotations

from sqlalchemy import select

from strata.db import db
from strata.streams.models import StreamMetadata
from strata.tenancy.dashboard import Card, register_card


@register_card
def _stream_card() -> Card | None:
    stream = db.session.scalar(select(StreamMetadata).order_by(StreamMetadata.id).limit(1))
    if stream is None:
        return Card("Companies House stream", "off", "streams.index",
                    "Connect the Companies House stream to keep your companies up to date.")
    from strata.db import current_scope
    from strata.streams.service import state as shown_state
    from strata.streams.supervisor import is_running

    shown = shown_state(stream, is_running(current_scope().tenant_id, stream.id))
    state = "resync needed" if stream.resync_needed else shown.state
    hint = f"Last timepoint {stream.last_timepoint}." if stream.last_timepoint is not None else "No event yet."
    return Card("Companies House stream", state, "streams.detail", hint, {"stream_id": stream.id})
