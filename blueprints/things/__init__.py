"""Thing classes and things: pages (`pages.py`, `classes.py`), JSON API (`api.py`) and GraphQL (`graphql.py`)."""

from typing import Any

from flask import g, request
from flask_login import current_user

from strata.errors import ValidationError
from strata.things.access import Actor


def actor() -> Actor:
    """Return the signed-in member as the acting Actor of this request (one per request)."""
    # Keyed on this request's access: an app context shared by several requests (tests, the CLI) keeps `g`.
    cached = g.get("things_actor")
    if cached is None or cached[0] is not g.access:
        g.things_actor = cached = (g.access, Actor(current_user.id, g.access.role))
    return cached[1]


def _unstorable(value: Any) -> bool:
    """True if `value` holds, anywhere, a text PostgreSQL cannot store (a NUL character, a lone surrogate)."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return True
        return "\x00" in value
    if isinstance(value, dict):
        return any(_unstorable(key) or _unstorable(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_unstorable(item) for item in value)
    return False


def refuse_unstorable_text() -> None:
    """Before each view: raise ValidationError (422) naming the input whose text the database cannot store."""
    body = request.get_json(silent=True) if request.is_json else None
    fields = [*request.args.items(multi=True), *request.form.items(multi=True),
              *(body.items() if isinstance(body, dict) else [("body", body)])]
    bad = next((name for name, value in fields if _unstorable(name) or _unstorable(value)), None)
    if bad is not None:
        name = bad if not _unstorable(bad) else "a field name"
        raise ValidationError.single(name, "text", f"{name} must not contain NUL characters or invalid Unicode.")
