"""JSON log lines on stdout (structlog), with secrets scrubbed before anything is written.

Every line carries `timestamp`, `level` and `event`; lines written while a request is in
flight also carry its `request_id` (bound by the request-id middleware), and lines written
while an OpenTelemetry span is active carry its `trace_id` and `span_id` (see tracing.py).
A request that came with a valid `traceparent` has the caller's `trace_id` and
`parent_span_id` bound too, export on or off (see trace_context.py).
"""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import orjson
import structlog
from opentelemetry import trace

# Keys whose values never reach a log line, whatever logged them.
_SECRET_KEY = re.compile(
    r"(authorization|password|passwd|secret|token|api[_-]?key|cookie|dsn|routing[_-]?key)",
    re.IGNORECASE,
)
# Credentials embedded in text: bearer tokens and user:password@ in URLs.
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+")
_URL_PASSWORD = re.compile(r"(?<=://)([^:/@\s]*):([^@/\s]+)@")
# Text that neither pattern can match is returned untouched without running them: most values
# of a line ("GET", a route template, a timestamp) have neither an "@" nor the word "bearer".
_BEARER_WORD = re.compile(r"(?i)bearer")
REDACTED = "[redacted]"
# How deep a log line's values are scrubbed (a line's fields are shallow).
LOG_SCRUB_DEPTH = 5


@functools.lru_cache(maxsize=4096)
def is_secret_key(name: str) -> bool:
    """Whether a field of this name holds a credential (its value is never written).
    Remembered per name: a line's field names repeat from line to line."""
    return _SECRET_KEY.search(name) is not None


def scrub_text(text: str) -> str:
    if "@" not in text and _BEARER_WORD.search(text) is None:
        return text
    text = _BEARER.sub("Bearer " + REDACTED, text)
    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{REDACTED}@", text)


def scrub(value: Any, max_depth: int = LOG_SCRUB_DEPTH) -> Any:
    """A copy of `value` with secret-named keys redacted and credentials cut out of text,
    down to `max_depth` levels of nesting (deeper values are returned as they are)."""
    if max_depth < 0:
        return value
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if isinstance(k, str) and is_secret_key(k) else scrub(v, max_depth - 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(v, max_depth - 1) for v in value]
    return value


def scrub_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if is_secret_key(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = scrub(event_dict[key])
    return event_dict


def _json_line(event_dict: Any, default: Any = None, **_options: Any) -> str:
    """One line of JSON by orjson (about ten times the standard library's speed); keys that
    are not strings are written as strings, values JSON cannot hold as structlog would
    (through its `default`, which falls back to `repr`)."""
    return orjson.dumps(event_dict, default=default, option=orjson.OPT_NON_STR_KEYS).decode()


def add_trace_ids(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The active span's ids, so a log line leads to its trace (one context lookup per line
    when no span is active, which is always the case with tracing off).

    Runs before the bound context is merged: the exported span's ids win over the ones the
    request-id middleware bound from the caller's `traceparent`, so a line always names the
    trace its spans were exported in."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


class _CurrentStdout:
    """sys.stdout looked up at each write, so a replaced stdout (tests, daemons) gets the lines."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


_level = logging.INFO


def access_log_enabled() -> bool:
    """Whether info lines are written (lets hot paths skip building a line nobody reads)."""
    return _level <= logging.INFO


def configure_logging(level: str = "info") -> None:
    """Route structlog and the standard library (uvicorn, sqlalchemy) to JSON on stdout."""
    global _level
    numeric = logging.getLevelNamesMapping()[level.upper()]
    _level = numeric
    shared: list[Any] = [
        add_trace_ids,
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            scrub_secrets,
            structlog.processors.JSONRenderer(serializer=_json_line),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=_CurrentStdout()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(_CurrentStdout())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                scrub_secrets,
                structlog.processors.JSONRenderer(serializer=_json_line),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # uvicorn's own access log would log every request a second time, in another format.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
