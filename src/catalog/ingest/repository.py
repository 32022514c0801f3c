"""All SQL of the crawler: its value domains and representations by name, its elements by
identifier, the products of a source, and the background runs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import insert, select, update

from catalog.changes.recorder import touch
from catalog.changes.refs import NodeRef
from catalog.core.ids import new_id
from catalog.db.models import (
    DataElement,
    DataProduct,
    IngestionRun,
    PermissibleValue,
    Representation,
)
from catalog.kit.repository import Repository, table_of
from catalog.registry.repository import RepresentationRepository, ValueDomainRepository

IN_CHUNK = 5000


async def ensure_domains(
    session: Any, rows: list[dict[str, Any]], values: dict[str, Sequence[str]]
) -> dict[str, str]:
    """Value domains by name, made where missing (an enumerated one with its values)."""
    ids, created = await ValueDomainRepository(session).ensure_named(rows)
    fresh = set(created)
    value_rows = [
        {"id": new_id(), "value_domain_id": ids[name], "value": value, "meaning": "", "position": i}
        for name, listed in values.items()
        if ids.get(name) in fresh
        for i, value in enumerate(listed)
    ]
    if value_rows:
        await session.execute(insert(table_of(PermissibleValue)), value_rows)
    touch(session, *(NodeRef("ValueDomain", i) for i in created))
    return ids


async def ensure_representations(session: Any, rows: list[dict[str, Any]]) -> dict[str, str]:
    """Representations by name, made where missing; one that exists without a value domain
    gets the one asked for (the crawler knows what its physical type allows)."""
    ids, _created = await RepresentationRepository(session).ensure_named(rows)
    for row in rows:
        await session.execute(
            update(Representation)
            .where(Representation.id == ids[row["name"]], Representation.value_domain_id.is_(None))
            .values(value_domain_id=row["value_domain_id"])
        )
    return ids


async def elements_by_identifier(
    session: Any, identifiers: Iterable[str]
) -> dict[str, DataElement]:
    wanted = list(set(identifiers))
    found: dict[str, DataElement] = {}
    for start in range(0, len(wanted), IN_CHUNK):
        statement = select(DataElement).where(
            DataElement.identifier.in_(wanted[start : start + IN_CHUNK])
        )
        found |= {e.identifier: e for e in await session.scalars(statement)}
    return found


async def products_of_source(session: Any, source: str) -> list[DataProduct]:
    """Every product whose reference is under `source` (`<source>/...`)."""
    prefix = source.rstrip("/") + "/"
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    statement = select(DataProduct).where(DataProduct.source_ref.like(escaped + "%", escape="\\"))
    return list(await session.scalars(statement))


class IngestionRunRepository(Repository[IngestionRun]):
    model = IngestionRun

    def list_statement(self) -> Any:
        return select(IngestionRun).order_by(IngestionRun.created_at.desc(), IngestionRun.id)
