"""Each validator type accepts its boundary values, refuses just past them, and names field and rule."""

import pytest
from sqlalchemy import func, select

from strata.audit import AuditLog
from strata.business_objects import definitions, service
from strata.business_objects.models import BusinessObjectValidator, Product
from strata.db import db
from strata.errors import ValidationError


def refused(call, *args, **kwargs):
    with pytest.raises(ValidationError) as caught:
        call(*args, **kwargs)
    return caught.value.errors


def test_required_on_create_and_on_update(scoped, bo, admin):
    bo.field("product", "colour", "string", label="Colour")
    bo.validator("product", "colour_required", "required", field_name="colour")
    [error] = refused(bo.product, "Widget")
    assert (error.field, error.rule) == ("colour", "required")
    assert error.message == "Colour is required (rule 'colour_required')."
    product = bo.product("Widget", custom={"colour": "red"})
    [error] = refused(service.update, "product", product.id, None, {"colour": " "}, actor_id=admin.id)
    assert error.rule == "required"
    service.update("product", product.id, {"name": "Widget 2"}, actor_id=admin.id)  # untouched value still counts


def test_required_on_a_core_column(scoped, bo, admin):
    bo.validator("partner", "email_required", "required", field_name="email")
    company = bo.company()
    [error] = refused(bo.partner, company.id)
    assert error.field == "email" and "rule 'email_required'" in error.message
    assert bo.partner(company.id, email="p@example.com").email == "p@example.com"


@pytest.mark.parametrize("ok, bad, message", [
    ("1", "0", "Employees must be at least 1 (rule 'employees_range')."),
    ("500", "501", "Employees must be at most 500 (rule 'employees_range')."),
])
def test_number_range_boundaries(scoped, bo, ok, bad, message):
    bo.field("company", "employees", "integer", label="Employees")
    bo.validator("company", "employees_range", "range", field_name="employees",
                 config={"kind": "number", "min": 1, "max": 500})
    assert bo.company("OK", custom={"employees": ok})
    [error] = refused(bo.company, "Bad", custom={"employees": bad})
    assert (error.field, error.rule, error.message) == ("employees", "range", message)


def test_decimal_range_boundaries(scoped, bo):
    bo.field("product", "weight", "decimal", label="Weight")
    bo.validator("product", "weight_range", "range", field_name="weight",
                 config={"kind": "number", "min": "0.5", "max": "2.25"})
    assert bo.product("A", custom={"weight": "0.5"}) and bo.product("B", custom={"weight": "2.25"})
    assert "at least 0.5" in refused(bo.product, "C", custom={"weight": "0.49"})[0].message
    assert "at most 2.25" in refused(bo.product, "D", custom={"weight": "2.26"})[0].message


def test_date_range_boundaries(scoped, bo):
    bo.field("company", "founded", "date", label="Founded")
    bo.validator("company", "founded_window", "range", field_name="founded",
                 config={"kind": "date", "min": "2000-01-01", "max": "2024-12-31"})
    assert bo.company("A", custom={"founded": "2000-01-01"}) and bo.company("B", custom={"founded": "2024-12-31"})
    assert refused(bo.company, "C", custom={"founded": "1999-12-31"})[0].message == \
        "Founded must be on or after 2000-01-01 (rule 'founded_window')."
    assert refused(bo.company, "D", custom={"founded": "2025-01-01"})[0].message == \
        "Founded must be on or before 2024-12-31 (rule 'founded_window')."


def test_length_range_boundaries(scoped, bo):
    bo.validator("company", "name_length", "range", field_name="name", config={"kind": "length", "min": 3, "max": 5})
    assert bo.company("abc") and bo.company("abcde")
    assert "at least 3 characters" in refused(bo.company, "ab")[0].message
    assert "at most 5 characters" in refused(bo.company, "abcdef")[0].message


