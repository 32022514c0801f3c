"""Fixtures of the browser suite: one demo service, one Chromium and axe-core per session.

The pages' screenshots land in `test-artifacts/browser/` (gitignored). The two in
`docs/screenshots/` are copies of `search-1280.png` and `product-1280.png` from a run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.axe import axe_source
from tests.browser.browser import WIDE, Browser, missing_browser, start_chromium
from tests.browser.pages import LINEAGE_PRODUCT, XSS_NAME, Demo
from tests.browser.service import Service, running_service
from tests.support.wait import until_sync


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(tmp_path_factory.mktemp("browser-service")) as running:
        yield running


@pytest.fixture(scope="session")
def demo(service: Service) -> Demo:
    found = service.get_json("/api/data-products", name=LINEAGE_PRODUCT)["items"]
    product = next(item for item in found if item["name"] == LINEAGE_PRODUCT)
    elements = service.get_json("/api/data-elements", limit=1)["items"]
    schemas = service.get_json("/api/regulatory-schemas", limit=1)["items"]
    with service.api("admin") as client:
        created = client.post(
            "/api/data-products",
            json={
                "name": XSS_NAME,
                "description": "A name that is markup: it must show as text.",
                "team": "customer-success",
                "category": "reporting",
                "owner": "mallory@example.com",
                "status": "published",
            },
        )
    assert created.status_code == 201, created.text
    xss_id = created.json()["id"]

    def searchable() -> bool:  # the index takes in a new product in the background
        found = service.get_json("/api/discover/search", q="alert", limit=50)
        return any(item["id"] == xss_id for item in found["results"])

    until_sync(searchable, f"{XSS_NAME} in the search index", 30, 0.1)
    return Demo(product["id"], elements[0]["id"], schemas[0]["id"], xss_id)


@pytest.fixture(scope="session")
def axe() -> str:
    return axe_source()


@pytest.fixture(scope="session")
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    """Chromium on the service; checked for before the service is started (15 s wasted)."""
    missing = missing_browser()
    if missing:
        pytest.fail(missing, pytrace=False)
    service: Service = request.getfixturevalue("service")
    driver = start_chromium()
    try:
        yield Browser(driver, service.base)
    finally:
        driver.quit()


@pytest.fixture(autouse=True)
def wide(request: pytest.FixtureRequest) -> None:
    """Every test starts at the desktop size (a narrow-layout test changes it)."""
    if "browser" in request.fixturenames:
        request.getfixturevalue("browser").resize(WIDE)
