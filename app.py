"""Application factory: config, extensions, blueprints and CLI; nothing else."""

from __future__ import annotations

from flask import Flask

from config import DEFAULTS, load_settings


def create_app(config: dict | None = None) -> Flask:
    """Build the Strata app from `config`, or from the environment when None."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(DEFAULTS)
    app.config.update(config if config is not None else load_settings(app.instance_path))

    from strata.core import csrf, htmx, login_manager, migrate, queues
    from strata.db import db

    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/migrations"))
    csrf.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)
    queues.init_app(app)

    from blueprints import web

    web.init_app(app)

    from blueprints.admin.views import bp as admin_bp
    from blueprints.api.views import bp as api_bp
    from blueprints.auth.views import bp as auth_bp
    from blueprints.business_objects.admin import bp as bo_admin_bp
    from blueprints.business_objects.api import bp as bo_api_bp
    from blueprints.business_objects.pages import bp as objects_bp
    from blueprints.business_objects.transfer import bp as transfer_bp
    from blueprints.tenancy.views import bp as tenancy_bp
    from blueprints.tenancy.views import home_bp

    for blueprint in (auth_bp, home_bp, tenancy_bp, admin_bp, api_bp, bo_admin_bp, bo_api_bp, transfer_bp, objects_bp):
        app.register_blueprint(blueprint)

    from blueprints.admin import jobs

    jobs.init_app(app)

    from strata.cli import register_cli

    register_cli(app)
    return app
