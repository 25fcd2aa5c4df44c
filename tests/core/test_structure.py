"""Structure rules checked on the source: the domain never imports the job modules, and views run no SQL."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> list[tuple[int, str]]:
    """Return (line, module) for every import statement of the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_no_domain_module_imports_workers():
    offenders = [f"{path.relative_to(ROOT)}:{line} imports {module}"
                 for path in sorted((ROOT / "strata").rglob("*.py"))
                 for line, module in _imports(path)
                 if module == "workers" or module.startswith("workers.")]
    assert offenders == []


def test_the_check_sees_a_workers_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from workers.things import refresh_summary\n")
    assert (2, "workers.things") in _imports(sample)


def test_every_job_is_registered_by_name(app):
    from strata import jobs

    assert {"extensions.apply_migration", "reports.run_slot", "streams.consume",
            "things.refresh_summary"} <= set(jobs.names())


def test_an_unknown_job_name_is_refused(app):
    from strata import jobs

    with pytest.raises(LookupError, match="no-such.job"):
        jobs.enqueue("no-such.job", 1)


# What a view may not do: build or run SQL itself (the domain in strata/ does; views commit or roll back).
SQL_NAMES = {"select", "text", "insert", "update", "delete"}
SESSION_QUERIES = {"execute", "scalar", "scalars", "query", "get", "connection"}


def _sql_in_view(path: Path) -> list[str]:
    """Return each SQL import from sqlalchemy and each db.session query call of the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module in ("sqlalchemy", "sqlalchemy.sql"):
            found += [f"{node.lineno}: imports {a.name}" for a in node.names if a.name in SQL_NAMES]
        elif isinstance(node, ast.Attribute) and node.attr in SESSION_QUERIES and ast.unparse(node.value).endswith(
                "db.session"):
            found.append(f"{node.lineno}: calls db.session.{node.attr}")
        elif isinstance(node, ast.Attribute) and node.attr == "text" and ast.unparse(node.value) == "db":
            found.append(f"{node.lineno}: builds db.text")
    return found


def test_no_view_module_runs_sql():
    offenders = [f"{path.relative_to(ROOT)}:{problem}"
                 for path in sorted((ROOT / "blueprints").rglob("*.py")) for problem in _sql_in_view(path)]
    assert offenders == []


def test_the_view_check_sees_sql(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from sqlalchemy import select, text\n"
                      "def view():\n    db.session.commit()\n    return db.session.scalars(select(X))\n")
    assert _sql_in_view(sample) == ["1: imports select", "1: imports text", "4: calls db.session.scalars"]


# The development stack hands the whole environment on to the processes it starts; it reads no setting.
ENV_READERS = {"config.py", "strata/devstack.py"}


def test_settings_are_read_only_in_config():
    offenders = []
    for path in sorted([ROOT / "app.py", *(ROOT / "strata").rglob("*.py"), *(ROOT / "blueprints").rglob("*.py"),
                        *(ROOT / "workers").rglob("*.py")]):
        if str(path.relative_to(ROOT)) in ENV_READERS:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Attribute) and ast.unparse(node) in ("os.environ", "os.getenv"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
