"""Checking a value against a value domain, saying which rule it breaks.

Pure functions over plain data, so the rules are easy to read and to test. Values arrive as
JSON: a number may come as a number or as a string ("42"); both are accepted where the data
type is numeric.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_VALUE_LENGTH = 10_000


@dataclass(frozen=True)
class Verdict:
    valid: bool
    reason: str | None = None
    constraint: str | None = None


OK = Verdict(True)


def _fail(reason: str, constraint: str) -> Verdict:
    return Verdict(False, reason, constraint)


def _parse(data_type: str, value: Any) -> tuple[Any, str | None]:
    """The value as its data type's Python value, or an error message."""
    if data_type == "string":
        return (value, None) if isinstance(value, str) else (None, "expected a string")
    if data_type == "boolean":
        if isinstance(value, bool):
            return value, None
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true", None
        return None, "expected a boolean"
    if isinstance(value, bool):
        return None, f"expected {data_type}, got a boolean"
    if data_type in {"integer", "decimal"}:
        try:
            number = Decimal(str(value)) if isinstance(value, int | float | str) else None
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            return None, f"expected {'an integer' if data_type == 'integer' else 'a number'}"
        if data_type == "integer" and number != number.to_integral_value():
            return None, "expected an integer"
        return number, None
    if not isinstance(value, str):
        return None, f"expected an ISO {data_type} string"
    try:
        parsed: date = (
            date.fromisoformat(value) if data_type == "date" else datetime.fromisoformat(value)
        )
    except ValueError:
        return None, f"expected an ISO {data_type} string"
    return parsed, None


def _bound(data_type: str, bound: Any) -> Any:
    parsed, error = _parse(data_type, bound)
    if error:
        raise ValueError(f"constraint bound {bound!r} does not fit data type {data_type}")
    return parsed


def _comparable(left: Any, right: Any) -> bool:
    naive = [isinstance(v, datetime) and v.tzinfo is None for v in (left, right)]
    return not (isinstance(left, datetime) and naive[0] != naive[1])


def check_constraint(data_type: str, kind: str, rule: Any, raw: Any, value: Any) -> Verdict:
    if kind in {"min_length", "max_length", "length"}:
        text = raw if isinstance(raw, str) else str(raw)
        size = len(text)
        if kind == "min_length" and size < rule:
            return _fail(f"shorter than {rule} characters", kind)
        if kind == "max_length" and size > rule:
            return _fail(f"longer than {rule} characters", kind)
        if kind == "length" and size != rule:
            return _fail(f"not exactly {rule} characters", kind)
        return OK
    if kind == "pattern":
        text = raw if isinstance(raw, str) else str(raw)
        if re.fullmatch(rule, text) is None:
            return _fail(f"does not match the pattern {rule}", kind)
        return OK
    low, high = (rule.get("min"), rule.get("max")) if kind == "range" else (None, None)
    if kind == "min":
        low = rule
    if kind == "max":
        high = rule
    for bound, is_low in ((low, True), (high, False)):
        if bound is None:
            continue
        limit = _bound(data_type, bound)
        if not _comparable(value, limit):
            return _fail(f"cannot compare with {bound!r} (timezone mismatch)", kind)
        if is_low and value < limit:
            return _fail(f"below the minimum {bound}", kind)
        if not is_low and value > limit:
            return _fail(f"above the maximum {bound}", kind)
    return OK


def validate_value(
    *,
    domain_type: str,
    data_type: str,
    permissible_values: list[str],
    constraints: list[dict[str, Any]],
    value: Any,
) -> Verdict:
    if isinstance(value, str) and len(value) > MAX_VALUE_LENGTH:
        return _fail(f"longer than {MAX_VALUE_LENGTH} characters", "max_length")
    if value is None:
        return _fail("a value is required", "data_type")
    if domain_type == "enumerated":
        text = value if isinstance(value, str) else str(value)
        if text not in permissible_values:
            return _fail("not one of the permissible values", "permissible_values")
        return OK
    parsed, error = _parse(data_type, value)
    if error:
        return _fail(error, "data_type")
    for constraint in constraints:
        verdict = check_constraint(
            data_type, constraint["type"], constraint["value"], value, parsed
        )
        if not verdict.valid:
            return verdict
    return OK


def bound_errors(data_type: str, constraints: list[dict[str, Any]]) -> list[str]:
    """Constraint bounds that cannot be read as the domain's data type."""
    errors: list[str] = []
    for constraint in constraints:
        kind, rule = constraint["type"], constraint["value"]
        bounds = [rule] if kind in {"min", "max"} else []
        if kind == "range":
            bounds = [b for b in (rule.get("min"), rule.get("max")) if b is not None]
        for bound in bounds:
            try:
                _bound(data_type, bound)
            except ValueError as exc:
                errors.append(str(exc))
        if kind in {"min", "max", "range"} and data_type in {"string", "boolean"}:
            errors.append(f"{kind} does not apply to data type {data_type}")
    return errors
