"""The OpenAPI document, completed: every operation declares the error statuses it can
answer, all with the one error body, and the document is served to signed-in callers only
(``GET /api/openapi.json``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from openlfr.api.deps import AUTHENTICATED, PUBLIC, SignedIn, declared_permission, flatten_routes
from openlfr.api.schemas import ErrorBody

__all__ = ["install_openapi", "declare_errors"]

def install_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI's, cached on the app; completed once
        if not schema.get("x-openlfr-errors"):
            declare_errors(app, schema)
            schema["x-openlfr-errors"] = True
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/api/openapi.json", include_in_schema=False, response_model=dict[str, Any])
    def openapi_json(me: SignedIn) -> JSONResponse:
        """The OpenAPI description of this API (for signed-in users and tokens)."""
        return JSONResponse(app.openapi())


ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_ERRORS = {
    400: "Refused: the request cannot be carried out as sent.",
    401: "Not signed in: no valid session or API token (a body past 64 KiB is refused "
         "unread).",
    403: "Signed in, but this role may not do this (refusals are audited).",
    404: "No such item.",
    409: "Not possible in the item's present state.",
    413: "The request body is larger than the server accepts.",
    422: "Malformed input: a list of problems, or a message.",
    429: "Too many attempts: wait (see Retry-After).",
    503: "The store is busy: retry in a moment (see Retry-After).",
}


def declare_errors(app: FastAPI, schema: dict[str, Any]) -> None:
    """Declare on every operation the error statuses it can answer, all with the one error
    body (:class:`~openlfr.api.schemas.ErrorBody`): the 422 of malformed input too, which
    FastAPI would otherwise describe as a list only."""
    body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(body.pop("$defs", {}))
    components["ErrorBody"] = body
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    paths = schema.get("paths", {})
    for route in flatten_routes(app.router.routes):
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        permission = declared_permission(route)
        for method in route.methods or ():
            op = paths.get(route.path_format, {}).get(method.lower())
            if op is None:
                continue
            writes = method in ("POST", "PUT", "PATCH", "DELETE")
            has_body = "requestBody" in op
            codes = {400, 422, 503}
            if permission != PUBLIC or has_body:
                codes.add(401)
            if permission not in (PUBLIC, AUTHENTICATED) or writes:
                codes.add(403)
            if "{" in route.path_format:
                codes.add(404)
            if writes:
                codes.add(409)
            if has_body:
                codes.add(413)
            if permission == PUBLIC and has_body:
                codes.add(429)
            responses = op.setdefault("responses", {})
            for code in sorted(codes):
                responses[str(code)] = {"description": _ERRORS[code],
                                        "content": {"application/json": {"schema": ERROR_REF}}}
