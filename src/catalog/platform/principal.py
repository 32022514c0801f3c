"""Who is calling: the principal, its role, and the per-request actor context services record.

Roles are ordered viewer < editor < steward < admin; a route declares the least role it needs
with `RequireRole("steward")`. Without `ENABLE_AUTH` every request runs as the anonymous
principal with `CATALOG_ANONYMOUS_ROLE` (default `admin`, so a local catalog is fully usable).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from catalog.platform.errors import Forbidden

ROLES = ("viewer", "editor", "steward", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: str
    team: str | None = None
    kind: str = ANONYMOUS  # anonymous | token | api_key | jwt

    def has_role(self, role: str) -> bool:
        return _RANK[self.role] >= _RANK[role]


def sees(actor: Actor, visibility: str, team: str | None) -> bool:
    """Whether the caller may see a product of this visibility and team.

    Without authentication everything is visible (nothing is enforced). With it, public and
    internal products are visible to every principal, restricted ones only to their own team
    and to stewards and admins.
    """
    if actor.principal.kind == ANONYMOUS or visibility != "restricted":
        return True
    return actor.has_role("steward") or (
        actor.principal.team is not None and actor.principal.team == team
    )


def restricted_view(actor: Actor) -> tuple[bool, str | None]:
    """(sees every product, team whose restricted products it sees) for list filters."""
    if actor.principal.kind == ANONYMOUS or actor.has_role("steward"):
        return True, None
    return False, actor.principal.team


@dataclass(frozen=True)
class Actor:
    """What a service needs to know about the caller, without seeing the request."""

    principal: Principal
    request_id: str | None = None
    client_ip: str | None = None

    @property
    def subject(self) -> str:
        return self.principal.subject

    def has_role(self, role: str) -> bool:
        return self.principal.has_role(role)


SYSTEM = Actor(Principal(subject="system", role="admin", kind="system"))


def principal_of(request: Request) -> Principal:
    state: dict[str, Any] = request.scope.get("state") or {}
    principal = state.get("principal")
    if isinstance(principal, Principal):
        return principal
    role = request.state.catalog.settings.anonymous_role
    return Principal(subject=ANONYMOUS, role=role)


def actor_of(request: Request) -> Actor:
    state: dict[str, Any] = request.scope.get("state") or {}
    client = request.scope.get("client")
    client_ip = state.get("client_ip") or (client[0] if client else None)
    return Actor(principal_of(request), state.get("request_id"), client_ip)


class RequireRole:
    """Dependency: the caller's role must be at least `role` (403 otherwise)."""

    def __init__(self, role: str) -> None:
        if role not in _RANK:
            raise ValueError(f"unknown role {role!r}")
        self.role = role

    async def __call__(self, request: Request) -> Actor:
        actor = actor_of(request)
        if not actor.has_role(self.role):
            await self._record_denial(request, actor)
            raise Forbidden(
                f"this needs the {self.role} role; {actor.subject} has {actor.principal.role}",
                headers={"WWW-Authenticate": 'Bearer realm="catalog", error="insufficient_scope"'},
            )
        return actor

    async def _record_denial(self, request: Request, actor: Actor) -> None:
        # Imported here: the audit trail and the auth metrics import this module.
        from catalog.audit.trail import record_outside_request
        from catalog.platform.auth.middleware import FAILURES

        FAILURES.labels("insufficient_scope").inc()
        details = {
            "needed": self.role,
            "had": actor.principal.role,
            "path": request.url.path,
            "method": request.method,
        }
        await record_outside_request(request.state.catalog, request.scope, "role_denied", details)


Viewer = Annotated[Actor, Depends(RequireRole("viewer"))]
Editor = Annotated[Actor, Depends(RequireRole("editor"))]
Steward = Annotated[Actor, Depends(RequireRole("steward"))]
Admin = Annotated[Actor, Depends(RequireRole("admin"))]
