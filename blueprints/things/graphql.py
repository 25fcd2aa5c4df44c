"""GraphQL at `/api/t/<slug>/graphql` (POST `{query, variables, operationName}`) and the GraphiQL page.

Like the JSON API it authenticates with the session and, when CSRF protection is on, takes the token
in the `X-CSRFToken` header. A request is all or nothing: it commits only when no error occurred.
The GraphiQL page (admins) is served at `/t/<slug>/things/graphiql`.
"""

from __future__ import annotations

from flask import render_template, request

from blueprints import role_required, tenant_blueprint
from blueprints.things import actor
from strata import limits
from strata.db import db
from strata.things import gql

bp = tenant_blueprint("things_graphql", __name__, api=True)


@bp.post("/graphql")
def execute():
    """Run a GraphQL document; return {data, errors?} (400 when the document itself is refused)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return {"errors": [{"message": 'Send a JSON body like {"query": "{ classes { nodes { name } } }"}.'}]}, 400
    if len(body["query"]) > limits.GRAPHQL_MAX_CHARS:
        return {"errors": [{"message": f"The query is longer than {limits.GRAPHQL_MAX_CHARS} characters.",
                            "extensions": {"code": "QUERY_TOO_LARGE"}}]}, 413
    operations = gql.operation_names(body["query"])
    if len(operations) > 1 and not body.get("operationName"):
        return {"errors": [{"message": "The document holds several operations; send operationName to say which "
                                       f"to run ({', '.join(operations)}).",
                            "extensions": {"code": "OPERATION_NAME_REQUIRED"}}]}, 400
    variables = body.get("variables") or None
    if variables is not None and not isinstance(variables, dict):
        return {"errors": [{"message": "variables must be a JSON object."}]}, 400
    result = gql.execute(body["query"], variables, body.get("operationName"), actor())
    payload = {"data": result.data}
    if result.errors:
        db.session.rollback()
        payload["errors"] = [error.formatted for error in result.errors]
    else:
        db.session.commit()
    # A document refused before it ran (syntax, unknown fields, depth) is the client's error: 400.
    refused = any(not error.path for error in result.errors or ())
    return payload, 400 if refused else 200


pages = tenant_blueprint("things_graphiql", __name__, url_prefix="/things")


@pages.get("/graphiql")
@role_required("admin")
def graphiql():
    """The GraphiQL page: write a query (with the schema's completion and docs), run it against this tenant."""
    return render_template("things/graphiql.html")
