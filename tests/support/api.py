"""Small helpers for API tests: create catalog objects through the HTTP surface."""

from __future__ import annotations

import itertools
from typing import Any

from httpx import AsyncClient, Response

_counter = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_counter)}"


def ok(response: Response, status: int = 200) -> Any:
    """The JSON body, after checking the status (the body is shown when it differs)."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json() if response.content else None


def error_of(response: Response, status: int) -> dict[str, Any]:
    """The envelope's `error` object, after checking status and shape."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == status
    return body["error"]  # type: ignore[no-any-return]


async def create_product(
    client: AsyncClient, headers: dict[str, str] | None = None, **fields: Any
) -> dict[str, Any]:
    body = {
        "name": unique("product"),
        "description": "A data product",
        "team": "finance",
        "category": "reporting",
        "owner": "owner@example.com",
    } | fields
    answer = await client.post("/api/data-products", json=body, headers=headers)
    return ok(answer, 201)  # type: ignore[no-any-return]


async def create_element(
    client: AsyncClient, headers: dict[str, str] | None = None, **fields: Any
) -> dict[str, Any]:
    name = fields.pop("name", unique("element"))
    body = {
        "name": name,
        "definition": f"Definition of {name}",
        "data_element_concept": {
            "name": f"concept of {name}",
            "object_class": "Customer",
            "property": "Identifier",
        },
        "representation": {"name": "text-200", "data_type": "string", "length": 200},
    } | fields
    answer = await client.post("/api/data-elements", json=body, headers=headers)
    return ok(answer, 201)  # type: ignore[no-any-return]
