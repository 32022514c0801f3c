"""axe-core on every page of the web UI: no serious or critical violation anywhere.

Each page is opened as the person who would see it (the inbox as a steward, the audit trail
as an admin, the rest as an analyst), and screenshotted into test-artifacts/browser/.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.browser.axe import assert_accessible
from tests.browser.browser import Browser
from tests.browser.conftest import Demo

pytestmark = pytest.mark.timeout(300)  # the first test also starts the service and Chromium


@dataclass(frozen=True)
class Page:
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
ERROR_TITLE = re.compile(r"^\d{3} ")  # error.html's title: "404 data product ... not found"


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_no_serious_accessibility_violations(
    browser: Browser, demo: Demo, axe: str, page: Page
) -> None:
    path = page.path(demo)
    browser.be(page.who)
    browser.open(path)
    browser.screenshot(page.name)
    title = browser.driver.title
    assert bool(ERROR_TITLE.match(title)) == page.error, f"{path} shows {title!r}"
    assert browser.path() == path, f"{path} led to {browser.path()}"
    assert_accessible(browser.driver, axe, page.name)
