"""The report wizard's server-side draft: one per member and tenant, kept in Redis for a week.

The draft holds what was typed in each step (so going back shows it again, even if invalid),
the validated configuration of every completed step, and the step to resume at. Completing a
step records one `report_builder_audit` row with the whole configuration so far.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from strata.core import queues
from strata.db import current_scope
from strata.errors import ValidationError
from strata.reports import engine, service, sources, validation
from strata.reports.models import STEPS
from strata.reports.schedules import describe, upcoming
from strata.reports.segmentation import count_segments, lookback_window, segments

DRAFT_TTL = 7 * 24 * 3600
PREVIEW_SEGMENTS = 12


def _key(user_id: int) -> str:
    return f"strata:reports:draft:{current_scope().tenant_id}:{user_id}"


def empty() -> dict:
    """Return a fresh draft at the first step with sensible defaults (the window includes today so far,
    so a first report over fresh data is not all zeros)."""
    return {"step": "parameters", "inputs": {
        "parameters": {"data_source": "companies", "metric": "both", "lookback": "30d", "include_today": "on",
                       "segment_type": "weekly", "parallel_limit": "4", "retry_failed": "on", "max_attempts": "3",
                       "backoff_seconds": "2", "timeout_seconds": "300"},
        "schedule": schedule_inputs({"frequency": "none"}, service.tenant_timezone())}, "config": {}}


def schedule_inputs(config: dict, default_timezone: str) -> dict:
    """Return the schedule form's inputs for a stored `schedule_config`."""
    return {"frequency": config.get("frequency", "none"),
            "time": ", ".join(config.get("times") or [config.get("time", "09:00")]),
            "timezone": config.get("timezone", default_timezone), "minute": str(config.get("minute", 0)),
            "cron": config.get("cron", ""), "days_of_week": [str(d) for d in config.get("daysOfWeek", [1])],
            "day_of_month": str(config.get("dayOfMonth", 1)), "start_date": config.get("startDate", ""),
            "end_date": config.get("endDate", ""), "catch_up": "on" if config.get("catchUp") else "",
            "max_catch_up": str(config.get("maxCatchUp", 10)),
            "pause_after_failures": str(config.get("pauseAfterFailures", 0))}


def load(user_id: int) -> dict:
    """Return the member's draft, or a fresh one."""
    raw = queues.connection.get(_key(user_id))
    return json.loads(raw) if raw else empty()


def save(user_id: int, draft: dict) -> None:
    """Store the member's draft for a week."""
    queues.connection.set(_key(user_id), json.dumps(draft), ex=DRAFT_TTL)


def discard(user_id: int) -> None:
    """Forget the member's draft."""
    queues.connection.delete(_key(user_id))


def _validate(step: str, raw: dict) -> dict:
    if step == "parameters":
        return validation.parameters(raw)
    if step == "schedule":
        return {"schedule_config": validation.schedule(raw, service.tenant_timezone())}
    return {}


def reachable(draft: dict, step: str) -> bool:
    """Return whether every step before `step` is complete in the draft."""
    needed = {"schedule": ["parameters"], "review": ["parameters", "schedule"],
              "submit": ["parameters", "schedule", "review"]}.get(step, [])
    return all(s in draft.get("done", []) for s in needed)


def complete(user_id: int, draft: dict, step: str, raw: dict) -> dict:
    """Validate `raw` for `step`, store it, audit the step and move on; raise ValidationError (draft keeps input)."""
    draft["inputs"][step] = raw
    # Until this step validates, it and every later step count as not done: a Submit after a 422 is
    # refused instead of creating the report from the configuration that was valid before.
    draft["done"] = [s for s in draft.get("done", []) if STEPS.index(s) < STEPS.index(step)]
    save(user_id, draft)
    draft["config"].update(_validate(step, raw))
    # Later steps must be confirmed again once an earlier one changed.
    draft["done"] = list(STEPS[:STEPS.index(step) + 1])
    draft["step"] = STEPS[min(STEPS.index(step) + 1, len(STEPS) - 1)]
    service.record_step(user_id, step, draft["config"])
    save(user_id, draft)
    return draft


def go_back(user_id: int, draft: dict, step: str, raw: dict | None) -> dict:
    """Keep `raw` for `step` without validating it and return to the previous step."""
    if raw is not None:
        draft["inputs"][step] = raw
    draft["step"] = STEPS[max(STEPS.index(step) - 1, 0)]
    save(user_id, draft)
    return draft


def review(draft: dict) -> dict:
    """Return what the review step shows: window, segments (first few), count and time estimate."""
    config = draft["config"]
    tz = service.tenant_timezone()
    today = service.today()
    start, end = lookback_window(config["lookback_config"], today)
    seg = config["segmentation_config"]
    total = count_segments(start, end, seg["type"])
    source = sources.get(config["data_source"])
    per = service.average_segment_seconds(source.key) or source.seconds_per_segment
    rounds = -(-total // seg["parallel_limit"])
    schedule = config.get("schedule_config") or {"frequency": "none"}
    upcoming = [d.astimezone(ZoneInfo(schedule["timezone"])) for d in next_runs(schedule)]
    return {"start": start, "end": end, "timezone": tz, "total": total, "source": source,
            "preview": segments(start, end, seg["type"], tz)[:PREVIEW_SEGMENTS], "estimate": rounds * per,
            "per_segment": per, "upcoming": upcoming, "schedule": schedule, "described": describe(schedule),
            "partial": end >= today}


def next_runs(schedule: dict, count: int = 5) -> list[datetime]:
    """Return the schedule's next `count` runs from now (UTC), none without a schedule."""
    return upcoming(schedule, datetime.now(UTC), count)


def submit(user_id: int, draft: dict):
    """Create workflow, schedule and collection from the completed draft, start the backfill; return both."""
    if not reachable(draft, "submit"):
        raise ValidationError.single("step", "incomplete", "Complete the earlier steps first.")
    config = draft["config"]
    workflow, collection = service.create_report(config, user_id)
    service.record_step(user_id, "submit", config, workflow.id)
    engine.launch(collection)
    discard(user_id)
    return workflow, collection
