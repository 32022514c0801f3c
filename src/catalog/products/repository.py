"""All SQL of data products, their versions, members, schema columns and lineage."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Select,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    tuple_,
    update,
)

from catalog.cache.invalidation import mark_stale, product_scope
from catalog.changes.recorder import touch, touch_columns
from catalog.changes.refs import NodeRef
from catalog.core.ids import new_id
from catalog.core.time import utcnow
from catalog.db import coverage
from catalog.db.models import (
    ColumnLineageEdge,
    DataElement,
    DataProduct,
    DataProductVersion,
    LineageEdge,
    ProductElement,
    ProductSchemaColumn,
    ProductTag,
    ProductUsageStats,
    Representation,
    Tag,
)
from catalog.kit.repository import Repository, contains, table_of

# Values per `IN (...)` list: well under SQLite's 32,766 bound parameters and asyncpg's 32,767.
IN_CHUNK = 5000


class ProductRepository(Repository[DataProduct]):
    model = DataProduct

    def list_statement(
        self,
        *,
        name: str | None = None,
        team: str | None = None,
        category: str | None = None,
        status: str | None = None,
        owner: str | None = None,
        visibility: str | None = None,
        data_element_id: str | None = None,
        source_ref: str | None = None,
    ) -> Select[Any]:
        statement = select(DataProduct).order_by(DataProduct.created_at, DataProduct.id)
        if name:
            statement = statement.where(contains(DataProduct.name, name))
        if data_element_id:  # the products having this element as a member
            statement = statement.where(
                DataProduct.id.in_(
                    select(ProductElement.product_id).where(
                        ProductElement.data_element_id == data_element_id
                    )
                )
            )
        for column, value in (
            (DataProduct.team, team),
            (DataProduct.category, category),
            (DataProduct.status, status),
            (DataProduct.owner, owner),
            (DataProduct.visibility, visibility),
            (DataProduct.source_ref, source_ref),
        ):
            if value:
                statement = statement.where(column == value)
        return statement

    @staticmethod
    def only_visible(statement: Select[Any], team: str | None) -> Select[Any]:
        """Hide restricted products of other teams."""
        return statement.where(
            or_(DataProduct.visibility != "restricted", DataProduct.team == team)
        )

    async def headings(self, ids: Iterable[str]) -> list[tuple[str, str, str, str | None]]:
        """(id, name, visibility, team) of these products: enough to name them where seen."""
        wanted = set(ids)
        if not wanted:
            return []
        rows = await self.session.execute(
            select(
                DataProduct.id, DataProduct.name, DataProduct.visibility, DataProduct.team
            ).where(DataProduct.id.in_(wanted))
        )
        return [(row[0], row[1], row[2], row[3]) for row in rows]

    async def count_all(self) -> int:
        """How many products exist (the demo seed's `--if-empty` loads only into none)."""
        return int(await self.session.scalar(select(func.count()).select_from(DataProduct)) or 0)

    async def taken_names(self, names: Iterable[str]) -> set[str]:
        wanted = set(names)
        if not wanted:
            return set()
        return set(
            await self.session.scalars(select(DataProduct.name).where(DataProduct.name.in_(wanted)))
        )

    async def by_source_refs(self, refs: Iterable[str]) -> Sequence[DataProduct]:
        wanted = list(set(refs))
        found: list[DataProduct] = []
        for start in range(0, len(wanted), IN_CHUNK):
            chunk = wanted[start : start + IN_CHUNK]
            statement = select(DataProduct).where(DataProduct.source_ref.in_(chunk))
            found += (await self.session.scalars(statement)).all()
        return found

    async def set_source_refs(self, ids_by_ref: dict[str, str]) -> None:
        await self.session.execute(
            update(table_of(DataProduct)).where(table_of(DataProduct).c.id == bindparam("pid")),
            [{"pid": pid, "source_ref": ref} for ref, pid in ids_by_ref.items()],
        )

    async def insert_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """Products and their (zeroed) usage rows, one multi-row INSERT each."""
        if not rows:
            return
        await self.session.execute(insert(table_of(DataProduct)), list(rows))
        touch(self.session, *(NodeRef("DataProduct", row["id"]) for row in rows))
        await self.session.execute(
            insert(table_of(ProductUsageStats)),
            [{"product_id": row["id"], "updated_at": row["updated_at"]} for row in rows],
        )

    async def tag_names(self, product_id: str) -> list[str]:
        rows = await self.session.scalars(
            select(Tag.name)
            .join(ProductTag, ProductTag.tag_id == Tag.id)
            .where(ProductTag.product_id == product_id)
            .order_by(Tag.name)
        )
        return list(rows)

    async def release_tags(self, product_id: str) -> None:
        """Give back the product's tag uses before it goes (usage_count stays exact)."""
        tag_ids = select(ProductTag.tag_id).where(ProductTag.product_id == product_id)
        await self.session.execute(
            update(Tag).where(Tag.id.in_(tag_ids)).values(usage_count=Tag.usage_count - 1)
        )

    async def delete_lineage_of(self, node_type: str, node_id: str) -> None:
        if node_type == "product":  # (the foreign keys cascade too; SQLite may have them off)
            await self.session.execute(
                delete(ColumnLineageEdge).where(
                    or_(
                        ColumnLineageEdge.upstream_product_id == node_id,
                        ColumnLineageEdge.downstream_product_id == node_id,
                    )
                )
            )
        await self.session.execute(
            delete(LineageEdge).where(
                or_(
                    (LineageEdge.upstream_type == node_type) & (LineageEdge.upstream_id == node_id),
                    (LineageEdge.downstream_type == node_type)
                    & (LineageEdge.downstream_id == node_id),
                )
            )
        )


class VersionRepository(Repository[DataProductVersion]):
    model = DataProductVersion

    async def for_product(self, product_id: str) -> Sequence[DataProductVersion]:
        rows = await self.session.scalars(
            select(DataProductVersion).where(DataProductVersion.product_id == product_id)
        )
        return rows.all()

    async def find(self, product_id: str, version: str) -> DataProductVersion | None:
        return await self.get_by(product_id=product_id, version=version)

    async def numbers(self, product_id: str) -> list[tuple[str, str]]:
        """(id, version) of each version of the product: what ordering them needs, without
        their snapshots."""
        rows = await self.session.execute(
            select(DataProductVersion.id, DataProductVersion.version).where(
                DataProductVersion.product_id == product_id
            )
        )
        return [(row.id, row.version) for row in rows]


class MemberRepository(Repository[ProductElement]):
    model = ProductElement

    def list_statement(self, product_id: str) -> Any:
        return (
            select(
                ProductElement.data_element_id,
                DataElement.identifier,
                DataElement.name,
                DataElement.registration_status,
                ProductElement.role,
                ProductElement.added_by,
                ProductElement.created_at,
            )
            .join(DataElement, DataElement.id == ProductElement.data_element_id)
            .where(ProductElement.product_id == product_id)
            .order_by(DataElement.name)
        )

    async def page(self, product_id: str, limit: int, offset: int) -> tuple[list[Any], int]:
        statement = self.list_statement(product_id)
        total = await self.count(statement)
        rows = (await self.session.execute(statement.limit(limit).offset(offset))).all()
        return list(rows), total

    async def element_names(self, product_id: str) -> list[dict[str, str]]:
        rows = await self.session.execute(
            select(DataElement.id, DataElement.identifier, DataElement.name)
            .join(ProductElement, ProductElement.data_element_id == DataElement.id)
            .where(ProductElement.product_id == product_id)
            .order_by(DataElement.name)
        )
        return [{"id": r.id, "identifier": r.identifier, "name": r.name} for r in rows]


class SchemaColumnRepository(Repository[ProductSchemaColumn]):
    model = ProductSchemaColumn

    async def current(self, product_id: str) -> list[ProductSchemaColumn]:
        statement = (
            select(ProductSchemaColumn)
            .where(ProductSchemaColumn.product_id == product_id)
            .order_by(ProductSchemaColumn.position)
        )
        return list(await self.session.scalars(statement))

    async def current_of(self, product_ids: Iterable[str]) -> dict[str, list[ProductSchemaColumn]]:
        """The current schema columns of each of these products that has some, in order."""
        found: dict[str, list[ProductSchemaColumn]] = {}
        wanted = list(set(product_ids))
        for start in range(0, len(wanted), IN_CHUNK):
            statement = (
                select(ProductSchemaColumn)
                .where(ProductSchemaColumn.product_id.in_(wanted[start : start + IN_CHUNK]))
                .order_by(ProductSchemaColumn.product_id, ProductSchemaColumn.position)
            )
            for column in await self.session.scalars(statement):
                found.setdefault(column.product_id, []).append(column)
        return found

    async def replace(self, product_id: str, columns: list[ProductSchemaColumn]) -> None:
        """The product's schema becomes `columns`. A column whose name the current schema has
        keeps its row, and so its id (its graph node), taking the new values where they
        differ (its position may move); the current columns not named go, the new names are
        added. Names stay unique per product throughout (a kept row keeps its name, a deleted
        name is not reinserted), so one flush does it."""
        current = {column.name: column for column in await self.current(product_id)}
        wanted = {column.name for column in columns}
        for name, column in current.items():
            if name not in wanted:
                await self.session.delete(column)
        for column in columns:
            kept = current.get(column.name)
            if kept is None:
                self.session.add(column)
                continue
            given = inspect(column).dict  # the values set on the new (transient) row
            for attr in inspect(ProductSchemaColumn).column_attrs:
                key = attr.key
                if key in ("id", "product_id", "name") or key not in given:
                    continue
                if getattr(kept, key) != given[key]:  # unchanged values leave the row clean
                    setattr(kept, key, given[key])
        await self.session.flush()

    async def refresh_coverage(self, product_id: str) -> None:
        await coverage.refresh_products(self.session, [product_id])
        mark_stale(self.session, product_scope(product_id))
        touch(self.session, NodeRef("DataProduct", product_id))

    async def governed(self, element_ids: Iterable[str | None]) -> set[str]:
        """Those of these elements that have a definition and, through their representation,
        a value domain (what makes a column bound to one "governed")."""
        statement = (
            select(DataElement.id)
            .join(Representation, Representation.id == DataElement.representation_id)
            .where(DataElement.id.in_([i for i in element_ids if i]))
            .where(DataElement.definition != "", Representation.value_domain_id.is_not(None))
        )
        return set(await self.session.scalars(statement))


class LineageRepository(Repository[LineageEdge]):
    model = LineageEdge

    async def edges_touching(
        self, nodes: Iterable[tuple[str, str]], direction: str
    ) -> Sequence[LineageEdge]:
        """Edges whose downstream (direction=upstream) or upstream end is one of `nodes`."""
        keys = list(nodes)
        if not keys:
            return []
        if direction == "upstream":
            condition = tuple_(LineageEdge.downstream_type, LineageEdge.downstream_id).in_(keys)
        else:
            condition = tuple_(LineageEdge.upstream_type, LineageEdge.upstream_id).in_(keys)
        return (await self.session.scalars(select(LineageEdge).where(condition))).all()

    async def among(self, product_ids: Iterable[str]) -> set[tuple[str, str]]:
        """The (upstream, downstream) pairs of the product edges between these products."""
        wanted = list(set(product_ids))
        found: set[tuple[str, str]] = set()
        for start in range(0, len(wanted), IN_CHUNK):
            rows = await self.session.execute(
                select(LineageEdge.upstream_id, LineageEdge.downstream_id).where(
                    LineageEdge.upstream_type == "product",
                    LineageEdge.downstream_type == "product",
                    LineageEdge.downstream_id.in_(wanted[start : start + IN_CHUNK]),
                )
            )
            found |= {(row[0], row[1]) for row in rows}
        members = set(wanted)
        return {(up, down) for up, down in found if up in members}

    async def existing(self, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Those of these (upstream, downstream) product pairs that have an edge."""
        keys = list(pairs)
        if not keys:
            return set()
        ends = tuple_(LineageEdge.upstream_id, LineageEdge.downstream_id)
        rows = await self.session.execute(
            select(LineageEdge.upstream_id, LineageEdge.downstream_id).where(
                LineageEdge.upstream_type == "product",
                LineageEdge.downstream_type == "product",
                ends.in_(keys),
            )
        )
        return {(row[0], row[1]) for row in rows}

    async def find(
        self, upstream: tuple[str, str], downstream: tuple[str, str]
    ) -> LineageEdge | None:
        return await self.get_by(
            upstream_type=upstream[0],
            upstream_id=upstream[1],
            downstream_type=downstream[0],
            downstream_id=downstream[1],
        )


class ColumnLineageRepository(Repository[ColumnLineageEdge]):
    model = ColumnLineageEdge

    async def add_missing(self, rows: list[dict[str, Any]]) -> int:
        """Insert the edges of `rows` not stored yet (by their four ends); how many."""
        ends = {_ends(row): row for row in rows}
        downstream = {row["downstream_product_id"] for row in rows}
        existing = await self.session.execute(
            select(
                ColumnLineageEdge.upstream_product_id,
                ColumnLineageEdge.upstream_column,
                ColumnLineageEdge.downstream_product_id,
                ColumnLineageEdge.downstream_column,
            ).where(ColumnLineageEdge.downstream_product_id.in_(downstream))
        )
        for found in existing:
            ends.pop(tuple(found), None)
        if ends:
            now = utcnow()
            await self.session.execute(
                insert(table_of(ColumnLineageEdge)),
                [row | {"id": new_id(), "created_at": now} for row in ends.values()],
            )
            touch(self.session, *(NodeRef("DataProduct", end[2]) for end in ends))
            touch_columns(self.session, *((end[2], end[3]) for end in ends))  # SchemaColumn
        return len(ends)

    async def ends_into(self, product_ids: Iterable[str]) -> set[tuple[str, str, str, str]]:
        """The four ends of every column edge into these products."""
        wanted = list(set(product_ids))
        found: set[tuple[str, str, str, str]] = set()
        for start in range(0, len(wanted), IN_CHUNK):
            rows = await self.session.execute(
                select(
                    ColumnLineageEdge.upstream_product_id,
                    ColumnLineageEdge.upstream_column,
                    ColumnLineageEdge.downstream_product_id,
                    ColumnLineageEdge.downstream_column,
                ).where(
                    ColumnLineageEdge.downstream_product_id.in_(wanted[start : start + IN_CHUNK])
                )
            )
            found |= {(r[0], r[1], r[2], r[3]) for r in rows}
        return found

    async def walk(
        self, product_id: str, column: str, direction: str, depth: int
    ) -> list[tuple[ColumnLineageEdge, int]]:
        """Every edge within `depth` steps of a column in `direction`, each with the fewest
        steps that reach it: one recursive query, whatever the depth (a cycle only repeats
        edges up to the bound)."""
        edges = table_of(ColumnLineageEdge)

        def ends(table: Any) -> tuple[Any, Any, Any, Any]:
            up = (table.c.upstream_product_id, table.c.upstream_column)
            down = (table.c.downstream_product_id, table.c.downstream_column)
            return (*down, *up) if direction == "upstream" else (*up, *down)

        near_p, near_c, far_p, far_c = ends(edges)
        walk = (
            select(edges.c.id, far_p.label("p"), far_c.label("c"), literal(1).label("depth"))
            .where(near_p == product_id, near_c == column)
            .cte("walk", recursive=True)
        )
        step = edges.alias("step")
        step_near_p, step_near_c, step_far_p, step_far_c = ends(step)
        walk = walk.union(
            select(step.c.id, step_far_p, step_far_c, walk.c.depth + 1)
            .join(walk, (step_near_p == walk.c.p) & (step_near_c == walk.c.c))
            .where(walk.c.depth < depth)
        )
        reached = (
            select(walk.c.id, func.min(walk.c.depth).label("depth")).group_by(walk.c.id).subquery()
        )
        rows = await self.session.execute(
            select(ColumnLineageEdge, reached.c.depth).join(
                reached, ColumnLineageEdge.id == reached.c.id
            )
        )
        return [(row[0], int(row[1])) for row in rows]

    async def step(
        self, columns: Iterable[tuple[str, str]], direction: str
    ) -> Sequence[ColumnLineageEdge]:
        """The edges one step from these (product id, column) ends: into them (upstream) or
        out of them (downstream)."""
        keys = list(columns)
        if not keys:
            return []
        if direction == "upstream":
            ends = tuple_(
                ColumnLineageEdge.downstream_product_id, ColumnLineageEdge.downstream_column
            )
        else:
            ends = tuple_(ColumnLineageEdge.upstream_product_id, ColumnLineageEdge.upstream_column)
        found: list[ColumnLineageEdge] = []
        for start in range(0, len(keys), IN_CHUNK):
            statement = select(ColumnLineageEdge).where(ends.in_(keys[start : start + IN_CHUNK]))
            found += (await self.session.scalars(statement)).all()
        return found


def _ends(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        row["upstream_product_id"],
        row["upstream_column"],
        row["downstream_product_id"],
        row["downstream_column"],
    )
