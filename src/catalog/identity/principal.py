"""Who is calling: the principal, its role, and the per-request actor context services record.

Roles are ordered viewer < editor < steward < admin; a route declares the least role it needs
with `RequireRole("steward")` (server/roles.py, which sits above the audit trail this module
is imported by). Without `ENABLE_AUTH` every request runs as the anonymous
principal with `CATALOG_ANONYMOUS_ROLE` (default `admin`, so a local catalog is fully usable).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

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
