"""All SQL of regulatory schemas, their field-level changes and product mappings."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, delete, func, insert, literal, select

from catalog.db.models import (
    DataElement,
    DataProduct,
    RegulatorySchema,
    SchemaChange,
    SchemaProductMapping,
)
from catalog.kit.repository import Repository

# First key of the PostgreSQL advisory locks (two-int keyspace) that serialise the writers of
# one regulatory type; the second key is the hash of the type.
TYPE_LOCK_NAMESPACE = 0x5EC


class SchemaRepository(Repository[RegulatorySchema]):
    model = RegulatorySchema

    def list_statement(self, regulatory_type: str | None, status: str | None) -> Select[Any]:
        statement = select(RegulatorySchema).order_by(
            RegulatorySchema.regulatory_type, RegulatorySchema.created_at, RegulatorySchema.id
        )
        if regulatory_type:
            statement = statement.where(RegulatorySchema.regulatory_type == regulatory_type)
        if status:
            statement = statement.where(RegulatorySchema.status == status)
        return statement

    async def find(self, regulatory_type: str, version: str) -> RegulatorySchema | None:
        return await self.get_by(regulatory_type=regulatory_type, version=version)

    async def versions_of(self, regulatory_type: str) -> list[tuple[str, str]]:
        """(id, version) of every schema of a type."""
        rows = await self.session.execute(
            select(RegulatorySchema.id, RegulatorySchema.version).where(
                RegulatorySchema.regulatory_type == regulatory_type
            )
        )
        return [(row.id, row.version) for row in rows]

    async def lock_type(self, regulatory_type: str) -> None:
        """Serialise the writers of one type, so each version's predecessor is the real one.

        PostgreSQL: a transaction-scoped advisory lock on the type. SQLite: nothing to do,
        write transactions already run one at a time (BEGIN IMMEDIATE).
        """
        if self.dialect == "postgresql":
            await self.session.execute(
                select(
                    func.pg_advisory_xact_lock(
                        literal(TYPE_LOCK_NAMESPACE), func.hashtext(regulatory_type)
                    )
                )
            )

    async def lock(self, schema_id: str) -> RegulatorySchema | None:
        """The schema, its row locked until the transaction ends (PostgreSQL; SQLite: no-op)."""
        return await self.session.scalar(
            select(RegulatorySchema).where(RegulatorySchema.id == schema_id).with_for_update()
        )


class ChangeRepository(Repository[SchemaChange]):
    model = SchemaChange

    async def of_schema(self, schema_id: str) -> Sequence[SchemaChange]:
        rows = await self.session.scalars(
            select(SchemaChange)
            .where(SchemaChange.schema_id == schema_id)
            .order_by(SchemaChange.field_path, SchemaChange.change_type, SchemaChange.id)
        )
        return rows.all()

    async def replace(self, schema_id: str, rows: list[dict[str, Any]]) -> None:
        """The changes of a schema become `rows` (its predecessor may have changed)."""
        await self.session.execute(delete(SchemaChange).where(SchemaChange.schema_id == schema_id))
        if rows:
            await self.session.execute(insert(SchemaChange), rows)


class MappingRepository(Repository[SchemaProductMapping]):
    model = SchemaProductMapping

    def list_statement(
        self, schema_id: str, product_id: str | None, field_path: str | None
    ) -> Select[Any]:
        statement = (
            select(SchemaProductMapping)
            .where(SchemaProductMapping.schema_id == schema_id)
            .order_by(SchemaProductMapping.field_path, SchemaProductMapping.id)
        )
        if product_id:
            statement = statement.where(SchemaProductMapping.product_id == product_id)
        if field_path:
            statement = statement.where(SchemaProductMapping.field_path == field_path)
        return statement

    async def find(
        self, schema_id: str, field_path: str, product_id: str, data_element_id: str | None
    ) -> SchemaProductMapping | None:
        # `IS NULL` for a mapping without an element: the unique constraint cannot see those
        # duplicates (NULLs are distinct), so this check, under the schema's row lock, does.
        statement = select(SchemaProductMapping).where(
            SchemaProductMapping.schema_id == schema_id,
            SchemaProductMapping.field_path == field_path,
            SchemaProductMapping.product_id == product_id,
            SchemaProductMapping.data_element_id.is_(None)
            if data_element_id is None
            else SchemaProductMapping.data_element_id == data_element_id,
        )
        return await self.session.scalar(statement.limit(1))

    async def product_exists(self, product_id: str) -> bool:
        found = await self.session.scalar(
            select(DataProduct.id).where(DataProduct.id == product_id)
        )
        return found is not None

    async def element_exists(self, element_id: str) -> bool:
        found = await self.session.scalar(
            select(DataElement.id).where(DataElement.id == element_id)
        )
        return found is not None
