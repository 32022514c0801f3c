"""What the index holds for each product, tag and element, built from catalog rows.

A product document carries everything a result shows (`doc`, its JSON answer) besides what
search needs to match, filter, count and rank it, so answering a search reads no database.

Ranking signals, each in 0..1 (ranking.py blends them):
- popularity: x / (x + 100) with x = views + 3 x unique viewers + 10 x approved access
  requests + 2 x the sum of ratings (saturates: the 10th view matters more than the 10,000th);
- quality: the mean quality score of the product's measured data elements; 0.5 (neutral)
  when none is measured;
- freshness is not stored: it is computed at query time from `updated_ts`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import semver
import tantivy

from catalog.search.fields import SORT_KEYS
from catalog.search.ranking import Weights, freshness

NEUTRAL_QUALITY = 0.5
ELEMENTS_TEXT_MAX = 20_000
SEPARATOR = "\x1f"  # between a sort value and the id that breaks its ties


@dataclass(frozen=True)
class TagNode:
    id: str
    name: str
    parent_id: str | None


@dataclass(frozen=True)
class Usage:
    views: int = 0
    unique_viewers: int = 0
    approved_access: int = 0
    rating_count: int = 0
    rating_sum: int = 0

    @property
    def popularity(self) -> float:
        use = self.views + 3 * self.unique_viewers + 10 * self.approved_access
        use += 2 * self.rating_sum
        return use / (use + 100.0)

    @property
    def average_rating(self) -> float | None:
        return round(self.rating_sum / self.rating_count, 3) if self.rating_count else None

    def answer(self) -> dict[str, Any]:
        return {
            "views": self.views,
            "unique_viewers": self.unique_viewers,
            "approved_access": self.approved_access,
            "rating_count": self.rating_count,
            "average_rating": self.average_rating,
        }


@dataclass(frozen=True)
class Member:
    id: str
    name: str
    definition: str
    quality_score: float | None


@dataclass(frozen=True)
class Version:
    version: str
    prerelease: str | None
    deprecated: bool


@dataclass
class ProductSource:
    """One product's rows, as the repository reads them."""

    id: str
    name: str
    description: str
    team: str
    category: str
    owner: str
    status: str
    visibility: str
    updated_at: datetime
    tags: list[TagNode] = field(default_factory=list)  # direct tags
    members: list[Member] = field(default_factory=list)
    versions: list[Version] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    governed_column_coverage: float | None = None


def latest_version(versions: Sequence[Version]) -> str | None:
    """Highest stable, non-deprecated version; else the highest of any kind (as the API)."""
    if not versions:
        return None
    ordered = sorted(versions, key=lambda v: semver.Version.parse(v.version), reverse=True)
    stable = [v for v in ordered if v.prerelease is None and not v.deprecated]
    return (stable or ordered)[0].version


def mean_quality(members: Iterable[Member]) -> float | None:
    scores = [m.quality_score for m in members if m.quality_score is not None]
    return sum(scores) / len(scores) if scores else None


def ancestry(tags: Iterable[TagNode], forest: dict[str, TagNode]) -> list[TagNode]:
    """The tags and all their ancestors, each once (a tag's parent chain from `forest`)."""
    found: dict[str, TagNode] = {}
    for tag in tags:
        node: TagNode | None = tag
        while node is not None and node.id not in found:
            found[node.id] = node
            node = forest.get(node.parent_id) if node.parent_id else None
    return list(found.values())


def key_hash(doc_id: str) -> int:
    """A stable 64-bit number for an id (ranking's tie-breaker and candidate filter)."""
    return int.from_bytes(hashlib.blake2b(doc_id.encode(), digest_size=8).digest(), "big")


def micros(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp() * 1_000_000)


def _key(value: str, doc_id: str) -> str:
    return f"{value}{SEPARATOR}{doc_id}"


def product_document(
    source: ProductSource, forest: dict[str, TagNode], weights: Weights, now_s: float
) -> tantivy.Document:
    direct = sorted(tag.name for tag in source.tags)
    lineage = ancestry(source.tags, forest)
    quality = mean_quality(source.members)
    usage = source.usage
    updated = source.updated_at.astimezone(UTC)
    elements = " ".join(f"{m.name} {m.definition}" for m in source.members)[:ELEMENTS_TEXT_MAX]
    tags_text = " ".join(sorted({tag.name for tag in lineage}))
    description = f"{source.description} {source.team} {source.category} {source.owner}"
    answer = {
        "id": source.id,
        "name": source.name,
        "description": source.description,
        "team": source.team,
        "category": source.category,
        "owner": source.owner,
        "status": source.status,
        "visibility": source.visibility,
        "tags": direct,
        "latest_version": latest_version(source.versions),
        "quality_score": quality,
        "governed_column_coverage": source.governed_column_coverage,
        "usage": usage.answer(),
        "updated_at": updated.isoformat().replace("+00:00", "Z"),
    }
    prior = weights.prior(usage.popularity, NEUTRAL_QUALITY if quality is None else quality)
    doc = tantivy.Document(
        kind="product",
        key=source.id,
        name=source.name,
        name_prefix=source.name,
        tags=tags_text,
        description=description,
        elements=elements,
        all_text=" ".join((source.name, tags_text, description, elements)),
        team=source.team,
        category=source.category,
        status=source.status,
        visibility=source.visibility,
        popularity=usage.popularity,
        quality=NEUTRAL_QUALITY if quality is None else quality,
        updated_ts=micros(updated),
        prior=prior,
        boost=weights.boost(prior),
        rank_hint=prior + weights.freshness * freshness(micros(updated), now_s),
        indexed_ts=int(now_s * 1_000_000),
        doc=orjson.dumps(answer),
    )
    doc.add_unsigned("key_hash", key_hash(source.id))
    for name in direct:
        doc.add_text("tag", name)
    for tag in lineage:
        doc.add_text("tag_path", tag.name.lower())
        doc.add_text("tag_ids", tag.id)
    for member in source.members:
        doc.add_text("element_ids", member.id)
    sort_values = {
        "popularity": f"{usage.popularity:.12f}",
        "recent": updated.strftime("%Y%m%d%H%M%S%f"),
        "name": source.name.lower(),
        "rating": f"{usage.average_rating or 0:09.3f}{usage.rating_count:010d}",
    }
    for sort, value in sort_values.items():
        doc.add_text(SORT_KEYS[sort], _key(value, source.id))
    return doc


def name_document(kind: str, doc_id: str, name: str) -> tantivy.Document:
    """A tag's or data element's document: its name, for suggestions."""
    return tantivy.Document(
        kind=kind,
        key=doc_id,
        name=name,
        name_prefix=name,
        visibility="public",
        popularity=0.0,
        **{SORT_KEYS["name"]: _key(name.lower(), doc_id)},
        doc=orjson.dumps({"id": doc_id, "name": name, "kind": kind}),
    )