@pytest.mark.parametrize("kind, pattern, good, bad", [
    ("regex", r"^[A-Z]{2}-\d{3}$", "AB-123", "AB-1234"),
    ("email", None, "a@example.com", "a@example"),
    ("url", None, "https://example.com", "ftp://example.com"),
    ("phone", None, "+44 20 7946 0958", "12345"),
])
def test_format_kinds(scoped, bo, kind, pattern, good, bad):
    bo.field("product", "code", "string", label="Code")
    config = {"kind": kind, **({"pattern": pattern} if pattern else {})}
    bo.validator("product", "code_format", "format", field_name="code", config=config)
    assert bo.product("A", custom={"code": good})
    [error] = refused(bo.product, "B", custom={"code": bad})
    assert error.field == "code" and error.rule == "format" and error.message.startswith("Code ")
    assert error.message.endswith("(rule 'code_format').")


def test_format_custom_message(scoped, bo):
    bo.validator("product", "sku_shape", "format", field_name="sku",
                 config={"kind": "regex", "pattern": "^SKU", "message": "SKU must start with SKU"})
    assert refused(bo.product, "A", sku="X1")[0].message == "SKU must start with SKU (rule 'sku_shape')."


@pytest.mark.parametrize("validator_type, config, field_name, expected", [
    ("format", {"kind": "regex", "pattern": "(?=a)a"}, "name", "lookahead"),
    ("format", {"kind": "regex", "pattern": "(?<!a)b"}, "name", "negative lookbehind"),
    ("format", {"kind": "regex", "pattern": "(a)\\1"}, "name", "backreference"),
    ("format", {"kind": "regex", "pattern": "a" * 501}, "name", "at most 500"),
    ("format", {"kind": "regex", "pattern": "[unclosed"}, "name", "not a valid regular expression"),
    ("format", {"kind": "regex"}, "name", "needs a pattern"),
    ("format", {"kind": "shout"}, "name", "kind"),
    ("range", {"kind": "number", "min": 5, "max": 1}, "price", "min must not be greater than max"),
    ("range", {"kind": "number"}, "price", "give min, max or both"),
    ("range", {"kind": "number", "min": "abc"}, "price", "min must be a number"),
    ("range", {"kind": "date", "min": "2025-02-30"}, "price", "min must be a date"),
    ("range", {"kind": "number", "max": 5, "eval": "1"}, "price", "Extra inputs"),
    ("custom", {"rule": "exec"}, "name", "custom rule must be one of"),
    ("custom", {"rule": "compare", "left": "a"}, None, "Field required"),
    ("required", {"x": 1}, "name", "Extra inputs"),
])
def test_bad_configs_are_refused_when_defined(scoped, bo, validator_type, config, field_name, expected):
    errors = refused(bo.validator, "product", "bad", validator_type, field_name=field_name, config=config)
    assert errors[0].field == "validator_config" and expected in errors[0].message
    assert db.session.scalar(select(func.count()).select_from(BusinessObjectValidator)) == 0


def test_validator_targets_must_fit(scoped, bo):
    bo.field("product", "launched", "date")
    assert refused(bo.validator, "product", "r", "range", field_name="launched",
                   config={"kind": "number", "max": 1})[0].message.startswith("A number range does not apply")
    assert refused(bo.validator, "product", "r", "required", field_name="nope")[0].rule == "unknown_field"
    assert refused(bo.validator, "product", "r", "format", field_name="price",
                   config={"kind": "email"})[0].rule == "type"
    assert refused(bo.validator, "product", "r", "custom", field_name="name",
                   config={"rule": "compare", "left": "name", "op": ">", "right": "price"})[0].rule == "not_allowed"
    assert refused(bo.validator, "product", "Bad Name", "required", field_name="name")[0].field == "validator_name"
    bo.validator("product", "r", "required", field_name="name")
    assert refused(bo.validator, "product", "r", "required", field_name="name")[0].rule == "unique"


