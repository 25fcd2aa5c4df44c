"""Every constraint of seed 001, refused with a clear message: by the domain before writing, and by the
database itself (raw SQL past the domain), translated into the same message."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from strata.db import db
from strata.errors import ValidationError
from strata.things import constraints, schema


def _refused(statement: str, params: dict | None = None) -> ValidationError:
    """Run raw SQL in a savepoint; return the translated refusal."""
    savepoint = db.session.begin_nested()
    with pytest.raises(DBAPIError) as caught:
        db.session.execute(text(statement), params or {})
    savepoint.rollback()
    error = constraints.refusal(caught.value)
    assert error is not None, caught.value
    return error


def _messages(exc) -> list[tuple[str, str, str]]:
    return [(e.field, e.rule, e.message) for e in exc.value.errors]


def test_duplicate_class_name(scoped, model, actors):
    model.cls("Device")
    with pytest.raises(ValidationError) as exc:
        model.cls("Device")
    assert _messages(exc) == [("name", "unique", "A thing class named 'Device' already exists.")]
    error = _refused("INSERT INTO thing_classes (name) VALUES ('Device')")
    assert error.errors[0].message == "A thing class with this name already exists."


@pytest.mark.parametrize("name", ["", "   ", None])
def test_blank_class_name(scoped, model, name):
    with pytest.raises(ValidationError) as exc:
        model.cls(name)
    assert _messages(exc) == [("name", "required", "Name must not be blank.")]


def test_blank_class_name_in_the_database(scoped):
    assert _refused("INSERT INTO thing_classes (name) VALUES ('  ')").errors[0].field == "name"


@pytest.mark.parametrize("column, value, field", [
    ("validation_rules", "[]", "validation_rules"), ("validation_rules", '"text"', "validation_rules"),
    ("permissions", "[1]", "permissions"), ("permissions", "3", "permissions"),
])
def test_non_object_json_on_classes(scoped, model, column, value, field):
    with pytest.raises(ValidationError) as exc:
        model.cls("X", **{column: __import__("json").loads(value)})
    assert exc.value.errors[0].field == field and exc.value.errors[0].rule == "json_object"
    assert "must be a JSON object" in exc.value.errors[0].message
    statement = {
        "validation_rules": "INSERT INTO thing_classes (name, validation_rules) VALUES ('Y', CAST(:v AS jsonb))",
        "permissions": "INSERT INTO thing_classes (name, permissions) VALUES ('Y', CAST(:v AS jsonb))"}[column]
    error = _refused(statement, {"v": value})
    assert error.errors[0].field == field and "must be a JSON object" in error.errors[0].message


def test_non_object_assignment_rules(scoped, model):
    cls, attr = model.cls("Box"), model.attr("width", "integer")
    with pytest.raises(ValidationError) as exc:
        model.assign(cls, attr, rules=[1])
    assert _messages(exc) == [("assignment_rules", "json_object",
                               'Assignment rules must be a JSON object like {"max_length": 40}.')]
    error = _refused("INSERT INTO attribute_assignments (thing_class_id, attribute_id, assignment_rules) "
                     "VALUES (:c, :a, '[]')", {"c": cls.id, "a": attr.id})
    assert error.errors[0].message == "Assignment rules must be a JSON object."


def test_duplicate_assignment(scoped, model):
    cls, attr = model.cls("Box"), model.attr("width", "integer")
    model.assign(cls, attr)
    with pytest.raises(ValidationError) as exc:
        model.assign(cls, attr)
    assert _messages(exc) == [("attribute_id", "unique", "Width is already assigned to Box.")]
    error = _refused("INSERT INTO attribute_assignments (thing_class_id, attribute_id) VALUES (:c, :a)",
                     {"c": cls.id, "a": attr.id})
    assert error.errors[0].message == "This attribute is already assigned to the class."


def test_duplicate_class_relationship(scoped, model):
    a, b, rtype = model.cls("A"), model.cls("B"), model.rtype()
    model.relate(a, b, rtype)
    with pytest.raises(ValidationError) as exc:
        model.relate(a, b, rtype)
    assert _messages(exc) == [("relationship_type_id", "unique",
                               "These classes already have a relationship of this type.")]


def test_attribute_and_relationship_type_rules(scoped, model):
    with pytest.raises(ValidationError) as exc:
        model.attr("Bad Name")
    assert exc.value.errors[0].rule == "format"
    model.attr("size")
    with pytest.raises(ValidationError) as exc:
        model.attr("size")
    assert _messages(exc) == [("name", "unique", "An attribute named 'size' already exists.")]
    with pytest.raises(ValidationError) as exc:
        model.attr("colour", "enum")
    assert _messages(exc) == [("enum_values", "required", "An enum attribute needs at least one value.")]
    with pytest.raises(ValidationError) as exc:
        model.attr("owner", "reference")
    assert _messages(exc) == [("reference_class_id", "required", "Choose the class this attribute refers to.")]
    with pytest.raises(ValidationError) as exc:
        model.attr("depth", "integer", constraints={"max_length": 3})
    assert exc.value.errors[0].rule == "unknown_rule" and "use min, max" in exc.value.errors[0].message
    with pytest.raises(ValidationError) as exc:
        model.attr("depth", "integer", constraints={"min": 5, "max": 1})
    assert exc.value.errors[0].message == "min must not be greater than max."
    with pytest.raises(ValidationError) as exc:
        model.rtype(" ", "")
    assert {e.field for e in exc.value.errors} == {"name", "inverse_name"}


def test_cardinality_definitions(scoped, model):
    a, rtype = model.cls("A"), model.rtype()
    with pytest.raises(ValidationError) as exc:
        model.relate(a, a, rtype, "some_to_some")
    assert exc.value.errors[0].field == "cardinality"
    with pytest.raises(ValidationError) as exc:
        model.relate(a, a, rtype, "one_to_one", max=3)
    assert exc.value.errors[0].field == "max"
    with pytest.raises(ValidationError) as exc:
        model.relate(a, a, rtype, "many_to_many", min=4, max=2)
    assert exc.value.errors[0].message == "Min links must not be greater than max links."


def test_thing_constraints_in_the_database(scoped, model):
    cls = model.cls("Box")
    error = _refused("INSERT INTO things (thing_class_id, name) VALUES (:c, ' ')", {"c": cls.id})
    assert error.errors[0].field == "name"
    error = _refused("INSERT INTO things (thing_class_id, name, attribute_values) VALUES (:c, 'b', '[]')",
                     {"c": cls.id})
    assert error.errors[0].message == "Attribute values must be a JSON object."


def test_updated_at_trigger(scoped, model):
    cls = model.cls("Box")
    db.session.commit()
    before = db.session.scalar(text("SELECT updated_at FROM thing_classes WHERE id = :i"), {"i": cls.id})
    db.session.execute(text("UPDATE thing_classes SET description = 'x' WHERE id = :i"), {"i": cls.id})
    after = db.session.scalar(text("SELECT updated_at FROM thing_classes WHERE id = :i"), {"i": cls.id})
    assert after > before


def test_indexes_and_views_exist(scoped):
    names = set(db.session.scalars(text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")))
    for index in ("idx_thing_classes_active", "idx_thing_classes_created_at", "idx_thing_classes_name",
                  "idx_thing_classes_validation_rules_gin", "idx_thing_classes_permissions_gin",
                  "idx_thing_classes_name_active", "idx_thing_classes_created_by_date",
                  "idx_thing_classes_active_created", "idx_assignments_thing_class", "idx_assignments_attribute",
                  "idx_assignments_active", "idx_assignments_required", "idx_assignments_rules_gin",
                  "idx_assignments_class_active", "idx_assignments_attr_required", "idx_class_rel_from",
                  "idx_class_rel_to", "idx_class_rel_type", "idx_class_rel_active", "thing_class_summary_id",
                  "thing_class_summary_name", "thing_class_summary_attribute_count", "idx_things_values_gin"):
        assert index in names, index
    assert db.session.execute(text("SELECT * FROM thing_class_metrics")).all() == []
    tables = {row.tablename for row in db.session.execute(text("SELECT * FROM schema_storage_metrics"))}
    assert {"things", "thing_classes"} <= tables


def test_deactivated_class_accepts_no_new_things(scoped, model, actors):
    cls = model.cls("Old")
    model.thing(cls, "kept")
    schema.update_class(actors["admin"], cls.id, {"is_active": False})
    with pytest.raises(ValidationError) as exc:
        model.thing(cls, "new")
    assert _messages(exc) == [("thing_class_id", "inactive", "Old is deactivated and accepts no new things.")]
    error = _refused("INSERT INTO things (thing_class_id, name) VALUES (:c, 'raw')", {"c": cls.id})
    assert error.errors[0].message == "This class is deactivated and accepts no new things."


def test_migration_downgrade_and_upgrade(scoped):
    """The revision's downgrade removes everything it made, and upgrading again restores it."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    from strata.tenancy.migrations import script_directory

    connection = db.session.connection()
    module = script_directory().get_revision("t0004_things").module
    with Operations.context(MigrationContext.configure(connection)):
        module.downgrade()
        left = connection.exec_driver_sql("SELECT count(*) FROM pg_class WHERE relname LIKE 'thing%%' "
                                          "AND relnamespace = current_schema()::regnamespace").scalar()
        assert left == 0
        module.upgrade()
    assert connection.exec_driver_sql("SELECT count(*) FROM thing_class_summary").scalar() == 0
