"""Token buckets: continuous refill at `rate` tokens/s up to `burst`; a request costs one.

Written by hand because the decision has to cover several buckets at once (global, client,
endpoint) and take a token from each only when all have one: the libraries we looked at
(limits, aiolimiter, slowapi) decide one bucket at a time, which would burn a client's tokens
on requests the global bucket then refuses. The same arithmetic runs in the Redis script.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class Limit:
    name: str  # policy name in headers and metrics: global, ip, endpoint, principal
    rate: float  # tokens per second
    burst: int  # bucket size

    @property
    def window_s(self) -> int:
        """Seconds for an empty bucket to fill (the draft's `w`)."""
        return max(1, math.ceil(self.burst / self.rate))


class Check(NamedTuple):
    """A bucket to check: which limit, and whose bucket (the key)."""

    limit: Limit
    key: str


class Decision(NamedTuple):
    allowed: bool
    retry_after_s: int  # 0 when allowed
    levels: tuple[float, ...]  # tokens in each checked bucket after this request
    rejected_by: str | None = None  # limit name of the bucket that refused


def refill(tokens: float, last: float, now: float, limit: Limit) -> float:
    return min(float(limit.burst), tokens + max(0.0, now - last) * limit.rate)


def seconds_to_one(tokens: float, limit: Limit) -> int:
    """Whole seconds until the bucket holds a token (at least 1 when it holds none)."""
    return max(1, math.ceil((1.0 - tokens) / limit.rate))


def seconds_to_full(tokens: float, limit: Limit) -> int:
    return max(0, math.ceil((limit.burst - tokens) / limit.rate))
