"""Tenant code never names a schema: it reaches its own tables through the search_path, and the
platform tables as `public.…`. That keeps a tenant's schema movable to another server or to a
Citus distributed schema, and a query that named another tenant's schema would be the one
thing the role switch has to catch. Provisioning and migration code (strata/tenancy) is the
exception: it creates and reads schemas by name.
"""

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TENANT_CODE = ["strata", "blueprints", "workers", "migrations/tenant/versions"]
PLATFORM_CODE = [ROOT / "strata" / "tenancy"]

SQLISH = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|JOIN|CREATE|ALTER|DROP|TRUNCATE|REFERENCES|FROM)\b")
# A tenant schema by name (tenant_acme.companies), or a qualifier filled in at run time ({schema}.table).
NAMED = re.compile(r'"?\btenant_[a-z0-9_]+"?\s*\.\s*"?[A-Za-z_]')
DYNAMIC = re.compile(r'(?:\{[^{}]*\}|%\(\w+\)s|%s)"?\s*\.\s*"?(?:\{|[A-Za-z_])')


def schema_references(source: str) -> list[tuple[int, str]]:
    """Return (line, text) of every place in `source` where SQL names or fills in a schema."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING and SQLISH.search(token.string):
            for pattern in (NAMED, DYNAMIC):
                found += [(token.start[0], match.group(0)) for match in pattern.finditer(token.string)]
    for node in ast.walk(ast.parse(source)):
        # psycopg's sql.Identifier(schema, table) is a qualified name.
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "Identifier" \
                and len(node.args) > 1:
            found.append((node.lineno, ast.unparse(node)))
    return found


def _tenant_sources():
    for folder in TENANT_CODE:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if not any(path.is_relative_to(platform) for platform in PLATFORM_CODE):
                yield path


@pytest.mark.parametrize("sample", [
    'db.session.execute(text("SELECT c.name FROM companies c JOIN tenant_other.companies o ON o.id = c.id"))',
    'db.session.execute(text(f"SELECT * FROM {other.schema_name}.companies"))',
    'conn.execute("SELECT * FROM %s.audit_logs" % schema)',
    'sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, "companies"))',
    'sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(schema), sql.Identifier("companies"))',
])
def test_the_check_catches_a_named_schema(sample):
    assert schema_references(sample), sample


@pytest.mark.parametrize("sample", [
    'text("SELECT c.name, u.email FROM companies c JOIN public.users u ON u.id = c.created_by")',
    'text("SELECT extract(epoch FROM w.updated_at) FROM report_data_weeks w")',
])
def test_the_check_allows_own_tables_and_platform_tables(sample):
    assert schema_references(sample) == []


def test_tenant_code_names_no_schema():
    offenders = [f"{path.relative_to(ROOT)}:{line}: {text}"
                 for path in _tenant_sources() for line, text in schema_references(path.read_text())]
    assert offenders == [], "tenant code must reach only its own schema (search_path) and public:\n" + \
        "\n".join(offenders)
