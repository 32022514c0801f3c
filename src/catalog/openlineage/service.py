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
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from catalog.core.errors import Conflict
from catalog.db.models import DataProduct, LineageEventRecord
from catalog.db.models.products import SOURCE_REF_LENGTH
from catalog.kit.dataset_refs import dataset_ref
from catalog.kit.pagination import PageParams
from catalog.kit.schemas import NAME_MAX, fit_line, fit_text
from catalog.openlineage.repository import LineageEventRepository
from catalog.openlineage.spec import Dataset, LineageEvent
from catalog.products import schemas as product_schemas
from catalog.products.external import ColumnEdge, ExternalProducts, NewProduct

UNPRODUCTIVE = frozenset({"FAIL", "ABORT"})
RACE_ATTEMPTS = 3
PHYSICAL_TYPE_MAX = 100
FALLBACK_TEAM = "openlineage"


class LineageIntake(ExternalProducts):
    def keep(self, event: LineageEvent) -> None:
        """Keep a received event, to be applied by applier.py after the commit."""
        principal = self.actor.principal
        LineageEventRepository(self.session).keep(_record(event, principal.subject, principal.team))

    async def apply(self, event: LineageEvent) -> None:
        """Make the catalog say what the event says (the module docstring); the caller skips
        FAIL and ABORT runs."""
        for attempt in range(1, RACE_ATTEMPTS + 1):
            try:
                async with self.session.begin_nested():
                    await self._apply(event)
                return
            except IntegrityError as error:
                # Another event made the same product, element or edge a moment ago (jobs
                # run in parallel): its row is committed now, so this attempt finds it.
                if attempt == RACE_ATTEMPTS:
                    raise Conflict(
                        "concurrent events kept making the same datasets; send it again"
                    ) from error

    async def _apply(self, event: LineageEvent) -> None:
        job = _job(event)
        datasets = {_ref(d): d for d in (*event.inputs, *event.outputs)}
        named = {**datasets, **_column_sources(event.outputs)}
        team = fit_line(self.actor.principal.team or event.job_namespace or "") or FALLBACK_TEAM
        products = await self.ensure(
            [_new_product(ref, name, team, self.actor.subject) for ref, name in named.items()]
        )
        for ref, dataset in datasets.items():
            if dataset.schema:
                await self._schema(products[ref], dataset, job)
        if event.kind != "dataset":
            sources = {products[_ref(d)].id for d in event.inputs}
            targets = {products[_ref(d)].id for d in event.outputs}
            await self.link([(s, t) for s in sources for t in targets], "feeds", job)
        edges = list(_column_edges(event.outputs, products, job))
        if edges:
            await self.link_columns(edges)
        await self.session.flush()

    async def _schema(self, product: DataProduct, dataset: Dataset, job: str | None) -> None:
        columns = _columns(dataset)
        if columns:
            source = f"OpenLineage job {job}" if job else "an OpenLineage dataset event"
            await self.apply_schema(
                product.id, columns, f"Schema from {source}.", qualify=product.name
            )

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
    outputs: Iterable[Dataset], products: dict[str, DataProduct], job: str | None
) -> Iterable[ColumnEdge]:
    for output in outputs:
        target = products[_ref(output)]
        for column, fields in output.column_lineage.items():
            for field in fields:
                source = products[dataset_ref(field.namespace, field.name)]
                upstream, downstream = fit_line(field.field), fit_line(column)
                if upstream and downstream:
                    yield ColumnEdge(
                        upstream_product_id=source.id,
                        upstream_column=upstream,
                        downstream_product_id=target.id,
                        downstream_column=downstream,
                        transformation=fit_line(field.transformation or ""),
                        job=job,
                    )
