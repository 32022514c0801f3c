"""Schemathesis hooks of the contract test (loaded by `schemathesis.toml`'s `hooks`).

- `expires_at` must lie in the future: a rule of time that JSON Schema cannot state. Generated
  valid dates are mostly in the past, so before each call a valid past date becomes the same
  moment a year from now; anything else (a malformed date, a wrong type) is sent as generated.
- "Created resource not found" (ST302) reads any 404 after a create as the created resource
  missing. Attaching a tag, an element or an upstream to a just-created product answers 404
  when the BODY names one that does not exist; that failure is dropped when the 404 names the
  body's reference, so a 404 for the product itself still fails the run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import schemathesis

FUTURE_FIELDS = ("expires_at",)
BODY_REFERENCES = {"tag_id": "tag", "element_id": "data element", "upstream_id": "upstream"}


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    body = case.body
    if not isinstance(body, dict):
        return
    now = datetime.now(UTC)
    for name in FUTURE_FIELDS:
        value = body.get(name)
        if not isinstance(value, str):
            continue
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            continue
        if moment.tzinfo is not None and moment <= now:
            body[name] = (now + timedelta(days=365)).isoformat()


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """False drops the failure: a 404 that names the body's reference, not the product."""
    if getattr(failure, "code", None) != "ST302" or response.status_code != 404:
        return True
    body = case.body if isinstance(case.body, dict) else {}
    details = str(response.json().get("error", {}).get("details", ""))
    for field, kind in BODY_REFERENCES.items():
        if field in body and details.startswith(kind) and str(body[field]) in details:
            return False
    return True
