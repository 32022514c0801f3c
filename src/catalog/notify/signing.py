"""The webhook signature: `X-Catalog-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`.

Stripe's scheme, because receivers already know how to check it: the MAC is over
`"<t>." + raw body` with the subscription's secret, so a receiver checks the bytes it got (no
re-serialising) and rejects old timestamps (a replayed capture). `verify` is the receiver's
side, for the docs' example and the tests; the README shows the same check with openssl.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Catalog-Signature"
TOLERANCE_S = 300  # the window a receiver should accept around its own clock


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, now: float, tolerance_s: float = TOLERANCE_S
) -> bool:
    """Whether `header` signs `body` with `secret` within `tolerance_s` of `now`."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))
