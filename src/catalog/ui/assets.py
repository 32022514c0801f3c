"""Static files of the UI, served from the package with content-hashed names.

`asset_url("app.css")` is `/ui/static/app.<sha256 prefix>.css`; the file is served with a
year-long, immutable cache lifetime, and a new release changes the name, so browsers never
keep a stale file. Written by hand (30 lines) because Starlette's StaticFiles neither hashes
names nor sets immutable caching.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

from catalog.core.errors import NotFound
from catalog.server.ui_session import STATIC_PREFIX

STATIC_DIR = Path(__file__).parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str


def _load() -> tuple[dict[str, str], dict[str, Asset]]:
    urls: dict[str, str] = {}
    served: dict[str, Asset] = {}
    for path in sorted(STATIC_DIR.rglob("*")):
        if not path.is_file():
            continue
        body = path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()[:12]
        relative = path.relative_to(STATIC_DIR).as_posix()
        stem, dot, suffix = relative.rpartition(".")
        hashed = f"{stem}.{digest}.{suffix}" if dot else f"{relative}.{digest}"
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if media.startswith("text/") or media == "application/javascript":
            media += "; charset=utf-8"
        urls[relative] = STATIC_PREFIX + hashed
        served[hashed] = Asset(body, media)
    return urls, served


URLS, SERVED = _load()


def asset_url(name: str) -> str:
    return URLS[name]


router = APIRouter(include_in_schema=False)


@router.get(STATIC_PREFIX + "{name:path}")
async def static_file(name: str) -> Response:
    asset = SERVED.get(name)
    if asset is None:
        raise NotFound("asset", name)
    return Response(
        asset.body,
        media_type=asset.media_type,
        headers={"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"},
    )
