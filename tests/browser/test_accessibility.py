"""axe-core on every page of the web UI: no serious or critical violation anywhere.

Each page is opened as the person who would see it (the inbox as a steward, the audit trail
as an admin, the rest as an analyst), and screenshotted into test-artifacts/browser/.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.axe import assert_accessible
from tests.browser.browser import Browser
from tests.browser.pages import PAGES, Demo, Page

pytestmark = pytest.mark.timeout(300)  # the first test also starts the service and Chromium


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
