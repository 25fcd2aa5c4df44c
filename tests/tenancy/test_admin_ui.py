"""Platform admins create tenants from the UI; nobody else sees the page."""

from sqlalchemy import func, select, text

from strata.accounts.models import Membership
from strata.db import db
from strata.tenancy.models import Tenant


def test_platform_admin_creates_tenant_and_becomes_its_admin(client, login, make_user):
    admin = login(make_user(admin=True))
    response = client.post("/admin/tenants", data={"slug": "globex", "name": "Globex"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/t/globex/")
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == "globex"))
    membership = db.session.scalar(select(Membership).where(Membership.tenant_id == tenant.id))
    assert membership.user_id == admin.id and membership.role == "admin"
    page = client.get("/t/globex/")
    assert page.status_code == 200 and "Globex" in page.get_data(as_text=True)
    assert "globex" in client.get("/admin/tenants").get_data(as_text=True)


def test_htmx_create_redirects_with_header(client, login, make_user):
    login(make_user(admin=True))
    response = client.post("/admin/tenants", data={"slug": "initech", "name": "Initech"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/t/initech/"


def test_bad_slug_from_ui_is_422_inline_and_creates_nothing(client, login, make_user):
    login(make_user(admin=True))
    schemas = db.session.execute(text("SELECT count(*) FROM pg_namespace")).scalar()
    response = client.post("/admin/tenants", data={"slug": "Bad;Slug", "name": "Bad"}, headers={"HX-Request": "true"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "capital letters" in body and 'aria-invalid="true"' in body
    assert db.session.scalar(select(func.count(Tenant.id))) == 0
    assert db.session.execute(text("SELECT count(*) FROM pg_namespace")).scalar() == schemas


def test_non_admin_gets_404_on_admin_pages(client, login, make_user):
    make_user(admin=True)
    login(make_user(admin=False))
    assert client.get("/admin/tenants").status_code == 404
    assert client.post("/admin/tenants", data={"slug": "x", "name": "X"}).status_code == 404
    assert db.session.scalar(select(func.count(Tenant.id))) == 0


def test_home_lists_tenants_or_redirects_to_the_only_one(client, login, make_tenant, make_user):
    user = make_user()
    only = make_tenant(name="Only One", members={user: "viewer"})
    login(user)
    assert client.get("/").headers["Location"] == f"/t/{only.slug}/"
    make_tenant(name="Second", members={user: "editor"})
    page = client.get("/").get_data(as_text=True)
    assert "Only One" in page and "Second" in page


def test_tenant_switcher_lists_only_my_tenants(client, login, make_tenant, make_user):
    user = make_user()
    mine = make_tenant(name="Mine Ltd", members={user: "viewer"})
    make_tenant(name="Yours Ltd", members={user: "admin"})
    make_tenant(name="Secret Ltd")
    login(user)
    page = client.get(f"/t/{mine.slug}/").get_data(as_text=True)
    assert "Yours Ltd" in page and "Secret Ltd" not in page


def test_job_dashboard_is_for_platform_admins_only(client, login, make_user, app):
    login(make_user(admin=False))
    assert client.get("/admin/rq/").status_code == 404
    client.post("/logout")
    login(make_user(admin=True))
    page = client.get("/admin/rq/")
    assert page.status_code == 200 and "RQ" in page.get_data(as_text=True)
    queues = client.get("/admin/rq/0/data/queues.json").get_json()
    assert {"default", "streams", "backfills"} >= {q["name"] for q in queues["queues"]}
