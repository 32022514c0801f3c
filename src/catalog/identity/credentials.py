"""What every credential checker returns or raises.

A checker turns the bearer token of an `Authorization: Bearer ...` header into a `Principal`
(see catalog.identity.principal) or raises `InvalidCredentials` with a machine-readable
`reason` (a label of `catalog_auth_failures_total`) and a description safe to show the
client. Descriptions never contain the token or any part of it.
"""

from __future__ import annotations

# reasons, as metric labels (not secrets, whatever a linter makes of "token" in a name)
MISSING = "missing"
MALFORMED = "malformed"
UNKNOWN_TOKEN = "unknown_token"  # noqa: S105
EXPIRED = "expired"
REVOKED = "revoked"
NOT_YET_VALID = "not_yet_valid"
BAD_SIGNATURE = "bad_signature"
ALGORITHM_NOT_ALLOWED = "algorithm_not_allowed"
WRONG_ISSUER = "wrong_issuer"
WRONG_AUDIENCE = "wrong_audience"
UNKNOWN_KEY = "unknown_kid"
NO_ROLE = "no_role"
JWKS_UNAVAILABLE = "jwks_unavailable"


class InvalidCredentials(Exception):
    def __init__(self, reason: str, description: str) -> None:
        super().__init__(description)
        self.reason = reason
        self.description = description
