"""Dataset schemas of data products: ordered columns, each bound to a governed data element.

A new schema is a new product version: the columns table holds the current schema (read fast,
coverage computed in SQL) and the version's snapshot its own copy under `schema`. What changed
is kit/spec_diff.py's field-level diff, the one the regulatory specs use, so both domains call
the same things breaking. The diff's vocabulary is `type` and `required`; a column speaks of
`physical_type` and `nullable`, so columns are projected into it for the diff and the changes
are mapped back (a column becoming non-nullable is `required` becoming true: breaking).

Each column's element: `data_element_id` when given (it must exist); else the element the
current schema's column of that name is bound to (a column's type may change, its element
stays); else the element of the column's name (names are unique in the registry), whose
representation must have the data type the physical type maps to (409 otherwise: name the
element by id to bind it anyway); else a new draft element, created through the registry
service with a concept named after the column and a representation named after the physical
type (each reused when one of that name exists, as the registry does inline).
"""

from __future__ import annotations

from typing import Any

import semver

from catalog.changes.events import Routing, emit, product_link, product_subject
from catalog.core.errors import Conflict, NotFound, Unprocessable
from catalog.db.models import DataProductVersion, ProductSchemaColumn
from catalog.kit.schemas import NAME_MAX
from catalog.kit.spec_diff import FieldChange, same_json
from catalog.products import schemas
from catalog.products.service import ProductService, column_dict
from catalog.products.version_changes import schema_changes
from catalog.registry.repository import DataElementRepository
from catalog.registry.schemas import ConceptCreate, DataElementCreate, RepresentationCreate
from catalog.registry.service import RegistryService

# The registry's data type of a physical type, by its base name (before any "(" size).
_DATA_TYPES = {
    "integer": ("int", "integer", "bigint", "smallint", "tinyint", "int2", "int4", "int8"),
    "decimal": ("decimal", "numeric", "float", "double", "real", "float4", "float8", "number"),
    "boolean": ("bool", "boolean"),
    "date": ("date",),
    "datetime": ("datetime", "timestamp", "timestamptz"),
}
_BY_NAME = {name: data_type for data_type, names in _DATA_TYPES.items() for name in names}
# The object class of the concepts behind elements a schema creates (named after the column,
# reused by name as the registry's inline concepts are).
CONCEPT_CLASS = "Dataset column"


def data_type_of(physical_type: str) -> str:
    """`string` for anything not recognised (varchar, text, json...)."""
    base = physical_type.split("(", 1)[0].strip().lower()
    return _BY_NAME.get(base.removesuffix(" precision"), "string")


