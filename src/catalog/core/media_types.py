"""Media types (RFC 9110 §8.3.1) as they arrive in a raw ASGI `content-type` header."""

from __future__ import annotations


def is_json(content_type: bytes) -> bool:
    """`application/json` or any `application/*+json` (RFC 6839), parameters ignored."""
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


def is_form(content_type: bytes) -> bool:
    """`application/x-www-form-urlencoded` (an HTML form's post), parameters ignored."""
    return content_type.split(b";", 1)[0].strip().lower() == b"application/x-www-form-urlencoded"
