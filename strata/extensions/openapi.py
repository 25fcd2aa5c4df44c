"""The tenant's OpenAPI 3.1 document, built with apispec from the app's JSON routes and installed extensions.

Core routes come from the URL map: a view may describe its operation in YAML after a `---` line in
its docstring (apispec's convention); otherwise the operation gets its summary from the docstring's
first line, typed path parameters from the route's converters, and the standard error responses.
Each enabled extension table adds its list / get / create / update / delete paths with a row schema
built from the manifest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from apispec import APISpec, yaml_utils
from flask import current_app

from strata.extensions import names
from strata.extensions.manifest import Manifest
from strata.extensions.rest import OPERATORS, RELATION_TYPES
from strata.extensions.runtime import Installed, TableSpec

ERROR = {"$ref": "#/components/schemas/Error"}
INT4_MAX = 2 ** 31 - 1
JSON_TYPES = {"String": {"type": "string"}, "Int": {"type": "integer", "minimum": -(2 ** 63), "maximum": 2 ** 63 - 1},
              "Float": {"type": "number"}, "Boolean": {"type": "boolean"},
              "DateTime": {"type": "string", "format": "date-time"},
              "Decimal": {"oneOf": [{"type": "number"}, {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}]},
              "Json": {}, "uuid": {"type": "string", "format": "uuid"}}
_CONVERTER = re.compile(r"<(?:(?P<converter>[a-z]+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")


@dataclass(frozen=True)
class Route:
    """One route of the URL map: its rule, methods, endpoint and view docstring."""

    rule: str
    methods: tuple[str, ...]
    endpoint: str
    doc: str


def _path_parameters(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """Return the OpenAPI path of a Flask rule and its path parameters."""
    parameters = []

    def replace(match: re.Match) -> str:
        converter, name = match["converter"], match["name"]
        schema: dict[str, Any] = {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}
        if converter == "int":
            schema = {"type": "integer", "minimum": 0, "maximum": INT4_MAX}  # core ids are PostgreSQL integers
        elif converter == "any":
            schema = {"type": "string", "enum": [a.strip().strip("'\"") for a in match["args"].split(",")]}
        if name == "slug":
            return "{slug}"
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
        return "{" + name + "}"

    return _CONVERTER.sub(replace, rule), parameters


def _responses(method: str) -> dict[str, Any]:
    ok = {"201" if method == "post" else "200": {"description": "Success",
                                                 "content": {"application/json": {"schema": {}}}}}
    if method == "delete":
        ok = {"204": {"description": "Deleted"}, "200": {"description": "Done",
                                                         "content": {"application/json": {"schema": {}}}}}
    errors = {code: {"description": text, "content": {"application/json": {"schema": ERROR}}}
              for code, text in (("401", "Not signed in"), ("403", "Role too low"), ("404", "Not found"),
                                 ("422", "Invalid input; `errors` lists field, rule and message"))}
    return {**ok, **errors}


def _operation(route: Route, method: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the generic operation of a route, with whatever its docstring's YAML (after `---`) declares on top."""
    documented = yaml_utils.load_operations_from_docstring(route.doc or "").get(method) or {}
    summary = (route.doc or route.endpoint).strip().splitlines()[0]
    operation = {"summary": summary, "operationId": f"{route.endpoint}.{method}", "parameters": parameters,
                 "responses": _responses(method), "tags": [route.endpoint.split(".")[0]]}
    if method in ("post", "put", "patch"):
        operation["requestBody"] = {"required": False, "content": {"application/json": {"schema": {"type": "object"}}}}
    return {**operation, **documented}


def app_routes() -> list[Route]:
    """Return the app's tenant JSON routes (`/api/t/<slug>/…`) except the auto REST, which `build` adds per table."""
    routes = []
    for rule in current_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/t/<slug>") or rule.endpoint.startswith("extensions_rest."):
            continue
        view = current_app.view_functions[rule.endpoint]
        methods = tuple(sorted(m for m in rule.methods if m not in ("HEAD", "OPTIONS")))
        routes.append(Route(rule.rule, methods, rule.endpoint, view.__doc__ or ""))
    return routes


