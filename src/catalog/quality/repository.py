"""All SQL of data element quality."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, case, or_, select, update

from catalog.cache.invalidation import element_scope, mark_stale
from catalog.changes.recorder import touch
from catalog.changes.refs import NodeRef
from catalog.db.models import (
    DataElement,
    DataProduct,
    ProductElement,
    ProductSchemaColumn,
    QualityMeasurement,
)
from catalog.kit.repository import Repository


def _element_by_key(key: str) -> Select[Any]:
    return (
        select(DataElement)
        .where(or_(DataElement.id == key, DataElement.identifier == key))
        .order_by(case((DataElement.id == key, 0), else_=1))
        .limit(1)
    )


class MeasurementRepository(Repository[QualityMeasurement]):
    model = QualityMeasurement

    def history_statement(self, element_id: str) -> Select[Any]:
        """Measurements of an element, newest first (ids are time-ordered: ties break right)."""
        return (
            select(QualityMeasurement)
            .where(QualityMeasurement.data_element_id == element_id)
            .order_by(QualityMeasurement.measured_at.desc(), QualityMeasurement.id.desc())
        )

    async def latest(self, element_id: str) -> QualityMeasurement | None:
        found: QualityMeasurement | None = await self.session.scalar(
            self.history_statement(element_id).limit(1)
        )
        return found

    async def lock_element(self, key: str) -> DataElement | None:
        """The element (see `find_element`), its row locked until the transaction ends.

        Measurements of one element are thereby taken one at a time, so the newest one is
        also the last to set the element's score. SQLite: writers are serialised anyway.
        """
        found: DataElement | None = await self.session.scalar(
            _element_by_key(key).with_for_update()
        )
        return found

    async def find_element(self, key: str) -> DataElement | None:
        """The element by id, else by registry identifier (as GET /api/data-elements/{id})."""
        found: DataElement | None = await self.session.scalar(_element_by_key(key))
        return found

    async def set_element_score(self, element_id: str, score: float, level: str) -> None:
        # updated_at stays: a new measurement is not an edit of the element's definition.
        await self.session.execute(
            update(DataElement)
            .where(DataElement.id == element_id)
            .values(quality_score=score, quality_level=level, updated_at=DataElement.updated_at)
        )
        mark_stale(self.session, element_scope(element_id))  # rows the events cannot see
        touch(self.session, NodeRef("DataElement", element_id))  # its products' quality moved

    async def products_using(self, element_id: str) -> Sequence[DataProduct]:
        """The products holding the element: as a member, or bound to a column of their
        dataset schema."""
        members = select(ProductElement.product_id).where(
            ProductElement.data_element_id == element_id
        )
        columns = select(ProductSchemaColumn.product_id).where(
            ProductSchemaColumn.data_element_id == element_id
        )
        statement = (
            select(DataProduct)
            .where(or_(DataProduct.id.in_(members), DataProduct.id.in_(columns)))
            .order_by(DataProduct.id)
        )
        return (await self.session.scalars(statement)).all()
