"""A validator changed in one OS process is enforced at once by another that had it cached."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from strata.business_objects import definitions
from strata.tenancy.service import tenant_context

ROOT = Path(__file__).resolve().parents[2]

# The second process: builds its own app, then answers "check" lines with the errors for employees=8.
CHILD = textwrap.dedent("""
    import json, sys
    from app import create_app
    from strata.business_objects import service
    from strata.tenancy.service import tenant_context

    app = create_app()
    tenant_id = int(sys.argv[1])
    with app.app_context():
        for line in sys.stdin:
            with tenant_context(tenant_id):
                errors = service.test_value("company", "employees", "8")
            print(json.dumps([e.rule for e in errors]), flush=True)
""")


def test_validator_change_reaches_a_running_second_process(app, tenant, admin):
    with tenant_context(tenant.id):
        definitions.define_field("company", "employees", "Employees", "integer", actor_id=admin.id)
        rule = definitions.define_validator("company", "cap", "range", field_name="employees",
                                            config={"kind": "number", "max": 10}, actor_id=admin.id)
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=app.config["REDIS_URL"],
               SECRET_KEY="x", PYTHONPATH=str(ROOT))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tenant.id)], cwd=ROOT, env=env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        def check() -> list[str]:
            child.stdin.write("check\n")
            child.stdin.flush()
            return json.loads(child.stdout.readline())

        assert check() == []  # 8 ≤ 10, and the child now holds the config in its cache
        assert check() == []
        with tenant_context(tenant.id):
            definitions.update_validator(rule.id, config={"kind": "number", "max": 5}, actor_id=admin.id)
        assert check() == ["range"]  # enforced by the other process on its very next use
    finally:
        child.stdin.close()
        child.wait(30)
        child.stdout.close()