def _base(title: str) -> APISpec:
    spec = APISpec(title=title, version="1.0.0", openapi_version="3.1.0",
                   info={"description": "JSON API of one Strata tenant. Authenticate with an API token "
                                        "(`Authorization: Bearer <token>`, made on the API tokens page), or "
                                        "with the signed-in session cookie, whose writes carry the "
                                        "`csrf_token` of `GET /` in an `X-CSRFToken` header."})
    spec.components.security_scheme("token", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme("session", {"type": "apiKey", "in": "cookie", "name": "session"})
    schema = Manifest.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        spec.components.schema(name, definition)
    spec.components.schema("Manifest", schema)
    spec.components.schema("Error", {"type": "object", "properties": {
        "error": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string"}, "rule": {"type": "string"}, "message": {"type": "string"}}}}}})
    return spec


def build(routes: list[Route], installed: Installed, *, title: str, server: str) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document for `routes` (the tenant's JSON API) and the enabled extension tables."""
    spec = _base(title)
    grouped: dict[str, dict[str, Any]] = {}
    for route in routes:
        path, parameters = _path_parameters(route.rule)
        for method in route.methods:
            grouped.setdefault(path, {})[method.lower()] = _operation(route, method.lower(), parameters)
    for plugin_id in sorted(installed.enabled):
        for name, table in sorted(installed.tables[plugin_id].items()):
            _table_paths(spec, grouped, plugin_id, name, table)
    for path, operations in sorted(grouped.items()):
        spec.path(path=path.replace("/api/t/{slug}", "", 1) or "/", operations=operations)
    document = spec.to_dict()
    document["servers"] = [{"url": server}]
    document["security"] = [{"token": []}, {"session": []}]
    return document


def _row_schema(table: TableSpec, *, write: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required = []
    if not write:
        properties = {"id": JSON_TYPES["uuid"], "created_at": JSON_TYPES["DateTime"],
                      "updated_at": JSON_TYPES["DateTime"]}
    for name, field in table.fields.items():
        enum = table.enum_values(name)
        schema = dict(JSON_TYPES[field["type"]]) if enum is None else {"type": "string", "enum": enum}
        if write and field["type"] == "Decimal":
            schema = {"type": "string", "pattern": r"^-?\d{1,20}(\.\d{1,10})?$"}
        if not write and field["type"] == "Decimal":
            schema = {"type": "string"}
        rules = field.get("validation") or {}
        for key, target in (("minLength", "minLength"), ("maxLength", "maxLength"), ("min", "minimum"),
                            ("max", "maximum"), ("pattern", "pattern")):
            if key in rules and "type" in schema:
                schema[target] = rules[key]
        if field.get("description"):
            schema["description"] = field["description"]
        if field.get("required"):
            if write and field.get("default") is None:
                required.append(name)
        else:
            schema = {"anyOf": [schema, {"type": "null"}]} if schema else {}
        properties[name] = schema
    for name, rel in table.relations.items():
        kind = RELATION_TYPES.get(rel["sql_type"], "String")
        schema = dict(JSON_TYPES.get(kind, JSON_TYPES["String"]))
        properties[name] = schema if rel["required"] else {"anyOf": [schema, {"type": "null"}]}
        if rel["required"] and write:
            required.append(name)
    result = {"type": "object", "properties": properties}
    if write:
        result["additionalProperties"] = False
    if required:
        result["required"] = required
    return result


def _table_paths(spec: APISpec, grouped: dict, plugin_id: str, name: str, table: TableSpec) -> None:
    component = names.short(f"{plugin_id}.{name}").replace("-", "_").replace(".", "_")
    spec.components.schema(component, _row_schema(table, write=False))
    spec.components.schema(f"{component}_write", _row_schema(table, write=True))
    row = {"$ref": f"#/components/schemas/{component}"}
    body = {"required": True, "content": {"application/json": {"schema": {"$ref":
                                                                          f"#/components/schemas/{component}_write"}}}}
    tag = [f"extension {plugin_id}"]
    filter_pattern = f"^({'|'.join(OPERATORS)})\\..*$"
    filters = [{"name": column, "in": "query", "required": False,
                "schema": {"type": "string", "pattern": filter_pattern}}
               for column in ["id", "created_at", "updated_at", *table.fields, *table.relations]]
    listing = {"summary": f"List {name} rows (PostgREST-style filters: column=op.value)", "tags": tag,
               "operationId": f"x.{plugin_id}.{name}.list",
               "description": "Filters take PostgREST's grammar: `column=[not.]op.value`, `or=(…)` / `and=(…)` "
                              "(nested, negated with `not.or`), `select=a,b`, `order=a.desc.nullslast,b`, "
                              "`limit`/`offset` or a `Range: 0-24` header, `Prefer: count=exact|planned|"
                              "estimated|none`. A counted part of the result is 206 with `Content-Range`; "
                              "a range past its end is 416; filter errors are 400 with "
                              "`{code, message, details, hint}`.",
               "parameters": [*filters,
                              *({"name": name, "in": "query", "required": False, "schema": {"type": "string"},
                                 "description": text} for name, text in (
                                  ("or", "Any of the conditions: `(a.eq.1,and(b.gt.2,c.is.null))`"),
                                  ("and", "All of the conditions: `(a.gte.1,a.lt.9)`"),
                                  ("select", "Columns to return: `title,amount`"),
                                  ("order", "Order: `amount.desc.nullslast,title`"))),
                              {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 0,
                                                                          "maximum": 1000}},
                              {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                              {"name": "Range", "in": "header", "required": False, "schema": {
                                  "type": "string", "pattern": r"^\d+-\d*$"}, "description": "Rows `from-to`"},
                              {"name": "Prefer", "in": "header", "required": False, "schema": {
                                  "type": "string", "enum": [f"count={m}" for m in ("exact", "planned",
                                                                                     "estimated", "none")]}}],
               "responses": {**_responses("get"), "200": {"description": "One page of rows", "content": {
                   "application/json": {"schema": {"type": "object", "properties": {
                       "items": {"type": "array", "items": row}, "total": {"type": ["integer", "null"]},
                       "total_exact": {"type": "boolean"},
                       "limit": {"type": "integer"}, "offset": {"type": "integer"}}}}}},
                   "206": {"description": "Part of a counted result (`Content-Range: 0-24/1000`)"},
                   "400": {"description": "A filter, order or select the grammar refuses", "content": {
                       "application/json": {"schema": {"type": "object", "properties": {
                           key: {"type": ["string", "null"]} for key in ("code", "message", "details", "hint")}}}}},
                   "416": {"description": "The range starts past the end of the counted result"}}}
    base = f"/api/t/{{slug}}/x/{plugin_id}/{name}"
    grouped[base] = {
        "get": listing,
        "post": {"summary": f"Create a {name} row", "tags": tag, "operationId": f"x.{plugin_id}.{name}.create",
                 "requestBody": body, "responses": {**_responses("post"), "201": {
                     "description": "Created", "content": {"application/json": {"schema": row}}}}},
    }
    one = [{"name": "row_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}]
    patch_body = {"required": True, "content": {"application/json": {"schema": {
        **_row_schema(table, write=True), "required": []}}}}
    for relation, link in sorted(table.links.items()):
        _link_paths(grouped, f"{base}/{{row_id}}/{relation}", tag, link, one, f"x.{plugin_id}.{name}.{relation}")
    grouped[f"{base}/{{row_id}}"] = {
        "get": {"summary": f"Get a {name} row", "tags": tag, "parameters": one,
                "operationId": f"x.{plugin_id}.{name}.get", "responses": _responses("get")},
        "patch": {"summary": f"Change a {name} row", "tags": tag, "parameters": one, "requestBody": patch_body,
                  "operationId": f"x.{plugin_id}.{name}.update", "responses": _responses("patch")},
        "delete": {"summary": f"Delete a {name} row", "tags": tag, "parameters": one,
                   "operationId": f"x.{plugin_id}.{name}.delete", "responses": _responses("delete")},
    }


def _link_paths(grouped: dict, path: str, tag: list[str], link: dict, one: list, operation_id: str) -> None:
    """Add the list / link / unlink operations of a ManyToMany relationship."""
    target = dict(JSON_TYPES.get(RELATION_TYPES.get(link["sql_type"], "String"), {"type": "string"}))
    ids = {"description": "Linked ids", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"items": {"type": "array", "items": target}}}}}}
    grouped[path] = {
        "get": {"summary": f"Ids linked through {path.rsplit('/', 1)[1]}", "tags": tag, "parameters": one,
                "operationId": f"{operation_id}.list", "responses": {**_responses("get"), "200": ids}},
        "post": {"summary": f"Link a {link['target']} row", "tags": tag, "parameters": one,
                 "operationId": f"{operation_id}.add", "responses": {**_responses("post"), "201": ids},
                 "requestBody": {"required": True, "content": {"application/json": {"schema": {
                     "type": "object", "required": ["target_id"], "properties": {"target_id": target}}}}}},
    }
    grouped[f"{path}/{{target_id}}"] = {
        "delete": {"summary": "Remove a link", "tags": tag, "operationId": f"{operation_id}.remove",
                   "parameters": [*one, {"name": "target_id", "in": "path", "required": True,
                                         "schema": {"type": "string"}}],
                   "responses": _responses("delete")}}
