"""Entity tags (RFC 9110 §8.8.3) and preconditions (§13.1), shared by middleware and services.

One hash makes every ETag: `etag_of(body)` over the exact bytes of a JSON answer. The
conditional middleware applies it to what a GET answers; services apply it to the GET's
response model serialised the way FastAPI serialises it (pydantic's `dump_json` with
`by_alias=True`), so a client's `If-Match` on a PATCH or DELETE is compared with the ETag a GET
would answer right now, byte for byte, without a version column per table.

The tags are strong validators (the bytes are the representation). `If-None-Match` compares
weakly (a `W/` prefix is ignored on either side), `If-Match` strongly (a weak tag never
matches), both as §13.1.1-2 prescribe.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any

from fastapi import Header
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.conditional.repository import lock_and_refresh
from catalog.core.errors import PreconditionFailed
from catalog.db.models import Base

ETAG_DIGEST_BYTES = 16
ANY = "*"
# entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE  (etagc: visible ASCII but `"`, and obs-text)
_ENTITY_TAG = re.compile(r'(W/)?"([\x21\x23-\x7e\x80-\xff]*)"')

# A route parameter: the `If-Match` request header of a PATCH or DELETE, passed to the service.
# RFC 9110's `If-Match = "*" / #entity-tag`, in visible ASCII (the ETags this service issues).
_TAG = r'(W/)?"[!#-~]*"'
IF_MATCH_PATTERN = rf"^ *(\*|{_TAG}( *, *{_TAG})*) *$"
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        # Declared, not enforced: a malformed If-Match names no version, so it is 412 like any
        # other that does not match (RFC 9110 13.1.1), not a validation error.
        json_schema_extra={"pattern": IF_MATCH_PATTERN},
        examples=['"6f1ed002ab5595859014ebf0951522d9"', "*"],
        description="ETag of the representation this change is based on (from a GET); "
        "a different current one is 412. `*`: any.",
    ),
]


def etag_of(body: bytes) -> str:
    """The strong ETag of a representation: a quoted 128-bit BLAKE2b digest of its bytes."""
    return '"' + hashlib.blake2b(body, digest_size=ETAG_DIGEST_BYTES).hexdigest() + '"'


def etag_of_model(out: type[BaseModel], obj: Any) -> str:
    """The ETag a GET answering `obj` as `out` carries (FastAPI serialises it the same way)."""
    return etag_of(out.model_validate(obj).model_dump_json(by_alias=True).encode())


def _tags(header: str) -> list[tuple[bool, str]]:
    """(weak, opaque-tag) of each entity tag in a comma list; malformed members are skipped."""
    return [(bool(m.group(1)), m.group(2)) for m in _ENTITY_TAG.finditer(header)]


def _split(etag: str) -> tuple[bool, str] | None:
    found = _ENTITY_TAG.fullmatch(etag.strip())
    return (bool(found.group(1)), found.group(2)) if found else None


def none_match(if_none_match: str, etag: str) -> bool:
    """True when `If-None-Match` names the current representation (weak comparison): the
    condition is false and a GET answers 304."""
    if if_none_match.strip() == ANY:
        return True
    current = _split(etag)
    if current is None:
        return False
    return any(opaque == current[1] for _, opaque in _tags(if_none_match))


def match(if_match: str, etag: str | None) -> bool:
    """True when `If-Match` holds (strong comparison): `*` means "has a current
    representation"; otherwise one listed strong tag equals the current strong tag."""
    if etag is None:
        return False
    if if_match.strip() == ANY:
        return True
    current = _split(etag)
    if current is None or current[0]:
        return False
    return any(not weak and opaque == current[1] for weak, opaque in _tags(if_match))


async def check_if_match(
    session: AsyncSession, if_match: str | None, obj: Base, out: type[BaseModel], kind: str
) -> None:
    """412 unless `If-Match` names the representation of `obj` a GET would answer as `out`.

    Call it right after loading `obj` and before changing or deleting it, in the same
    transaction; without the header it does nothing (unconditional writes behave as before).
    It is race-free: on PostgreSQL the row is locked (`SELECT ... FOR UPDATE`, see
    `repository.lock_and_refresh`) and re-read, so the comparison and the write that follows
    happen under the row lock, and a concurrent conditional writer waits, then compares
    against the new representation and gets 412.
    SQLite write transactions take the database write lock with their first statement (BEGIN
    IMMEDIATE, see db/engine.py), so the row already read stays current until commit.

    A row deleted meanwhile has no current representation: 412 as well. A resource that did
    not exist to begin with was already a 404 when the caller loaded it (RFC 9110 §13.2.1:
    preconditions are ignored when the answer without them would not be a 2xx).
    """
    if if_match is None:
        return
    if session.get_bind().dialect.name == "postgresql" and not await lock_and_refresh(session, obj):
        raise PreconditionFailed(f"the {kind} was deleted meanwhile")
    if not match(if_match, etag_of_model(out, obj)):
        raise PreconditionFailed(
            f"the {kind} has changed since the ETag in If-Match was issued; "
            "GET it again and retry with its current ETag"
        )
