"""Report builder pages: the four-step wizard, the workflows list, schedules and backfill runs."""
