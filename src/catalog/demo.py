"""Demo data so a newcomer's `make run` shows a living catalog.

The demo is loaded through the service's own HTTP API, in process (no server, no network):
every counter, audit event and rule is exercised exactly as a client would, so the demo can
never hold data the API itself would refuse. It is deterministic (a fixed random seed).

What it loads: value domains, ~250 data elements over 10 object classes, ~60 data products
across 8 teams with member elements, a tag hierarchy and product tags, semantic versions,
lineage, views and ratings, access requests in every state, quality measurements,
regulatory schemas with field-level changes and mappings, and LangExtract audit records.
"""

from __future__ import annotations

import random
from typing import Any

from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient, Response

from catalog.core.logging import configure_logging, get_logger
from catalog.db.engine import create_engine, session_factory
from catalog.products.repository import ProductRepository
from catalog.settings import Settings

log = get_logger(__name__)

TEAMS = {
    "finance": [
        "General Ledger",
        "Accounts Payable",
        "Revenue",
        "Treasury Positions",
        "Cost Centres",
        "Financial Close",
        "Tax Provisions",
        "FX Rates",
    ],
    "risk": [
        "Credit Exposure",
        "Market Risk VaR",
        "Counterparty Limits",
        "Fraud Alerts",
        "Liquidity Coverage",
        "Stress Scenarios",
        "Loan Defaults",
    ],
    "marketing": [
        "Campaign Performance",
        "Customer Segments",
        "Web Sessions",
        "Email Engagement",
        "Attribution",
        "Lead Scoring",
        "Brand Sentiment",
    ],
    "operations": [
        "Order Fulfilment",
        "Warehouse Stock",
        "Shipment Tracking",
        "Returns",
        "Supplier Deliveries",
        "Production Yield",
        "Maintenance Orders",
    ],
    "sales": [
        "Pipeline Opportunities",
        "Bookings",
        "Quotes",
        "Territory Coverage",
        "Sales Forecast",
        "Partner Deals",
        "Price Lists",
    ],
    "hr": [
        "Headcount",
        "Payroll",
        "Recruiting Funnel",
        "Attrition",
        "Training Records",
        "Compensation Bands",
    ],
    "supply-chain": [
        "Purchase Orders",
        "Inventory Turns",
        "Lead Times",
        "Supplier Risk",
        "Demand Forecast",
        "Logistics Costs",
        "Carrier Performance",
    ],
    "customer-success": [
        "Support Tickets",
        "Customer Health",
        "NPS Survey",
        "Renewals",
        "Churn Signals",
        "Onboarding Progress",
        "Knowledge Base Usage",
    ],
}
CATEGORIES = ["reporting", "analytics", "operational", "reference", "machine-learning"]
OBJECT_CLASSES = [
    "Customer",
    "Account",
    "Transaction",
    "Order",
    "Product",
    "Employee",
    "Supplier",
    "Invoice",
    "Shipment",
    "Campaign",
]
PROPERTIES = [
    ("Identifier", "id-36"),
    ("Name", "text-200"),
    ("Amount", "money"),
    ("Date", "iso-date"),
    ("Status", "status-code"),
    ("Country", "country"),
    ("Currency", "currency"),
    ("Email", "email"),
    ("Category", "text-200"),
    ("Percentage", "percent"),
    ("Created Timestamp", "iso-datetime"),
    ("Quantity", "count"),
    ("Description", "text-2000"),
    ("Owner", "text-200"),
    ("Region", "text-200"),
    ("Score", "percent"),
    ("Reference Code", "code-12"),
    ("Priority", "status-code"),
    ("Channel", "text-200"),
    ("Risk Rating", "status-code"),
    ("Balance", "money"),
    ("Discount", "percent"),
    ("Start Date", "iso-date"),
    ("End Date", "iso-date"),
    ("Source System", "text-200"),
]
TAG_TREE = {
    ("domain", "business-domain"): [
        "finance",
        "risk",
        "marketing",
        "operations",
        "sales",
        "hr",
        "supply-chain",
        "customer-success",
    ],
    ("sensitivity", "data-sensitivity"): ["pii", "confidential", "public-data"],
    ("quality", "quality-tier"): ["gold", "silver", "bronze"],
    ("cadence", "refresh-cadence"): ["real-time", "hourly", "daily", "monthly"],
}
USERS = [
    f"{name}@example.com"
    for name in (
        "ana",
        "ben",
        "chen",
        "dora",
        "eli",
        "fay",
        "gus",
        "hana",
        "ivo",
        "jun",
        "kai",
        "lea",
    )
]


