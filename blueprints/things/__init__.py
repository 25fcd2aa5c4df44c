"""Thing classes and things: pages (`pages.py`, `classes.py`), JSON API (`api.py`) and GraphQL (`graphql.py`)."""

from flask import g
from flask_login import current_user

from strata.things.access import Actor


def actor() -> Actor:
    """Return the signed-in member as the acting Actor of this request (one per request)."""
    # Keyed on this request's access: an app context shared by several requests (tests, the CLI) keeps `g`.
    cached = g.get("things_actor")
    if cached is None or cached[0] is not g.access:
        g.things_actor = cached = (g.access, Actor(current_user.id, g.access.role))
    return cached[1]
