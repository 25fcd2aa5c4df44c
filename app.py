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

    from strata import mail

    mail.init_app(app)

    from blueprints import web

    web.init_app(app)

    from blueprints.admin.views import bp as admin_bp
    from blueprints.api.views import bp as api_bp
    from blueprints.auth.views import bp as auth_bp
    from blueprints.business_objects.admin import bp as bo_admin_bp
    from blueprints.business_objects.api import bp as bo_api_bp
    from blueprints.business_objects.pages import bp as objects_bp
    from blueprints.business_objects.settings_api import bp as bo_settings_api_bp
    from blueprints.business_objects.transfer import bp as transfer_bp
    from blueprints.extensions.api import bp as extensions_api_bp
    from blueprints.extensions.data import bp as extension_data_bp
    from blueprints.extensions.pages import bp as extensions_bp
    from blueprints.extensions.rest import bp as extensions_rest_bp
    from blueprints.pickers.views import bp as pickers_bp
    from blueprints.reports.api import bp as reports_api_bp
    from blueprints.reports.pages import bp as reports_bp
    from blueprints.reports.wizard import bp as report_wizard_bp
    from blueprints.streams.api import bp as streams_api_bp
    from blueprints.streams.views import bp as streams_bp
    from blueprints.tenancy.views import bp as tenancy_bp
    from blueprints.tenancy.views import home_bp
    from blueprints.things.api import bp as things_api_bp
    from blueprints.things.classes import bp as thing_classes_bp
    from blueprints.things.graphql import bp as things_graphql_bp
    from blueprints.things.graphql import pages as things_graphiql_bp
    from blueprints.things.pages import bp as things_bp

    for blueprint in (
        auth_bp, home_bp, tenancy_bp, admin_bp, api_bp,
        bo_admin_bp, bo_api_bp, bo_settings_api_bp, transfer_bp, objects_bp,
        things_api_bp, things_graphql_bp, things_graphiql_bp, thing_classes_bp, things_bp,
        streams_api_bp, streams_bp,
        extensions_api_bp, extensions_rest_bp, extensions_bp, extension_data_bp,
        report_wizard_bp, reports_bp, reports_api_bp, pickers_bp,
    ):
        app.register_blueprint(blueprint)

    from blueprints.admin import jobs

    jobs.init_app(app)

    import workers
    from strata.cli import register_cli
    from workers.cli import register_cli as register_worker_cli

    workers.load()
    register_cli(app)
    register_worker_cli(app)
    return app
