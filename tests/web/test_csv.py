"""CSV in and out: formula cells neutralised in every export, NUL refused and `;` detected on import."""

from __future__ import annotations

import csv
import io
from io import BytesIO

import pytest

from strata import csvfiles
from strata.errors import ValidationError

FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+1+2", "-2+3", "@SUM(A1)", "|cmd", "%0A", "\t=1", "\r=1"]


def test_formula_cells_are_written_as_text_and_numbers_stay_numbers():
    rows = list(csv.reader(io.StringIO(csvfiles.text([FORMULAS, ["-12.5", "plain", "a=b"]]))))
    assert all(cell.startswith("'") for cell in rows[0]), rows[0]
    assert rows[1] == ["-12.5", "plain", "a=b"]


def test_company_export_neutralises_formulas(client, login, make_tenant):
    tenant = make_tenant()
    login(tenant=tenant, role="admin")
    for name in ('=HYPERLINK("http://evil.example","x")', "+cmd", "@SUM(1)"):
        assert client.post(f"/api/t/{tenant.slug}/companies", json={"name": name}).status_code == 201
    body = client.get(f"/t/{tenant.slug}/companies/export.csv").get_data(as_text=True)
    names = {row["name"] for row in csv.DictReader(io.StringIO(body))}
    assert names == {"'=HYPERLINK(\"http://evil.example\",\"x\")", "'+cmd", "'@SUM(1)"}


def test_report_results_neutralise_formulas(monkeypatch):
    from strata.reports import service

    monkeypatch.setattr(service, "results", lambda collection: (["=HYPERLINK(1)", "+x"], []))
    header = next(csv.reader(io.StringIO(service.results_csv(None))))
    assert header[3:] == ["'=HYPERLINK(1)", "'+x"]


def test_nul_in_an_import_is_refused_with_its_line():
    with pytest.raises(ValidationError) as caught:
        csvfiles.reader("name\nok\nbad\x00name\n")
    assert caught.value.errors[0].rule == "nul" and "line 3" in caught.value.errors[0].message


def test_semicolon_and_tab_delimiters_are_detected():
    assert list(csvfiles.reader("name;website\nAcme, Ltd;https://a.example\n")) == [
        ["name", "website"], ["Acme, Ltd", "https://a.example"]]
    assert list(csvfiles.reader("name\twebsite\nAcme\thttps://a.example\n"))[1] == ["Acme", "https://a.example"]
    assert list(csvfiles.reader("name,notes\nAcme,a;b;c\n"))[1] == ["Acme", "a;b;c"]


def test_a_semicolon_file_imports_over_http(client, login, make_tenant):
    tenant = make_tenant()
    login(tenant=tenant, role="admin")
    data = {"file": (BytesIO(b"name;company_number\nSemi Colon Ltd;SC000001\n"), "c.csv")}
    response = client.post(f"/t/{tenant.slug}/companies/import", data=data, content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    listed = client.get(f"/api/t/{tenant.slug}/companies").get_json()
    assert [c["name"] for c in listed["items"]] == ["Semi Colon Ltd"]
