"""The plain `rq worker` command runs tenant jobs when given the app-building worker class."""

import os
import subprocess
import sys
from pathlib import Path

from tests.tenancy import jobs
from workers import enqueue

ROOT = Path(__file__).resolve().parents[2]


def test_rq_worker_with_app_worker_class_runs_tenant_jobs(app, make_tenant):
    tenant = make_tenant("alpha")
    job = enqueue(jobs.whoami, tenant.id)
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=app.config["REDIS_URL"],
               SECRET_KEY="x", PYTHONPATH=str(ROOT))
    rq = Path(sys.executable).with_name("rq")
    done = subprocess.run([str(rq), "worker", "--burst", "-w", "workers.runner.AppWorker",
                           "--url", app.config["REDIS_URL"], "default"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert job.return_value() == {"role": tenant.db_role, "search_path": '"tenant_alpha", public'}
