"""server: the HTTP edge around the domains. Resources (everything the app holds for its
lifetime), the request dependencies (session per request, the caller), the ASGI middleware
(request id, body guard, shedding and timeouts, authentication, errors), the probes, the
retrying route class and role checks, and the OpenAPI post-processor. The routes themselves
are in catalog.api; catalog.app wires both."""
