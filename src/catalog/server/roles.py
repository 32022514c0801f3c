"""Role dependencies for routes: `RequireRole("steward")` and the `Viewer`/`Editor`/`Steward`/
`Admin` aliases a router declares.

Apart from principal.py (the caller's data, which the audit trail and the credential checks
import) because a denial is audited and counted: this module sits at the HTTP edge, above the
audit trail and the auth middleware, and nothing below imports it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from catalog.core.errors import Forbidden
from catalog.identity.principal import ROLES, Actor, actor_of
from catalog.kit.audit_trail import record_outside_request
from catalog.server.auth_middleware import FAILURES


class RequireRole:
    """Dependency: the caller's role must be at least `role` (403 otherwise)."""

    def __init__(self, role: str) -> None:
        if role not in ROLES:
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
        FAILURES.labels("insufficient_scope").inc()
        details = {
            "needed": self.role,
            "had": actor.principal.role,
            "path": request.url.path,
            "method": request.method,
        }
        resources = request.state.catalog
        await record_outside_request(
            resources.write_sessions,
            resources.settings.dependency_timeout_s,
            request.scope,
            "role_denied",
            details,
        )


Viewer = Annotated[Actor, Depends(RequireRole("viewer"))]
Editor = Annotated[Actor, Depends(RequireRole("editor"))]
Steward = Annotated[Actor, Depends(RequireRole("steward"))]
Admin = Annotated[Actor, Depends(RequireRole("admin"))]
