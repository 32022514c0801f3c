"""axe-core, the accessibility rules engine, run inside the page under test.

The npm package, pinned, is fetched once with `npm pack` into a gitignored cache beside the
repository (`.cache/axe-core/`), so later runs need no network. WebDriver's scripts are not
subject to the page's Content-Security-Policy, so axe needs no exception in it.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from selenium.webdriver.remote.webdriver import WebDriver

AXE_VERSION = "4.10.3"
CACHE = Path(__file__).resolve().parents[2] / ".cache" / "axe-core"
BLOCKING = ("serious", "critical")
NPM_TIMEOUT_S = 120


def axe_source() -> str:
    """axe.min.js of the pinned version, from the cache or fetched into it."""
    script = CACHE / AXE_VERSION / "axe.min.js"
    if not script.exists():
        _fetch(script)
    return script.read_text()


def _fetch(script: Path) -> None:
    npm = shutil.which("npm")
    assert npm, (
        "npm is needed once to fetch axe-core (apt-get install npm), or put "
        f"axe-core {AXE_VERSION}'s axe.min.js at {script}"
    )
    CACHE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "pack", f"axe-core@{AXE_VERSION}", "--pack-destination", str(CACHE), "--silent"],
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"npm pack axe-core@{AXE_VERSION} failed:\n{done.stderr}"
    tarball = CACHE / f"axe-core-{AXE_VERSION}.tgz"
    with tarfile.open(tarball) as archive:
        member = archive.extractfile("package/axe.min.js")
        assert member is not None, f"{tarball} has no package/axe.min.js"
        script.parent.mkdir(parents=True, exist_ok=True)
        partial = script.with_suffix(".part")  # a run stopped half-way leaves no torn file
        partial.write_bytes(member.read())
        partial.replace(script)
    tarball.unlink()


def violations(driver: WebDriver, source: str) -> list[dict[str, Any]]:
    """axe's serious and critical violations on the page shown now."""
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(source + "; return 1")
    result: dict[str, Any] = driver.execute_async_script(
        "axe.run(document).then(r => arguments[arguments.length - 1](r))"
    )
    return [v for v in result["violations"] if v.get("impact") in BLOCKING]


def assert_accessible(driver: WebDriver, source: str, page: str) -> None:
    found = violations(driver, source)
    assert not found, f"axe on {page} ({driver.current_url}):\n{describe(found)}"


def describe(found: list[dict[str, Any]]) -> str:
    """The violations as a person fixing them wants to read them: rule, help, where."""
    lines = []
    for violation in found:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:10]:
            lines.append(f"    {node['target']}: {node.get('failureSummary', '')!r}"[:400])
    return "\n".join(lines)
