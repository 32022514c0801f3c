"""JSON log lines on stdout (structlog), with secrets scrubbed before anything is written.

Every line carries `timestamp`, `level` and `event`; lines written while a request is in
flight also carry its `request_id` (bound by the request-id middleware), and lines written
while an OpenTelemetry span is active carry its `trace_id` and `span_id` (see tracing.py).
A request that came with a valid `traceparent` has the caller's `trace_id` and
`parent_span_id` bound too, export on or off (see trace_context.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, MutableMapping
from typing import Any

import orjson
import structlog
from opentelemetry import trace

from catalog.core.log_output import LINES, utc_timestamp

# Keys whose values never reach a log line, whatever logged them.
_SECRET_KEY = re.compile(
    r"(authorization|password|passwd|secret|token|api[_-]?key|cookie|dsn|routing[_-]?key)",
    re.IGNORECASE,
)
# Credentials embedded in text: bearer tokens and user:password@ in URLs.
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+")
_URL_PASSWORD = re.compile(r"(?<=://)([^:/@\s]*):([^@/\s]+)@")
# Text that neither pattern can match is returned untouched without running them: most values
# of a line ("GET", a route template, a timestamp) have neither an "@" nor the word "bearer"
# (looked for in the lower-cased text: a third of a case-insensitive regex search's cost).
REDACTED = "[redacted]"
# How deep a log line's values are scrubbed (a line's fields are shallow).
LOG_SCRUB_DEPTH = 5


_secret_names: dict[str, bool] = {}


def is_secret_key(name: str) -> bool:
    """Whether a field of this name holds a credential (its value is never written).
    Remembered per name (a plain dict: a line's field names repeat from line to line, and a
    dict lookup is cheaper than functools' cache); bounded, since callers may log names."""
    found = _secret_names.get(name)
    if found is None:
        found = _SECRET_KEY.search(name) is not None
        if len(_secret_names) < 4096:
            _secret_names[name] = found
    return found


def scrub_text(text: str) -> str:
    if "@" not in text and "bearer" not in text.lower():
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


# Values with no text in them: nothing to scrub (most of a line's values are numbers).
_PLAIN = frozenset({int, float, bool, type(None)})
# The secret-named keys among a line's keys, per key sequence: the same kind of line has
# the same keys every time, so the names are checked once per kind, not once per line.
_secrets_among: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def scrub_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    keys = tuple(event_dict)
    secret = _secrets_among.get(keys)
    if secret is None:
        secret = tuple(k for k in keys if isinstance(k, str) and is_secret_key(k))
        if len(_secrets_among) < 4096:
            _secrets_among[keys] = secret
    for key, value in event_dict.items():  # values replaced in place: the keys stay the same
        if type(value) is str:
            event_dict[key] = scrub_text(value)
        elif type(value) not in _PLAIN:
            event_dict[key] = scrub(value)
    for key in secret:
        event_dict[key] = REDACTED
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


class _LogOutput:
    """The file structlog and the standard library write to: the queue of log_output.py (or
    a replaced sys.stdout directly, looked up at each write: tests, daemons)."""

    def write(self, text: str) -> int:
        LINES.write(text)
        return len(text)

    def flush(self) -> None:
        """Each line is flushed by the writer (in batches), not by the caller."""


_level = logging.INFO
_TIMESTAMP = structlog.processors.TimeStamper(fmt="iso", utc=True)
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING}


def access_log_enabled() -> bool:
    """Whether info lines are written (lets hot paths skip building a line nobody reads)."""
    return _level <= logging.INFO


def write_line(level: str, event: str, fields: dict[str, Any]) -> None:
    """Write the line `get_logger(...).<level>(event, **fields)` writes, with the same fields
    in the same order, for lines written on every request (the access line).

    The same processors run, called directly: structlog's per-call logger proxy and chain
    walk cost as much again as the line itself (~60 against ~8 µs here), and at info level
    every request pays for it. `fields` becomes the line (the caller hands over a new dict).
    """
    if _LEVELS[level] < _level:
        return
    fields["event"] = event
    add_trace_ids(None, level, fields)
    structlog.contextvars.merge_contextvars(None, level, fields)
    fields["level"] = level
    fields["timestamp"] = utc_timestamp()
    scrub_secrets(None, level, fields)
    LINES.write(_json_line(fields) + "\n")


def configure_logging(level: str = "info") -> None:
    """Route structlog and the standard library (uvicorn, sqlalchemy) to JSON on stdout."""
    global _level
    numeric = logging.getLevelNamesMapping()[level.upper()]
    _level = numeric
    shared: list[Any] = [
        add_trace_ids,
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        _TIMESTAMP,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            scrub_secrets,
            structlog.processors.JSONRenderer(serializer=_json_line),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=_LogOutput()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(_LogOutput())
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
