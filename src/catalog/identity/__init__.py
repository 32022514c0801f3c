"""identity: who is calling. The principal (subject and roles), the credential errors, and the
authenticators that turn a bearer credential into a principal: static tokens, JWTs (JWKS), and
the chain of them (API keys are the catalog.apikeys domain). The HTTP side, the middleware that
reads the Authorization header, is catalog.server.auth_middleware."""
