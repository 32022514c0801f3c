"""One clock for the service, always timezone-aware UTC."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def isoformat_z(moment: datetime) -> str:
    """RFC 3339 with a `Z` suffix, second precision, as the error envelope shows it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
