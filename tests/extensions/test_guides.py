"""Every command and request shown in docs/extensions is run, in order, against a fresh tenant.

`sh` blocks: each `flask` command line runs through the app's CLI. `http` blocks come in pairs: a
request (method and path, headers, blank line, body), then the expected answer (status, headers,
blank line, a JSON body that the real one must contain: every key shown, lists of the same length,
"…" for any value).
"""

import json
import re
import shlex
from pathlib import Path

import pytest

from strata.accounts.tokens import create_token

ROOT = Path(__file__).resolve().parents[2]
GUIDES = [ROOT / "docs" / "extensions" / name for name in ("guide.md", "operations.md")]
BLOCK = re.compile(r"```(sh|http)\n(.*?)```", re.S)
FLASK = re.compile(r"^(?:\.venv/bin/)?flask(?: --app app:create_app)? (.+)$")


def blocks(path: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(path.read_text())]


def contains(actual, expected, where="body") -> None:
    """Assert `actual` holds everything `expected` shows."""
    if expected == "…":
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}.{key} missing in {actual!r}"
            contains(actual[key], value, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{where}: {actual!r} vs {expected!r}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            contains(a, e, f"{where}[{i}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def split(text: str) -> tuple[list[str], str]:
    head, _, body = text.partition("\n\n")
    return head.strip().splitlines(), body.strip()


@pytest.mark.parametrize("guide", GUIDES, ids=lambda p: p.name)
def test_every_command_and_request_in_the_guide_works(guide, app, client, runner, tenant, admin, monkeypatch):
    monkeypatch.chdir(ROOT)
    _, token = create_token(admin.id, "guide")
    slug = tenant.slug
    found = blocks(guide)
    ran = 0
    i = 0
    while i < len(found):
        kind, text = found[i]
        text = text.replace("/t/acme/", f"/t/{slug}/").replace("$STRATA_TOKEN", token)
        if kind == "sh":
            for line in text.splitlines():
                match = FLASK.match(line.strip())
                if not match:
                    continue
                args = [slug if a == "acme" else a for a in shlex.split(match.group(1))]
                result = runner.invoke(args=args)
                assert result.exit_code == 0, f"{guide.name}: {line}\n{result.output}"
                ran += 1
            i += 1
            continue
        head, body = split(text)
        assert not head[0].startswith("HTTP/"), f"{guide.name}: an answer block with no request before it"
        method, path = head[0].split(" ", 1)
        headers = dict(h.split(": ", 1) for h in head[1:])
        content_type = headers.pop("Content-Type", None)
        response = client.open(path, method=method, headers=headers, data=body.encode() if body else None,
                               content_type=content_type)
        ran += 1
        if i + 1 < len(found) and found[i + 1][0] == "http" and found[i + 1][1].startswith("HTTP/"):
            answer, expected = split(found[i + 1][1])
            status = int(answer[0].split()[1])
            assert response.status_code == status, f"{guide.name}: {head[0]} → {response.status_code} " \
                                                   f"{response.get_data(as_text=True)[:600]}"
            for line in answer[1:]:
                name, value = line.split(": ", 1)
                assert response.headers.get(name) == value, f"{guide.name}: {head[0]} header {name}"
            if expected:
                contains(response.get_json(), json.loads(expected))
            i += 2
        else:
            assert response.status_code < 400, f"{guide.name}: {head[0]} → {response.status_code}"
            i += 1
    assert ran, f"{guide.name} shows nothing to run"


def test_the_reference_covers_every_extension_operation(app, runner, tenant, monkeypatch):
    """`flask extensions reference` lists every operation of the tenant's extension API, and the committed
    reference every management operation (the auto REST part depends on what the tenant installed)."""
    from strata.extensions import openapi, reference, runtime
    from strata.tenancy.service import tenant_context

    monkeypatch.chdir(ROOT)
    installed = runner.invoke(args=["extensions", "install", tenant.slug, "examples/extensions/crm_deals.yaml"])
    assert installed.exit_code == 0, installed.output
    result = runner.invoke(args=["extensions", "reference", tenant.slug])
    assert result.exit_code == 0
    with tenant_context(tenant.id):
        document = openapi.build(openapi.app_routes(), runtime.current(), title="t", server="/")
    wanted = [f"## `{method.upper()} {path}`" for path, ops in document["paths"].items()
              if path.startswith(reference.EXTENSION_PATHS) for method in ops]
    assert any("/x/acme-crm/deal" in w for w in wanted)
    assert [w for w in wanted if w not in result.output] == []
    committed = (ROOT / "docs" / "extensions" / "api-reference.md").read_text()
    management = [w for w in wanted if "/x/" not in w]
    assert [w for w in management if w not in committed] == [], \
        "docs/extensions/api-reference.md is out of date: run flask extensions reference <slug> -o it"
