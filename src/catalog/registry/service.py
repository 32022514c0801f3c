"""Business rules of the ISO/IEC 11179 registry.

Data element lifecycle: draft -> published -> deprecated -> archived (a draft may also be
archived directly). Anything else is a 409. Things still referenced cannot be deleted (409
naming the referrers). Bulk registration validates every item on its own, creates all good
items in the request's one transaction and reports each bad one; see `create_elements`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy.exc
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.cache import Cache, Uncacheable
from catalog.cache.invalidation import element_scope
from catalog.changes.recorder import touch
from catalog.changes.refs import NodeRef
from catalog.conditional.etags import check_if_match
from catalog.core.errors import (
    CatalogError,
    Conflict,
    NotFound,
    Unprocessable,
    still_referenced,
)
from catalog.core.ids import new_id
from catalog.core.time import utcnow
from catalog.db.models import (
    DataElement,
    DataElementConcept,
    PermissibleValue,
    Representation,
    ValueDomain,
)
from catalog.identity.principal import Actor
from catalog.kit.bulk import ItemOutcome, merge_outcomes, parse_items
from catalog.kit.pagination import PageParams
from catalog.kit.rows import row_dict
from catalog.kit.schemas import metadata_to_attribute
from catalog.kit.service import DomainService, must_exist
from catalog.registry import schemas
from catalog.registry.repository import (
    ConceptRepository,
    DataElementRepository,
    RepresentationRepository,
    ValueDomainRepository,
)
from catalog.registry.validation import bound_errors, validate_value

# status -> action -> next status
TRANSITIONS: dict[str, dict[str, str]] = {
    "draft": {"publish": "published", "archive": "archived"},
    "published": {"deprecate": "deprecated"},
    "deprecated": {"archive": "archived", "publish": "published"},
    "archived": {},
}


def element_identifier(element_id: str) -> str:
    return f"urn:catalog:data-element:{element_id}"


class RegistryService(DomainService):
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        super().__init__(session, actor)
        self.concepts = ConceptRepository(session)
        self.domains = ValueDomainRepository(session)
        self.representations = RepresentationRepository(session)
        self.elements = DataElementRepository(session)

    # --- concepts ------------------------------------------------------------------------

    async def create_concept(self, body: schemas.ConceptCreate) -> DataElementConcept:
        await self._name_free(self.concepts, "data element concept", body.name)
        concept = await self.concepts.add(
            DataElementConcept(**body.model_dump(), created_by=self.actor.subject)
        )
        self.audit.record("create", "data_element_concept", concept.id, after=row_dict(concept))
        return concept

    async def get_concept(self, concept_id: str) -> DataElementConcept:
        return must_exist(await self.concepts.get(concept_id), "data element concept", concept_id)

    async def list_concepts(
        self, page: PageParams, name: str | None
    ) -> tuple[Sequence[DataElementConcept], int]:
        return await self.concepts.paginate(
            self.concepts.list_statement(name), page.limit, page.offset
        )

    async def update_concept(
        self, concept_id: str, body: schemas.ConceptUpdate, if_match: str | None = None
    ) -> DataElementConcept:
        concept = await self.get_concept(concept_id)
        await check_if_match(
            self.session, if_match, concept, schemas.ConceptOut, "data element concept"
        )
        changes = body.model_dump(exclude_unset=True, exclude_none=True)
        await self._name_free(
            self.concepts, "data element concept", changes.get("name"), concept.name
        )
        return await self._update("data_element_concept", concept, changes)

    async def delete_concept(self, concept_id: str, if_match: str | None = None) -> None:
        concept = await self.get_concept(concept_id)
        await check_if_match(
            self.session, if_match, concept, schemas.ConceptOut, "data element concept"
        )
        referrers = await self.concepts.element_referrers(concept_id)
        if referrers:
            raise still_referenced(
                f"data element concept {concept.name!r}",
                [("data_element", i, n) for i, n in referrers],
            )
        await self._delete("data_element_concept", concept)

    # --- value domains -------------------------------------------------------------------

    async def create_value_domain(self, body: schemas.ValueDomainCreate) -> ValueDomain:
        await self._name_free(self.domains, "value domain", body.name)
        constraints = [c.model_dump() for c in body.constraints]
        problems = bound_errors(body.data_type, constraints)
        if problems:
            raise Unprocessable("; ".join(problems))
        domain = ValueDomain(
            name=body.name,
            type=body.type,
            data_type=body.data_type,
            unit_of_measure=body.unit_of_measure,
            description=body.description,
            constraints=constraints,
            created_by=self.actor.subject,
            permissible_values=[
                PermissibleValue(value=pv.value, meaning=pv.meaning, position=i)
                for i, pv in enumerate(body.permissible_values)
            ],
        )
        await self.domains.add(domain)
        self.audit.record(
            "create",
            "value_domain",
            domain.id,
            after=row_dict(domain),
            details={"permissible_values": len(body.permissible_values)},
        )
        return domain

    async def get_value_domain(self, domain_id: str) -> ValueDomain:
        return must_exist(await self.domains.get_full(domain_id), "value domain", domain_id)

    async def list_value_domains(
        self, page: PageParams, name: str | None, type_: str | None
    ) -> tuple[Sequence[ValueDomain], int]:
        return await self.domains.paginate(
            self.domains.list_statement(name, type_), page.limit, page.offset
        )

    async def update_value_domain(
        self, domain_id: str, body: schemas.ValueDomainUpdate, if_match: str | None = None
    ) -> ValueDomain:
        domain = await self.get_value_domain(domain_id)
        await check_if_match(self.session, if_match, domain, schemas.ValueDomainOut, "value domain")
        changes = body.model_dump(exclude_unset=True, exclude_none=True)
        await self._name_free(self.domains, "value domain", changes.get("name"), domain.name)
        return await self._update("value_domain", domain, changes)

    async def delete_value_domain(self, domain_id: str, if_match: str | None = None) -> None:
        domain = await self.get_value_domain(domain_id)
        await check_if_match(self.session, if_match, domain, schemas.ValueDomainOut, "value domain")
        referrers = await self.domains.representation_referrers(domain_id)
        if referrers:
            raise still_referenced(
                f"value domain {domain.name!r}", [("representation", i, n) for i, n in referrers]
            )
        await self._delete("value_domain", domain)

    async def validate(self, domain_id: str, value: Any) -> schemas.ValidateOut:
        domain = must_exist(await self.domains.get(domain_id), "value domain", domain_id)
        allowed = (
            await self.domains.permissible_values(domain_id) if domain.type == "enumerated" else []
        )
        verdict = validate_value(
            domain_type=domain.type,
            data_type=domain.data_type,
            permissible_values=allowed,
            constraints=domain.constraints,
            value=value,
        )
        return schemas.ValidateOut(
            valid=verdict.valid, reason=verdict.reason, constraint=verdict.constraint
        )

    # --- representations -----------------------------------------------------------------

    async def create_representation(self, body: schemas.RepresentationCreate) -> Representation:
        await self._name_free(self.representations, "representation", body.name)
        await self._require_domain(body.value_domain_id)
        representation = await self.representations.add(
            Representation(**body.model_dump(), created_by=self.actor.subject)
        )
        self.audit.record(
            "create", "representation", representation.id, after=row_dict(representation)
        )
        return representation

    async def get_representation(self, representation_id: str) -> Representation:
        return must_exist(
            await self.representations.get(representation_id), "representation", representation_id
        )

    async def list_representations(
        self, page: PageParams, name: str | None, data_type: str | None
    ) -> tuple[Sequence[Representation], int]:
        return await self.representations.paginate(
            self.representations.list_statement(name, data_type), page.limit, page.offset
        )

    async def update_representation(
        self,
        representation_id: str,
        body: schemas.RepresentationUpdate,
        if_match: str | None = None,
    ) -> Representation:
        representation = await self.get_representation(representation_id)
        await check_if_match(
            self.session, if_match, representation, schemas.RepresentationOut, "representation"
        )
        changes = body.model_dump(exclude_unset=True, exclude_none=True)
        await self._name_free(
            self.representations, "representation", changes.get("name"), representation.name
        )
        await self._require_domain(changes.get("value_domain_id"))
        updated = await self._update("representation", representation, changes)
        await self.elements.refresh_coverage(representations=[representation.id])
        return updated

    async def delete_representation(
        self, representation_id: str, if_match: str | None = None
    ) -> None:
        representation = await self.get_representation(representation_id)
        await check_if_match(
            self.session, if_match, representation, schemas.RepresentationOut, "representation"
        )
        referrers = await self.representations.element_referrers(representation_id)
        if referrers:
            raise still_referenced(
                f"representation {representation.name!r}",
                [("data_element", i, n) for i, n in referrers],
            )
        await self._delete("representation", representation)

    async def _require_domain(self, domain_id: str | None) -> None:
        if domain_id is not None and await self.domains.get(domain_id) is None:
            raise NotFound("value domain", domain_id)

    # --- data elements -------------------------------------------------------------------

    async def create_element(self, body: schemas.DataElementCreate) -> DataElement:
        [outcome] = await self.create_elements([body])
        if outcome.error is not None:
            raise outcome.error
        assert outcome.id is not None
        return await self.get_element(outcome.id)

    async def bulk_create_elements(self, raw_items: list[dict[str, Any]]) -> list[ItemOutcome]:
        """Validate each raw item on its own; create the good ones; report the bad ones."""
        parsed, positions, failures = parse_items(schemas.DataElementCreate, raw_items)
        created = await self.create_elements(parsed)
        return merge_outcomes(len(raw_items), positions, created, failures)

    async def create_elements(self, items: list[schemas.DataElementCreate]) -> list[ItemOutcome]:
        """Create data elements in one go: a few lookups for the whole batch, one INSERT.

        Items that fail (unknown reference, duplicate name or identifier, in the database
        or earlier in the batch) are reported and nothing of theirs is written; inline
        concepts and representations are created only for items that succeed.
        """
        outcomes = [ItemOutcome(i) for i in range(len(items))]
        concept_ids = {i.data_element_concept_id for i in items if i.data_element_concept_id}
        representation_ids = {i.representation_id for i in items if i.representation_id}
        known_concepts = await self.concepts.existing_ids(concept_ids)
        known_representations = await self.representations.existing_ids(representation_ids)
        domain_ids = {
            i.representation.value_domain_id
            for i in items
            if i.representation and i.representation.value_domain_id
        }
        known_domains = await self.domains.existing_ids(domain_ids)
        taken_names, taken_identifiers = await self.elements.taken(
            (i.name for i in items), (i.identifier for i in items if i.identifier)
        )
        # Taken in the database or earlier in the batch (grown in place: a union per item
        # was quadratic, seconds for a crawl's batch of 5,000).
        names = set(taken_names)
        identifiers = set(taken_identifiers)
        for item, outcome in zip(items, outcomes, strict=True):
            outcome.error = self._item_error(
                item, known_concepts, known_representations, known_domains, names, identifiers
            )
            if outcome.error is None:
                names.add(item.name)
                if item.identifier:
                    identifiers.add(item.identifier)
        good = [(item, o) for item, o in zip(items, outcomes, strict=True) if o.error is None]
        if not good:
            return outcomes
        concepts, representations = await self._inline_parts([item for item, _ in good])
        now = utcnow()
        rows = []
        for item, outcome in good:
            outcome.id = new_id()
            rows.append(
                {
                    "id": outcome.id,
                    "identifier": item.identifier or element_identifier(outcome.id),
                    "name": item.name,
                    "definition": item.definition,
                    "data_element_concept_id": item.data_element_concept_id
                    or concepts[item.data_element_concept.name],  # type: ignore[union-attr]
                    "representation_id": item.representation_id
                    or representations[item.representation.name],  # type: ignore[union-attr]
                    "steward": item.steward,
                    "source": item.source,
                    "registration_status": "draft",
                    "version": 1,
                    "metadata": item.metadata,
                    "created_by": self.actor.subject,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        await self._insert_elements(rows, [o for _, o in good])
        created = [o.id for _, o in good if o.error is None and o.id]
        await self.audit.record_each("create", "data_element", created)
        return outcomes

    async def _insert_elements(
        self, rows: list[dict[str, Any]], outcomes: list[ItemOutcome]
    ) -> None:
        """One multi-row INSERT; if a concurrent writer took a name meanwhile, go row by row."""
        try:
            async with self.session.begin_nested():
                await self.elements.insert_many(rows)
            return
        except sqlalchemy.exc.IntegrityError:
            pass
        for row, outcome in zip(rows, outcomes, strict=True):
            try:
                async with self.session.begin_nested():
                    await self.elements.insert_many([row])
            except sqlalchemy.exc.IntegrityError:
                outcome.error = Conflict(
                    f"a data element named {row['name']!r} or with identifier "
                    f"{row['identifier']!r} already exists"
                )
                outcome.id = None

    def _item_error(
        self,
        item: schemas.DataElementCreate,
        known_concepts: set[str],
        known_representations: set[str],
        known_domains: set[str],
        taken_names: set[str],
        taken_identifiers: set[str],
    ) -> CatalogError | None:
        if item.data_element_concept_id and item.data_element_concept_id not in known_concepts:
            return NotFound("data element concept", item.data_element_concept_id)
        if item.representation_id and item.representation_id not in known_representations:
            return NotFound("representation", item.representation_id)
        inline = item.representation
        if inline and inline.value_domain_id and inline.value_domain_id not in known_domains:
            return NotFound("value domain", inline.value_domain_id)
        if item.name in taken_names:
            return Conflict(f"a data element named {item.name!r} already exists")
        if item.identifier and item.identifier in taken_identifiers:
            return Conflict(f"a data element with identifier {item.identifier!r} already exists")
        return None

    async def _inline_parts(
        self, items: list[schemas.DataElementCreate]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Ids by name of the inline concepts and representations, created where missing."""
        now = utcnow()
        extra = {"created_by": self.actor.subject, "created_at": now, "updated_at": now}
        concepts = {
            i.data_element_concept.name: i.data_element_concept.model_dump()
            for i in items
            if i.data_element_concept
        }
        representations = {
            i.representation.name: i.representation.model_dump() for i in items if i.representation
        }
        concept_ids, new_concepts = await self.concepts.ensure_named(
            [body | extra | {"id": new_id()} for body in concepts.values()]
        )
        representation_ids, new_representations = await self.representations.ensure_named(
            [body | extra | {"id": new_id()} for body in representations.values()]
        )
        # a core INSERT the outbox's session events cannot see
        touch(self.session, *(NodeRef("DataElementConcept", i) for i in new_concepts))
        await self.audit.record_each("create", "data_element_concept", new_concepts, inline=True)
        await self.audit.record_each("create", "representation", new_representations, inline=True)
        return concept_ids, representation_ids

    async def get_element(self, key: str) -> DataElement:
        return must_exist(await self.elements.get_by_id_or_identifier(key), "data element", key)

    async def get_element_json(self, key: str, cache: Cache) -> bytes:
        """The element's JSON answer, cached by id. A lookup by registry identifier is
        answered but not kept: invalidation knows elements by id only."""

        async def load() -> bytes:
            element = await self.get_element(key)
            body = schemas.DataElementOut.model_validate(element).model_dump_json().encode()
            if element.id != key:
                raise Uncacheable(body)
            return body

        return await cache.fetch("element", element_scope(key), key, load)

    async def list_elements(
        self,
        page: PageParams,
        *,
        name: str | None = None,
        status: str | None = None,
        concept_id: str | None = None,
        representation_id: str | None = None,
        steward: str | None = None,
        identifier: str | None = None,
    ) -> tuple[Sequence[DataElement], int]:
        statement = self.elements.list_statement(
            name=name,
            status=status,
            concept_id=concept_id,
            representation_id=representation_id,
            steward=steward,
            identifier=identifier,
        )
        return await self.elements.paginate(statement, page.limit, page.offset)

    async def update_element(
        self, element_id: str, body: schemas.DataElementUpdate, if_match: str | None = None
    ) -> DataElement:
        element = await self.get_element(element_id)
        await check_if_match(
            self.session, if_match, element, schemas.DataElementOut, "data element"
        )
        if element.registration_status == "archived":
            raise Conflict("an archived data element cannot be changed")
        changes = body.model_dump(exclude_unset=True, exclude_none=True)
        metadata_to_attribute(changes)
        await self._name_free(self.elements, "data element", changes.get("name"), element.name)
        concept_id = changes.get("data_element_concept_id")
        if concept_id and await self.concepts.get(concept_id) is None:
            raise NotFound("data element concept", concept_id)
        representation_id = changes.get("representation_id")
        if representation_id and await self.representations.get(representation_id) is None:
            raise NotFound("representation", representation_id)
        if changes and element.registration_status == "published":
            changes["version"] = element.version + 1  # a published element's change is visible
        updated = await self._update("data_element", element, changes)
        await self.elements.refresh_coverage(elements=[element.id])
        return updated

    async def transition_element(self, element_id: str, action: str) -> DataElement:
        element = await self.get_element(element_id)
        target = TRANSITIONS[element.registration_status].get(action)
        if target is None:
            raise Conflict(
                f"cannot {action} a data element that is {element.registration_status}; "
                f"allowed: {', '.join(TRANSITIONS[element.registration_status]) or 'nothing'}"
            )
        before = row_dict(element)
        element.registration_status = target
        if target == "published":
            element.published_at = utcnow()
        elif target == "deprecated":
            element.deprecated_at = utcnow()
        await self.session.flush()
        self.audit.record(
            action, "data_element", element.id, before=before, after=row_dict(element)
        )
        return element

    async def delete_element(self, element_id: str, if_match: str | None = None) -> None:
        element = await self.get_element(element_id)
        await check_if_match(
            self.session, if_match, element, schemas.DataElementOut, "data element"
        )
        referrers = [
            ("data_product", i, n) for i, n in await self.elements.product_referrers(element.id)
        ] + [("schema_mapping", i, n) for i, n in await self.elements.mapping_referrers(element.id)]
        if referrers:
            raise still_referenced(f"data element {element.name!r}", referrers)
        bound_to = await self.elements.schema_products(element.id)
        await self._delete("data_element", element)
        await self.elements.refresh_coverage(products=bound_to)
