"""Pages for thing classes and things (under construction)."""

from blueprints import tenant_blueprint

bp = tenant_blueprint("things", __name__, url_prefix="/things")
