"""Request and response models of discovery."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from catalog.kit.schemas import Identifier, RequestModel, ResponseModel
from catalog.products.schemas import ProductHeading

SortBy = Literal["relevance", "popularity", "recent", "name"]
MarketplaceSort = Literal["popularity", "rating", "recent", "name"]


class UsageSummary(ResponseModel):
    views: int
    unique_viewers: int
    approved_access: int
    rating_count: int
    average_rating: float | None


class Explain(ResponseModel):
    """Why a result ranks where it does: each signal (0..1) and its weight."""

    text: float
    popularity: float
    quality: float
    freshness: float
    weights: dict[str, float]


# A search result and a marketplace item are one product card: the product's heading (as
# ProductOut starts), then its tags, version, quality, usage and last change; a search result
# adds the status and visibility after the heading, and its score at the end. Pydantic lists a
# model's fields from its last base to its first, then its own: `(_Card, ProductHeading)` is
# the heading, then the card.
class _Card(ResponseModel):
    tags: list[str]
    latest_version: str | None
    quality_score: float | None
    governed_column_coverage: float | None = Field(
        None, description="Share of schema columns that are governed (none without a schema)"
    )
    usage: UsageSummary
    updated_at: datetime


class _StatedHeading(ProductHeading):
    status: str
    visibility: str


class SearchResult(_Card, _StatedHeading):
    score: float
    explain: Explain | None = None


class FacetValue(ResponseModel):
    value: str
    count: int


class Facets(ResponseModel):
    team: list[FacetValue]
    category: list[FacetValue]
    status: list[FacetValue]
    tag: list[FacetValue]


class SearchOut(ResponseModel):
    results: list[SearchResult]
    total_count: int
    facets: Facets
    search_id: str
    query: str
    terms: list[str]
    fuzzy: bool
    sort_by: SortBy
    limit: int
    offset: int


class Suggestion(ResponseModel):
    text: str
    kind: Literal["product", "tag", "element"]
    id: str
    score: float


class SuggestOut(ResponseModel):
    query: str
    suggestions: list[Suggestion]


class ClickIn(RequestModel):
    product_id: Identifier


class ClickOut(ResponseModel):
    search_id: str
    product_id: str
    recorded: bool


class PopularSearch(ResponseModel):
    query: str
    count: int
    clicks: int
    last_searched_at: datetime


class PopularOut(ResponseModel):
    days: int
    items: list[PopularSearch]


class RecentSearch(ResponseModel):
    search_id: str
    query: str
    result_count: int
    clicked: bool
    timestamp: datetime


class RecentOut(ResponseModel):
    user_id: str
    items: list[RecentSearch]


class MarketplaceItem(_Card, ProductHeading):
    pass


class MarketplaceOut(ResponseModel):
    items: list[MarketplaceItem]
    total: int
    limit: int
    offset: int
    sort_by: MarketplaceSort
