"""The pages of the web UI the browser suite opens, and the demo rows they are opened with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

LINEAGE_PRODUCT = "Customer Health"  # demo: chained to the products before and after it
XSS_NAME = "<script>alert(1)</script>"


@dataclass(frozen=True)
class Demo:
    """Ids of demo rows the pages are opened with."""

    product_id: str  # LINEAGE_PRODUCT
    element_id: str
    schema_id: str
    xss_product_id: str


@dataclass(frozen=True)
class Page:
    """A page as its usual visitor opens it."""

    name: str
    who: str | None  # None: signed out
    path: Callable[[Demo], str]
    error: bool = False  # the page is the error page on purpose


PAGES = [
    Page("home", "analyst", lambda d: "/ui/"),
    Page("search-results", "analyst", lambda d: "/ui/search?q=customer"),
    Page("search-empty", "analyst", lambda d: "/ui/search?q=zzqxv"),
    Page("product", "analyst", lambda d: f"/ui/products/{d.product_id}"),
    Page("request-access", "analyst", lambda d: f"/ui/products/{d.product_id}/request-access"),
    Page("access", "analyst", lambda d: "/ui/access"),
    Page("registry", "analyst", lambda d: "/ui/registry"),
    Page("element", "analyst", lambda d: f"/ui/registry/elements/{d.element_id}"),
    Page("tags", "analyst", lambda d: "/ui/tags"),
    Page("regulatory", "analyst", lambda d: "/ui/regulatory"),
    Page("regulatory-schema", "analyst", lambda d: f"/ui/regulatory/{d.schema_id}"),
    Page("inbox", "steward", lambda d: "/ui/access/inbox"),
    Page("audit", "admin", lambda d: "/ui/audit"),
    Page("not-found", "analyst", lambda d: "/ui/products/no-such-product", error=True),
    Page("sign-in", None, lambda d: "/ui/sign-in"),
]
