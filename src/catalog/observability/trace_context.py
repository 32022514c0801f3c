"""The caller's W3C trace context on log lines and in a `traceresponse`, tracing export or not.

A valid incoming `traceparent` puts the caller's trace id and span id on every log line of the
request (`trace_id`, `parent_span_id`, with `span_id` this service's span), and the response
carries a `traceresponse` (Trace Context Level 2) naming this service's span: logs then
correlate with a gateway's traces without any collector. The request-id middleware does this
(one header scan and one contextvars bind per request, no OpenTelemetry involved).

The header is checked by the rules OpenTelemetry's propagator applies, so that with export on
both agree on which headers continue a trace: version two lowercase hex digits other than `ff`,
ids lowercase hex and not all zeros, version `00` nothing after the flags, a later version may
append `-...`; at most 512 characters. Anything else is ignored, never answered with an error.

With export on, the server span continues the same trace and writes its ids and sampled flag
into the request's `TraceContext` (tracing.py), so the `traceresponse` names the exported span;
the span's ids take precedence on the log lines written inside it (logging.add_trace_ids).
With export off, this service's span id is random and the flags are `00`: nothing was recorded.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

HEADER = b"traceparent"
RESPONSE_HEADER = b"traceresponse"
_MAX_LENGTH = 512
# Optional blanks around the value, as OpenTelemetry allows (servers usually strip them).
_TRACEPARENT = re.compile(
    rb"[ \t]*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:(-.*)|[ \t]*)"
)
_ZERO_TRACE_ID = b"0" * 32
_ZERO_SPAN_ID = b"0" * 16


@dataclass(slots=True)
class TraceContext:
    """The caller's trace, and this service's span in it (lowercase hex, as on the wire)."""

    trace_id: str
    parent_span_id: str
    span_id: str
    flags: str = "00"

    def traceresponse(self) -> bytes:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}".encode("ascii")


def parse_traceparent(value: bytes) -> TraceContext | None:
    """The caller's context from a `traceparent` value, or None when it is not valid."""
    if len(value) > _MAX_LENGTH:
        return None
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return None
    version, trace_id, parent_id, _flags, rest = match.groups()
    if version == b"ff" or (version == b"00" and rest is not None):
        return None
    if trace_id == _ZERO_TRACE_ID or parent_id == _ZERO_SPAN_ID:
        return None
    return TraceContext(trace_id.decode("ascii"), parent_id.decode("ascii"), new_span_id())


def new_span_id() -> str:
    # A span id must be unique, not secret: the same source as OpenTelemetry's id generator.
    return (random.getrandbits(64) or 1).to_bytes(8).hex()
