"""Creating, updating and deleting business objects: validation first, then rows, extension values and audit."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from strata.audit import AuditLog
from strata.business_objects import service
from strata.business_objects.models import BusinessObjectExtension, Company, Partner, Product
from strata.db import db
from strata.errors import NotFound, ValidationError
from strata.tenancy.service import tenant_context


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _audits(entity_type: str, entity_id) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(
        AuditLog.entity_type == entity_type, AuditLog.entity_id == str(entity_id)).order_by(AuditLog.id)))


def test_create_writes_row_extensions_and_audit(scoped, bo, admin):
    bo.field("company", "employees", "integer", label="Employees")
    bo.field("company", "founded", "date", label="Founded")
    company = bo.company("Acme Ltd", company_number="sc 123456", custom={"employees": "12", "founded": "2001-05-04"})
    assert company.framework_version == "1.0" and company.created_by == admin.id
    assert company.company_number == "SC123456"
    assert service.custom_values("company", company.id) == {"employees": 12,
                                                            "founded": service.deserialise("date", '"2001-05-04"')}
    stored = {r.field_name: (r.field_type, r.field_value) for r in db.session.scalars(select(BusinessObjectExtension))}
    assert stored == {"employees": ("integer", "12"), "founded": ("date", '"2001-05-04"')}
    [entry] = _audits("company", company.id)
    assert entry.action == "create" and entry.user_id == admin.id
    assert entry.changes == {"name": [None, "Acme Ltd"], "company_number": [None, "SC123456"],
                             "employees": [None, 12], "founded": [None, "2001-05-04"]}


def test_update_audits_only_changed_fields_with_old_and_new(scoped, bo, admin):
    bo.field("company", "employees", "integer")
    company = bo.company("Acme", custom={"employees": 5})
    service.update("company", company.id, {"name": "Acme Group"}, {"employees": "7"}, actor_id=admin.id)
    service.update("company", company.id, {"name": "Acme Group"}, {"employees": 7}, actor_id=admin.id)
    entries = _audits("company", company.id)
    assert [e.action for e in entries] == ["create", "update"]
    assert entries[1].changes == {"name": ["Acme", "Acme Group"], "employees": [5, 7]}
    service.update("company", company.id, None, {"employees": ""}, actor_id=admin.id)
    assert service.custom_values("company", company.id) == {}
    assert _audits("company", company.id)[-1].changes == {"employees": [7, None]}


def test_delete_removes_values_and_audits_old_values(scoped, bo, admin):
    bo.field("product", "colour", "select", options=["red", "blue"])
    product = bo.product("Widget", price="9.99", custom={"colour": "red"})
    service.delete_object("product", product.id, actor_id=admin.id)
    assert _count(Product) == 0 and _count(BusinessObjectExtension) == 0
    entry = _audits("product", product.id)[-1]
    assert entry.action == "delete" and entry.user_id == admin.id
    assert entry.changes["colour"] == ["red", None] and entry.changes["price"] == ["9.99", None]
    with pytest.raises(NotFound):
        service.delete_object("product", product.id, actor_id=admin.id)


def test_company_with_partners_cannot_be_deleted(scoped, bo, admin):
    company = bo.company()
    bo.partner(company.id)
    with pytest.raises(ValidationError) as caught:
        service.delete_object("company", company.id, actor_id=admin.id)
    assert caught.value.errors[0].rule == "in_use"


def test_failed_validation_reports_all_errors_and_writes_nothing(scoped, bo, admin):
    bo.field("partner", "employees", "integer", label="Employees")
    bo.field("partner", "start_date", "date", label="Start date")
    company = bo.company()
    audits_before = _count(AuditLog)
    with pytest.raises(ValidationError) as caught:
        bo.partner(company.id, name="", email="nope",
                   custom={"employees": "abc", "start_date": "2025-02-30", "nickname": "x"})
    by_field = caught.value.by_field()
    assert by_field["employees"] == ["Employees must be a whole number (got 'abc')."]
    assert by_field["start_date"] == ["Start date must be a real date in YYYY-MM-DD form (got '2025-02-30')."]
    assert by_field["name"] == ["Name is required."]
    assert "email" in by_field and "nickname" in by_field
    assert _count(Partner) == 0 and _count(BusinessObjectExtension) == 0 and _count(AuditLog) == audits_before


def test_failed_update_changes_nothing(scoped, bo, admin):
    bo.field("company", "employees", "integer")
    company = bo.company("Acme", custom={"employees": 3})
    with pytest.raises(ValidationError):
        service.update("company", company.id, {"name": "New"}, {"employees": "many"}, actor_id=admin.id)
    db.session.expire_all()
    assert db.session.get(Company, company.id).name == "Acme"
    assert service.custom_values("company", company.id) == {"employees": 3}
    assert len(_audits("company", company.id)) == 1


def test_core_uniqueness_and_partner_company_checks(scoped, bo, admin):
    bo.company("A", company_number="01234567")
    with pytest.raises(ValidationError) as caught:
        bo.company("B", company_number="01234567")
    assert caught.value.errors[0].field == "company_number" and caught.value.errors[0].rule == "unique"
    with pytest.raises(ValidationError) as caught:
        bo.partner(999)
    assert caught.value.errors[0].rule == "exists"
    with pytest.raises(ValidationError, match="Price must be zero or more"):
        bo.product(price="-1")
    assert bo.product(price="0").price == Decimal("0")


def test_defaults_apply_on_create_only(scoped, bo, admin):
    bo.field("product", "in_stock", "boolean", default=True)
    product = bo.product()
    assert service.custom_values("product", product.id) == {"in_stock": True}
    other = bo.product("Gadget", custom={"in_stock": "no"})
    assert service.custom_values("product", other.id) == {"in_stock": False}


def test_company_fields_never_reach_another_companys_partners(scoped, bo, admin):
    x, y = bo.company("X Ltd"), bo.company("Y Ltd")
    bo.field("partner", "region", "string", label="Region")
    bo.field("partner", "x_code", "string", label="X code", company_id=x.id)
    px = bo.partner(x.id, custom={"region": "North", "x_code": "X-1"})
    assert service.custom_values("partner", px.id) == {"region": "North", "x_code": "X-1"}
    with pytest.raises(ValidationError) as caught:
        bo.partner(y.id, custom={"x_code": "Y-1"})
    assert caught.value.errors[0].rule == "unknown_field"
    py = bo.partner(y.id, custom={"region": "South"})
    assert service.custom_values("partner", py.id) == {"region": "South"}
    from strata.business_objects import cache

    assert [f.name for f in cache.current().fields_for("partner", y.id)] == ["region"]
    assert {f.name for f in cache.current().fields_for("partner", x.id)} == {"region", "x_code"}


def test_partner_cannot_move_company(scoped, bo, admin):
    x, y = bo.company("X"), bo.company("Y")
    partner = bo.partner(x.id)
    with pytest.raises(ValidationError, match="cannot be moved"):
        service.update("partner", partner.id, {"company_id": y.id}, actor_id=admin.id)


def test_writes_need_a_tenant_scope(app, tenant, admin):
    with pytest.raises(RuntimeError, match="tenant scope"):
        service.create("company", {"name": "A"}, actor_id=admin.id)
    with tenant_context(tenant.id):
        assert service.create("company", {"name": "A"}, actor_id=admin.id).id
