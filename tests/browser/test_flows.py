"""What people do in the web UI, in Chromium, asserted on what the pages show.

Signing in, searching (with a typo, with the typeahead, narrowed by a facet), opening a product
and following its lineage, and an access request from the analyst's ask through the steward's
approval back to the analyst. Also the defences a browser exercises: markup in a name stays
text, the Content-Security-Policy holds with no violation in the console, and the search page
fits a phone's width.
"""

from __future__ import annotations

import re

import httpx
import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement

from tests.browser.axe import assert_accessible
from tests.browser.browser import NARROW, Browser
from tests.browser.pages import LINEAGE_PRODUCT, PAGES, XSS_NAME, Demo
from tests.browser.service import PEOPLE, Service

pytestmark = pytest.mark.timeout(300)  # the first test also starts the service and Chromium

FUZZY_NOTE = "No exact match for every word: showing near spellings."
PRODUCT_SECTIONS = ("overview", "versions", "tags", "quality", "usage", "elements", "lineage")


def result_count(browser: Browser) -> int:
    heading = browser.one("#results-h").text
    match = re.match(r"(\d+) results?", heading)
    assert match, f"no count in the results heading {heading!r}"
    return int(match.group(1))


def result_names(browser: Browser) -> list[str]:
    return [a.text.strip() for a in browser.all("ol.result-list li.result h3 > a")]


def search(browser: Browser, words: str) -> None:
    """Type `words` in the search box of the page shown and send the form."""
    box = browser.one("#q")
    box.clear()
    box.send_keys(words)
    browser.click_and_wait(browser.one("form.search-box button[type=submit]"))


def open_product(browser: Browser, name: str) -> None:
    browser.open("/ui/search?" + httpx.QueryParams(q=name).__str__())
    link = next(
        (a for a in browser.all("ol.result-list li.result h3 > a") if a.text.strip() == name),
        None,
    )
    assert link is not None, f"{name!r} is not among the results: {result_names(browser)}"
    browser.click_and_wait(link)
    assert browser.h1() == name


def test_a_wrong_credential_is_refused_on_the_form(browser: Browser, axe: str) -> None:
    browser.sign_out()
    browser.open("/ui/sign-in?next=/ui/access")
    browser.one("#credential").send_keys("not-a-token")
    browser.click_and_wait(browser.one("form.stack button[type=submit]"))
    assert "That key or token does not sign in." in browser.one("[role=alert]").text
    assert browser.one("#credential").get_attribute("aria-invalid") == "true"
    browser.screenshot("sign-in-refused")
    assert_accessible(browser.driver, axe, "the sign-in form with its error")


def test_sign_in_leads_back_to_the_page_asked_for(browser: Browser) -> None:
    browser.sign_out()
    browser.open("/ui/search?q=revenue")
    assert browser.path() == "/ui/sign-in?next=%2Fui%2Fsearch%3Fq%3Drevenue", browser.path()
    browser.screenshot("sign-in-asked")
    browser.one("#credential").send_keys(PEOPLE["analyst"].token)
    browser.click_and_wait(browser.one("form.stack button[type=submit]"))
    browser.who = "analyst"
    assert browser.path() == "/ui/search?q=revenue"
    assert PEOPLE["analyst"].subject in browser.one(".who .subject").text
    assert result_count(browser) > 0
    assert any("Revenue" in name for name in result_names(browser)), result_names(browser)


def test_a_typo_finds_near_spellings(browser: Browser) -> None:
    browser.be("analyst")
    browser.open("/ui/search")
    search(browser, "custmer")
    assert browser.path() == "/ui/search?q=custmer"
    names = result_names(browser)
    assert any("Customer" in name for name in names), names
    assert FUZZY_NOTE in browser.one(".results-head").text
    browser.screenshot("search-typo")


def test_typeahead_lists_suggestions_while_typing(browser: Browser) -> None:
    browser.be("analyst")
    browser.open("/ui/search")
    box = browser.one("#q")
    box.send_keys("cust")
    browser.wait(
        lambda d: (
            d.find_element(By.ID, "q-suggestions").is_displayed()
            and d.find_elements(By.CSS_SELECTOR, "#q-suggestions [role=option]")
        ),
        "the typeahead's suggestions for 'cust'",
    )
    options = [li.text for li in browser.all("#q-suggestions [role=option]")]
    assert any("cust" in option.lower() for option in options), options
    assert box.get_attribute("aria-expanded") == "true"
    box.send_keys(Keys.ARROW_DOWN)
    assert box.get_attribute("aria-activedescendant") == "q-option-0"
    browser.screenshot("search-typeahead")
    box.send_keys(Keys.ESCAPE)
    browser.wait(lambda d: not d.find_element(By.ID, "q-suggestions").is_displayed(), "closing")


