"""Picker options under `/t/<slug>/pick/<kind>?q=…`: a few matching choices as an htmx partial."""

from __future__ import annotations

from flask import abort, render_template, request

from blueprints import tenant_blueprint
from strata import pickers

bp = tenant_blueprint("pickers", __name__, url_prefix="/pick")


@bp.get("/<kind>")
def options(kind: str):
    """Return the picker options matching `q` (at most twenty); 404 for an unknown kind."""
    search = pickers.SEARCHES.get(kind)
    if search is None:
        abort(404)
    q = request.args.get("q", "")
    target = request.args.get("for", "")
    return render_template("pickers/_options.html", choices=search(q), q=q, target=target, kind=kind)
