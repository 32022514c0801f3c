"""Chromium through Selenium, and the few things every browser test does with it.

Debian's `chromium` and `chromium-driver` packages (`.ci/run` installs them); without them the
browser tests fail saying so: a skipped UI suite would look green and test nothing. Waits are
explicit, with deadlines (WebDriverWait), never naps.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.service import PEOPLE

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WIDE = (1440, 900)
NARROW = (375, 812)  # a phone
WAIT_S = 10.0
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"

T = TypeVar("T")


def missing_browser() -> str | None:
    """What to install, when Chromium or its driver is not there."""
    absent = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if not absent:
        return None
    return (
        f"{', '.join(absent)} missing: the browser tests need Debian's chromium and "
        "chromium-driver (apt-get install chromium chromium-driver; .ci/run does this as root)"
    )


def start_chromium() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={WIDE[0]},{WIDE[1]}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, for CSP
    driver = webdriver.Chrome(options=options, service=DriverService(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)  # axe on a long page
    return driver


def gone(old: WebElement) -> Callable[[WebDriver], bool]:
    """True once `old` has left the document. Chromium says so with a stale-element error or,
    while the next page replaces the old one, with an inspector error that the node belongs to
    no document; selenium's staleness_of knows only the first (it failed a CI run so)."""

    def check(_driver: WebDriver) -> bool:
        try:
            old.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            if "does not belong to the document" in (error.msg or ""):
                return True
            raise
        return False

    return check


class Browser:
    """One Chromium for the session, pointed at the service; who is signed in is a cookie."""

    def __init__(self, driver: webdriver.Chrome, base: str) -> None:
        self.driver = driver
        self.base = base
        self.who: str | None = None  # signed in through sign_in, or None

    def wait(self, condition: Callable[[WebDriver], T], what: str, timeout_s: float = WAIT_S) -> T:
        message = f"{what} (within {timeout_s} s; at {self.driver.current_url})"
        result: T = WebDriverWait(self.driver, timeout_s).until(condition, message)
        return result

    def open(self, path: str) -> None:
        """Load a page and wait until it is complete (a navigation away from the last one)."""
        self.driver.get(self.base + path)
        self.loaded()

    def loaded(self) -> None:
        self.wait(
            lambda d: d.execute_script("return document.readyState") == "complete",
            "the page loading",
        )

    def path(self) -> str:
        """The current page's path and query."""
        parts = urlsplit(self.driver.current_url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def one(self, css: str) -> WebElement:
        return self.wait(lambda d: d.find_element(By.CSS_SELECTOR, css), f"{css} on the page")

    def all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def h1(self) -> str:
        return self.one("h1").text.strip()

    def click_and_wait(self, element: WebElement) -> None:
        """Click something that loads another page, and wait for that page."""
        old = self.driver.find_element(By.TAG_NAME, "html")
        element.click()
        self.wait(gone(old), "the next page replacing this one")
        self.loaded()

    def sign_in(self, who: str) -> None:
        """Sign in as `who` through the sign-in form (replacing whoever was signed in)."""
        self.open("/ui/sign-in?next=/ui/")
        self.one("#credential").send_keys(PEOPLE[who].token)
        self.click_and_wait(self.one("form.stack button[type=submit]"))
        assert self.path() == "/ui/", f"signing in as {who} ended on {self.path()}"
        subject = self.one(".who .subject").text
        assert PEOPLE[who].subject in subject, f"signed in as {subject!r}, not {who}"
        self.who = who

    def be(self, who: str | None) -> None:
        """Signed in as `who` (None: signed out), signing in only when someone else is."""
        if who is None:
            self.sign_out()
        elif self.who != who:
            self.sign_in(who)

    def sign_out(self) -> None:
        """Forget the session (the cookies; the sign-out button is a flow of its own)."""
        self.driver.delete_all_cookies()
        self.who = None

    def resize(self, size: tuple[int, int]) -> None:
        """The viewport's size (headless: the window is the viewport)."""
        self.driver.set_window_size(*size)
        self.wait(
            lambda d: d.execute_script("return window.innerWidth") == size[0],
            f"the viewport becoming {size[0]} px wide",
        )

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        assert self.driver.save_screenshot(str(path)), f"no screenshot of {name}"
        return path

    def console(self) -> list[dict[str, Any]]:
        """Console entries since the last call (reading them empties Chromium's buffer)."""
        entries: list[dict[str, Any]] = self.driver.get_log("browser")  # type: ignore[no-untyped-call]
        return entries
