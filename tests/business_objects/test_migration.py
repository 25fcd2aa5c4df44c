"""Migration t0002 builds the business object tables with the seed's constraints and indexes."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from strata.db import db


def _names(query: str, schema: str) -> set[str]:
    return set(db.session.execute(text(query), {"s": schema}).scalars())


def test_tables_constraints_and_indexes_exist(tenant):
    schema = tenant.schema_name
    tables = _names("SELECT tablename FROM pg_tables WHERE schemaname = :s", schema)
    assert {"companies", "partners", "products", "custom_field_definitions", "business_object_extensions",
            "business_object_validators"} <= tables
    indexes = _names("SELECT indexname FROM pg_indexes WHERE schemaname = :s", schema)
    assert {"idx_extensions_entity", "idx_extensions_company", "idx_extensions_field", "idx_validators_entity",
            "idx_validators_company", "idx_validators_active", "idx_partners_framework", "idx_companies_framework",
            "ix_extensions_type_field_company", "uq_extensions_entity_field", "uq_validators_entity_name"} <= indexes
    definition = db.session.execute(text(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = :s AND indexname = 'uq_extensions_entity_field'"),
        {"s": schema}).scalar()
    assert "NULLS NOT DISTINCT" in definition
    owner = db.session.execute(text(
        "SELECT tableowner FROM pg_tables WHERE schemaname = :s AND tablename = 'companies'"), {"s": schema}).scalar()
    assert owner == tenant.db_role


def test_framework_version_defaults_and_null_company_is_unique(tenant, admin):
    from strata.tenancy.service import tenant_context

    with tenant_context(tenant.id):
        version = db.session.execute(text(
            "INSERT INTO companies (name) VALUES ('A') RETURNING framework_version")).scalar()
        assert version == "1.0"
        insert = text("INSERT INTO business_object_extensions (entity_type, entity_id, field_name, field_value) "
                      "VALUES ('product', 1, 'colour', '\"red\"')")
        db.session.execute(insert)
        with pytest.raises(IntegrityError), db.session.begin_nested():
            db.session.execute(insert)
        with pytest.raises(IntegrityError), db.session.begin_nested():
            db.session.execute(text("INSERT INTO custom_field_definitions (entity_type, name, label, field_type) "
                                    "VALUES ('product', 'Bad Name', 'x', 'string')"))
