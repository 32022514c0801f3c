"""Ordering the versions of a regulatory type (pure).

Two versions that are both semantic versions compare by semver precedence (1.10.0 > 1.9.0,
1.0.0-rc.1 < 1.0.0); otherwise by natural sort, digits as numbers ("2024-10" > "2024-9",
"v1.10" > "v1.9"), ties broken by the plain string so the order is total on distinct strings.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import TypeVar

import semver

T = TypeVar("T")
_DIGITS = re.compile(r"([0-9]+)")


def _semver(version: str) -> semver.Version | None:
    try:
        return semver.Version.parse(version)
    except ValueError:
        return None


def _natural_key(version: str) -> tuple[tuple[int, int, str], ...]:
    return tuple(
        (0, int(part), "") if index % 2 else (1, 0, part)
        for index, part in enumerate(_DIGITS.split(version))
        if part
    )


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as `a` sorts before, with or after `b`."""
    parsed_a, parsed_b = _semver(a), _semver(b)
    if parsed_a is not None and parsed_b is not None:
        by_semver = parsed_a.compare(parsed_b)
        if by_semver:
            return by_semver
    else:
        key_a, key_b = _natural_key(a), _natural_key(b)
        if key_a != key_b:
            return -1 if key_a < key_b else 1
    return (a > b) - (a < b)


def neighbours(
    version: str, others: Iterable[tuple[T, str]]
) -> tuple[tuple[T, str] | None, tuple[T, str] | None]:
    """(the highest of `others` below `version`, the lowest above it), each (item, version)."""

    def by_version(x: tuple[T, str], y: tuple[T, str]) -> int:
        return compare_versions(x[1], y[1])

    order = functools.cmp_to_key(by_version)
    others = list(others)
    lower = [pair for pair in others if compare_versions(pair[1], version) < 0]
    higher = [pair for pair in others if compare_versions(pair[1], version) > 0]
    return (max(lower, key=order) if lower else None, min(higher, key=order) if higher else None)
