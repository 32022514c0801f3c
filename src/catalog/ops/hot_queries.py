"""The catalog's hot read queries, as the repositories build them, for `catalog db advise`.

When `pg_stat_statements` cannot say which queries are slow, the advisor EXPLAINs these
instead: the statements behind the busiest endpoints (product lists, search, lineage, the
access queue, tags, elements, the audit trail). They are built by the repositories' own
statement builders, so they follow the code as it changes, and compiled for PostgreSQL with
`$n` placeholders exactly like `pg_stat_statements` shows queries, so both sources go through
the same generic-plan EXPLAIN. Building them does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ClauseElement, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from catalog.access.repository import AccessRepository
from catalog.audit.repository import AuditEventRepository
from catalog.db.models import LineageEdge
from catalog.products.repository import ProductRepository
from catalog.registry.repository import DataElementRepository
from catalog.settings import Settings
from catalog.tags.repository import TagRepository

PAGE = 50


@dataclass(frozen=True)
class HotQuery:
    label: str
    sql: str


def _count(statement: Any) -> Any:
    """The count `Repository.paginate` runs beside every page."""
    return select(func.count()).select_from(statement.order_by(None).subquery())


def hot_queries(engine: AsyncEngine, settings: Settings) -> list[HotQuery]:
    session = AsyncSession(bind=engine)  # only for the builders' dialect; never executes
    products = ProductRepository(session)
    by_team = products.list_statement(team="team")
    published = products.list_statement(status="published", category="category")
    access = AccessRepository(session).list_statement(status="pending", product_id="id")
    audit = AuditEventRepository(session).list_statement(
        actor=None,
        action=None,
        resource_type="data_product",
        resource_id="id",
        request_id=None,
        since=None,
        until=None,
    )
    elements = DataElementRepository(session).list_statement(
        name=None, status="published", concept_id=None, representation_id=None, steward=None
    )
    upstream = tuple_(LineageEdge.downstream_type, LineageEdge.downstream_id)
    downstream = tuple_(LineageEdge.upstream_type, LineageEdge.upstream_id)
    statements: list[tuple[str, ClauseElement]] = [
        ("products by team (GET /api/data-products?team=)", by_team.limit(PAGE).offset(0)),
        ("products by team, count", _count(by_team)),
        ("published products of a category", published.limit(PAGE).offset(0)),
        (
            "lineage: upstream edges (GET /api/data-products/{id}/lineage)",
            select(LineageEdge).where(upstream.in_([("product", "id")])),
        ),
        (
            "lineage: downstream edges",
            select(LineageEdge).where(downstream.in_([("product", "id")])),
        ),
        ("access queue of a product", access.limit(PAGE).offset(0)),
        ("audit events of a resource", audit.limit(PAGE).offset(0)),
        ("published data elements", elements.limit(PAGE).offset(0)),
        ("child tags", TagRepository(session).list_statement(parent_tag_id="id")),
    ]
    dialect = engine.dialect
    return [
        HotQuery(
            label,
            str(statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})),
        )
        for label, statement in statements
    ]
