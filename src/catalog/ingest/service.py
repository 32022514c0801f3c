"""The crawler's second half: what `introspect` read becomes catalog products, schemas, data
elements, value domains and lineage, idempotently.

- A table or view is a product found by its reference (`source_ref`,
  kit/dataset_refs.py), made as a draft when new (named `schema.table`, the table comment its
  description, category `table` or `view`, of `--team`); a product whose table is gone is
  deprecated, never deleted (only within what the crawl read: its schemas and patterns).
- Each column is a data element of its own, found by its identifier, the column's reference
  (`<source>/<schema>/<table>/<column>`): named `table.column` (the schema first outside the
  default one; the whole reference when another element has that name), its definition the
  column comment. Its representation is named after the physical type, with its length,
  precision and scale, and has a value domain: enumerated for an enum type or a simple
  `CHECK (col IN (...))` (named after the enum type, or `schema.table.column values`),
  otherwise a non-enumerated one named after the physical type.
- The columns are the product's schema; a new version only when they changed (breaking:
  major, else minor; 1.0.0 first), with the changes, through the schema service.
- A foreign key draws lineage from the referred table's product to the referring one
  (`references`); an edge that would close a cycle (tables referring to each other) is left
  out.

A run changes nothing that did not change: the second crawl of an unchanged database writes
no version, no element and no audit event. Work goes in chunks of tables, each committed on
its own (a crawl of thousands of tables does not hold SQLite's write lock for a minute); a
dry run does everything in one transaction and rolls it back, so its report is exactly what
a real run would do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from catalog.core.errors import CatalogError
from catalog.core.ids import new_id
from catalog.db.models import DataElement, DataProduct
from catalog.ingest import repository
from catalog.ingest.introspect import ColumnInfo, SourceInfo, TableInfo, selected
from catalog.kit.schemas import NAME_MAX, TEXT_MAX, fit_line, fit_text
from catalog.kit.spec_diff import same_json
from catalog.products import schemas as product_schemas
from catalog.products.dataset_schema import bound_column
from catalog.products.external import ExternalProducts, NewProduct
from catalog.products.service import column_dict
from catalog.registry import schemas as registry_schemas
from catalog.registry.service import RegistryService

Action = Literal["create", "update", "unchanged", "deprecate"]
CHUNK_TABLES = 100
TYPE_MAX = 100
DEFAULT_MAX = 200


@dataclass
class TableOutcome:
    ref: str
    name: str
    action: Action
    version: str | None = None
    breaking: bool = False
    changes: list[dict[str, Any]] = field(default_factory=list)
    columns: int = 0

    def line(self) -> str:
        """One line of a plan, as `catalog ingest` prints it."""
        if self.action == "create":
            return f"create     {self.name} ({self.columns} columns)"
        if self.action == "deprecate":
            return f"deprecate  {self.name}"
        if self.action == "unchanged":
            return f"unchanged  {self.name}"
        listed = "; ".join(
            f"{c['change_type']} {c['field_path']}" + (" (breaking)" if c["breaking"] else "")
            for c in self.changes
        )
        return f"update     {self.name} -> {self.version}: {listed}"


@dataclass
class CrawlReport:
    source: str
    dry_run: bool
    tables: list[TableOutcome] = field(default_factory=list)
    elements_created: int = 0
    elements_updated: int = 0
    lineage_edges: int = 0
    warnings: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        found = dict.fromkeys(("create", "update", "unchanged", "deprecate"), 0)
        for table in self.tables:
            found[table.action] += 1
        return found

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "counts": self.counts(),
            "elements_created": self.elements_created,
            "elements_updated": self.elements_updated,
            "lineage_edges": self.lineage_edges,
            "warnings": self.warnings,
            "tables": [
                {k: v for k, v in vars(t).items() if v not in (None, [], 0) or k == "action"}
                for t in self.tables
                if t.action != "unchanged"
            ],
        }


@dataclass(frozen=True)
class Scope:
    """What a crawl speaks for: a product of the source outside it is left alone."""

    schemas: tuple[str, ...]
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def covers(self, source: str, ref: str) -> bool:
        schema, _, table = ref.removeprefix(source.rstrip("/") + "/").partition("/")
        return (
            schema in self.schemas
            and "/" not in table
            and selected(schema, table, self.include, self.exclude)
        )


# Commit a chunk (a real run) or not (a dry run, rolled back whole at the end).
Checkpoint = Callable[[], Awaitable[None]]


class Crawler(ExternalProducts):
    async def crawl(
        self, found: SourceInfo, scope: Scope, team: str, checkpoint: Checkpoint, dry_run: bool
    ) -> CrawlReport:
        report = CrawlReport(found.source, dry_run)
        products: dict[str, DataProduct] = {}
        for start in range(0, len(found.tables), CHUNK_TABLES):
            chunk = found.tables[start : start + CHUNK_TABLES]
            products |= await self._tables(found.source, chunk, team, report)
            await checkpoint()
        # A key referring to a table outside this crawl (another schema, crawled on its own)
        # links to that table's product when the catalog has it.
        outside = {
            fk.referred_ref
            for table in found.tables
            for fk in table.foreign_keys
            if fk.referred_ref not in products
        }
        if outside:
            products |= await self.by_refs(outside)
        pairs = {
            (products[fk.referred_ref].id, products[table.ref].id)
            for table in found.tables
            for fk in table.foreign_keys
            if fk.referred_ref in products and fk.referred_ref != table.ref
        }
        report.lineage_edges = await self.link(pairs, "references")
        crawled = {table.ref for table in found.tables}
        for product in await repository.products_of_source(self.session, found.source):
            ref = product.source_ref or ""
            gone = ref not in crawled and scope.covers(found.source, ref)
            if gone and await self.deprecate(product):
                report.tables.append(TableOutcome(ref, product.name, "deprecate"))
        await checkpoint()
        return report

    async def _tables(
        self, source: str, tables: Sequence[TableInfo], team: str, report: CrawlReport
    ) -> dict[str, DataProduct]:
        elements = await self._column_elements(tables, report)
        existing = await self.by_refs(t.ref for t in tables)
        made = await self.ensure(
            [
                NewProduct(
                    source_ref=t.ref,
                    name=_qualified(t.schema, t.name),
                    team=team,
                    owner=fit_line(self.actor.subject) or "ingest",
                    category=t.kind,
                    description=fit_text(t.comment),
                )
                for t in tables
            ]
        )
        current = await self.columns.current_of(p.id for p in made.values())
        for table in tables:
            product = made[table.ref]
            columns = [
                _column(c, elements[c.ref].id if c.ref in elements else None)
                for c in table.columns[: _max(table, report)]
            ]
            old = [column_dict(c) for c in current.get(product.id, [])]
            new = [bound_column(c, c.data_element_id) for c in columns]
            outcome = TableOutcome(table.ref, product.name, "unchanged", columns=len(columns))
            if table.ref not in existing:
                outcome.action = "create"
            if columns and not same_json(old, new):
                versioned = await self.apply_schema(
                    product.id,
                    columns,
                    f"Crawled from {source}.",
                    qualify=product.name,
                    elements_checked=True,
                )
                if versioned is not None:
                    outcome.version = versioned.version
                    outcome.breaking = versioned.breaking
                    outcome.changes = [c.model_dump() for c in versioned.changes]
                    if outcome.action == "unchanged":
                        outcome.action = "update"
            if product.status == "deprecated":  # the table is back
                await self._update("data_product", product, {"status": "draft"})
                outcome.action = "update" if outcome.action == "unchanged" else outcome.action
            report.tables.append(outcome)
        return made

    async def _column_elements(
        self, tables: Sequence[TableInfo], report: CrawlReport
    ) -> dict[str, DataElement]:
        """Each column's element by the column's reference, made or brought up to date."""
        columns = [(t, c) for t in tables for c in t.columns]
        representations = await self._representations(columns)
        found = await repository.elements_by_identifier(self.session, (c.ref for _, c in columns))
        registry = RegistryService(self.session, self.actor)
        for table, column in columns:
            element = found.get(column.ref)
            if element is None:
                continue
            wanted = {
                "definition": fit_text(column.comment),
                "representation_id": representations[_domain_name(table, column)],
            }
            changed = {k: v for k, v in wanted.items() if getattr(element, k) != v}
            if changed:
                try:
                    await registry.update_element(
                        element.id, registry_schemas.DataElementUpdate.model_validate(changed)
                    )
                    report.elements_updated += 1
                except CatalogError as error:  # an archived element stays as it is
                    report.warnings.append(f"{column.ref}: {error.details}")
        missing = [(t, c) for t, c in columns if c.ref not in found]
        if missing:
            found |= await self._make_elements(missing, representations, registry, report)
        return found

    async def _make_elements(
        self,
        columns: list[tuple[TableInfo, ColumnInfo]],
        representations: dict[str, str],
        registry: RegistryService,
        report: CrawlReport,
    ) -> dict[str, DataElement]:
        names = [_element_name(t, c) for t, c in columns]
        taken, _ = await registry.elements.taken(names, ())
        items = [
            registry_schemas.DataElementCreate(
                name=name if name not in taken else fit_line(c.ref[-NAME_MAX:]),
                identifier=c.ref,
                definition=fit_text(c.comment),
                data_element_concept=registry_schemas.ConceptCreate(
                    name=name if name not in taken else fit_line(c.ref[-NAME_MAX:]),
                    object_class=fit_line(t.name) or "table",
                    property=fit_line(c.name) or "column",
                ),
                representation_id=representations[_domain_name(t, c)],
                source=fit_line(t.ref[-NAME_MAX:]),
            )
            for name, (t, c) in zip(names, columns, strict=True)
        ]
        outcomes = await registry.create_elements(items)
        for outcome, (_, column) in zip(outcomes, columns, strict=True):
            if outcome.error is not None:
                report.warnings.append(f"{column.ref}: {outcome.error.details}")
        report.elements_created += sum(1 for o in outcomes if o.id)
        return await repository.elements_by_identifier(self.session, (c.ref for _, c in columns))

    async def _representations(self, columns: list[tuple[TableInfo, ColumnInfo]]) -> dict[str, str]:
        """Representation ids by name for these columns, each with its value domain."""
        domains: dict[str, dict[str, Any]] = {}
        values: dict[str, Sequence[str]] = {}
        wanted: dict[str, dict[str, Any]] = {}
        for table, column in columns:
            domain = _domain_name(table, column)
            domains[domain] = {
                "id": new_id(),
                "name": domain,
                "type": "enumerated" if column.enum_values else "non_enumerated",
                "data_type": column.data_type,
                "description": f"Values of `{_type(column)}` columns, as crawled.",
                "constraints": [],
                "created_by": self.actor.subject,
            }
            if column.enum_values:
                values[domain] = [fit_line(v) or "?" for v in column.enum_values]
            wanted[_domain_name(table, column)] = {
                "id": new_id(),
                "name": _domain_name(table, column),
                "data_type": column.data_type,
                "length": column.length,
                "precision": column.precision,
                "scale": column.scale,
                "value_domain_id": domain,  # the name, made an id below
                "created_by": self.actor.subject,
            }
        domain_ids = await repository.ensure_domains(self.session, list(domains.values()), values)
        for row in wanted.values():
            row["value_domain_id"] = domain_ids[row["value_domain_id"]]
        return await repository.ensure_representations(self.session, list(wanted.values()))


def _qualified(schema: str, table: str) -> str:
    return fit_line(f"{schema}.{table}") or "table"


def _element_name(table: TableInfo, column: ColumnInfo) -> str:
    default = table.schema in ("public", "main")
    return fit_line(
        f"{table.name}.{column.name}" if default else f"{table.schema}.{table.name}.{column.name}"
    )


def _type(column: ColumnInfo) -> str:
    return fit_line(column.physical_type, TYPE_MAX) or "unknown"


def _domain_name(table: TableInfo, column: ColumnInfo) -> str:
    """The name of a column's value domain, and of its representation (one per domain)."""
    if column.enum_name:
        return fit_line(column.enum_name)
    if column.enum_values:
        return fit_line(f"{table.schema}.{table.name}.{column.name} values")
    return _type(column)


def _column(column: ColumnInfo, element_id: str | None) -> product_schemas.ColumnIn:
    return product_schemas.ColumnIn(
        name=fit_line(column.name) or "column",
        physical_type=_type(column),
        nullable=column.nullable,
        primary_key=column.primary_key,
        default=None if column.default is None else fit_line(column.default, DEFAULT_MAX),
        description=fit_text(column.comment, TEXT_MAX),
        data_element_id=element_id,
    )


def _max(table: TableInfo, report: CrawlReport) -> int:
    if len(table.columns) > product_schemas.MAX_COLUMNS:
        report.warnings.append(
            f"{table.ref}: {len(table.columns)} columns, the first "
            f"{product_schemas.MAX_COLUMNS} kept (a schema's bound)"
        )
    return product_schemas.MAX_COLUMNS
