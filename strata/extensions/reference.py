"""The extensions API reference as Markdown, generated from a tenant's OpenAPI document.

`flask extensions reference <slug>` writes it: the management API (`/extensions/…`), the OpenAPI
document itself and the auto REST of every enabled extension table of that tenant, with each
operation's parameters, request body and answers.
"""

from __future__ import annotations

from typing import Any

EXTENSION_PATHS = ("/extensions", "/x/", "/openapi.json")


def _schema(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return f"`{schema['$ref'].rsplit('/', 1)[1]}`"
    if "anyOf" in schema:
        return " or ".join(_schema(s) for s in schema["anyOf"])
    kind = schema.get("type", "any")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    if "enum" in schema:
        return f"{kind}: {', '.join(f'`{v}`' for v in schema['enum'])}"
    return kind


def _cell(text: Any) -> str:
    return str(text or "").replace("|", "\\|").replace("\n", " ")


def markdown(document: dict[str, Any], prefixes: tuple[str, ...] = EXTENSION_PATHS) -> str:
    """Return the reference of the document's operations whose path starts with one of `prefixes`."""
    lines = ["# Extensions API reference", "",
             "Generated from the OpenAPI document of a tenant (`GET /api/t/<slug>/openapi.json`) by",
             "`flask extensions reference <slug>`; paths are relative to `/api/t/<slug>`. Authenticate with",
             "`Authorization: Bearer <token>`. Errors: `{errors: [{field, rule, message}]}` (422) for writes,",
             "`{code, message, details, hint}` (400) for filters.", ""]
    schemas = document.get("components", {}).get("schemas", {})
    for path, operations in sorted(document.get("paths", {}).items()):
        if not path.startswith(prefixes):
            continue
        for method, op in sorted(operations.items()):
            lines += [f"## `{method.upper()} {path}`", "", op.get("summary", "").strip(), ""]
            if op.get("description"):
                lines += [op["description"].strip(), ""]
            parameters = op.get("parameters") or []
            if parameters:
                lines += ["| parameter | in | type | |", "|---|---|---|---|"]
                for p in parameters:
                    lines.append(f"| `{p['name']}` | {p['in']} | {_cell(_schema(p.get('schema', {})))} | "
                                 f"{_cell(p.get('description', ''))} |")
                lines.append("")
            body = (op.get("requestBody") or {}).get("content", {})
            for kind, content in body.items():
                lines += [f"Body ({kind}): {_schema(content.get('schema', {}))}", ""]
            answers = ", ".join(f"{code} {_cell(r.get('description', ''))}"
                                for code, r in sorted(op.get("responses", {}).items()))
            lines += [f"Answers: {answers}", ""]
    row_schemas = sorted(name for name in schemas if name not in ("Error",) and not name[0].isupper())
    if row_schemas:
        lines += ["## Row schemas", ""]
        for name in row_schemas:
            props = schemas[name].get("properties", {})
            fields = ", ".join(f"`{k}` ({_schema(v)})" for k, v in props.items())
            lines += [f"- `{name}`: {fields}"]
        lines.append("")
    return "\n".join(lines)
