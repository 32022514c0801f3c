"""The judged query set of search relevance, over the demo catalog (`catalog seed-demo`).

Each judgment is a query a person would type, with the products that must appear in the top 3
(`must`) and, for broad queries, the set every one of the top 3 must come from (`within`).
`relevant` lists every product that is a right answer (for MRR and nDCG@10); it defaults to
`must` and `within` together. The demo is loaded with a fixed seed, so the products holding
an element or a tag are fixed too (they are named here from that data).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Judgment:
    query: str
    kind: str
    must: tuple[str, ...] = ()
    within: tuple[str, ...] = ()
    extra: tuple[str, ...] = field(default=())

    @property
    def relevant(self) -> frozenset[str]:
        return frozenset(self.must) | frozenset(self.within) | frozenset(self.extra)


def _j(query: str, kind: str, *must: str, within: tuple[str, ...] = ()) -> Judgment:
    return Judgment(query, kind, must=must, within=within)


TEAMS = {
    "finance": (
        "Accounts Payable",
        "Cost Centres",
        "FX Rates",
        "Financial Close",
        "General Ledger",
        "Revenue",
        "Tax Provisions",
        "Treasury Positions",
    ),
    "risk": (
        "Counterparty Limits",
        "Credit Exposure",
        "Fraud Alerts",
        "Liquidity Coverage",
        "Loan Defaults",
        "Market Risk VaR",
        "Stress Scenarios",
    ),
    "marketing": (
        "Attribution",
        "Brand Sentiment",
        "Campaign Performance",
        "Customer Segments",
        "Email Engagement",
        "Lead Scoring",
        "Web Sessions",
    ),
    "hr": (
        "Attrition",
        "Compensation Bands",
        "Headcount",
        "Payroll",
        "Recruiting Funnel",
        "Training Records",
    ),
    "supply-chain": (
        "Carrier Performance",
        "Demand Forecast",
        "Inventory Turns",
        "Lead Times",
        "Logistics Costs",
        "Purchase Orders",
        "Supplier Risk",
    ),
    "customer-success": (
        "Churn Signals",
        "Customer Health",
        "Knowledge Base Usage",
        "NPS Survey",
        "Onboarding Progress",
        "Renewals",
        "Support Tickets",
    ),
}
# Products the demo tags with a cadence (seeded: fixed).
MONTHLY = (
    "General Ledger",
    "NPS Survey",
    "Credit Exposure",
    "Fraud Alerts",
    "Bookings",
    "Pipeline Opportunities",
    "Territory Coverage",
    "Inventory Turns",
    "Logistics Costs",
    "Purchase Orders",
    "Order Fulfilment",
)
REAL_TIME = (
    "Customer Health",
    "Renewals",
    "Financial Close",
    "Attrition",
    "Payroll",
    "Shipment Tracking",
    "Loan Defaults",
    "Partner Deals",
    "Carrier Performance",
    "Supplier Risk",
)

JUDGMENTS: tuple[Judgment, ...] = (
    # exact names
    _j("General Ledger", "exact", "General Ledger"),
    _j("Fraud Alerts", "exact", "Fraud Alerts"),
    _j("Payroll", "exact", "Payroll"),
    _j("Market Risk VaR", "exact", "Market Risk VaR"),
    _j("NPS Survey", "exact", "NPS Survey"),
    _j("FX Rates", "exact", "FX Rates"),
    _j("Lead Times", "exact", "Lead Times"),
    _j("Lead Scoring", "exact", "Lead Scoring"),
    _j("Web Sessions", "exact", "Web Sessions"),
    _j("Returns", "exact", "Returns"),
    # typos
    _j("genral ledger", "typo", "General Ledger"),
    _j("fraud alrets", "typo", "Fraud Alerts"),
    _j("churm signals", "typo", "Churn Signals"),
    _j("recruting funnel", "typo", "Recruiting Funnel"),
    _j("inventroy turns", "typo", "Inventory Turns"),
    _j("liquidty coverage", "typo", "Liquidity Coverage"),
    _j("shipmnet tracking", "typo", "Shipment Tracking"),
    _j("compensaton bands", "typo", "Compensation Bands"),
    _j("suplier risk", "typo", "Supplier Risk"),
    _j("payrol", "typo", "Payroll"),
    # prefixes (typed as you go)
    _j("treas", "prefix", "Treasury Positions"),
    _j("headc", "prefix", "Headcount"),
    _j("attri", "prefix", "Attrition", "Attribution"),
    _j("onboard", "prefix", "Onboarding Progress"),
    _j("counterp", "prefix", "Counterparty Limits"),
    _j("knowledge ba", "prefix", "Knowledge Base Usage"),
    _j("sales fore", "prefix", "Sales Forecast"),
    _j("brand sent", "prefix", "Brand Sentiment"),
    # several words, with near misses in other products
    _j("credit exposure", "multi-word", "Credit Exposure"),
    _j("stress scenarios", "multi-word", "Stress Scenarios"),
    _j("partner deals", "multi-word", "Partner Deals"),
    _j("cost centres", "multi-word", "Cost Centres"),
    _j("loan defaults", "multi-word", "Loan Defaults"),
    _j("customer segments", "multi-word", "Customer Segments"),
    _j("email engagement", "multi-word", "Email Engagement"),
    _j("demand forecast", "multi-word", "Demand Forecast"),
    _j("purchase orders", "multi-word", "Purchase Orders"),
    _j("logistics costs", "multi-word", "Logistics Costs"),
    _j("finance revenue", "multi-word", "Revenue"),
    _j("sales quotes", "multi-word", "Quotes"),
    # team words: every one of the top 3 belongs to the team
    _j("supply-chain", "team", within=TEAMS["supply-chain"]),
    _j("customer-success", "team", within=TEAMS["customer-success"]),
    _j("hr", "team", within=TEAMS["hr"]),
    _j("marketing", "team", within=TEAMS["marketing"]),
    _j("risk", "team", within=(*TEAMS["risk"], "Supplier Risk")),
    # tag names
    _j("monthly", "tag", within=MONTHLY),
    _j("real-time", "tag", within=REAL_TIME),
    # member data element names
    _j("invoice_quantity", "element", "Treasury Positions", "Renewals"),
    _j("employee_currency", "element", "Production Yield"),
    _j("campaign_reference_code", "element", "Production Yield", "Demand Forecast"),
    _j("order_end_date", "element", "Supplier Deliveries"),
    _j("account_percentage", "element", "Revenue"),
    _j("shipment_balance", "element", "General Ledger", "Partner Deals"),
    _j("invoice quantity", "element", "Treasury Positions", "Renewals"),
    # harder: plurals, word order, short words, a word many products mention
    _j("forecasts", "hard", "Demand Forecast", "Sales Forecast"),
    _j("ledger general", "hard", "General Ledger"),
    _j("tickets support", "hard", "Support Tickets"),
    _j("hr pay", "hard", "Payroll"),
    _j("var", "hard", "Market Risk VaR"),
    _j("fx", "hard", "FX Rates"),
    _j("supplier", "hard", "Supplier Risk", "Supplier Deliveries"),
    _j("customer", "hard", "Customer Health", "Customer Segments"),
    _j("shipment", "hard", "Shipment Tracking"),
    _j("orders", "hard", "Purchase Orders", "Maintenance Orders"),
    _j(
        "gold marketing",
        "hard",
        within=("Attribution", "Campaign Performance", "Email Engagement", "Web Sessions"),
    ),
)
