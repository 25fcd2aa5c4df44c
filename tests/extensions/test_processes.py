"""A table installed by one OS process is served at once by another, already running, web process."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx

from strata.db import db
from strata.extensions import rest, runtime
from tests.conftest import TEST_PASSWORD
from tests.extensions.conftest import CRM

ROOT = Path(__file__).resolve().parents[2]

# The second process: its own app and a werkzeug server on a free port, printed on the first line.
CHILD = textwrap.dedent("""
    import json, sys
    from werkzeug.serving import make_server
    from app import create_app

    config = json.loads(sys.argv[1])
    server = make_server("127.0.0.1", 0, create_app(config), threaded=True)
    print(server.server_port, flush=True)
    server.serve_forever()
""")


def test_a_table_installed_here_is_served_by_a_running_second_process(app, tenant, admin, scoped, install):
    config = {key: app.config[key] for key in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "SECRET_KEY",
                                               "PASSWORD_HASH_METHOD", "TENANT_SCOPING")}
    config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(config)], cwd=ROOT, env=env, text=True,
                             stdout=subprocess.PIPE)
    try:
        port = int(child.stdout.readline())
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            assert http.post("/login", data={"email": admin.email, "password": TEST_PASSWORD}).status_code == 302
            table = f"/api/t/{tenant.slug}/x/acme-crm/deal"
            assert http.get(table).status_code == 404  # the child has looked, and holds "nothing installed"
            install(CRM)
            rest.create_row(runtime.table("acme-crm", "deal"), {"title": "From the parent"})
            db.session.commit()
            response = http.get(table)  # no restart: the child sees the new version on its next request
            assert response.status_code == 200 and response.json()["items"][0]["title"] == "From the parent"
            made = http.post(table, json={"title": "From the child", "probability": 70})
            assert made.status_code == 201, made.text
            assert http.get(f"/api/t/{tenant.slug}/openapi.json").json()["paths"].get("/x/acme-crm/deal")
        page = rest.list_rows(runtime.table("acme-crm", "deal"), [], [rest.Order("title")], 10, 0)
        assert [r["title"] for r in page.rows] == ["From the child", "From the parent"]
    finally:
        child.terminate()
        child.wait(30)
        child.stdout.close()
