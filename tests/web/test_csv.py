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


def test_an_import_over_a_thousand_rows_runs_as_a_job_with_progress(client, login, make_tenant, run_jobs):
    from sqlalchemy import func, select

    from strata.business_objects.models import Company
    from strata.db import db
    from strata.tenancy.service import tenant_context

    tenant = make_tenant()
    login(tenant=tenant, role="editor")
    rows = "".join(f"Company {i:05}\n" for i in range(1200))
    data = {"file": (BytesIO(("name\n" + rows).encode()), "big.csv")}
    started = client.post(f"/t/{tenant.slug}/companies/import", data=data, content_type="multipart/form-data",
                          headers={"HX-Request": "true"})
    assert started.status_code == 202
    page = started.get_data(as_text=True)
    assert "Importing in the background: 0 of 1200 rows" in page and 'hx-trigger="load delay:1s"' in page
    progress_url = page.split('hx-get="')[1].split('"')[0]
    assert client.get(progress_url).status_code == 200  # the full page while it waits
    run_jobs("default")
    done = client.get(progress_url, headers={"HX-Request": "true"})
    assert done.status_code == 200 and "Imported 1200 of 1200 rows" in done.get_data(as_text=True)
    assert "hx-trigger" not in done.get_data(as_text=True)  # polling stops
    with tenant_context(tenant.id):
        assert db.session.scalar(select(func.count()).select_from(Company)) == 1200
    assert client.get(progress_url.replace("/companies/", "/partners/")).status_code == 404
    assert client.get(f"/t/{tenant.slug}/companies/import/nope").status_code == 404
