"""The tenant dashboard's stream card: one stream's state and last timepoint, or how many of several are connected."""

from __future__ import annotations

from sqlalchemy import select

from strata.db import current_scope, db
from strata.streams.models import StreamMetadata
from strata.tenancy.dashboard import Card, register_card


@register_card
def _stream_card() -> Card | None:
    from strata.streams.service import state as shown_state
    from strata.streams.supervisor import running_streams

    streams = list(db.session.scalars(select(StreamMetadata).order_by(StreamMetadata.id)))
    if not streams:
        return Card("Companies House stream", "off", "streams.index",
                    "Connect the Companies House stream to keep your companies up to date.")
    running = running_streams(current_scope().tenant_id, [s.id for s in streams])
    shown = {s.id: shown_state(s, s.id in running) for s in streams}
    if len(streams) == 1:
        [stream] = streams
        state = "resync needed" if stream.resync_needed else shown[stream.id].state
        hint = f"Last timepoint {stream.last_timepoint}." if stream.last_timepoint is not None else "No event yet."
        return Card("Companies House stream", state, "streams.detail", hint, {"stream_id": stream.id})
    connected = sum(1 for s in streams if shown[s.id].state == "connected" and shown[s.id].reason != "stalled")
    trouble = [f"{s.label}: {shown[s.id].reason or shown[s.id].state}" for s in streams
               if shown[s.id].state != "connected" or shown[s.id].reason]
    hint = "; ".join(trouble[:3]) + ("…" if len(trouble) > 3 else "") if trouble else "All streams connected."
    return Card("Companies House streams", f"{connected} of {len(streams)} connected", "streams.index", hint)
