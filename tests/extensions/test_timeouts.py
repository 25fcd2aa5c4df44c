"""The extension migration timeouts come from the settings and hold during each step."""

import time

import psycopg
import pytest
from sqlalchemy.engine import make_url

from config import ConfigError, load_settings
from strata.db import db
from strata.errors import ValidationError
from strata.extensions import executor, registry
from strata.extensions.models import ExtensionMigration

NOTES = {"pluginId": "notes", "version": "1.0.0", "metadata": {"namespace": "notes"},
         "tables": [{"name": "note", "fields": [{"name": "title", "type": "String"}]}]}
GROWN = {**NOTES, "version": "1.1.0",
         "tables": [{"name": "note", "fields": [{"name": "title", "type": "String"},
                                                {"name": "extra", "type": "String"}]}]}


def _upgrade_while_a_reader_holds_the_table(app, scope):
    """Try the 1.1.0 upgrade while another connection reads the table; return the refusal and the seconds taken."""
    _, migration = registry.upgrade("notes", GROWN)
    db.session.commit()
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as reader:
        reader.execute(f'SELECT count(*) FROM "{scope.schema}".plugin_notes_note')  # noqa: S608 (holds a lock)
        start = time.perf_counter()
        with pytest.raises(ValidationError) as caught:
            executor.execute("notes")
        took = time.perf_counter() - start
        reader.rollback()
    record = db.session.get(ExtensionMigration, migration.id, populate_existing=True)
    return str(caught.value), record, took


def test_statement_timeout_fires_during_a_migration_step(app, scoped, install):
    install(NOTES)
    app.config.update(EXTENSIONS_LOCK_TIMEOUT="30s", EXTENSIONS_STATEMENT_TIMEOUT="300ms")
    message, record, took = _upgrade_while_a_reader_holds_the_table(app, scoped)
    assert "statement timeout" in message and took < 5
    assert record.status == "failed" and "statement timeout" in record.error_message
    assert executor.execute("notes").ran  # retried once the reader is gone


def test_lock_timeout_is_the_configured_one(app, scoped, install):
    install(NOTES)
    app.config.update(EXTENSIONS_LOCK_TIMEOUT="300ms", EXTENSIONS_STATEMENT_TIMEOUT="30s")
    message, record, took = _upgrade_while_a_reader_holds_the_table(app, scoped)
    assert "lock timeout" in message and took < 5
    assert record.status == "failed"


def test_the_timeouts_are_read_from_the_environment(tmp_path):
    env = {"DATABASE_URL": "postgresql://x@db/x", "REDIS_URL": "redis://r:6379/0", "SECRET_KEY": "k"}
    assert load_settings(tmp_path, env)["EXTENSIONS_LOCK_TIMEOUT"] == "3s"
    settings = load_settings(tmp_path, {**env, "EXTENSIONS_LOCK_TIMEOUT": "250ms",
                                        "EXTENSIONS_STATEMENT_TIMEOUT": "2min"})
    assert (settings["EXTENSIONS_LOCK_TIMEOUT"], settings["EXTENSIONS_STATEMENT_TIMEOUT"]) == ("250ms", "2min")
    for bad in ("0", "3 seconds", "-1s", "1s; DROP"):
        with pytest.raises(ConfigError, match="EXTENSIONS_STATEMENT_TIMEOUT"):
            load_settings(tmp_path, {**env, "EXTENSIONS_STATEMENT_TIMEOUT": bad})