def test_a_team_facet_narrows_the_results(browser: Browser) -> None:
    browser.be("analyst")
    browser.open("/ui/search?q=team")
    before = result_count(browser)
    team_links = browser.all("aside.facets fieldset:first-of-type li a")
    assert team_links, "no team in the facets"
    chosen = team_links[0]
    team = chosen.text.strip()
    facet_count = int(chosen.find_element(By.XPATH, "following-sibling::small").text)
    browser.click_and_wait(chosen)
    after = result_count(browser)
    assert after == facet_count, f"{team}: the facet said {facet_count}, the page shows {after}"
    assert after < before, f"choosing {team} left {after} of {before} results"
    metas = [li.find_element(By.CSS_SELECTOR, "p.meta").text for li in results(browser)]
    assert metas
    assert all(meta.startswith(f"{team} ·") for meta in metas), metas
    current = browser.one("aside.facets a[aria-current=true]").text.strip()
    assert current == team
    browser.screenshot("search-facet")


def results(browser: Browser) -> list[WebElement]:
    return browser.all("ol.result-list li.result")


def test_open_a_product_and_follow_its_lineage(browser: Browser, service: Service) -> None:
    browser.be("analyst")
    open_product(browser, LINEAGE_PRODUCT)
    for section in PRODUCT_SECTIONS:
        assert browser.all(f"#{section}"), f"the product page has no #{section}"
    here = browser.path().split("?")[0]
    nodes = browser.all("#lineage svg a.lineage-node")
    others = [node for node in nodes if (node.get_dom_attribute("href") or "") != here]
    others = [n for n in others if not (n.get_dom_attribute("href") or "").startswith(here + "?")]
    assert others, f"no lineage link to another product among {len(nodes)} nodes"
    target = others[0].get_dom_attribute("href") or ""
    product_id = target.split("?")[0].rsplit("/", 1)[-1]
    name = service.get_json(f"/api/data-products/{product_id}", who="analyst")["name"]
    browser.click_and_wait(others[0])
    assert browser.h1() == name, f"the lineage link {target} led to {browser.h1()!r}"
    browser.screenshot("product-lineage-followed")


def row_with(browser: Browser, table: str, *texts: str) -> WebElement:
    rows = browser.all(f"{table} tbody tr")
    found = [row for row in rows if all(text in row.text for text in texts)]
    assert found, f"no row of {table} shows {texts}: {[row.text for row in rows]}"
    return found[0]


def test_an_access_request_is_approved_by_a_steward(browser: Browser, demo: Demo, axe: str) -> None:
    """Also axe on the access pages with rows in their tables (the page-by-page check sees
    the analyst's before any request)."""
    analyst = PEOPLE["analyst"].subject
    browser.be("analyst")
    browser.open(f"/ui/products/{demo.product_id}")
    browser.click_and_wait(browser.one("#request-access"))
    assert browser.path() == f"/ui/products/{demo.product_id}/request-access"
    browser.one("textarea[name=reason]").send_keys("Churn study for the quarterly review")
    send = browser.driver.find_element(By.XPATH, "//button[normalize-space()='Send request']")
    browser.click_and_wait(send)
    assert browser.path().startswith("/ui/access"), browser.path()
    row = row_with(browser, "#my-requests", LINEAGE_PRODUCT)
    assert row.find_element(By.CSS_SELECTOR, "td.status").text.strip().lower() == "pending"
    browser.screenshot("access-pending")
    assert_accessible(browser.driver, axe, "access with a pending request")

    browser.be("steward")
    browser.open("/ui/access/inbox")
    row = row_with(browser, "#inbox", LINEAGE_PRODUCT, analyst)
    row.find_element(By.CSS_SELECTOR, "[name=comment]").send_keys("Fine for the churn study")
    approve = row.find_element(By.XPATH, ".//button[normalize-space()='Approve']")
    browser.click_and_wait(approve)
    row_with(browser, "#approved", LINEAGE_PRODUCT, analyst)
    browser.screenshot("inbox-approved")
    assert_accessible(browser.driver, axe, "the inbox after an approval")

    browser.be("analyst")
    browser.open("/ui/access")
    row = row_with(browser, "#my-requests", LINEAGE_PRODUCT)
    assert row.find_element(By.CSS_SELECTOR, "td.status").text.strip().lower() == "approved"
    assert "Fine for the churn study" in row.text, row.text  # the steward's comment
    browser.screenshot("access-approved")


