"""Tenant isolation: pages, API, raw SQL, workers and pooled connections never cross tenants."""

import pytest
from flask import jsonify
from rq.job import JobStatus
from sqlalchemy import text
from werkzeug.routing.converters import AnyConverter

from blueprints import tenant_blueprint
from strata import audit
from strata.db import db
from strata.tenancy.service import tenant_context
from tests.routes import rule_url as _url
from tests.tenancy import jobs
from workers import enqueue


def _tenant_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/t/<slug>", "/api/t/<slug>")):
            yield rule


def _mark(tenant, summary: str) -> None:
    with tenant_context(tenant.id):
        audit.record("marker", 1, "create", None, summary=summary)


def test_member_of_a_gets_404_on_every_b_url(app, client, login, make_tenant):
    a, b = make_tenant("alpha"), make_tenant("bravo")
    login(tenant=a, role="admin")
    rules = list(_tenant_rules(app))
    assert len(rules) >= 5
    checked = 0
    for rule in rules:
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(_url(rule, b.slug), method=method)
            assert response.status_code == 404, f"{method} {rule.rule} gave {response.status_code}"
            own = client.open(_url(rule, a.slug), method=method)
            # An id that does not exist may be 404 in one's own tenant too; a bare collection may not.
            names_an_object = any(not isinstance(converter, AnyConverter)
                                  for name, converter in rule._converters.items() if name != "slug")
            assert own.status_code != 404 or names_an_object, f"{method} {rule.rule} 404 for own tenant"
            checked += 1
    assert checked >= 5


def test_unknown_tenant_is_404_and_anonymous_is_sent_to_login(client, login, make_tenant):
    tenant = make_tenant()
    assert client.get(f"/t/{tenant.slug}/").status_code == 302
    assert client.get(f"/api/t/{tenant.slug}/").status_code == 401
    login()
    assert client.get("/t/nosuchtenant/").status_code == 404
    assert client.get("/api/t/nosuchtenant/").status_code == 404
    assert client.get(f"/t/{tenant.slug}/").status_code == 404


def test_raw_select_on_other_tenant_table_is_denied_by_postgres(app, make_tenant):
    a, b = make_tenant("alpha"), make_tenant("bravo")
    _mark(b, "bravo secret")
    with pytest.raises(Exception) as caught:
        with tenant_context(a.id):
            db.session.execute(text("SELECT * FROM tenant_bravo.audit_logs")).all()
    assert "permission denied" in str(caught.value)
    with tenant_context(a.id):
        # An unqualified name resolves in A's own schema only.
        assert db.session.execute(text("SELECT count(*) FROM audit_logs")).scalar() == 0


def test_worker_job_for_a_cannot_read_b(app, make_tenant, run_jobs):
    a, b = make_tenant("alpha"), make_tenant("bravo")
    _mark(a, "alpha row")
    _mark(b, "bravo secret")
    own = enqueue(jobs.read_table, a.id, "audit_logs")
    other = enqueue(jobs.read_table, a.id, "tenant_bravo.audit_logs")
    who = enqueue(jobs.whoami, a.id)
    run_jobs("default")
    assert own.get_status() == JobStatus.FINISHED and own.return_value() == ["alpha row"]
    assert other.get_status() == JobStatus.FAILED
    assert "permission denied" in other.latest_result().exc_string
    assert "bravo secret" not in other.latest_result().exc_string
    assert who.return_value() == {"role": a.db_role, "search_path": '"tenant_alpha", public'}


def test_pool_of_one_never_leaks_role_or_search_path(make_app, make_user, make_tenant, login):
    app = make_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0})
    check_alternating_tenants(app, make_user, make_tenant, pool_size=1)


def check_alternating_tenants(app, make_user, make_tenant, pool_size: int) -> None:
    """Requests alternating between two tenants over `app`'s few connections see only their own tenant."""
    probe = tenant_blueprint("probe", __name__, url_prefix="/probe")

    @probe.get("/")
    def whoami():
        role, path = db.session.execute(text("SELECT current_user, current_setting('search_path')")).one()
        markers = db.session.execute(text("SELECT summary FROM audit_logs")).scalars().all()
        db.session.commit()  # a second transaction in the same request is scoped too
        role_again = db.session.execute(text("SELECT current_user")).scalar()
        return jsonify(role=role, path=path, markers=markers, role_again=role_again)

    @app.get("/probe-public")
    def public_probe():
        role, path = db.session.execute(text("SELECT current_user, current_setting('search_path')")).one()
        return jsonify(role=role, path=path)

    app.register_blueprint(probe)
    with app.app_context():
        user = make_user()
        tenants = [make_tenant("alpha", members={user: "viewer"}), make_tenant("bravo", members={user: "viewer"})]
        for tenant in tenants:
            _mark(tenant, f"{tenant.slug} marker")
        tenants = [(t.slug, t.db_role, t.schema_name) for t in tenants]
        email = user.email
        login_role = db.session.execute(text("SELECT current_user")).scalar()
        db.session.remove()
    client = app.test_client()
    client.post("/login", data={"email": email, "password": "correct horse battery"})
    for i in range(20):
        slug, role, schema = tenants[i % 2]
        body = client.get(f"/t/{slug}/probe/").get_json()
        assert body == {"role": role, "path": f'"{schema}", public', "markers": [f"{slug} marker"],
                        "role_again": role}
        if i % 5 == 4:
            public = client.get("/probe-public").get_json()
            assert public["role"] == login_role and "tenant_" not in public["path"]
    with app.app_context():
        assert db.engine.pool.size() == pool_size


def test_scope_switch_inside_a_savepoint_survives_its_rollback(app, make_tenant):
    from strata.db import public_scope

    tenant = make_tenant("alpha")
    login_role = db.session.execute(text("SELECT current_user")).scalar()
    db.session.commit()
    with tenant_context(tenant.id):
        assert db.session.execute(text("SELECT current_user")).scalar() == tenant.db_role
        savepoint = db.session.begin_nested()
        with public_scope():
            assert db.session.execute(text("SELECT current_user")).scalar() == login_role
            with pytest.raises(Exception, match="division by zero"):
                db.session.execute(text("SELECT 1 / 0"))
        savepoint.rollback()
        # The server undid the switch back to the tenant along with the savepoint; it is redone.
        assert db.session.execute(text("SELECT current_user")).scalar() == tenant.db_role
        with pytest.raises(Exception, match="permission denied"):
            with db.session.begin_nested():
                db.session.execute(text("SELECT * FROM public.memberships"))
        assert db.session.execute(text("SELECT count(*) FROM audit_logs")).scalar() == 0


def test_first_statement_on_a_server_side_cursor_is_scoped(app, make_tenant):
    from sqlalchemy import select

    from strata.audit import AuditLog

    tenant = make_tenant("alpha")
    _mark(tenant, "alpha row")
    db.session.commit()
    with tenant_context(tenant.id):
        rows = db.session.execute(select(AuditLog.summary).execution_options(yield_per=10)).scalars().all()
        assert rows == ["alpha row"]


def test_one_connection_runs_the_same_query_in_many_tenants(make_app, make_tenant):
    """Each tenant has its own enum types: a plan prepared in one tenant must not be reused in the next."""
    app = make_app(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0})
    with app.app_context():
        tenants = [make_tenant() for _ in range(3)]
        for _ in range(4):
            for tenant in tenants:
                with tenant_context(tenant.id):
                    rows = db.session.execute(text(
                        "SELECT id, backfill_status FROM workflow_schedules WHERE is_active")).all()
                    assert rows == []
