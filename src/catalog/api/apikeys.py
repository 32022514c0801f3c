"""HTTP routes of API keys, under /api/admin (admin role only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from catalog.apikeys import schemas
from catalog.apikeys.keys import KeyStatus
from catalog.apikeys.service import ApiKeyService
from catalog.core.error_schema import error_responses
from catalog.identity.principal import Actor
from catalog.kit.pagination import Page, Paging
from catalog.kit.projection import Fields, page_of
from catalog.server.deps import Session
from catalog.server.retrying_route import RetryingRoute
from catalog.server.roles import Admin

API_KEYS = "/api/admin/api-keys"
API_KEY = API_KEYS + "/{key_id}"
FORBIDDEN = error_responses(403)
NOT_FOUND = error_responses(403, 404)

router = APIRouter(tags=["admin"], route_class=RetryingRoute)


def service(session: Session, actor: Actor) -> ApiKeyService:
    return ApiKeyService(session, actor)


@router.post(API_KEYS, status_code=201, responses=error_responses(403, 409))
async def create_api_key(
    body: schemas.ApiKeyCreate, session: Session, actor: Admin
) -> schemas.ApiKeyCreated:
    """Create an API key. The answer's `key` is shown this once: it is stored only hashed.

    Use it as `Authorization: Bearer <key>`. The key acts as principal `api-key:<name>` with
    the given role and team. 409 when an active key already has this name.
    """
    return await service(session, actor).create(body)


@router.get(API_KEYS, response_model=Page[schemas.ApiKeyOut], responses=FORBIDDEN)
async def list_api_keys(
    session: Session,
    actor: Admin,
    page: Paging,
    fields: Fields,
    status: KeyStatus | None = None,
) -> Any:
    """Keys, newest first, without their secret; `status` is active, revoked or expired."""
    rows, total = await service(session, actor).list_keys(page, status)
    return page_of(schemas.ApiKeyOut, rows, total, page, fields)


@router.get(API_KEY, responses=NOT_FOUND)
async def get_api_key(key_id: str, session: Session, actor: Admin) -> schemas.ApiKeyOut:
    return schemas.ApiKeyOut.model_validate(await service(session, actor).get(key_id))


@router.delete(API_KEY, status_code=204, responses=error_responses(403, 404, 409))
async def revoke_api_key(key_id: str, session: Session, actor: Admin) -> Response:
    """Revoke a key: it is refused from the next request on. Revoking twice is a 409."""
    await service(session, actor).revoke(key_id)
    return Response(status_code=204)
