"""The SQLAlchemy models and the migrations describe the same schema (Alembic autogenerate finds nothing)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Index, create_engine, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex

from strata.db import db

# Tables a migration creates that no model maps on purpose: per-extension tables are generated at run time.
GENERATED_PREFIXES = ("plugin_", "ext_backup_")


def _describe(diff) -> str:
    if isinstance(diff, list):  # column modifications come grouped
        return "; ".join(_describe(d) for d in diff)
    kind, *rest = diff
    return f"{kind} " + " ".join(str(getattr(r, "name", r)) for r in rest if not isinstance(r, dict))


def _index_sql(index: Index) -> str:
    return str(CreateIndex(index).compile(dialect=postgresql.dialect()))


def _collated_indexes() -> dict[str, Index]:
    """Model indexes with a COLLATE in an expression: reflection drops the collation, so they are checked apart."""
    return {ix.name: ix for table in db.metadata.tables.values() for ix in table.indexes
            if "COLLATE" in _index_sql(ix)}


def _compare(app, search_path: str, **opts) -> list[str]:
    """Compare the models with the database as seen by a connection whose default schema is `search_path`."""
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"],
                           connect_args={"options": f"-c search_path={search_path}"})
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True, **opts})
            return [_describe(d) for d in compare_metadata(context, db.metadata)]
    finally:
        engine.dispose()


def _public_only(name, type_, parent_names):
    return type_ != "schema" or name == "public"


def _public_tables(obj, name, type_, reflected, compare_to):
    return type_ != "table" or (obj.schema == "public" and name != "alembic_version")


def _tenant_objects(obj, name, type_, reflected, compare_to):
    if type_ == "table":
        return obj.schema is None and name != "alembic_version" and not name.startswith(GENERATED_PREFIXES)
    return not (type_ == "index" and name in _collated_indexes())


def test_public_models_match_the_migrations(app):
    # With an empty default schema, "public" is compared by name, as the models spell it.
    found = _compare(app, "pg_catalog", include_schemas=True, include_name=_public_only,
                     include_object=_public_tables)
    assert not found, "\n".join(found)


def test_tenant_models_match_the_tenant_migrations(app, make_tenant):
    tenant = make_tenant()
    found = _compare(app, tenant.schema_name, include_object=_tenant_objects)
    assert not found, "\n".join(found)


def test_collated_index_expressions_match(app, make_tenant):
    tenant = make_tenant()
    collated = _collated_indexes()
    assert {"ix_extensions_date_value", "idx_thing_classes_name_prefix"} <= set(collated)
    with app.app_context():
        stored = dict(db.session.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = :s"),
                                         {"s": tenant.schema_name}).all())
    for name, index in collated.items():
        wanted = _index_sql(index).split(" COLLATE ")[1].split()[0].strip(",)")
        assert f"COLLATE {wanted}" in stored[name], (name, stored.get(name))
