"""Defining custom fields: names, types, options and defaults are checked; changes are audited."""

import pytest
from sqlalchemy import select

from strata.audit import AuditLog
from strata.business_objects import definitions, service
from strata.db import db
from strata.errors import ValidationError


def refused(**kwargs):
    args = {"entity_type": "product", "name": "colour", "label": "Colour", "field_type": "string", **kwargs}
    with pytest.raises(ValidationError) as caught:
        definitions.define_field(actor_id=None, **args)
    return {e.field: e.rule for e in caught.value.errors}


def test_every_field_type_can_be_defined(scoped, bo):
    for field_type in ("string", "text", "integer", "decimal", "boolean", "date", "datetime", "email", "url",
                       "json"):
        bo.field("product", f"f_{field_type}", field_type)
    bo.field("product", "f_select", "select", options=["a", "b"])
    bo.field("product", "f_multi", "multiselect", options=["a", "b"], default=["b"])
    assert len(definitions.list_fields("product")) == 12


def test_bad_definitions_are_refused(scoped, bo):
    assert refused(name="Colour") == {"name": "format"}
    assert refused(name="price") == {"name": "reserved"}
    assert refused(field_type="colourpicker") == {"field_type": "choice"}
    assert refused(field_type="select") == {"options": "required"}
    assert refused(field_type="select", options=["a", "a"]) == {"options": "unique"}
    assert refused(options=["a"]) == {"options": "not_allowed"}
    assert refused(field_type="integer", default="abc") == {"default": "type"}
    assert refused(label=" ") == {"label": "required"}
    assert refused(company_id=1) == {"company_id": "scope"}
    assert refused(entity_type="partner", company_id=999) == {"company_id": "exists"}
    with pytest.raises(ValidationError, match="Entity type must be one of"):
        definitions.define_field("spaceship", "colour", "Colour", "string", actor_id=None)


def test_names_do_not_clash_across_tenant_wide_and_company_fields(scoped, bo):
    x = bo.company("X")
    bo.field("partner", "region", "string")
    with pytest.raises(ValidationError, match="already exists"):
        bo.field("partner", "region", "string", company_id=x.id)
    bo.field("partner", "x_only", "string", company_id=x.id)
    with pytest.raises(ValidationError, match="already exists"):
        bo.field("partner", "x_only", "string")


def test_update_and_deactivate_field_are_audited_and_hide_the_field(scoped, bo, admin):
    field = bo.field("product", "colour", "select", options=["red"])
    product = bo.product(custom={"colour": "red"})
    definitions.update_field(field.id, actor_id=admin.id, label="Shade", options=["red", "blue"], position=3)
    with pytest.raises(ValidationError):
        definitions.update_field(field.id, actor_id=admin.id, field_type="integer")
    definitions.deactivate_field(field.id, actor_id=admin.id)
    assert service.custom_values("product", product.id) == {}
    assert definitions.list_fields("product") == []
    assert definitions.list_fields("product", include_inactive=True)[0].label == "Shade"
    entries = list(db.session.scalars(select(AuditLog).where(AuditLog.entity_type == "custom_field")
                                      .order_by(AuditLog.id)))
    assert [e.action for e in entries] == ["create", "update", "update"]
    assert entries[1].changes == {"label": ["Colour", "Shade"], "options": [["red"], ["red", "blue"]],
                                  "position": [0, 3]}
    assert entries[2].changes == {"is_active": [True, False]}
