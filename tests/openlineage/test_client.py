"""The openlineage-python client, its HTTP transport pointed at a real `catalog serve` with
auth on, emits a job's run; the catalog shows its datasets, schemas, product and column
lineage (the way an Airflow or Spark integration would meet it)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import column_lineage_dataset, schema_dataset
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

from tests.support.process import catalog_server, run_catalog
from tests.support.wait import until_sync
from tests.test_auth import TOKENS, write_tokens

PRODUCER = "https://github.com/example/pipelines/tests"
NAMESPACE = "postgres://warehouse:5432"
EVENTS = "/api/v1/events/lineage"


def client_for(base: str, token: str) -> OpenLineageClient:
    config = HttpConfig(url=base, auth=ApiKeyTokenProvider({"apiKey": token}), timeout=10)
    return OpenLineageClient(transport=HttpTransport(config))


def run_event(state: RunState, run_id: str) -> RunEvent:
    schema = schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(name="day", type="date"),
            schema_dataset.SchemaDatasetFacetFields(
                name="revenue", type="numeric(12,2)", description="Sum of order amounts"
            ),
        ]
    )
    lineage = column_lineage_dataset.ColumnLineageDatasetFacet(
        fields={
            "revenue": column_lineage_dataset.Fields(
                inputFields=[
                    column_lineage_dataset.InputField(
                        namespace=NAMESPACE, name="shop.public.orders", field="amount"
                    )
                ],
                transformationDescription="sum(amount)",
                transformationType="AGGREGATION",
            ),
            "day": column_lineage_dataset.Fields(
                inputFields=[
                    column_lineage_dataset.InputField(
                        namespace=NAMESPACE, name="shop.public.orders", field="ordered_at"
                    )
                ],
                transformationDescription="date(ordered_at)",
                transformationType="TRANSFORMATION",
            ),
        }
    )
    return RunEvent(
        eventType=state,
        eventTime=datetime.now(UTC).isoformat(),
        run=Run(runId=run_id),
        job=Job(namespace="nightly", name="revenue_by_day"),
        producer=PRODUCER,
        inputs=[InputDataset(namespace=NAMESPACE, name="shop.public.orders")],
        outputs=[
            OutputDataset(
                namespace=NAMESPACE,
                name="shop.public.revenue_by_day",
                facets={"schema": schema, "columnLineage": lineage},
            )
        ],
    )


def test_the_python_client_s_events_become_product_and_column_lineage(tmp_path: Path) -> None:
    tokens = write_tokens(tmp_path / "tokens", TOKENS)
    env = {
        "CATALOG_DATABASE_URL": f"sqlite:///{tmp_path}/catalog.db",
        "ENABLE_AUTH": "true",
        "AUTH_TOKENS_FILE": str(tokens),
        # As shipped, but this test's reads may come faster than a person's (1.67/s).
        "RATE_LIMIT_PER_IP_RPS": "50",
    }
    assert run_catalog("migrate", env=env).returncode == 0
    editor, steward = TOKENS["editor"][0], TOKENS["steward"][0]
    with catalog_server(env) as (_process, base):
        client = client_for(base, editor)
        run_id = str(uuid.uuid4())
        for state in (RunState.START, RunState.RUNNING, RunState.COMPLETE):
            client.emit(run_event(state, run_id))  # raises on anything but 2xx

        api = httpx.Client(base_url=base, headers={"authorization": f"Bearer {steward}"})
        until_sync(
            lambda: api.get(EVENTS, params={"applied": "false"}).json()["total"] == 0,
            "the server applying the client's events",
        )
        ref = f"{NAMESPACE}/shop/public/revenue_by_day"
        [target] = api.get("/api/data-products", params={"source_ref": ref}).json()["items"]
        [orders] = api.get(
            "/api/data-products", params={"source_ref": f"{NAMESPACE}/shop/public/orders"}
        ).json()["items"]
        schema = api.get(f"/api/data-products/{target['id']}/schema").json()
        assert [c["name"] for c in schema["columns"]] == ["day", "revenue"]
        assert schema["columns"][1]["description"] == "Sum of order amounts"
        # Three events, one schema: one version.
        assert api.get(f"/api/data-products/{target['id']}/versions").json()["total"] == 1
        lineage = api.get(
            f"/api/data-products/{target['id']}/lineage", params={"direction": "upstream"}
        ).json()
        assert [(e["upstream_id"], e["job"]) for e in lineage["edges"]] == [
            (orders["id"], "nightly/revenue_by_day")
        ]
        revenue = api.get(
            f"/api/data-products/{target['id']}/schema/columns/revenue/lineage",
            params={"direction": "upstream"},
        ).json()
        assert [(n["product_name"], n["column"]) for n in revenue["nodes"]] == [
            (orders["name"], "amount")
        ]
        assert revenue["edges"][0]["transformation"] == "AGGREGATION: sum(amount)"
        listed = api.get(EVENTS, params={"job_name": "revenue_by_day"})
        assert listed.status_code == 200, listed.text
        events = listed.json()
        assert [e["event_type"] for e in events["items"]].count("COMPLETE") == 1
        assert events["total"] == 3
        assert {e["run_id"] for e in events["items"]} == {run_id}
        assert {e["outcome"] for e in events["items"]} == {"applied"}
