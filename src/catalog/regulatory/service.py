"""Business rules of regulatory schemas.

A schema is one version of a regulatory type's specification, unique per (type, version).
Status moves draft -> approved -> deprecated only; anything else is a 409. Approval records
who approved and when.

Field-level changes: a schema's changes are the diff (see `diff.py`) from its predecessor,
the highest version of the same type below it (see `versions.py`). They are stored when the
schema is created; a version created between two existing ones also becomes the predecessor
of the next one up, whose changes are then recomputed, so every schema's stored changes are
always against its current predecessor. Writers of one type are serialised (an advisory lock
on PostgreSQL; SQLite runs one writer at a time anyway) so concurrent creations cannot both
miss each other.

Product mappings say which product (and optionally which of its data elements) satisfies a
field of the schema. Mapping paths are free text: a spec need not be structured the way the
diff walks it, so a mapping is not refused for naming a path the diff would not produce.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy.exc
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.changes.events import Routing, emit
from catalog.core.errors import Conflict, NotFound
from catalog.core.ids import new_id
from catalog.core.time import utcnow
from catalog.db.models import RegulatorySchema, SchemaChange, SchemaProductMapping
from catalog.identity.principal import Actor
from catalog.kit.pagination import PageParams
from catalog.kit.rows import row_dict
from catalog.kit.service import DomainService, must_exist
from catalog.kit.spec_diff import FieldChange, diff_specs
from catalog.regulatory import schemas
from catalog.regulatory.repository import ChangeRepository, MappingRepository, SchemaRepository
from catalog.regulatory.versions import neighbours

STATUS_MOVES: dict[str, set[str]] = {
    "draft": {"approved"},
    "approved": {"deprecated"},
    "deprecated": set(),
}
STATUS_ACTIONS = {"approved": "approve", "deprecated": "deprecate"}
# The spec can be large and is immutable; audit events carry its size, not a copy.
AUDIT_EXCLUDE = ("spec_json",)


class RegulatoryService(DomainService):
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        super().__init__(session, actor)
        self.schemas = SchemaRepository(session)
        self.changes = ChangeRepository(session)
        self.mappings = MappingRepository(session)

    # --- schemas -------------------------------------------------------------------------

    async def create_schema(self, body: schemas.SchemaCreate) -> RegulatorySchema:
        await self.schemas.lock_type(body.regulatory_type)
        self._refuse_duplicate(await self.schemas.find(body.regulatory_type, body.version))
        others = await self.schemas.versions_of(body.regulatory_type)
        previous, successor = neighbours(body.version, others)
        schema = RegulatorySchema(
            **body.model_dump(), status="draft", created_by=self.actor.subject
        )
        try:
            await self.schemas.add(schema)
        except sqlalchemy.exc.IntegrityError:
            # A concurrent writer won the unique (regulatory_type, version) index.
            raise self._duplicate(body.regulatory_type, body.version) from None
        found = await self._store_changes(schema, previous[0] if previous else None)
        details: dict[str, Any] = {
            "previous_schema_id": previous[0] if previous else None,
            "changes": len(found),
            "breaking": sum(change.breaking for change in found),
            "spec_keys": len(body.spec_json),
        }
        if successor is not None:
            following = await self.get_schema(successor[0])
            await self._store_changes(following, schema.id)
            details["recomputed_changes_of"] = following.id
        self.audit.record(
            "create",
            "regulatory_schema",
            schema.id,
            after=row_dict(schema, exclude=AUDIT_EXCLUDE),
            details=details,
        )
        emit(
            self.session,
            "regulatory_schema.version_added",
            actor=self.actor.subject,
            subject={
                "kind": "regulatory_schema",
                "id": schema.id,
                "name": schema.regulatory_type,
                "version": schema.version,
            },
            payload={
                "regulatory_type": schema.regulatory_type,
                "version": schema.version,
                "previous_version": previous[1] if previous else None,
                "changes": len(found),
                "breaking_changes": details["breaking"],
            },
            link=f"/ui/regulatory/{schema.id}",
            routing=Routing(),  # no product: every subscriber not scoped to one hears of it
        )
        return schema

    def _refuse_duplicate(self, existing: RegulatorySchema | None) -> None:
        if existing is not None:
            raise self._duplicate(existing.regulatory_type, existing.version)

    @staticmethod
    def _duplicate(regulatory_type: str, version: str) -> Conflict:
        return Conflict(f"version {version!r} of regulatory type {regulatory_type!r} exists")

    async def _store_changes(
        self, schema: RegulatorySchema, previous_id: str | None
    ) -> list[FieldChange]:
        """Replace the stored changes of `schema` by its diff from `previous_id`."""
        previous = await self.get_schema(previous_id) if previous_id else None
        found = diff_specs(previous.spec_json, schema.spec_json) if previous else []
        now = utcnow()
        await self.changes.replace(
            schema.id,
            [
                {
                    "id": new_id(),
                    "schema_id": schema.id,
                    "previous_schema_id": previous_id,
                    "field_path": change.field_path,
                    "change_type": change.change_type,
                    "old_value": change.old_value,
                    "new_value": change.new_value,
                    "breaking": change.breaking,
                    "detected_at": now,
                }
                for change in found
            ],
        )
        return found

    async def get_schema(self, schema_id: str) -> RegulatorySchema:
        return must_exist(await self.schemas.get(schema_id), "regulatory schema", schema_id)

    async def list_schemas(
        self, page: PageParams, regulatory_type: str | None, status: str | None
    ) -> tuple[Sequence[RegulatorySchema], int]:
        statement = self.schemas.list_statement(regulatory_type, status)
        return await self.schemas.paginate(statement, page.limit, page.offset)

    async def change_status(self, schema_id: str, status: str) -> RegulatorySchema:
        schema = must_exist(await self.schemas.lock(schema_id), "regulatory schema", schema_id)
        allowed = STATUS_MOVES[schema.status]
        if status not in allowed:
            options = ", ".join(sorted(allowed)) or "none (deprecated is final)"
            raise Conflict(f"a {schema.status} schema cannot become {status}; allowed: {options}")
        before = row_dict(schema, exclude=AUDIT_EXCLUDE)
        schema.status = status
        if status == "approved":
            schema.approved_by = self.actor.subject
            schema.approved_at = utcnow()
        await self.session.flush()
        self.audit.record(
            STATUS_ACTIONS[status],
            "regulatory_schema",
            schema.id,
            before=before,
            after=row_dict(schema, exclude=AUDIT_EXCLUDE),
        )
        return schema

    async def changes_of(
        self, schema_id: str
    ) -> tuple[RegulatorySchema, tuple[str, str] | None, Sequence[SchemaChange]]:
        """The schema, its predecessor (id, version) if any, and its stored changes."""
        schema = await self.get_schema(schema_id)
        others = [
            pair
            for pair in await self.schemas.versions_of(schema.regulatory_type)
            if pair[0] != schema.id
        ]
        previous, _ = neighbours(schema.version, others)
        return schema, previous, await self.changes.of_schema(schema.id)

    # --- product mappings ----------------------------------------------------------------

    async def create_mapping(
        self, schema_id: str, body: schemas.MappingCreate
    ) -> SchemaProductMapping:
        # The schema's row lock serialises mapping writers: the duplicate check below must
        # also catch mappings without an element, which the unique constraint cannot.
        if await self.schemas.lock(schema_id) is None:
            raise NotFound("regulatory schema", schema_id)
        if not await self.mappings.product_exists(body.product_id):
            raise NotFound("data product", body.product_id)
        if body.data_element_id and not await self.mappings.element_exists(body.data_element_id):
            raise NotFound("data element", body.data_element_id)
        existing = await self.mappings.find(
            schema_id, body.field_path, body.product_id, body.data_element_id
        )
        if existing is not None:
            raise Conflict(
                f"field {body.field_path!r} is already mapped to this product"
                + (" and element" if body.data_element_id else "")
                + f" ({existing.id})"
            )
        mapping = SchemaProductMapping(
            schema_id=schema_id, **body.model_dump(), created_by=self.actor.subject
        )
        try:
            await self.mappings.add(mapping)
        except sqlalchemy.exc.IntegrityError:
            raise Conflict(
                "the mapping conflicts with a concurrent change (a duplicate, or its product "
                "or element was just deleted)"
            ) from None
        self.audit.record("create", "schema_product_mapping", mapping.id, after=row_dict(mapping))
        return mapping

    async def list_mappings(
        self,
        schema_id: str,
        page: PageParams,
        product_id: str | None,
        field_path: str | None,
    ) -> tuple[Sequence[SchemaProductMapping], int]:
        await self.get_schema(schema_id)
        statement = self.mappings.list_statement(schema_id, product_id, field_path)
        return await self.mappings.paginate(statement, page.limit, page.offset)

    async def delete_mapping(self, schema_id: str, mapping_id: str) -> None:
        await self.get_schema(schema_id)
        mapping = await self.mappings.get(mapping_id)
        if mapping is None or mapping.schema_id != schema_id:
            raise NotFound("product mapping", mapping_id)
        await self._delete("schema_product_mapping", mapping)
