"""Alembic environment for the public schema; tenant tables (no schema) are left out."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

config = context.config
if config.config_file_name and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

db = current_app.extensions["migrate"].db
target_metadata = db.metadata


def include_object(obj, name, type_, reflected, compare_to):
    """Autogenerate compares public tables only."""
    if type_ == "table":
        return getattr(obj, "schema", None) == "public"
    return True


def run_migrations_offline():
    context.configure(url=str(db.engine.url), target_metadata=target_metadata, literal_binds=True,
                      include_schemas=True, include_object=include_object, version_table_schema="public")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    with db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, include_schemas=True,
                          include_object=include_object, version_table_schema="public")
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