class DemoLoader:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.random = random.Random(11179)  # noqa: S311 - repeatable demo data, not secrets

    async def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        response: Response = await self.client.request(method, path, json=body)
        if response.status_code != status:
            raise RuntimeError(f"demo: {method} {path} -> {response.status_code} {response.text}")
        return response.json() if response.content else None

    async def load(self) -> dict[str, int]:
        await self.value_domains()
        elements = await self.elements()
        tags = await self.tags()
        products = await self.products(elements, tags)
        await self.activity(products)
        await self.quality(elements)
        await self.regulatory(products, elements)
        await self.extractions()
        return {"elements": len(elements), "products": len(products), "tags": len(tags)}

    async def value_domains(self) -> None:
        domains: list[dict[str, Any]] = [
            {
                "name": "ISO 3166 Country",
                "type": "enumerated",
                "permissible_values": [
                    {"value": c, "meaning": m}
                    for c, m in (
                        ("NL", "Netherlands"),
                        ("DE", "Germany"),
                        ("FR", "France"),
                        ("GB", "United Kingdom"),
                        ("US", "United States"),
                        ("JP", "Japan"),
                        ("BR", "Brazil"),
                        ("IN", "India"),
                    )
                ],
            },
            {
                "name": "ISO 4217 Currency",
                "type": "enumerated",
                "permissible_values": [
                    {"value": c, "meaning": m}
                    for c, m in (
                        ("EUR", "Euro"),
                        ("USD", "US Dollar"),
                        ("GBP", "Pound Sterling"),
                        ("JPY", "Yen"),
                        ("BRL", "Real"),
                        ("INR", "Rupee"),
                    )
                ],
            },
            {
                "name": "Percentage",
                "type": "non_enumerated",
                "data_type": "decimal",
                "constraints": [{"type": "range", "value": {"min": 0, "max": 100}}],
            },
            {
                "name": "Email Address",
                "type": "non_enumerated",
                "data_type": "string",
                "constraints": [
                    {"type": "pattern", "value": r"[^@\s]+@[^@\s]+\.[a-z]{2,}"},
                    {"type": "max_length", "value": 254},
                ],
            },
            {
                "name": "Non-negative Count",
                "type": "non_enumerated",
                "data_type": "integer",
                "constraints": [{"type": "min", "value": 0}],
            },
            {
                "name": "Status Code",
                "type": "enumerated",
                "permissible_values": [
                    {"value": s, "meaning": s.title()}
                    for s in ("open", "active", "pending", "closed", "cancelled")
                ],
            },
        ]
        ids: dict[str, str] = {}
        for domain in domains:
            ids[domain["name"]] = (await self.call("POST", "/api/value-domains", domain, 201))["id"]
        representations: list[dict[str, Any]] = [
            {"name": "id-36", "data_type": "string", "length": 36, "format": "uuid"},
            {"name": "text-200", "data_type": "string", "length": 200},
            {"name": "text-2000", "data_type": "string", "length": 2000},
            {"name": "money", "data_type": "decimal", "precision": 18, "scale": 2},
            {"name": "iso-date", "data_type": "date", "format": "YYYY-MM-DD"},
            {"name": "iso-datetime", "data_type": "datetime", "format": "RFC 3339"},
            {"name": "code-12", "data_type": "string", "length": 12},
            {
                "name": "country",
                "data_type": "string",
                "length": 2,
                "value_domain_id": ids["ISO 3166 Country"],
            },
            {
                "name": "currency",
                "data_type": "string",
                "length": 3,
                "value_domain_id": ids["ISO 4217 Currency"],
            },
            {
                "name": "percent",
                "data_type": "decimal",
                "precision": 5,
                "scale": 2,
                "value_domain_id": ids["Percentage"],
            },
            {
                "name": "email",
                "data_type": "string",
                "length": 254,
                "value_domain_id": ids["Email Address"],
            },
            {"name": "count", "data_type": "integer", "value_domain_id": ids["Non-negative Count"]},
            {
                "name": "status-code",
                "data_type": "string",
                "length": 20,
                "value_domain_id": ids["Status Code"],
            },
        ]
        self.representations: dict[str, str] = {}
        for body in representations:
            created = await self.call("POST", "/api/representations", body, 201)
            self.representations[body["name"]] = created["id"]

    async def elements(self) -> list[dict[str, Any]]:
        items = []
        for object_class in OBJECT_CLASSES:
            for prop, representation in PROPERTIES:
                name = f"{object_class.lower()}_{prop.lower().replace(' ', '_')}"
                items.append(
                    {
                        "name": name,
                        "definition": f"The {prop.lower()} of a {object_class.lower()}, "
                        "as recorded by the system of record.",
                        "data_element_concept": {
                            "name": f"{object_class} {prop}",
                            "object_class": object_class,
                            "property": prop,
                            "definition": f"{prop} as a characteristic of {object_class}.",
                        },
                        "representation_id": self.representations[representation],
                        "steward": f"{self.random.choice(list(TEAMS))}-steward@example.com",
                        "source": self.random.choice(["erp", "crm", "web", "warehouse", "hris"]),
                    }
                )
        answer = await self.call("POST", "/api/data-elements/bulk", {"items": items})
        elements = [
            {"id": r["id"], "name": item["name"]}
            for r, item in zip(answer["results"], items, strict=True)
        ]
        for element in self.random.sample(elements, 180):
            await self.call("POST", f"/api/data-elements/{element['id']}/publish")
        for element in self.random.sample(elements, 12):
            await self.client.post(f"/api/data-elements/{element['id']}/deprecate")
        return elements

    async def tags(self) -> dict[str, str]:
        tags: dict[str, str] = {}
        for (root, category), children in TAG_TREE.items():
            parent = await self.call("POST", "/api/tags", {"name": root, "category": category}, 201)
            tags[root] = parent["id"]
            for child in children:
                body = {
                    "name": child if child not in tags else f"{child}-{root}",
                    "category": category,
                    "parent_tag_id": parent["id"],
                }
                tags[child] = (await self.call("POST", "/api/tags", body, 201))["id"]
        return tags

    async def products(
        self, elements: list[dict[str, Any]], tags: dict[str, str]
    ) -> list[dict[str, Any]]:
        items = []
        for team, names in TEAMS.items():
            for name in names:
                items.append(
                    {
                        "name": name,
                        "description": f"{name} for the {team} team: curated, documented and "
                        f"refreshed from the systems of record.",
                        "team": team,
                        "category": self.random.choice(CATEGORIES),
                        "owner": f"{team}-lead@example.com",
                        "status": "published" if self.random.random() < 0.8 else "draft",
                        "visibility": self.random.choice(
                            ["public", "public", "internal", "restricted"]
                        ),
                    }
                )
        answer = await self.call("POST", "/api/data-products/bulk", {"items": items})
        products = [
            {"id": r["id"], **item} for r, item in zip(answer["results"], items, strict=True)
        ]
        for product in products:
            pid = product["id"]
            for element in self.random.sample(elements, self.random.randint(3, 8)):
                await self.call(
                    "POST",
                    f"/api/data-products/{pid}/elements",
                    {"data_element_id": element["id"]},
                    201,
                )
            chosen = {
                product["team"],
                self.random.choice(["pii", "confidential", "public-data"]),
                self.random.choice(["gold", "silver", "bronze"]),
                self.random.choice(["real-time", "hourly", "daily", "monthly"]),
            }
            for tag in chosen:
                await self.call(
                    "POST",
                    f"/api/data-products/{pid}/tags",
                    {
                        "tag_id": tags[tag],
                        "confidence": round(self.random.uniform(0.6, 1.0), 2),
                        "source": self.random.choice(["manual", "auto", "suggested"]),
                    },
                    201,
                )
            for version in ("1.0.0", "1.1.0", "1.2.0", "2.0.0-rc.1", "2.0.0")[
                : self.random.randint(1, 5)
            ]:
                await self.call(
                    "POST",
                    f"/api/data-products/{pid}/versions",
                    {"version": version, "description": f"Release {version}"},
                    201,
                )
        for downstream, upstream in zip(products[1:], products[:-1], strict=False):
            if downstream["team"] == upstream["team"]:
                await self.call(
                    "POST",
                    f"/api/data-products/{downstream['id']}/lineage",
                    {"upstream_id": upstream["id"]},
                    201,
                )
        return products

    async def activity(self, products: list[dict[str, Any]]) -> None:
        for product in products:
            url = f"/api/data-products/{product['id']}/usage"
            for _ in range(self.random.randint(0, 25)):
                await self.call(
                    "POST", url, {"event": "view", "user_id": self.random.choice(USERS)}, 201
                )
            for user in self.random.sample(USERS, self.random.randint(0, 5)):
                await self.call(
                    "POST",
                    url,
                    {"event": "rating", "user_id": user, "rating": self.random.randint(2, 5)},
                    201,
                )
        for product in self.random.sample(products, 30):
            request = await self.call(
                "POST",
                "/api/access-requests",
                {
                    "product_id": product["id"],
                    "reason": "Needed for quarterly analysis",
                    "requester_team": self.random.choice(list(TEAMS)),
                },
                201,
            )
            outcome = self.random.choice(["approve", "approve", "reject", "keep", "revoke"])
            if outcome in {"approve", "revoke"}:
                await self.call(
                    "POST",
                    f"/api/access-requests/{request['id']}/approve",
                    {"comments": "Approved for the stated purpose"},
                )
            if outcome == "reject":
                await self.call(
                    "POST",
                    f"/api/access-requests/{request['id']}/reject",
                    {"comments": "Use the aggregated product instead"},
                )
            if outcome == "revoke":
                await self.call(
                    "POST",
                    f"/api/access-requests/{request['id']}/revoke",
                    {"comments": "Project ended"},
                )

    async def quality(self, elements: list[dict[str, Any]]) -> None:
        for element in self.random.sample(elements, 120):
            for _ in range(self.random.randint(1, 3)):
                await self.call(
                    "POST",
                    f"/api/data-elements/{element['id']}/quality",
                    {
                        dimension: round(self.random.uniform(0.4, 1.0), 3)
                        for dimension in ("completeness", "accuracy", "consistency", "timeliness")
                    },
                    201,
                )

    async def regulatory(
        self, products: list[dict[str, Any]], elements: list[dict[str, Any]]
    ) -> None:
        fields_v1 = [
            {"name": "processing_purpose", "type": "string", "required": True},
            {"name": "data_subject_category", "type": "string", "required": True},
            {"name": "retention_period_days", "type": "integer", "required": False},
            {"name": "transfer_country", "type": "string", "required": False},
        ]
        fields_v2 = [
            *fields_v1[:2],
            {"name": "retention_period_days", "type": "integer", "required": True},
            {"name": "legal_basis", "type": "string", "required": True},
            {"name": "dpo_contact", "type": "string", "required": False},
        ]
        schemas = []
        for version, fields in (("1.0.0", fields_v1), ("1.1.0", fields_v2)):
            schemas.append(
                await self.call(
                    "POST",
                    "/api/regulatory-schemas",
                    {
                        "regulatory_type": "GDPR-RoPA",
                        "version": version,
                        "document_source": "https://eur-lex.europa.eu/eli/reg/2016/679/oj",
                        "document_version": "2016/679",
                        "spec_json": {"fields": fields},
                    },
                    201,
                )
            )
        await self.call(
            "POST",
            "/api/regulatory-schemas",
            {
                "regulatory_type": "BCBS-239",
                "version": "1.0.0",
                "document_source": "https://www.bis.org/publ/bcbs239.htm",
                "document_version": "2013-01",
                "spec_json": {
                    "fields": [
                        {"name": "risk_data_owner", "type": "string", "required": True},
                        {"name": "aggregation_frequency", "type": "string", "required": True},
                    ]
                },
            },
            201,
        )
        await self.call(
            "PATCH", f"/api/regulatory-schemas/{schemas[0]['id']}", {"status": "approved"}
        )
        for field, product in zip(
            ("processing_purpose", "data_subject_category"),
            self.random.sample(products, 2),
            strict=True,
        ):
            await self.call(
                "POST",
                f"/api/regulatory-schemas/{schemas[1]['id']}/product-mappings",
                {
                    "field_path": f"fields.{field}",
                    "product_id": product["id"],
                    "data_element_id": self.random.choice(elements)["id"],
                },
                201,
            )

    async def extractions(self) -> None:
        for i in range(25):
            await self.call(
                "POST",
                "/api/audit/langextract",
                {
                    "extraction_id": f"extract-{i:04d}",
                    "user_id": self.random.choice(USERS),
                    "context": "regulatory document ingestion",
                    "operation_type": self.random.choice(["extract", "validate", "map"]),
                    "request": {"document": f"doc-{i}.pdf", "pages": self.random.randint(1, 40)},
                    "response": {"entities": self.random.randint(0, 30)},
                    "processing_time_ms": self.random.randint(50, 4000),
                    "confidence": round(self.random.uniform(0.5, 0.99), 2),
                    "schema_version": "1.1.0",
                    "quality_metrics": {"precision": 0.9},
                    "metadata": {"pipeline": "demo"},
                },
                201,
            )


async def _is_empty(settings: Settings) -> bool:
    engine = create_engine(settings)
    try:
        async with session_factory(engine)() as session:
            return not await ProductRepository(session).count_all()
    finally:
        await engine.dispose()


async def seed(settings: Settings, *, only_if_empty: bool) -> bool:
    """Load the demo catalog; returns False when skipped because data already exists."""
    if only_if_empty and not await _is_empty(settings):
        return False
    from catalog.app import create_app

    # In process and as the system: no auth, no rate limit, quiet logs.
    loader_settings = settings.model_copy(
        update={
            "enable_auth": False,
            "rate_limit_enabled": False,
            "anonymous_role": "admin",
            "log_level": "warning",
        }
    )
    app = create_app(loader_settings)
    async with LifespanManager(app) as manager:
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(transport=transport, base_url="http://demo") as client:
            counts = await DemoLoader(client).load()
    configure_logging(settings.log_level)  # create_app above quietened it for the load
    log.info("demo_loaded", **counts)
    return True
