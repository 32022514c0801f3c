"""Business rules of data products.

Status lifecycle: draft -> published -> deprecated (and back to published); other moves 409.
Versions are immutable snapshots named by a semantic version; listed by semver precedence;
`latest` is the highest-precedence version that is neither a pre-release nor deprecated
(falling back to the highest of any kind). Lineage edges say "upstream feeds this product";
an edge that would close a cycle is a 409, and reads are bounded in depth and size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import orjson
import semver
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.cache import Cache
from catalog.cache.invalidation import product_scope
from catalog.changes.events import Routing, emit, product_link, product_subject
from catalog.conditional.etags import check_if_match
from catalog.core.errors import Conflict, NotFound
from catalog.core.ids import new_id
from catalog.core.time import utcnow
from catalog.db.models import (
    DataElement,
    DataProduct,
    DataProductVersion,
    LineageEdge,
    ProductElement,
    ProductSchemaColumn,
)
from catalog.identity.principal import Actor, restricted_view, sees
from catalog.kit.bulk import ItemOutcome, merge_outcomes, parse_items
from catalog.kit.pagination import PageParams
from catalog.kit.rows import row_dict
from catalog.kit.schemas import metadata_to_attribute
from catalog.kit.service import DomainService, must_exist
from catalog.products import schemas
from catalog.products.repository import (
    LineageRepository,
    MemberRepository,
    ProductRepository,
    SchemaColumnRepository,
    VersionRepository,
)
from catalog.products.version_changes import Change, changes_between
from catalog.products.visibility import visible_product

STATUS_MOVES: dict[str, set[str]] = {
    "draft": {"published"},
    "published": {"deprecated"},
    "deprecated": {"published"},
}
LATEST = "latest"
Node = tuple[str, str]  # (type, id)


def precedence(version: DataProductVersion) -> semver.Version:
    return semver.Version.parse(version.version)


class ProductService(DomainService):
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        super().__init__(session, actor)
        self.products = ProductRepository(session)
        self.versions = VersionRepository(session)
        self.members = MemberRepository(session)
        self.lineage = LineageRepository(session)
        self.columns = SchemaColumnRepository(session)

    # --- products ------------------------------------------------------------------------

    async def create(self, body: schemas.ProductCreate) -> DataProduct:
        [outcome] = await self.create_many([body])
        if outcome.error is not None:
            raise outcome.error
        assert outcome.id is not None
        created = await self.products.get(outcome.id)  # the creator sees what they made
        assert created is not None
        return created

    async def bulk_create(self, raw_items: list[dict[str, Any]]) -> list[ItemOutcome]:
        parsed, positions, failures = parse_items(schemas.ProductCreate, raw_items)
        created = await self.create_many(parsed)
        return merge_outcomes(len(raw_items), positions, created, failures)

    async def create_many(self, items: list[schemas.ProductCreate]) -> list[ItemOutcome]:
        """Create products (and their usage rows) with one lookup and one INSERT each."""
        outcomes = [ItemOutcome(i) for i in range(len(items))]
        taken = await self.products.taken_names(item.name for item in items)
        now = utcnow()
        rows = []
        for item, outcome in zip(items, outcomes, strict=True):
            if item.name in taken:
                outcome.error = Conflict(f"a data product named {item.name!r} already exists")
                continue
            taken.add(item.name)
            outcome.id = new_id()
            values = item.model_dump(exclude={"metadata"})
            rows.append(
                values
                | {
                    "id": outcome.id,
                    "metadata": item.metadata,
                    "revision": 1,
                    "created_by": self.actor.subject,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        await self.products.insert_many(rows)
        await self.audit.record_each("create", "data_product", [row["id"] for row in rows])
        return outcomes

    async def get(self, product_id: str) -> DataProduct:
        return await visible_product(self.session, self.actor, product_id)

    async def get_json(self, product_id: str, cache: Cache) -> bytes:
        """The product as its JSON answer, from the cache when it holds it. The cached answer
        is the same for everyone; who may see it is checked on every read."""

        async def load() -> bytes:
            product = must_exist(
                await self.session.get(DataProduct, product_id), "data product", product_id
            )
            return schemas.ProductOut.model_validate(product).model_dump_json().encode()

        body = await cache.fetch("product", product_scope(product_id), product_id, load)
        if not restricted_view(self.actor)[0]:
            product = orjson.loads(body)
            if not sees(self.actor, product["visibility"], product["team"]):
                raise NotFound("data product", product_id)
        return body

    async def visible_names(self, ids: Iterable[str]) -> dict[str, str]:
        """The names of those of these products the caller may see (lists of other things,
        such as access requests, name their products only then)."""
        return {
            product_id: name
            for product_id, name, visibility, team in await self.products.headings(ids)
            if sees(self.actor, visibility, team)
        }

    async def list_products(
        self, page: PageParams, **filters: str | None
    ) -> tuple[Sequence[DataProduct], int]:
        see_all, team = restricted_view(self.actor)
        statement = self.products.list_statement(**filters)
        if not see_all:
            statement = self.products.only_visible(statement, team)
        return await self.products.paginate(statement, page.limit, page.offset)

    async def update(
        self, product_id: str, body: schemas.ProductUpdate, if_match: str | None = None
    ) -> DataProduct:
        product = await self.get(product_id)
        await check_if_match(self.session, if_match, product, schemas.ProductOut, "data product")
        changes = body.model_dump(exclude_unset=True, exclude_none=True)
        await self._name_free(self.products, "data product", changes.get("name"), product.name)
        status = changes.get("status", product.status)
        if status != product.status and status not in STATUS_MOVES[product.status]:
            raise Conflict(
                f"a {product.status} data product cannot become {status}; allowed: "
                f"{', '.join(sorted(STATUS_MOVES[product.status]))}"
            )
        metadata_to_attribute(changes)
        if changes:
            changes["revision"] = product.revision + 1
        was = product.status
        updated = await self._update("data_product", product, changes)
        if was != "deprecated" and updated.status == "deprecated":
            self._announce_deprecated(updated, "the product was deprecated")
        return updated

    async def delete(self, product_id: str, if_match: str | None = None) -> None:
        product = await self.get(product_id)
        await check_if_match(self.session, if_match, product, schemas.ProductOut, "data product")
        await self.products.release_tags(product.id)
        await self.products.delete_lineage_of("product", product.id)
        await self._delete("data_product", product)

    # --- versions ------------------------------------------------------------------------

    async def create_version(
        self, product_id: str, body: schemas.VersionCreate, breaking: bool | None = None
    ) -> DataProductVersion:
        """A new version holding the product as it stands, announced to its subscribers
        (`product.version_published`). `breaking`: the caller knows (a schema change's diff);
        by default a version is breaking when its major number rises over the previous
        version's, or when its changes from it are (a member removed, narrower visibility)."""
        product = await self.get(product_id)
        if await self.versions.find(product_id, body.version):
            raise Conflict(f"version {body.version} of {product.name!r} already exists")
        parsed = semver.Version.parse(body.version)
        previous = await self._previous(product_id, parsed)
        version = await self.versions.add(
            DataProductVersion(
                product_id=product_id,
                version=body.version,
                major=parsed.major,
                minor=parsed.minor,
                patch=parsed.patch,
                prerelease=parsed.prerelease,
                build=parsed.build,
                description=body.description,
                snapshot=await self._snapshot(product),
                created_by=self.actor.subject,
                created_at=utcnow(),
            )
        )
        self.audit.record(
            "create",
            "data_product_version",
            version.id,
            after={"product_id": product_id, "version": body.version},
        )
        changes = changes_between(previous.snapshot if previous else None, version.snapshot)
        if breaking is None:
            major_rise = previous is not None and parsed.major > previous.major
            breaking = major_rise or any(change.breaking for change in changes)
        self._announce_version(product, version, breaking, changes)
        return version

    async def _previous(self, product_id: str, new: semver.Version) -> DataProductVersion | None:
        """The version a new one follows: the highest by semver precedence below it."""
        below = [
            (number, id_)
            for id_, version in await self.versions.numbers(product_id)
            if (number := semver.Version.parse(version)) < new
        ]
        return await self.versions.get(max(below)[1]) if below else None

    def _announce_version(
        self,
        product: DataProduct,
        version: DataProductVersion,
        breaking: bool,
        changes: list[Change],
    ) -> None:
        emit(
            self.session,
            "product.version_published",
            actor=self.actor.subject,
            subject=product_subject(product, version=version.version),
            payload={
                "version": version.version,
                "description": version.description,
                "breaking": breaking,
                "changes": [{"text": c.text, "breaking": c.breaking} for c in changes],
            },
            link=product_link(product.id),
            routing=Routing.of(product),
        )

    def _announce_deprecated(
        self, product: DataProduct, reason: str, version: str | None = None
    ) -> None:
        """`product.deprecated`: a version of it (`version`), or the product itself."""
        emit(
            self.session,
            "product.deprecated",
            actor=self.actor.subject,
            subject=product_subject(product, version=version),
            payload={"version": version, "reason": reason},
            link=product_link(product.id),
            routing=Routing.of(product),
        )

    async def _snapshot(self, product: DataProduct) -> dict[str, Any]:
        """The product as it stands: its fields, member elements, tag names and (once it has
        one) its dataset schema."""
        snapshot: dict[str, Any] = {
            "product": row_dict(product),
            "elements": await self.members.element_names(product.id),
            "tags": await self.products.tag_names(product.id),
        }
        columns = await self.columns.current(product.id)
        if columns:
            snapshot["schema"] = {"columns": [column_dict(column) for column in columns]}
        return snapshot

    async def list_versions(
        self, product_id: str, order: Literal["asc", "desc"]
    ) -> list[DataProductVersion]:
        await self.get(product_id)
        versions = sorted(await self.versions.for_product(product_id), key=precedence)
        return versions[::-1] if order == "desc" else versions

    async def get_version(self, product_id: str, version: str) -> DataProductVersion:
        if version == LATEST:
            return await self._latest(product_id)
        await self.get(product_id)
        return must_exist(
            await self.versions.find(product_id, version),
            f"version of data product {product_id}",
            version,
        )

    async def _latest(self, product_id: str) -> DataProductVersion:
        versions = await self.list_versions(product_id, "desc")
        if not versions:
            raise NotFound(f"version of data product {product_id}", LATEST)
        stable = [v for v in versions if v.prerelease is None and v.deprecated_at is None]
        return stable[0] if stable else versions[0]

    async def deprecate_version(
        self, product_id: str, version: str, reason: str
    ) -> DataProductVersion:
        found = await self.get_version(product_id, version)
        if found.deprecated_at is not None:
            raise Conflict(f"version {found.version} is already deprecated")
        found.deprecated_at = utcnow()
        found.deprecation_reason = reason
        await self.session.flush()
        self.audit.record(
            "deprecate",
            "data_product_version",
            found.id,
            after={"version": found.version, "reason": reason},
        )
        self._announce_deprecated(await self.get(product_id), reason, found.version)
        return found

    # --- member data elements ------------------------------------------------------------

    async def list_members(self, product_id: str, page: PageParams) -> tuple[list[Any], int]:
        await self.get(product_id)
        return await self.members.page(product_id, page.limit, page.offset)

    async def add_member(self, product_id: str, body: schemas.MemberIn) -> Any:
        product = await self.get(product_id)
        element = must_exist(
            await self.session.get(DataElement, body.data_element_id),
            "data element",
            body.data_element_id,
        )
        if await self.members.get_by(product_id=product_id, data_element_id=element.id):
            raise Conflict(f"{element.name!r} is already an element of {product.name!r}")
        await self.members.add(
            ProductElement(
                product_id=product_id,
                data_element_id=element.id,
                role=body.role,
                added_by=self.actor.subject,
                created_at=utcnow(),
            )
        )
        self.audit.record(
            "add_element", "data_product", product_id, after={"data_element_id": element.id}
        )
        statement = self.members.list_statement(product_id).where(
            ProductElement.data_element_id == element.id
        )
        return (await self.session.execute(statement)).one()

    async def remove_member(self, product_id: str, element_id: str) -> None:
        await self.get(product_id)
        member = must_exist(
            await self.members.get_by(product_id=product_id, data_element_id=element_id),
            f"element of data product {product_id}",
            element_id,
        )
        await self.session.delete(member)
        await self.session.flush()
        self.audit.record(
            "remove_element", "data_product", product_id, before={"data_element_id": element_id}
        )

    # --- lineage -------------------------------------------------------------------------

    async def add_lineage(self, product_id: str, body: schemas.LineageIn) -> LineageEdge:
        await self.get(product_id)
        upstream: Node = (body.upstream_type, body.upstream_id)
        downstream: Node = ("product", product_id)
        if upstream == downstream:
            raise Conflict("a data product cannot feed itself")
        model = DataProduct if body.upstream_type == "product" else DataElement
        if await self.session.get(model, body.upstream_id) is None:
            raise NotFound(f"upstream {body.upstream_type}", body.upstream_id)
        if await self.lineage.find(upstream, downstream):
            raise Conflict("that lineage edge already exists")
        if upstream in await self._reachable(downstream, "downstream"):
            raise Conflict(
                f"{body.upstream_type} {body.upstream_id} is already downstream of this product; "
                "the edge would make a cycle"
            )
        edge = await self.lineage.add(
            LineageEdge(
                upstream_type=upstream[0],
                upstream_id=upstream[1],
                downstream_type=downstream[0],
                downstream_id=downstream[1],
                relationship=body.relationship,
                description=body.description,
                created_by=self.actor.subject,
                created_at=utcnow(),
            )
        )
        self.audit.record("create", "lineage_edge", edge.id, after=row_dict(edge))
        return edge

    async def remove_lineage(self, product_id: str, upstream_type: str, upstream_id: str) -> None:
        await self.get(product_id)
        edge = must_exist(
            await self.lineage.find((upstream_type, upstream_id), ("product", product_id)),
            f"lineage edge into {product_id} from {upstream_type}",
            upstream_id,
        )
        before = row_dict(edge)
        await self.lineage.delete(edge)
        self.audit.record("delete", "lineage_edge", edge.id, before=before)

    async def _reachable(self, start: Node, direction: str) -> set[Node]:
        """Every node reachable from `start` in `direction`, however far (cycle-safe)."""
        seen: set[Node] = set()
        frontier = {start}
        while frontier:
            edges = await self.lineage.edges_touching(frontier, direction)
            frontier = {_far_end(edge, direction) for edge in edges} - seen - {start}
            seen |= frontier
        return seen


def column_dict(column: ProductSchemaColumn) -> dict[str, Any]:
    """A schema column as snapshots and answers hold it (keyed by `name` for the diff)."""
    return {
        "name": column.name,
        "physical_type": column.physical_type,
        "nullable": column.nullable,
        "primary_key": column.primary_key,
        "default": column.default_value,
        "description": column.description,
        "tags": list(column.tags),
        "data_element_id": column.data_element_id,
    }


def _far_end(edge: LineageEdge, direction: str) -> Node:
    if direction == "upstream":
        return (edge.upstream_type, edge.upstream_id)
    return (edge.downstream_type, edge.downstream_id)
