"""OpenLineage events: validated against the spec's JSON schema, then parsed into dataclasses.

`parse_event(raw)` takes one event as JSON bytes/str or an already-decoded dict, validates it
against the OpenLineage core schema (RunEvent, DatasetEvent or JobEvent) and, where a dataset
carries them, against the `schema` and `columnLineage` facet schemas, and returns a
`LineageEvent`. Anything invalid raises `InvalidLineageEvent(message, field)` with `field` the
dotted/indexed path of the offending value (`run.runId`, `inputs[0].namespace`; "" for the
event itself).

Facets are open: every facet, known or not, is kept as received in `Dataset.facets` (and in
`LineageEvent.raw`); only the two facets this module reads are checked, and only against
their own spec schema, which allows additional properties.

Vendored spec files (beside this module, packaged with it), from
https://github.com/OpenLineage/OpenLineage at commit 8f02abfb7a252783b95df79f443edb13959bf52c
(2026-08-20; the files last changed in 5d00e247e7381bc51b97367866f9129d883ae746), unmodified:
`spec/OpenLineage.json` (core 2-0-2, JSON Schema draft 2020-12),
`spec/facets/SchemaDatasetFacet.json` (1-2-0) and `spec/facets/ColumnLineageDatasetFacet.json`
(1-2-0). Copyright The OpenLineage Authors, licensed under the Apache License 2.0
(https://www.apache.org/licenses/LICENSE-2.0).

Validation uses jsonschema-rs (Rust) with format checks on (date-time, uri, uuid), the schemas
compiled once on first use; a valid event costs one `is_valid` call per schema (~10 us for a
Spark event with schema + columnLineage facets), the slower error walk runs only on failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any, Final

import jsonschema_rs
import orjson

from catalog.kit.schemas import NO_NUL_PATTERN, STORABLE_JSON

__all__ = [
    "EVENT_TYPES",
    "Dataset",
    "InputField",
    "InvalidLineageEvent",
    "LineageEvent",
    "SchemaField",
    "event_schema",
    "parse_event",
]

CORE_SCHEMA_FILE: Final = "OpenLineage.json"
SCHEMA_FACET_FILE: Final = "SchemaDatasetFacet.json"
COLUMN_LINEAGE_FACET_FILE: Final = "ColumnLineageDatasetFacet.json"

EVENT_TYPES: Final = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")
DESCRIPTION_MAX: Final = 80  # a transformation's description in InputField.transformation


class InvalidLineageEvent(ValueError):
    """The input is not a valid OpenLineage event; `field` is the path of the offending value."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class SchemaField:
    """One column of a dataset's schema facet; a struct's nested fields come as "parent.child"."""

    name: str
    type: str | None
    description: str | None


@dataclass(frozen=True)
class InputField:
    """One input column an output column is derived from (columnLineage facet)."""

    namespace: str
    name: str
    field: str
    transformation: str | None  # e.g. "DIRECT/IDENTITY", "INDIRECT/FILTER"


@dataclass(frozen=True)
class Dataset:
    namespace: str
    name: str
    schema: tuple[SchemaField, ...] | None  # facets.schema.fields; None without a schema facet
    column_lineage: dict[str, tuple[InputField, ...]]  # output column -> its inputs
    facets: dict[str, Any]  # all facets as received, inputFacets/outputFacets merged in


@dataclass(frozen=True)
class LineageEvent:
    kind: str  # "run" | "dataset" | "job"
    event_type: str | None  # START/RUNNING/COMPLETE/ABORT/FAIL/OTHER for run events
    event_time: datetime  # timezone-aware
    run_id: str | None
    job_namespace: str | None
    job_name: str | None
    inputs: tuple[Dataset, ...]
    outputs: tuple[Dataset, ...]  # a DatasetEvent's one dataset is here
    producer: str
    schema_url: str
    raw: dict[str, Any]  # the event as received


# --- validation --------------------------------------------------------------------------


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(resources.files(__package__).joinpath(name).read_bytes())
    return data


