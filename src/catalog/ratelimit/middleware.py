"""Pure ASGI middleware: decide each request against its buckets; 429 when one is empty.

Answers carry the draft-ietf-httpapi-ratelimit-headers fields: `RateLimit-Policy` lists the
policies that applied (`"ip";q=10;w=6`: a quota of 10 refilling over 6 s) and `RateLimit`
the closest to running out (`"ip";r=3;t=4`: 3 left, full again in 4 s). A 429 has
`Retry-After` and the envelope's `retry_after`: the real wait until a token is back.
The client's bucket key is the one AccessMiddleware settled (`scope["state"]["client_key"]`,
with the address in `client_ip` for logs and audit), worked out here only without it.
"""

from __future__ import annotations

import functools

from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catalog.core.client_address import IPNetwork, client_identity
from catalog.core.errors import TooManyRequests, send_error
from catalog.ratelimit.buckets import Check, Decision, Limit, seconds_to_full
from catalog.ratelimit.limiter import RateLimiter
from catalog.ratelimit.policy import EXEMPT_PATHS, Policy

REJECTED = Counter("catalog_rate_limited_total", "Requests refused by a rate limit", ("scope",))


@functools.lru_cache(maxsize=256)
def _policy_header(limits: tuple[Limit, ...]) -> bytes:
    """`RateLimit-Policy` for a set of limits: the same few sets on every request."""
    return ", ".join(
        f'"{limit.name}";q={limit.burst};w={limit.window_s}' for limit in limits
    ).encode()


def _headers(checks: list[Check], decision: Decision) -> list[tuple[bytes, bytes]]:
    policy = _policy_header(tuple(check.limit for check in checks))
    tightest = min(range(len(checks)), key=lambda i: decision.levels[i])
    limit, tokens = checks[tightest].limit, decision.levels[tightest]
    reset = decision.retry_after_s if not decision.allowed else seconds_to_full(tokens, limit)
    current = f'"{limit.name}";r={max(0, int(tokens))};t={reset}'
    return [(b"ratelimit-policy", policy), (b"ratelimit", current.encode())]


def too_many_requests(
    checks: list[Check], decision: Decision, details: str | None = None
) -> TooManyRequests:
    """The 429 of a refused decision: counted by scope, with the real wait and the headers."""
    REJECTED.labels(decision.rejected_by or "unknown").inc()
    return TooManyRequests(
        details
        or f"rate limit {decision.rejected_by!r} exceeded; retry in {decision.retry_after_s}s",
        retry_after=decision.retry_after_s,
        headers={k.decode(): v.decode() for k, v in _headers(checks, decision)},
    )


class RateLimitMiddleware:
    def __init__(
        self, app: ASGIApp, *, policy: Policy, trusted_proxies: tuple[IPNetwork, ...]
    ) -> None:
        self.app = app
        self.policy = policy
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        key = state.get("client_key")
        if key is None:  # no AccessMiddleware in front (it settles the client for the app)
            state["client_ip"], key = client_identity(scope, self.trusted_proxies)
        limiter: RateLimiter = state["catalog"].rate_limiter  # opened by the lifespan
        checks = self.policy.checks(scope, key)
        decision = await limiter.decide(checks)
        headers = _headers(checks, decision)
        if not decision.allowed:
            REJECTED.labels(decision.rejected_by or "unknown").inc()
            error = TooManyRequests(
                f"rate limit {decision.rejected_by!r} exceeded; retry in {decision.retry_after_s}s",
                retry_after=decision.retry_after_s,
                headers={k.decode(): v.decode() for k, v in headers},
            )
            await send_error(scope, send, error)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)