def assert_no_alert(browser: Browser, where: str) -> None:
    """No dialog is open (the page's scripts have run: it is loaded, or an answer shown)."""
    try:
        text = browser.driver.switch_to.alert.text
    except NoAlertPresentException:
        return
    raise AssertionError(f"{where} opened an alert: {text!r}")


def test_markup_in_a_product_name_shows_as_text(browser: Browser, demo: Demo) -> None:
    browser.be("analyst")
    browser.open("/ui/search?q=alert")
    assert XSS_NAME in result_names(browser), result_names(browser)
    browser.screenshot("search-markup-name")
    assert_no_alert(browser, "the search page")
    scripts = browser.driver.execute_script("return document.querySelectorAll('main script')")
    assert scripts == [], "a script element inside the page's content"

    browser.open(f"/ui/products/{demo.xss_product_id}")
    assert browser.h1() == XSS_NAME
    assert_no_alert(browser, "the product page")


def test_signing_out_needs_a_new_sign_in(browser: Browser) -> None:
    browser.be("analyst")
    browser.open("/ui/access")
    sign_out = browser.driver.find_element(By.XPATH, "//button[normalize-space()='Sign out']")
    browser.click_and_wait(sign_out)
    browser.who = None
    assert browser.path() == "/ui/sign-in"
    browser.open("/ui/access")
    assert browser.path() == "/ui/sign-in?next=%2Fui%2Faccess"


def test_the_content_security_policy_holds(browser: Browser, service: Service, demo: Demo) -> None:
    with service.api("analyst") as client:
        for path in ("/ui/sign-in", "/ui/search?q=customer", f"/ui/products/{demo.product_id}"):
            policy = client.get(path).headers.get("content-security-policy", "")
            assert "script-src 'self'" in policy, (path, policy)
            assert "style-src 'self'" in policy, (path, policy)
    browser.be("analyst")
    browser.console()  # what earlier tests left
    pages = ["/ui/", "/ui/search?q=customer", f"/ui/products/{demo.product_id}", "/ui/access"]
    seen = []
    for path in pages:
        browser.open(path)
        seen += [(path, entry["message"]) for entry in browser.console()]
    refused = [entry for entry in seen if "Content Security Policy" in entry[1]]
    assert not refused, refused
    thrown = [entry for entry in seen if "Uncaught" in entry[1]]  # a script of ours failing
    assert not thrown, thrown


def test_the_search_page_fits_a_phone(browser: Browser) -> None:
    browser.be("analyst")
    browser.resize(NARROW)
    browser.open("/ui/search?q=customer")
    widths = browser.driver.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]"
    )
    browser.screenshot("search-narrow")
    assert widths[0] <= widths[1], f"scrolls sideways at {widths[1]} px: {widths[0]} px wide"


def test_every_page_fits_a_phone(browser: Browser, demo: Demo) -> None:
    """No page scrolls sideways at 375 px (wide tables scroll inside their own box)."""
    browser.resize(NARROW)
    wider = []
    for page in PAGES:
        browser.be(page.who)
        browser.open(page.path(demo))
        scroll, inner = browser.driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]"
        )
        if scroll > inner:
            browser.screenshot(f"narrow-{page.name}")
            wider.append(f"{page.name}: {scroll} px")
    assert not wider, f"wider than the {NARROW[0]} px viewport: {wider}"


def test_screenshots_for_the_docs(browser: Browser, demo: Demo) -> None:
    """docs/screenshots/ are copies of these two (1280 px wide)."""
    browser.be("analyst")
    browser.resize((1280, 800))
    browser.open("/ui/search?q=customer")
    browser.screenshot("search-1280")
    browser.open(f"/ui/products/{demo.product_id}")
    browser.screenshot("product-1280")
