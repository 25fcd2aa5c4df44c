"""CSV export, import (all or nothing, or valid rows only) and bulk set of one custom field."""

import csv
import io

import pytest
from sqlalchemy import func, select

from strata.audit import AuditLog
from strata.business_objects import csvio, query, service
from strata.business_objects.models import Company, Product
from strata.db import db
from strata.errors import ValidationError


def rows_of(text):
    return list(csv.reader(io.StringIO(text)))


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_export_has_core_and_custom_columns(scoped, bo):
    bo.field("company", "employees", "integer")
    bo.field("company", "tags", "multiselect", options=["a", "b"])
    bo.company("Acme", custom={"employees": 12, "tags": ["a", "b"]}, company_number="01234567")
    bo.company("Beta")
    rows = rows_of("".join(csvio.export_csv("company", sort=query.parse_sort("name"))))
    assert rows[0] == ["id", "name", "company_number", "employees", "tags", "created_at", "updated_at"]
    assert [r[1:5] for r in rows[1:]] == [["Acme", "01234567", "12", "a|b"], ["Beta", "", "", ""]]


def test_export_applies_filters_and_streams_in_batches(scoped, bo, monkeypatch):
    monkeypatch.setattr(csvio, "BATCH", 2)
    bo.field("product", "weight", "integer")
    for i in range(5):
        bo.product(f"P{i}", custom={"weight": i})
    chunks = list(csvio.export_csv("product", filters=[query.parse_filter("weight", "gte:1")],
                                   sort=query.parse_sort("-weight")))
    assert len(chunks) == 3  # header + 2 batches of 2
    assert [r[1] for r in rows_of("".join(chunks))[1:]] == ["P4", "P3", "P2", "P1"]


def test_export_refuses_unknown_filter_before_streaming(scoped):
    with pytest.raises(ValidationError):
        csvio.export_csv("product", filters=[query.parse_filter("nope", "1")])


def test_import_all_valid_writes_rows_and_audit(scoped, bo, admin):
    bo.field("company", "employees", "integer")
    report = csvio.import_csv("company", "name,company_number,employees\nAcme,01234567,12\nBeta,,\n", admin.id)
    assert (report.total, report.imported, report.failed, report.errors) == (2, 2, 0, [])
    acme = db.session.scalar(select(Company).where(Company.name == "Acme"))
    assert service.custom_values("company", acme.id) == {"employees": 12}
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.entity_type == "company", AuditLog.action == "create")) == 2


def test_one_bad_row_imports_nothing_and_names_row_and_column(scoped, bo, admin):
    bo.field("company", "employees", "integer")
    report = csvio.import_csv("company", "name,employees\nAcme,12\nBeta,abc\n,3\n", admin.id)
    assert (report.total, report.imported, report.failed) == (3, 0, 2)
    assert [(e.row, e.field, e.rule) for e in report.errors] == [(3, "employees", "type"), (4, "name", "required")]
    assert "abc" in report.errors[0].message
    assert count(Company) == 0


def test_import_valid_rows_writes_only_those(scoped, bo, admin):
    bo.field("product", "weight", "integer")
    text = "name,sku,weight\nA,S1,1\nB,S1,2\nC,S3,x\nD,,4\n"
    report = csvio.import_csv("product", text, admin.id, import_valid_rows=True)
    assert (report.total, report.imported, report.failed) == (4, 2, 2)
    assert {(e.row, e.field, e.rule) for e in report.errors} == {(3, "sku", "unique"), (4, "weight", "type")}
    assert sorted(db.session.scalars(select(Product.name))) == ["A", "D"]


def test_unknown_header_is_refused_by_name(scoped, admin):
    report = csvio.import_csv("product", "name,colour\nA,red\n", admin.id)
    assert report.imported == 0 and report.total == 0
    assert [(e.row, e.field, e.rule) for e in report.errors] == [(1, "colour", "unknown_column")]
    assert "'colour'" in report.errors[0].message
    assert count(Product) == 0


def test_exported_file_imports_back_ignoring_read_only_columns(scoped, bo, admin):
    bo.field("product", "tags", "multiselect", options=["a", "b"])
    bo.product("A", custom={"tags": ["a", "b"]}, sku="S1", price="1.50")
    text = "".join(csvio.export_csv("product")).replace("S1", "S2")
    report = csvio.import_csv("product", text, admin.id)
    assert report.ok and report.imported == 1 and set(report.ignored_columns) == set(csvio.READ_ONLY)
    copy = db.session.scalar(select(Product).where(Product.sku == "S2"))
    assert service.custom_values("product", copy.id) == {"tags": ["a", "b"]}


def test_header_matches_custom_field_label_and_bom(scoped, bo, admin):
    bo.field("product", "weight", "integer", label="Weight (kg)")
    report = csvio.import_csv("product", "\ufeffname,Weight (kg)\nA,3\n".encode(), admin.id)
    assert report.ok and report.imported == 1


def test_file_limits(scoped, admin, monkeypatch):
    monkeypatch.setattr(csvio, "MAX_ROWS", 2)
    with pytest.raises(ValidationError) as caught:
        csvio.import_csv("product", "name\nA\nB\nC\n", admin.id)
    assert caught.value.errors[0].rule == "rows"
    monkeypatch.setattr(csvio, "MAX_BYTES", 10)
    with pytest.raises(ValidationError) as caught:
        csvio.import_csv("product", io.BytesIO(b"name\nAAAAAAAAAAAAAA\n"), admin.id)
    assert caught.value.errors[0].rule == "size"
    with pytest.raises(ValidationError) as caught:
        csvio.import_csv("product", b"\xff\xfe", admin.id)
    assert caught.value.errors[0].rule == "encoding"
    with pytest.raises(ValidationError):
        csvio.import_csv("product", "", admin.id)


def test_bulk_set_valid_updates_each_and_audits(scoped, bo, admin):
    bo.field("product", "weight", "integer")
    ids = [bo.product(f"P{i}").id for i in range(3)]
    report = csvio.bulk_set("product", ids, "weight", "7", admin.id)
    assert report.updated == 3 and not report.errors
    assert all(service.custom_values("product", i) == {"weight": 7} for i in ids)
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "update")) == 3


def test_bulk_set_invalid_changes_nothing_and_names_ids(scoped, bo, admin):
    bo.field("product", "weight", "integer")
    bo.validator("product", "weight_max", "range", field_name="weight", config={"kind": "number", "max": 10})
    ids = [bo.product(f"P{i}").id for i in range(2)]
    report = csvio.bulk_set("product", [*ids, 9999], "weight", "abc", admin.id)
    assert report.updated == 0
    assert {(e.id, e.field, e.rule) for e in report.errors} == {
        (ids[0], "weight", "type"), (ids[1], "weight", "type"), (9999, "id", "exists")}
    assert all(service.custom_values("product", i) == {} for i in ids)
    report = csvio.bulk_set("product", ids, "weight", "11", admin.id)
    assert report.updated == 0 and {e.id for e in report.errors} == set(ids)
    with pytest.raises(ValidationError):
        csvio.bulk_set("product", ids, "colour", "x", admin.id)


def test_export_read_after_leaving_the_scope_still_reads_the_tenant(tenant, bo):
    from strata.db import current_scope
    from strata.tenancy.service import tenant_context

    with tenant_context(tenant.id):
        bo.product("Late reader")
        chunks = csvio.export_csv("product")
    rows = rows_of("".join(chunks))
    assert [r[1] for r in rows[1:]] == ["Late reader"]
    assert current_scope() is None
