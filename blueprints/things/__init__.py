"""Thing classes and things: pages (`pages.py`, `classes.py`), JSON API (`api.py`) and GraphQL (`graphql.py`)."""

from flask import g
from flask_login import current_user

from strata.things.access import Actor


def actor() -> Actor:
    """Return the signed-in member as the acting Actor of this request (one per request)."""
    if "things_actor" not in g:
        g.things_actor = Actor(current_user.id, g.access.role)
    return g.things_actor