def event_schema() -> dict[str, Any]:
    """The spec's event schema with its `$ref`s written out, for the OpenAPI document (whose
    `#` is the document, not this file): RunEvent, DatasetEvent or JobEvent."""
    spec = _load("OpenLineage.json")
    definitions = spec["$defs"]

    def inline(node: Any, seen: frozenset[str]) -> Any:
        if isinstance(node, list):
            return [inline(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in seen:  # (the spec has no cycle; a generic object if one appears)
                return {"type": "object"}
            rest = {k: inline(v, seen) for k, v in node.items() if k != "$ref"}
            return inline(definitions[name], seen | {name}) | rest
        return {k: inline(v, seen) for k, v in node.items() if k not in ("$schema", "$id")}

    storable = {"$ref": f"#/components/schemas/{STORABLE_JSON}"}
    return {"oneOf": _storable(inline(spec["oneOf"], frozenset()), storable)}


def _storable(node: Any, storable: dict[str, Any]) -> Any:
    """The schema with what the catalog cannot store said too: no string holds NUL, and an
    object's undeclared members (facets are open) are StorableJSON."""
    if isinstance(node, list):
        return [_storable(item, storable) for item in node]
    if not isinstance(node, dict):
        return node
    found = {k: _storable(v, storable) for k, v in node.items()}
    if found.get("type") == "string" and "pattern" not in found:
        found["pattern"] = NO_NUL_PATTERN
    if found.get("type") == "object":
        found.setdefault("propertyNames", {"pattern": NO_NUL_PATTERN})
        if found.get("additionalProperties", True) is True:
            found["additionalProperties"] = storable
    return found


class _Validators:
    """The spec's schemas compiled once: one validator per event kind, one per read facet."""

    def __init__(self) -> None:
        core = _load(CORE_SCHEMA_FILE)
        registry = jsonschema_rs.Registry([(core["$id"], core)])
        events = jsonschema_rs.validator_map_for(core, validate_formats=True)
        self.events: dict[str, jsonschema_rs.Validator] = {
            "run": events["#/$defs/RunEvent"],
            "dataset": events["#/$defs/DatasetEvent"],
            "job": events["#/$defs/JobEvent"],
        }
        # Each facet file's root is an object schema over a dataset's `facets` map.
        self.facets: dict[str, jsonschema_rs.Validator] = {
            key: jsonschema_rs.validator_for(_load(file), validate_formats=True, registry=registry)
            for key, file in (
                ("schema", SCHEMA_FACET_FILE),
                ("columnLineage", COLUMN_LINEAGE_FACET_FILE),
            )
        }


@cache
def _validators() -> _Validators:
    return _Validators()


def _path(prefix: str, parts: list[str | int] | tuple[str | int, ...]) -> str:
    out = prefix
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _deepest(error: jsonschema_rs.ValidationError) -> jsonschema_rs.ValidationError:
    """Under anyOf (the facet maps), the sub-error that says what is actually wrong."""
    kind = error.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.AnyOf):
        candidates = [_deepest(e) for branch in kind.context for e in branch]
        if candidates:
            return max(candidates, key=lambda e: len(e.instance_path))
    return error


def _describe(error: jsonschema_rs.ValidationError, prefix: str) -> InvalidLineageEvent:
    error = _deepest(error)
    kind = error.kind
    parts = list(error.instance_path)
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        field = _path(prefix, [*parts, kind.property])
        return InvalidLineageEvent(f"the required property {kind.property!r} is missing", field)
    field = _path(prefix, parts)
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Type):
        expected = " or ".join(kind.types)
        message = f"expected {'an' if expected[0] in 'aeiou' else 'a'} {expected}"
        return InvalidLineageEvent(f"{message}, got {_short(error.instance)}", field)
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Enum):
        options = ", ".join(str(o) for o in kind.options)
        return InvalidLineageEvent(f"{_short(error.instance)} is not one of {options}", field)
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Format):
        return InvalidLineageEvent(f"{_short(error.instance)} is not a valid {kind.format}", field)
    return InvalidLineageEvent(error.message, field)


def _short(value: Any) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 60 else text[:57] + "..."


def _check(validator: jsonschema_rs.Validator, instance: Any, prefix: str) -> None:
    if validator.is_valid(instance):
        return
    for error in validator.iter_errors(instance):
        raise _describe(error, prefix)
    raise InvalidLineageEvent("does not match the OpenLineage schema", prefix)


def _kind_of(event: dict[str, Any]) -> str:
    """Which of the spec's oneOf branches the event means to be (the root oneOf says only
    "matches none", so the event is checked against the one it claims)."""
    if "run" in event or "eventType" in event:
        return "run"
    if "dataset" in event:
        if "job" in event:
            raise InvalidLineageEvent(
                "an event has a dataset (DatasetEvent) or a job (JobEvent), not both", "dataset"
            )
        return "dataset"
    if "job" in event:
        return "job"
    return "run"  # reported as a run event missing its run


def _validate(event: dict[str, Any]) -> str:
    validators = _validators()
    kind = _kind_of(event)
    _check(validators.events[kind], event, "")
    datasets: list[tuple[str, Any]] = []
    if kind == "dataset":
        datasets.append(("dataset", event["dataset"]))
    else:
        for side in ("inputs", "outputs"):
            datasets.extend((f"{side}[{i}]", d) for i, d in enumerate(event.get(side) or ()))
    for path, dataset in datasets:
        facets = dataset.get("facets")
        if not facets:
            continue
        for key, validator in validators.facets.items():
            if key in facets:
                _check(validator, facets, f"{path}.facets")
    return kind


