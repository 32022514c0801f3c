"""All SQL of the registry."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, insert, select
from sqlalchemy.orm import selectinload

from catalog.cache.invalidation import mark_stale, product_scope
from catalog.changes.recorder import touch
from catalog.changes.refs import NodeRef
from catalog.db import coverage
from catalog.db.models import (
    DataElement,
    DataElementConcept,
    PermissibleValue,
    ProductElement,
    Representation,
    SchemaProductMapping,
    ValueDomain,
)
from catalog.db.models.products import DataProduct, ProductSchemaColumn
from catalog.kit.repository import Repository, contains, table_of

REFERRERS_SHOWN = 20


class ConceptRepository(Repository[DataElementConcept]):
    model = DataElementConcept

    def list_statement(self, name: str | None) -> Select[Any]:
        statement = select(DataElementConcept).order_by(DataElementConcept.name)
        if name:
            statement = statement.where(contains(DataElementConcept.name, name))
        return statement

    async def by_names(self, names: Iterable[str]) -> dict[str, DataElementConcept]:
        rows = await self.session.scalars(
            select(DataElementConcept).where(DataElementConcept.name.in_(set(names)))
        )
        return {row.name: row for row in rows}

    async def element_referrers(self, concept_id: str) -> list[tuple[str, str]]:
        return await _referrers(
            self, DataElement.data_element_concept_id == concept_id, DataElement
        )


class ValueDomainRepository(Repository[ValueDomain]):
    model = ValueDomain

    async def get_full(self, domain_id: str) -> ValueDomain | None:
        return await self.session.scalar(
            select(ValueDomain)
            .where(ValueDomain.id == domain_id)
            .options(selectinload(ValueDomain.permissible_values))
        )

    def list_statement(self, name: str | None, type_: str | None) -> Select[Any]:
        statement = select(ValueDomain).order_by(ValueDomain.name)
        if name:
            statement = statement.where(contains(ValueDomain.name, name))
        if type_:
            statement = statement.where(ValueDomain.type == type_)
        return statement

    async def permissible_values(self, domain_id: str) -> list[str]:
        rows = await self.session.scalars(
            select(PermissibleValue.value).where(PermissibleValue.value_domain_id == domain_id)
        )
        return list(rows)

    async def representation_referrers(self, domain_id: str) -> list[tuple[str, str]]:
        return await _referrers(self, Representation.value_domain_id == domain_id, Representation)


class RepresentationRepository(Repository[Representation]):
    model = Representation

    def list_statement(self, name: str | None, data_type: str | None) -> Select[Any]:
        statement = select(Representation).order_by(Representation.name)
        if name:
            statement = statement.where(contains(Representation.name, name))
        if data_type:
            statement = statement.where(Representation.data_type == data_type)
        return statement

    async def by_names(self, names: Iterable[str]) -> dict[str, Representation]:
        rows = await self.session.scalars(
            select(Representation).where(Representation.name.in_(set(names)))
        )
        return {row.name: row for row in rows}

    async def element_referrers(self, representation_id: str) -> list[tuple[str, str]]:
        return await _referrers(
            self, DataElement.representation_id == representation_id, DataElement
        )


class DataElementRepository(Repository[DataElement]):
    model = DataElement

    async def schema_products(self, element_id: str) -> list[str]:
        """The products whose schema has a column bound to this element."""
        statement = select(ProductSchemaColumn.product_id).where(
            ProductSchemaColumn.data_element_id == element_id
        )
        return list(set(await self.session.scalars(statement)))

    async def refresh_coverage(
        self,
        *,
        elements: Iterable[str] = (),
        representations: Iterable[str] = (),
        products: Iterable[str] = (),
    ) -> None:
        """Products whose governed column coverage these changed get it recomputed (and are
        re-cached and re-indexed)."""
        ids = await coverage.refresh_for_elements(self.session, elements)
        ids += await coverage.refresh_for_representations(self.session, representations)
        ids += await coverage.refresh_products(self.session, products)
        mark_stale(self.session, *(product_scope(i) for i in ids))
        touch(self.session, *(NodeRef("DataProduct", i) for i in ids))

    def list_statement(
        self,
        *,
        name: str | None,
        status: str | None,
        concept_id: str | None,
        representation_id: str | None,
        steward: str | None,
        identifier: str | None = None,
    ) -> Select[Any]:
        statement = select(DataElement).order_by(DataElement.created_at, DataElement.id)
        if identifier:
            statement = statement.where(DataElement.identifier == identifier)
        if name:
            statement = statement.where(contains(DataElement.name, name))
        if status:
            statement = statement.where(DataElement.registration_status == status)
        if concept_id:
            statement = statement.where(DataElement.data_element_concept_id == concept_id)
        if representation_id:
            statement = statement.where(DataElement.representation_id == representation_id)
        if steward:
            statement = statement.where(DataElement.steward == steward)
        return statement

    async def by_ids(self, ids: Iterable[str]) -> dict[str, DataElement]:
        """The elements with these ids, by id (ids with no element are left out)."""
        rows = await self.session.scalars(select(DataElement).where(DataElement.id.in_(ids)))
        return {row.id: row for row in rows}

    async def by_names(self, names: Iterable[str]) -> dict[str, tuple[DataElement, str | None]]:
        """The elements with these names, by name, each with its representation's data type."""
        statement = (
            select(DataElement, Representation.data_type)
            .outerjoin(Representation, Representation.id == DataElement.representation_id)
            .where(DataElement.name.in_(list(names)))
        )
        rows = await self.session.execute(statement)
        return {element.name: (element, data_type) for element, data_type in rows}

    async def get_by_id_or_identifier(self, key: str) -> DataElement | None:
        found = await self.get(key) if len(key) <= 36 else None
        return found or await self.get_by(identifier=key)

    async def taken(
        self, names: Iterable[str], identifiers: Iterable[str]
    ) -> tuple[set[str], set[str]]:
        """Which of these names and identifiers already exist."""
        names, identifiers = set(names), set(identifiers)
        taken_names = (
            set(
                await self.session.scalars(
                    select(DataElement.name).where(DataElement.name.in_(names))
                )
            )
            if names
            else set()
        )
        taken_ids = (
            set(
                await self.session.scalars(
                    select(DataElement.identifier).where(DataElement.identifier.in_(identifiers))
                )
            )
            if identifiers
            else set()
        )
        return taken_names, taken_ids

    async def insert_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """One multi-row INSERT (keys are column names: `metadata`, not `metadata_`)."""
        if rows:
            await self.session.execute(insert(table_of(DataElement)), list(rows))
            touch(self.session, *(NodeRef("DataElement", row["id"]) for row in rows))

    async def product_referrers(self, element_id: str) -> list[tuple[str, str]]:
        rows = await self.session.execute(
            select(DataProduct.id, DataProduct.name)
            .join(ProductElement, ProductElement.product_id == DataProduct.id)
            .where(ProductElement.data_element_id == element_id)
            .order_by(DataProduct.name)
            .limit(REFERRERS_SHOWN)
        )
        return [(row.id, row.name) for row in rows]

    async def mapping_referrers(self, element_id: str) -> list[tuple[str, str]]:
        rows = await self.session.execute(
            select(SchemaProductMapping.id, SchemaProductMapping.field_path)
            .where(SchemaProductMapping.data_element_id == element_id)
            .limit(REFERRERS_SHOWN)
        )
        return [(row.id, row.field_path) for row in rows]


async def _referrers(repo: Repository[Any], condition: Any, model: Any) -> list[tuple[str, str]]:
    rows = await repo.session.execute(
        select(model.id, model.name).where(condition).order_by(model.name).limit(REFERRERS_SHOWN)
    )
    return [(row.id, row.name) for row in rows]
