"""The OpenAPI document, completed with the rules the edge enforces for every route.

FastAPI derives the document from each route's parameters and models. A few rules live in one
place for all routes instead, and are written into the document here, so that it is the exact
contract (a generated client refuses what the server would refuse):

- path, query and header strings carry no control characters (the body guard answers 400),
  and are never null (an absent parameter is how a client says "none");
- `fields=` on a list names fields of its items, comma-separated (else 422), and the page then
  holds only those fields of each item;
- an operation taking `If-Match` can answer 412;
- free-form JSON (metadata, specs) holds no NUL in its strings (the `StorableJSON`
  component, kit/schemas.py);
- each create (a POST answering 201 with the new resource) links to the operations on what it
  created (OpenAPI links), so clients and stateful testers can follow them with real ids.

Hand-written because FastAPI has no hook for document-wide rules; it only edits the generated
document, once, when it is first served.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI

from catalog.kit.schemas import STORABLE_JSON, TEXT_PATTERN, storable_json_schema

Document = dict[str, Any]
METHODS = ("get", "put", "post", "patch", "delete", "head", "options")
_PARAMETER = re.compile(r"\{([^}]+)\}")


def install(app: FastAPI) -> None:
    """Serve the completed document at /openapi.json (and to /docs)."""

    def openapi() -> Document:
        if app.openapi_schema is None:
            complete(FastAPI.openapi(app))
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: Document) -> None:
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components[STORABLE_JSON] = storable_json_schema()
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            for parameter in operation.get("parameters", []):
                parameter["schema"] = _not_null(parameter.get("schema", {}))
                _forbid_controls(parameter["schema"])
                if parameter["in"] == "query" and parameter["name"] == "fields":
                    names = _item_fields(operation, components)
                    if names:
                        parameter["schema"] = _fields_schema(parameter["schema"], names)
                        _projected_page(operation, components)
                if parameter["in"] == "header" and parameter["name"].lower() == "if-match":
                    _add_error(operation, 412, "If-Match names another version than the current")
            if method == "post":
                _link_created(document, path, operation, components)


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`X | None` of an optional parameter, as the parameter can be sent: X."""
    options = [o for o in schema.get("anyOf", []) if o.get("type") != "null"]
    if len(options) != 1:
        return schema
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    return {**rest, **options[0]}


def _forbid_controls(schema: dict[str, Any]) -> None:
    """Strings (also inside anyOf) without a pattern of their own get the edge's rule."""
    for option in schema.get("anyOf", []):
        _forbid_controls(option)
    if schema.get("type") == "string" and "pattern" not in schema and "enum" not in schema:
        schema["pattern"] = TEXT_PATTERN


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components.get(schema["$ref"].rsplit("/", 1)[-1], {})
    return schema


def _ok_schema(operation: Document, status: str, components: dict[str, Any]) -> dict[str, Any]:
    content = operation.get("responses", {}).get(status, {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    return _resolve(schema, components)


def _item_fields(operation: Document, components: dict[str, Any]) -> list[str]:
    page = _ok_schema(operation, "200", components)
    items = page.get("properties", {}).get("items", {}).get("items", {})
    return sorted(_resolve(items, components).get("properties", {}))


def _fields_schema(schema: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """kit/projection.py's grammar: names separated by commas, spaces around them ignored."""
    name = "(?:" + "|".join(re.escape(n) for n in names) + ") *"
    return {**schema, "pattern": f"^ *(?:{name})?(?:, *(?:{name})?)*$"}


def _projected_page(operation: Document, components: dict[str, Any]) -> None:
    """The 200 answer is the page, or (with `fields`) the page of the named fields only."""
    content = operation["responses"]["200"]["content"]["application/json"]
    full = content["schema"]
    page = _resolve(full, components)
    item = _resolve(page["properties"]["items"]["items"], components)
    projected_item = {
        "type": "object",
        "properties": item.get("properties", {}),
        "additionalProperties": False,
    }
    projected = {
        **page,
        "title": f"{page.get('title', 'Page')} (fields)",
        "properties": {
            **page["properties"],
            "items": {"type": "array", "items": projected_item},
        },
    }
    content["schema"] = {"anyOf": [full, projected]}


def _add_error(operation: Document, status: int, description: str) -> None:
    responses = operation.setdefault("responses", {})
    if str(status) in responses:
        return
    envelope = next(
        (r["content"] for s, r in responses.items() if s.startswith("4") and "content" in r),
        None,
    )
    responses[str(status)] = {"description": description}
    if envelope is not None:
        responses[str(status)]["content"] = envelope


def _link_created(
    document: Document, path: str, operation: Document, components: dict[str, Any]
) -> None:
    """Links from a create to every operation on `path/{new}` (and below it) whose other path
    parameters are the create's own: the new one from the answer (its property of the same
    name, else `id`), the others as the create was called."""
    created = _ok_schema(operation, "201", components).get("properties", {})
    if not created:
        return
    own = _PARAMETER.findall(path)
    links: dict[str, Any] = {}
    for target_path, item in document["paths"].items():
        if not target_path.startswith(path + "/{"):
            continue
        new = _PARAMETER.findall(target_path[len(path) :])[0]
        if set(_PARAMETER.findall(target_path)) != {*own, new}:
            continue
        source = new if new in created else "id" if "id" in created else None
        if source is None:
            continue
        parameters = {name: f"$request.path.{name}" for name in own}
        parameters[new] = f"$response.body#/{source}"
        for method, target in item.items():
            if method in METHODS and "operationId" in target:
                links[target["operationId"]] = {
                    "operationId": target["operationId"],
                    "parameters": parameters,
                }
    if links:
        operation["responses"]["201"].setdefault("links", {}).update(links)