# --- parsing -----------------------------------------------------------------------------


def _decode(raw: bytes | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidLineageEvent(f"the event is not valid JSON: {exc}", "") from None
    if not isinstance(event, dict):
        raise InvalidLineageEvent(f"an event is a JSON object, got {_json_type(event)}", "")
    return event


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _event_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidLineageEvent(f"{value!r} is not a valid date-time", "eventTime") from None
    if parsed.tzinfo is None:  # the schema's date-time requires an offset; belt and braces
        raise InvalidLineageEvent(f"{value!r} has no time zone offset", "eventTime")
    return parsed


def _schema_fields(fields: list[dict[str, Any]], parent: str = "") -> list[SchemaField]:
    out: list[SchemaField] = []
    for f in fields:
        name = f"{parent}.{f['name']}" if parent else f["name"]
        out.append(SchemaField(name=name, type=f.get("type"), description=f.get("description")))
        if f.get("fields"):
            out.extend(_schema_fields(f["fields"], name))
    return out


def _transformation(kind: str | None, subtype: str | None, description: str | None) -> str | None:
    """ "DIRECT/IDENTITY", "INDIRECT/FILTER", "DIRECT/AGGREGATION: sum(amount)": one short text."""
    text = "/".join(p for p in (kind, subtype) if p)
    if description:
        description = " ".join(description.split())
        if len(description) > DESCRIPTION_MAX:
            description = description[: DESCRIPTION_MAX - 3] + "..."
        text = f"{text}: {description}" if text else description
    return text or None


def _column_lineage(facet: dict[str, Any] | None) -> dict[str, tuple[InputField, ...]]:
    if not facet:
        return {}
    lineage: dict[str, tuple[InputField, ...]] = {}
    for column, entry in (facet.get("fields") or {}).items():
        legacy = _transformation(
            entry.get("transformationType"), None, entry.get("transformationDescription")
        )
        inputs = []
        for source in entry.get("inputFields") or ():
            transformations = source.get("transformations")
            if transformations:
                first = transformations[0]
                text = _transformation(
                    first.get("type"), first.get("subtype"), first.get("description")
                )
                if first.get("masking"):
                    text = f"{text} (masked)"
            else:
                text = legacy
            inputs.append(
                InputField(
                    namespace=source["namespace"],
                    name=source["name"],
                    field=source["field"],
                    transformation=text,
                )
            )
        lineage[column] = tuple(inputs)
    return lineage


def _dataset(raw: dict[str, Any], extra_facets_key: str | None) -> Dataset:
    facets: dict[str, Any] = dict(raw.get("facets") or {})
    if extra_facets_key:
        facets.update(raw.get(extra_facets_key) or {})
    schema_facet = facets.get("schema")
    schema = (
        tuple(_schema_fields(schema_facet.get("fields") or []))
        if isinstance(schema_facet, dict)
        else None
    )
    lineage_facet = facets.get("columnLineage")
    return Dataset(
        namespace=raw["namespace"],
        name=raw["name"],
        schema=schema,
        column_lineage=_column_lineage(lineage_facet if isinstance(lineage_facet, dict) else None),
        facets=facets,
    )


def parse_event(raw: bytes | str | dict[str, Any]) -> LineageEvent:
    """Validate one OpenLineage event against the spec and parse it.

    Raises InvalidLineageEvent (with the offending field's path) when it is not valid JSON,
    not an object, or not a RunEvent/DatasetEvent/JobEvent of the spec.
    """
    event = _decode(raw)
    kind = _validate(event)
    job = event.get("job") if kind != "dataset" else None
    if kind == "dataset":
        inputs: tuple[Dataset, ...] = ()
        outputs: tuple[Dataset, ...] = (_dataset(event["dataset"], None),)
    else:
        inputs = tuple(_dataset(d, "inputFacets") for d in event.get("inputs") or ())
        outputs = tuple(_dataset(d, "outputFacets") for d in event.get("outputs") or ())
    return LineageEvent(
        kind=kind,
        event_type=event.get("eventType") if kind == "run" else None,
        event_time=_event_time(event["eventTime"]),
        run_id=event["run"]["runId"] if kind == "run" else None,
        job_namespace=job["namespace"] if job else None,
        job_name=job["name"] if job else None,
        inputs=inputs,
        outputs=outputs,
        producer=event["producer"],
        schema_url=event["schemaURL"],
        raw=event,
    )
