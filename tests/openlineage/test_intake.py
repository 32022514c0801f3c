"""The OpenLineage intake through the HTTP surface, on SQLite and PostgreSQL: events as the
Spark, Airflow, dbt and Flink integrations emit them, and as the openlineage-python client
sends them to a real server, become products, schemas, product and column lineage."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient, Response

from catalog.app import create_app
from catalog.settings import Settings
from tests.support.api import error_of, ok, unique
from tests.support.lifespan import resources_of, started
from tests.support.wait import until
from tests.test_auth import TOKENS, bearer, write_tokens

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openlineage"
LINEAGE = "/api/v1/lineage"
EVENTS = "/api/v1/events/lineage"


def fixture(name: str, host: str, **changes: Any) -> dict[str, Any]:
    """A fixture event with its databases on `host` (tests share a database: each test's
    datasets are its own) and a fresh run id."""
    text = (FIXTURES / f"{name}.json").read_text()
    for namespace in ("postgres://db:5432", "kafka://kafka-1:9092"):
        text = text.replace(namespace, namespace.replace("//", f"//{host}-", 1))
    event: dict[str, Any] = json.loads(text)
    if "run" in event:
        event["run"]["runId"] = str(uuid.uuid4())
    return event | changes


async def post(client: AsyncClient, event: dict[str, Any], **kw: Any) -> Response:
    """Post an event; once it is accepted, wait until the applier has applied everything."""
    response = await client.post(LINEAGE, json=event, **kw)
    if response.status_code == 201:
        await applied(client, headers=bearer("steward") if kw.get("headers") else None)
    return response


async def applied(client: AsyncClient, headers: dict[str, str] | None = None) -> None:
    """Wait (bounded) until no kept event waits for the applier."""

    async def drained() -> bool:
        waiting = await client.get(EVENTS, params={"applied": "false"}, headers=headers)
        return ok(waiting)["total"] == 0  # type: ignore[no-any-return]

    await until(drained, "the applier applying every kept event")


async def product_of(client: AsyncClient, ref: str) -> dict[str, Any]:
    """The product whose source_ref is `ref`."""
    found = ok(await client.get("/api/data-products", params={"source_ref": ref}))
    assert found["total"] == 1, (ref, found)
    return found["items"][0]  # type: ignore[no-any-return]


def pg(host: str, name: str) -> str:
    return f"postgres://{host}-db:5432/{name.replace('.', '/')}"


async def test_a_spark_run_makes_products_schemas_and_lineage(client: AsyncClient) -> None:
    host = unique("spark")
    response = await post(client, fixture("spark_complete", host))
    assert (response.status_code, response.content) == (201, b"")

    target = await product_of(client, pg(host, "sales.public.customer_revenue"))
    orders = await product_of(client, pg(host, "sales.public.orders"))
    customers = await product_of(client, pg(host, "sales.public.customers"))
    assert target["status"] == "draft"
    # Named after the dataset, or after its reference when another product has that name.
    assert target["name"] in {"sales.public.customer_revenue", target["source_ref"]}
    schema = ok(await client.get(f"/api/data-products/{target['id']}/schema"))
    columns = {c["name"]: c for c in schema["columns"]}
    assert list(columns) == ["customer_id", "region", "total_amount"]
    assert all(c["data_element_id"] for c in columns.values())  # bound as PUT .../schema binds

    lineage = ok(
        await client.get(
            f"/api/data-products/{target['id']}/lineage", params={"direction": "upstream"}
        )
    )
    sent = fixture("spark_complete", host)["job"]
    job = f"{sent['namespace']}/{sent['name']}"
    upstream = {(e["upstream_id"], e["job"]) for e in lineage["edges"]}
    assert upstream == {(orders["id"], job), (customers["id"], job)}

    column = ok(
        await client.get(
            f"/api/data-products/{target['id']}/schema/columns/total_amount/lineage",
            params={"direction": "upstream"},
        )
    )
    sources = {(n["product_id"], n["column"]) for n in column["nodes"]}
    assert (orders["id"], "amount") in sources
    [edge] = [e for e in column["edges"] if e["upstream_column"] == "amount"]
    assert edge["transformation"] == "DIRECT/AGGREGATION: sum(amount)"
    assert edge["job"]
    downstream = ok(
        await client.get(
            f"/api/data-products/{orders['id']}/schema/columns/amount/lineage",
            params={"direction": "downstream"},
        )
    )
    assert (target["id"], "total_amount") in {
        (n["product_id"], n["column"]) for n in downstream["nodes"]
    }


async def test_the_same_event_again_writes_nothing_new(client: AsyncClient) -> None:
    host = unique("again")
    event = fixture("dbt_complete", host)
    ok(await post(client, event), 201)
    target = await product_of(client, pg(host, "analytics.public.customer_orders"))
    versions = ok(await client.get(f"/api/data-products/{target['id']}/versions"))
    assert versions["total"] == 1
    ok(await post(client, event | {"run": {"runId": str(uuid.uuid4()), "facets": {}}}), 201)
    assert ok(await client.get(f"/api/data-products/{target['id']}/versions"))["total"] == 1
    assert (await product_of(client, target["source_ref"]))["id"] == target["id"]

    # A changed schema is a new version with its changes: a dropped column is breaking.
    changed = fixture("dbt_complete", host)
    fields = changed["outputs"][0]["facets"]["schema"]["fields"]
    dropped = fields.pop()["name"]
    ok(await post(client, changed), 201)
    listed = ok(await client.get(f"/api/data-products/{target['id']}/versions"))
    assert listed["total"] == 2
    latest = ok(await client.get(f"/api/data-products/{target['id']}/schema"))
    assert dropped not in {c["name"] for c in latest["columns"]}
    assert listed["items"][0]["version"] == "2.0.0" or listed["items"][-1]["version"] == "2.0.0"


@pytest.mark.parametrize(
    "name",
    ["airflow_start", "airflow_complete", "dbt_complete", "flink_running", "job_event"],
)
async def test_every_integration_s_events_are_taken(client: AsyncClient, name: str) -> None:
    host = unique(name.replace("_", "-"))
    event = fixture(name, host)
    ok(await post(client, event), 201)
    for dataset in (*event.get("inputs", []), *event.get("outputs", [])):
        namespace = dataset["namespace"]
        parts = dataset["name"].split(".")
        ref = (
            "/".join([namespace, *parts])
            if namespace.startswith("postgres") and len(parts) == 3
            else f"{namespace}/{dataset['name']}"
        )
        assert (await product_of(client, ref))["source_ref"] == ref


async def test_failed_and_aborted_runs_are_kept_but_change_nothing(client: AsyncClient) -> None:
    host = unique("fail")
    sent = [fixture(name, host) for name in ("spark_fail", "airflow_abort")]
    for event in sent:
        ok(await post(client, event), 201)
    refs = [pg(host, "sales.public.orders"), pg(host, "analytics.public.orders_daily")]
    for ref in refs:
        found = ok(await client.get("/api/data-products", params={"source_ref": ref}))
        assert found["total"] == 0
    events = ok(await client.get(EVENTS, params={"job_name": "daily_sales_rollup"}))
    [failed] = [e for e in events["items"] if e["run_id"] == sent[0]["run"]["runId"]]
    assert (failed["event_type"], failed["outcome"], failed["error"]) == ("FAIL", "kept", "")
    assert failed["applied_at"] is not None


async def test_a_dataset_event_sets_a_schema_without_lineage(client: AsyncClient) -> None:
    host = unique("dataset")
    event = fixture("dataset_event", host)
    ok(await post(client, event), 201)
    dataset = event["dataset"]
    namespace, parts = dataset["namespace"], dataset["name"].split(".")
    ref = "/".join([namespace, *parts]) if len(parts) == 3 else f"{namespace}/{dataset['name']}"
    product = await product_of(client, ref)
    schema = ok(await client.get(f"/api/data-products/{product['id']}/schema"))
    sent = [f["name"] for f in dataset["facets"]["schema"]["fields"]]
    assert [c["name"] for c in schema["columns"]] == sent
    lineage = ok(await client.get(f"/api/data-products/{product['id']}/lineage"))
    assert lineage["edges"] == []


@pytest.mark.parametrize(
    ("breakage", "field"),
    [
        (lambda e: e["run"].pop("runId"), "run.runId"),
        (lambda e: e.update(eventType="FINISHED"), "eventType"),
        (lambda e: e.update(eventTime="yesterday"), "eventTime"),
        (lambda e: e.update(inputs="orders"), "inputs"),
        (lambda e: e["inputs"][0].pop("namespace"), "inputs[0].namespace"),
    ],
    ids=["no-run-id", "bad-event-type", "bad-time", "inputs-not-a-list", "no-namespace"],
)
async def test_an_invalid_event_is_a_400_naming_the_field(
    client: AsyncClient, breakage: Callable[[dict[str, Any]], Any], field: str
) -> None:
    host = unique("bad")
    event = fixture("spark_complete", host)
    breakage(event)
    error = error_of(await post(client, event), 400)
    assert field in error["details"]
    assert error["errors"][0]["loc"] == ["body", field]
    products = {"source_ref": pg(host, "sales.public.orders")}
    assert ok(await client.get("/api/data-products", params=products))["total"] == 0


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'"text"', b"{}"])
async def test_what_is_not_an_event_is_a_400(client: AsyncClient, body: bytes) -> None:
    response = await client.post(
        LINEAGE, content=body, headers={"content-type": "application/json"}
    )
    error_of(response, 400)


async def test_a_burst_is_kept_at_once_and_applied_once_per_distinct_content(
    client: AsyncClient,
) -> None:
    host = unique("burst")
    runs = []
    for _ in range(30):  # one job's 30 runs: the same datasets, schema and column lineage
        event = fixture("dbt_complete", host)
        runs.append(event["run"]["runId"])
        assert (await client.post(LINEAGE, json=event)).status_code == 201
    await applied(client)
    target = await product_of(client, pg(host, "analytics.public.customer_orders"))
    assert ok(await client.get(f"/api/data-products/{target['id']}/versions"))["total"] == 1
    listed = ok(
        await client.get(
            EVENTS, params={"job_name": fixture("dbt_complete", host)["job"]["name"], "limit": 100}
        )
    )
    mine = {e["run_id"]: e for e in listed["items"] if e["run_id"] in runs}
    assert len(mine) == 30
    assert {e["outcome"] for e in mine.values()} == {"applied"}


@pytest.fixture
async def held(make_settings: Callable[..., Settings]) -> AsyncIterator[tuple[AsyncClient, Any]]:
    """A client of an app whose applier is stopped: the test runs its rounds itself."""
    manager = started(create_app(make_settings()))
    await manager.__aenter__()
    applier = resources_of(manager).lineage_applier
    await applier.stop()
    transport = ASGITransport(app=manager.app, client=("127.0.0.1", 50000))
    async with AsyncClient(transport=transport, base_url="http://catalog.test") as client:
        yield client, applier
    await manager.__aexit__(None, None, None)


async def test_events_applied_in_one_round_end_where_the_last_one_says(
    held: tuple[AsyncClient, Any],
) -> None:
    client, applier = held
    host = unique("round")
    second = fixture("dbt_complete", host)
    dropped = second["outputs"][0]["facets"]["schema"]["fields"].pop()["name"]
    # S1, S2, S1 again, the same S1 once more: one round.
    for event in (fixture("dbt_complete", host), second, *[fixture("dbt_complete", host)] * 2):
        assert (await client.post(LINEAGE, json=event)).status_code == 201
    assert await applier.run_once() == 4
    target = await product_of(client, pg(host, "analytics.public.customer_orders"))
    versions = ok(await client.get(f"/api/data-products/{target['id']}/versions"))
    assert versions["total"] == 3
    schema = ok(await client.get(f"/api/data-products/{target['id']}/schema"))
    assert dropped in {c["name"] for c in schema["columns"]}
    assert await applier.run_once() == 0  # nothing left

    # A product deleted by hand is made again by the next event that names it.
    ok(await client.delete(f"/api/data-products/{target['id']}"), 204)
    assert (await client.post(LINEAGE, json=fixture("dbt_complete", host))).status_code == 201
    assert await applier.run_once() == 1
    again = await product_of(client, target["source_ref"])
    assert again["id"] != target["id"]


async def test_an_event_the_databases_cannot_store_is_a_400(client: AsyncClient) -> None:
    event = fixture("airflow_complete", unique("nul"))
    event["run"]["facets"]["acme"] = {
        "_producer": "https://example.com/x",
        "_schemaURL": "https://example.com/s",
        "note": "a\u0000b",
    }
    body = json.dumps(event)  # the NUL travels as JSON writes it, \\u0000
    error = error_of(
        await client.post(LINEAGE, content=body, headers={"content-type": "application/json"}),
        400,
    )
    assert "NUL" in error["details"]


async def test_unknown_facets_are_kept(client: AsyncClient) -> None:
    host = unique("facets")
    event = fixture("airflow_complete", host)
    custom = {"_producer": "https://example.com/x", "_schemaURL": "https://example.com/s", "v": 1}
    event["run"]["facets"]["acme_cost"] = custom
    ok(await post(client, event), 201)
    events = ok(await client.get(EVENTS, params={"job_name": event["job"]["name"]}))
    mine = [e for e in events["items"] if e["run_id"] == event["run"]["runId"]]
    assert mine[0]["event"]["run"]["facets"]["acme_cost"] == custom


async def test_events_are_listed_newest_first_and_filtered_by_time(client: AsyncClient) -> None:
    job = unique("job")
    times = ["2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"]
    for moment in times:
        event = fixture("flink_running", unique("t"), eventTime=moment)
        event["job"]["name"] = job
        ok(await post(client, event), 201)
    listed = ok(await client.get(EVENTS, params={"job_name": job}))
    assert [e["event_time"][:10] for e in listed["items"]] == [
        "2026-03-01",
        "2026-02-01",
        "2026-01-01",
    ]
    window = {"job_name": job, "after": "2026-01-15T00:00:00Z", "before": "2026-02-15T00:00:00Z"}
    assert ok(await client.get(EVENTS, params=window))["total"] == 1
    paged = ok(await client.get(EVENTS, params={"job_name": job, "limit": 1, "offset": 1}))
    assert (paged["total"], len(paged["items"])) == (3, 1)
    backwards = {"after": "2026-02-15T00:00:00Z", "before": "2026-01-15T00:00:00Z"}
    error_of(await client.get(EVENTS, params=backwards), 422)


async def test_posting_needs_an_editor_and_listing_a_steward(
    make_settings: Callable[..., Settings], open_client: Any, tmp_path: Path
) -> None:
    tokens = write_tokens(tmp_path / "tokens", TOKENS)
    client = await open_client(create_app(make_settings(enable_auth=True, auth_tokens_file=tokens)))
    host = unique("auth")
    event = fixture("airflow_complete", host)
    error_of(await post(client, event), 401)
    error_of(await post(client, event, headers=bearer("viewer")), 403)
    ok(await post(client, event, headers=bearer("editor")), 201)
    # The editor's API token has team finance: what the event made is that team's.
    made = await product_of_with(client, pg(host, "analytics.public.orders_daily"), "editor")
    assert made["team"] == "finance"
    error_of(await client.get(EVENTS, headers=bearer("editor")), 403)
    ok(await client.get(EVENTS, headers=bearer("steward")))


async def product_of_with(client: AsyncClient, ref: str, who: str) -> dict[str, Any]:
    name = ref.split("/", 3)[-1].replace("/", ".")
    found = ok(await client.get("/api/data-products", params={"name": name}, headers=bearer(who)))
    [product] = [p for p in found["items"] if p["source_ref"] == ref]
    return product  # type: ignore[no-any-return]


def test_event_times_are_kept_with_their_timezone() -> None:
    from catalog.openlineage.spec import parse_event

    event = fixture("flink_running", "tz", eventTime="2026-05-01T10:00:00+02:00")
    assert parse_event(event).event_time == datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
