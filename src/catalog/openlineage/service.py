"""The OpenLineage intake: an event as the spec defines it (spec.py) becomes catalog facts.

- The event is kept as posted (`lineage_events`) when it arrives; what follows is done by
  applier.py, in the background and in arrival order, and noted on the kept event.
- Each dataset it names is a product, found by its reference (kit/dataset_refs.py: the same
  spelling as the crawler's, so a crawled table and the table a Spark job writes are one
  product) or made as a draft: named after the dataset (its reference when the name is
  taken), of the caller's team (an API key's), else the job's namespace.
- A dataset's `schema` facet becomes its product's schema when it differs (a new version,
  with the changes), columns bound to elements as PUT .../schema binds them; a column whose
  name's element has another data type gets `<product>.<column>` (an event cannot be asked
  to rename).
- A run or job's inputs feed its outputs (product lineage, the job on the edge); an output's
  `columnLineage` facet feeds its columns from the input columns (column lineage).
- FAIL and ABORT runs are kept but change nothing: the run did not produce its outputs.

Everything is idempotent: the same event again (a job's every run) finds what exists and
writes only its raw copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from catalog.core.errors import Conflict
from catalog.db.models import LineageEventRecord
from catalog.db.models.products import SOURCE_REF_LENGTH
from catalog.kit.dataset_refs import dataset_ref
from catalog.kit.pagination import PageParams
from catalog.kit.schemas import NAME_MAX, fit_line, fit_text
from catalog.openlineage.known import Known
from catalog.openlineage.repository import LineageEventRepository
from catalog.openlineage.spec import Dataset, LineageEvent
from catalog.products import schemas as product_schemas
from catalog.products.external import ColumnEdge, ExternalProducts, NewProduct
from catalog.products.service import column_dict

UNPRODUCTIVE = frozenset({"FAIL", "ABORT"})
RACE_ATTEMPTS = 3
PHYSICAL_TYPE_MAX = 100
FALLBACK_TEAM = "openlineage"


class LineageIntake(ExternalProducts):
    def keep(self, event: LineageEvent) -> None:
        """Keep a received event, to be applied by applier.py after the commit."""
        principal = self.actor.principal
        LineageEventRepository(self.session).keep(_record(event, principal.subject, principal.team))

    async def apply(self, event: LineageEvent, known: Known | None = None) -> None:
        """Make the catalog say what the event says (the module docstring); the caller skips
        FAIL and ABORT runs. With `known` (what the applier's round read), an event that
        says nothing new costs no query."""
        known = known or Known()
        plan = _Plan.of(event, self.actor.principal.team, self.actor.subject)
        if self._settled(plan, known):
            return
        for attempt in range(1, RACE_ATTEMPTS + 1):
            try:
                async with self.session.begin_nested():
                    await self._apply(plan, known)
                return
            except IntegrityError as error:
                # Another event made the same product, element or edge a moment ago (jobs
                # run in parallel): its row is committed now, so this attempt finds it.
                known.forget()
                if attempt == RACE_ATTEMPTS:
                    raise Conflict(
                        "concurrent events kept making the same datasets; send it again"
                    ) from error

    def _settled(self, plan: _Plan, known: Known) -> bool:
        """Whether the catalog holds everything the event says (by `known`, no query)."""
        if any(ref not in known.products for ref in plan.named):
            return False
        ids = {ref: p.id for ref, p in known.products.items()}
        return (
            all(known.holds_schema(ids[ref], cols) for ref, cols in plan.schemas.items())
            and plan.pairs(ids) <= known.pairs
            and {_ends(e) for e in plan.column_edges(ids)} <= known.column_ends
        )

    async def _apply(self, plan: _Plan, known: Known) -> None:
        products = {ref: known.products[ref] for ref in plan.named if ref in known.products}
        unknown = [new for ref, new in plan.named.items() if ref not in products]
        products |= await self.ensure(unknown) if unknown else {}
        known.products.update(products)
        ids = {ref: p.id for ref, p in products.items()}
        for ref, columns in plan.schemas.items():
            product = products[ref]
            if not known.holds_schema(product.id, columns):
                await self.apply_schema(product.id, columns, plan.notes, qualify=product.name)
                current = await self.columns.current(product.id)
                known.columns[product.id] = [column_dict(c) for c in current]
        pairs = plan.pairs(ids)
        if not pairs <= known.pairs:
            await self.link(pairs - known.pairs, "feeds", plan.job)
            known.pairs |= pairs
        edges = [e for e in plan.column_edges(ids) if _ends(e) not in known.column_ends]
        if edges:
            await self.link_columns(edges)
            known.column_ends |= {_ends(e) for e in edges}
        await self.session.flush()

    async def events(
        self,
        page: PageParams,
        after: datetime | None,
        before: datetime | None,
        job_name: str | None,
        applied: bool | None,
    ) -> tuple[list[Any], int]:
        repository = LineageEventRepository(self.session)
        statement = repository.list_statement(after, before, job_name, applied)
        rows, total = await repository.paginate(statement, page.limit, page.offset)
        return list(rows), total


@dataclass(frozen=True)
class _Plan:
    """What an event asks of the catalog, worked out once from the event alone."""

    named: dict[str, NewProduct]  # every dataset it names (column sources too), by ref
    schemas: dict[str, list[product_schemas.ColumnIn]]  # datasets with a schema facet
    inputs: list[str]
    outputs: list[str]
    lineage: bool  # a run or job event: its inputs feed its outputs
    event_outputs: tuple[Dataset, ...]
    job: str | None
    notes: str

    @classmethod
    def of(cls, event: LineageEvent, team: str | None, subject: str) -> _Plan:
        datasets = {_ref(d): d for d in (*event.inputs, *event.outputs)}
        named = {**datasets, **_column_sources(event.outputs)}
        owner_team = fit_line(team or event.job_namespace or "") or FALLBACK_TEAM
        job = _job(event)
        source = f"OpenLineage job {job}" if job else "an OpenLineage dataset event"
        return cls(
            named={ref: _new_product(ref, n, owner_team, subject) for ref, n in named.items()},
            schemas={ref: cols for ref, d in datasets.items() if (cols := _columns(d))},
            inputs=[_ref(d) for d in event.inputs],
            outputs=[_ref(d) for d in event.outputs],
            lineage=event.kind != "dataset",
            event_outputs=event.outputs,
            job=job,
            notes=f"Schema from {source}.",
        )

    def pairs(self, ids: dict[str, str]) -> set[tuple[str, str]]:
        if not self.lineage:
            return set()
        return {(ids[a], ids[b]) for a in self.inputs for b in self.outputs if ids[a] != ids[b]}

    def column_edges(self, ids: dict[str, str]) -> list[ColumnEdge]:
        return list(_column_edges(self.event_outputs, ids, self.job))


def refs_of(event: LineageEvent) -> set[str]:
    """The references of every dataset the event names (column sources too)."""
    return {_ref(d) for d in (*event.inputs, *event.outputs)} | set(_column_sources(event.outputs))


def _ends(edge: ColumnEdge) -> tuple[str, str, str, str]:
    return (
        edge.upstream_product_id,
        edge.upstream_column,
        edge.downstream_product_id,
        edge.downstream_column,
    )


def _record(event: LineageEvent, subject: str, team: str | None) -> LineageEventRecord:
    return LineageEventRecord(
        kind=event.kind,
        event_type=event.event_type,
        event_time=event.event_time,
        run_id=event.run_id,
        job_namespace=_cut(event.job_namespace),
        job_name=_cut(event.job_name),
        producer=event.producer,
        payload=event.raw,
        received_by=subject,
        received_team=team,
    )


def _cut(value: str | None) -> str | None:
    return None if value is None else value[:SOURCE_REF_LENGTH]


def _job(event: LineageEvent) -> str | None:
    if not event.job_name:
        return None
    return _cut(f"{event.job_namespace}/{event.job_name}")


def _ref(dataset: Dataset) -> str:
    return dataset_ref(dataset.namespace, dataset.name)


def _column_sources(outputs: Iterable[Dataset]) -> dict[str, Dataset | str]:
    """Datasets that only a columnLineage facet names (an input column of a dataset that is
    not among the event's inputs), by reference, with their names."""
    return {
        dataset_ref(field.namespace, field.name): field.name
        for output in outputs
        for fields in output.column_lineage.values()
        for field in fields
    }


def _new_product(ref: str, named: Dataset | str, team: str, owner: str) -> NewProduct:
    name = named if isinstance(named, str) else named.name
    namespace = ref.removesuffix(name).rstrip("/") if ref.endswith(name) else ref
    return NewProduct(
        source_ref=ref,
        name=fit_line(name) or fit_line(ref[-NAME_MAX:]),
        team=team[:NAME_MAX],
        owner=fit_line(owner) or FALLBACK_TEAM,
        description=f"Dataset `{fit_line(name)}` in `{fit_line(namespace)}`, named by OpenLineage.",
    )


def _columns(dataset: Dataset) -> list[product_schemas.ColumnIn]:
    """The schema facet's fields as columns: names made valid, repeats and columns past the
    schema's bound dropped (an event cannot be refused for its dataset's oddities)."""
    columns: dict[str, product_schemas.ColumnIn] = {}
    for field in dataset.schema or ():
        name = fit_line(field.name)
        if not name or name in columns:
            continue
        columns[name] = product_schemas.ColumnIn(
            name=name,
            physical_type=fit_line(field.type or "", PHYSICAL_TYPE_MAX) or "unknown",
            description=fit_text(field.description or ""),
        )
        if len(columns) == product_schemas.MAX_COLUMNS:
            break
    return list(columns.values())


def _column_edges(
    outputs: Iterable[Dataset], ids: dict[str, str], job: str | None
) -> Iterable[ColumnEdge]:
    for output in outputs:
        target = ids[_ref(output)]
        for column, fields in output.column_lineage.items():
            for field in fields:
                source = ids[dataset_ref(field.namespace, field.name)]
                upstream, downstream = fit_line(field.field), fit_line(column)
                if upstream and downstream:
                    yield ColumnEdge(
                        upstream_product_id=source,
                        upstream_column=upstream,
                        downstream_product_id=target,
                        downstream_column=downstream,
                        transformation=fit_line(field.transformation or ""),
                        job=job,
                    )
