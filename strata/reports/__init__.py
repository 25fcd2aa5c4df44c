"""Report builder: saved workflows, segmented backfills run by RQ workers, and schedules (seed 004)."""