def test_entity_level_compare(scoped, bo):
    bo.field("company", "start_date", "date", label="Start date")
    bo.field("company", "end_date", "date", label="End date")
    bo.validator("company", "dates_in_order", "custom",
                 config={"rule": "compare", "left": "end_date", "op": ">=", "right": "start_date"})
    assert bo.company("Same day", custom={"start_date": "2025-01-01", "end_date": "2025-01-01"})
    assert bo.company("Open ended", custom={"start_date": "2025-01-01"})
    [error] = refused(bo.company, "Bad", custom={"start_date": "2025-01-02", "end_date": "2025-01-01"})
    assert (error.field, error.rule) == ("end_date", "compare")
    assert error.message == "End date must be on or after Start date (rule 'dates_in_order')."


def test_entity_level_compare_on_update_uses_stored_values(scoped, bo, admin):
    bo.field("product", "min_qty", "integer", label="Minimum")
    bo.field("product", "max_qty", "integer", label="Maximum")
    bo.validator("product", "qty_order", "custom",
                 config={"rule": "compare", "left": "max_qty", "op": ">", "right": "min_qty"})
    product = bo.product(custom={"min_qty": 1, "max_qty": 2})
    [error] = refused(service.update, "product", product.id, None, {"min_qty": 2}, actor_id=admin.id)
    assert error.message == "Maximum must be greater than Minimum (rule 'qty_order')."


def test_at_least_one_of(scoped, bo):
    bo.field("partner", "phone", "string", label="Phone")
    bo.validator("partner", "reachable", "custom", config={"rule": "at_least_one_of", "fields": ["email", "phone"]})
    company = bo.company()
    assert "Give at least one of Email, Phone" in refused(bo.partner, company.id)[0].message
    assert bo.partner(company.id, custom={"phone": "123"})


def test_unique_custom_rule(scoped, bo, admin):
    bo.field("product", "barcode", "string", label="Barcode")
    bo.validator("product", "barcode_unique", "custom", field_name="barcode", config={"rule": "unique"})
    first = bo.product("A", custom={"barcode": "123"})
    [error] = refused(bo.product, "B", custom={"barcode": "123"})
    assert (error.field, error.rule) == ("barcode", "unique") and "rule 'barcode_unique'" in error.message
    service.update("product", first.id, {"name": "A2"}, {"barcode": "123"}, actor_id=admin.id)  # itself is fine
    assert db.session.scalar(select(func.count()).select_from(Product)) == 1


def test_allowed_values(scoped, bo):
    bo.field("product", "size", "integer", label="Size")
    bo.validator("product", "sizes", "custom", field_name="size", config={"rule": "allowed_values", "values": [1, 2]})
    assert bo.product("A", custom={"size": "2"})
    [error] = refused(bo.product, "B", custom={"size": 3})
    assert error.message == "Size must be one of 1, 2 (rule 'sizes')."


def test_inactive_validator_is_not_enforced_and_changes_are_audited(scoped, bo, admin):
    row = bo.validator("product", "sku_required", "required", field_name="sku")
    assert refused(bo.product, "A")[0].rule == "required"
    definitions.deactivate_validator(row.id, actor_id=admin.id)
    assert bo.product("A")
    entries = list(db.session.scalars(select(AuditLog).where(AuditLog.entity_type == "validator")))
    assert [e.action for e in entries] == ["create", "update"]
    assert entries[1].changes == {"is_active": [True, False]} and entries[1].user_id == admin.id


def test_company_specific_validator_applies_to_that_company_only(scoped, bo):
    x, y = bo.company("X"), bo.company("Y")
    bo.validator("partner", "x_email", "required", field_name="email", company_id=x.id)
    assert refused(bo.partner, x.id)[0].field == "email"
    assert bo.partner(y.id)


def test_test_value_runs_type_and_field_validators(scoped, bo):
    bo.field("company", "employees", "integer", label="Employees")
    bo.validator("company", "employees_range", "range", field_name="employees", config={"kind": "number", "max": 10})
    assert service.test_value("company", "employees", "10") == []
    assert service.test_value("company", "employees", "11")[0].rule == "range"
    assert service.test_value("company", "employees", "abc")[0].message == \
        "Employees must be a whole number (got 'abc')."
    assert service.test_value("company", "nope", "1")[0].rule == "unknown_field"