class SchemaService(ProductService):
    async def get_schema(self, product_id: str, version: str | None) -> schemas.SchemaOut:
        """The current schema, or the one in `version`'s snapshot (404 when it has none)."""
        if version is None:
            await self.get(product_id)
            columns = [column_dict(c) for c in await self.columns.current(product_id)]
            if not columns:
                raise NotFound(f"schema of data product {product_id}", "current")
        else:
            found = await self.get_version(product_id, version)
            columns = (found.snapshot.get("schema") or {}).get("columns") or []
            if not columns:
                raise NotFound(f"schema of data product {product_id} in version", version)
        return await self._answer(product_id, columns)

    async def put_schema(
        self, product_id: str, body: schemas.SchemaPut
    ) -> schemas.SchemaVersionOut:
        """A new version holding `body`'s columns, with what changed since the current schema
        (none for a product's first schema). The same columns again are a 409."""
        product = await self.get(product_id)
        if await self.versions.find(product_id, body.version):
            raise Conflict(f"version {body.version} of {product.name!r} already exists")
        versioned = await self.apply_schema(product_id, body.columns, body.notes, body.version)
        if versioned is None:
            raise Conflict("the schema is the current one; nothing to version")
        return versioned

    async def apply_schema(
        self,
        product_id: str,
        columns: list[schemas.ColumnIn],
        notes: str,
        version: str | None = None,
        qualify: str | None = None,
        elements_checked: bool = False,
    ) -> schemas.SchemaVersionOut | None:
        """Make `columns` the product's schema in a new version (`version`, or by default the
        next one its changes call for: major when breaking, else minor, 1.0.0 for the first);
        None, writing nothing, when they are the current schema already. `qualify`: see
        _elements; `elements_checked`: the caller has just read or made the elements its
        columns name (the crawler), so they are not looked up again."""
        old = [column_dict(c) for c in await self.columns.current(product_id)]
        bound = {c["name"]: c["data_element_id"] for c in old if c["data_element_id"]}
        element_ids = await self._elements(columns, bound, qualify, elements_checked)
        new = [bound_column(c, element_ids[c.name]) for c in columns]
        if same_json(old, new):
            return None
        changes = schema_changes(old, new) if old else []
        breaking = any(change.breaking for change in changes)
        await self.columns.replace(
            product_id,
            [
                ProductSchemaColumn(product_id=product_id, position=i, **_row(column))
                for i, column in enumerate(new)
            ],
        )
        await self.columns.refresh_coverage(product_id)
        chosen = version or await self._next_version(product_id, breaking)
        created = await self.create_version(
            product_id, schemas.VersionCreate(version=chosen, description=notes), breaking
        )
        self.audit.record(
            "update_schema",
            "data_product",
            product_id,
            before={"columns": [c["name"] for c in old]},
            after={"columns": [c["name"] for c in new], "version": chosen},
            details={"changes": len(changes), "breaking": breaking},
        )
        product = await self.get(product_id)
        emit(  # the changes as the API's answer lists them
            self.session,
            "product.schema_changed",
            actor=self.actor.subject,
            subject=product_subject(product, version=chosen),
            payload={
                "version": chosen,
                "breaking": breaking,
                "columns": len(new),
                "changes": [
                    schemas.SchemaChange.model_validate(c).model_dump(mode="json") for c in changes
                ],
            },
            link=product_link(product_id),
            routing=Routing.of(product),
        )
        return _version_out(created, changes, breaking)

    async def _next_version(self, product_id: str, breaking: bool) -> str:
        versions = await self.versions.for_product(product_id)
        if not versions:
            return "1.0.0"
        top = max(semver.Version.parse(v.version).finalize_version() for v in versions)
        return str(top.bump_major() if breaking else top.bump_minor())

    async def _elements(
        self,
        columns: list[schemas.ColumnIn],
        bound: dict[str, str],
        qualify: str | None,
        checked: bool = False,
    ) -> dict[str, str]:
        """Each column's data element id, by column name: the one given, else the one the
        current schema's column of that name has (its type may change, its element stays),
        else matched by name and data type, else created as a draft. A name whose element
        has another data type is a 409, or with `qualify` the element `<qualify>.<column>`
        (matched or created the same way): sources that cannot be asked to rename go there."""
        ids = {c.name: c.data_element_id or bound.get(c.name) for c in columns}
        unbound = [c for c in columns if not ids[c.name]]
        given = {c.data_element_id for c in columns if c.data_element_id and not checked}
        if not (given or unbound):
            return {name: element_id for name, element_id in ids.items() if element_id}
        elements = DataElementRepository(self.session)
        unknown = sorted(given - set(await elements.by_ids(given)))
        if unknown:  # a reference in the body, not the resource addressed: 422, not 404
            raise Unprocessable(f"data_element_id: no data element {unknown[0]}")
        wanted = {c.name: c.name for c in unbound}
        named = await elements.by_names(wanted.values())
        clashes = [c for c in unbound if _clash(named.get(c.name), c)]
        if clashes and qualify is None:
            column = clashes[0]
            data_type = named[column.name][1]
            raise Conflict(
                f"data element {column.name!r} is of data type {data_type or 'none'}, "
                f"column type {column.physical_type!r} is "
                f"{data_type_of(column.physical_type)}; give its data_element_id to bind it "
                "anyway, or rename the column"
            )
        for column in clashes:
            wanted[column.name] = f"{qualify}.{column.name}"[:NAME_MAX]
        named |= await elements.by_names(wanted[c.name] for c in clashes)
        missing = []
        for column in unbound:
            found = named.get(wanted[column.name])
            if found is None or _clash(found, column):
                missing.append((wanted[column.name], column))
            else:
                ids[column.name] = found[0].id
        ids.update(await self._create_elements(missing))
        return {name: element_id for name, element_id in ids.items() if element_id}

    async def _create_elements(self, columns: list[tuple[str, schemas.ColumnIn]]) -> dict[str, str]:
        """Draft elements named as given, for these columns; column name -> element id."""
        items = [
            DataElementCreate(
                name=name,
                data_element_concept=ConceptCreate(
                    name=name, object_class=CONCEPT_CLASS, property=column.name
                ),
                representation=RepresentationCreate(
                    name=column.physical_type.lower(),
                    data_type=data_type_of(column.physical_type),  # type: ignore[arg-type]
                ),
            )
            for name, column in columns
        ]
        outcomes = await RegistryService(self.session, self.actor).create_elements(items)
        for outcome in outcomes:
            if outcome.error is not None:
                raise outcome.error
        return {column.name: o.id for (_, column), o in zip(columns, outcomes, strict=True) if o.id}

    async def _answer(self, product_id: str, columns: list[dict[str, Any]]) -> schemas.SchemaOut:
        governed = await self.columns.governed(c["data_element_id"] for c in columns)
        share = sum(1 for c in columns if c["data_element_id"] in governed) / len(columns)
        return schemas.SchemaOut(
            product_id=product_id,
            columns=[schemas.ColumnOut.model_validate(c) for c in columns],
            governed_column_coverage=share,
        )


def _clash(found: tuple[Any, str | None] | None, column: schemas.ColumnIn) -> bool:
    """Whether the element found by a column's name has another data type than the column."""
    return found is not None and found[1] != data_type_of(column.physical_type)


def bound_column(column: schemas.ColumnIn, element_id: str | None) -> dict[str, Any]:
    """A column as the schema stores and compares it, bound to `element_id`."""
    return column.model_dump(exclude={"data_element_id"}) | {"data_element_id": element_id}


def _row(column: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in column.items() if k != "default"} | {
        "default_value": column["default"]
    }


def _version_out(
    version: DataProductVersion, changes: list[FieldChange], breaking: bool
) -> schemas.SchemaVersionOut:
    base = schemas.VersionOut.model_validate(version).model_dump()
    listed = [schemas.SchemaChange.model_validate(change) for change in changes]
    return schemas.SchemaVersionOut(**base, changes=listed, breaking=breaking)
