"""The Dockerfile: hadolint-clean, and built for real with `podman build`.

No image registry is reachable from the test machine, so the base image (python:3.11-slim,
Debian bookworm) is stood in for by the same Debian release made with debootstrap from the
Debian mirror (python3 3.11 and its venv module, the machine's CA bundle for its TLS proxy),
passed as PYTHON_IMAGE. The rest of the build is the Dockerfile's own, PyPI included. No
container engine can run containers here either, so the built image's entrypoint is run the
way its configuration says (user, working directory, environment, entrypoint and command) in
a chroot of its filesystem, with a private mount namespace for the writable directories.

Needs root, `podman` and `debootstrap` (.ci/run installs both); fails saying so without them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.servers import free_port
from tests.support.wait import until_sync

ROOT = Path(__file__).resolve().parents[2]
BASE = "localhost/catalog-test-python:3.11-bookworm"
IMAGE = "localhost/catalog:test"
PODMAN = ["podman", "--cgroup-manager", "cgroupfs"]  # no systemd here
BUILD_S = 900
# A cold build (debootstrap, then PyPI) takes minutes; a warm one, layers cached, seconds.
pytestmark = pytest.mark.timeout(BUILD_S + 300)


def podman(*args: str, timeout: float = 120) -> str:
    done = subprocess.run(
        [*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"podman {' '.join(args)}: {done.stderr[-2000:]}"
    return done.stdout


def _needs() -> None:
    assert os.geteuid() == 0, "building and running the image needs root (as in .ci/run)"
    for tool, package in (("podman", "podman"), ("debootstrap", "debootstrap")):
        assert shutil.which(tool), f"{tool} missing: apt-get install {package} (.ci/run does)"


def _stand_in_base(workdir: Path) -> None:
    """python:3.11-slim's stand-in, made once per machine (kept in podman's image store)."""
    exists = subprocess.run([*PODMAN, "image", "exists", BASE], check=False, timeout=60)
    if exists.returncode == 0:
        return
    rootfs = workdir / "rootfs"
    subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            "--include=python3,python3-venv,ca-certificates",
            "bookworm",
            str(rootfs),
            "http://deb.debian.org/debian",
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    # This machine reaches PyPI through a TLS proxy of its own: its CA bundle, in the base.
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", rootfs / "etc/ssl/certs/")
    bundle = "/etc/ssl/certs/ca-certificates.crt"
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    imported = subprocess.run(
        [
            *PODMAN,
            "import",
            "--change",
            f"ENV SSL_CERT_FILE={bundle}",
            "--change",
            f"ENV PIP_CERT={bundle}",
            "-",
            BASE,
        ],
        stdin=tar.stdout,
        capture_output=True,
        timeout=300,
        check=False,
    )
    tar.wait(60)
    assert imported.returncode == 0, imported.stderr


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The image built from the Dockerfile; its configuration (`podman image inspect`)."""
    _needs()
    _stand_in_base(tmp_path_factory.mktemp("base"))
    podman(
        "build",
        "--isolation",
        "chroot",  # RUN steps without a container runtime's namespaces
        "--format",
        "docker",  # the OCI format has no HEALTHCHECK
        "--build-arg",
        f"PYTHON_IMAGE={BASE}",
        "--build-arg",
        "REVISION=test",
        "-t",
        IMAGE,
        str(ROOT),
        timeout=BUILD_S,
    )
    (inspected,) = json.loads(podman("image", "inspect", IMAGE))
    yield inspected
    # The image and the build's intermediate layers (dangling once it is gone) would add half
    # a gigabyte per run; the stand-in base stays for the next.
    subprocess.run([*PODMAN, "rmi", "-f", IMAGE], capture_output=True, check=False, timeout=120)
    subprocess.run([*PODMAN, "image", "prune", "-f"], capture_output=True, check=False, timeout=120)


@pytest.fixture(scope="module")
def rootfs(image: dict[str, Any]) -> Iterator[Path]:
    """The image's filesystem, mounted read-only."""
    path = Path(podman("image", "mount", IMAGE).strip())
    yield path
    subprocess.run([*PODMAN, "image", "unmount", IMAGE], capture_output=True, check=False)


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    linted = subprocess.run(
        [str(hadolint), str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert linted.stdout == ""


def test_the_image_says_who_runs_what(image: dict[str, Any]) -> None:
    config = image["Config"]
    assert config["User"] == "10001:10001"  # not root, a uid Kubernetes can check
    assert config["Entrypoint"] == ["catalog"]
    assert config["Cmd"] == ["serve"]
    assert "8084/tcp" in config["ExposedPorts"]
    environment = dict(item.split("=", 1) for item in config["Env"])
    assert environment["CATALOG_WORKERS"] == "2"  # `catalog serve` reads it
    health = image["Healthcheck"]["Test"]
    assert health[0] == "CMD"
    assert "/livez" in health[-1]
    labels = config["Labels"]
    for label in ("title", "description", "version", "revision", "created", "licenses"):
        assert labels[f"org.opencontainers.image.{label}"], label
    assert labels["org.opencontainers.image.revision"] == "test"


def normalized(name: str) -> str:
    """A distribution's name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_distributions(rootfs: Path) -> dict[str, str]:
    """{name: version} of every distribution in the image's environment (its dist-infos)."""
    site = next((rootfs / "opt/catalog/lib").glob("python3*/site-packages"))
    found = {}
    for meta in site.glob("*.dist-info"):
        name, version = meta.name.removesuffix(".dist-info").rsplit("-", 1)
        found[normalized(name)] = version
    return found


def test_the_image_holds_the_locked_environment_and_nothing_of_the_build(rootfs: Path) -> None:
    installed = installed_distributions(rootfs)
    locked = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            locked[normalized(name.strip())] = version.split()[0]
    missing = {n: v for n, v in locked.items() if installed.get(n) != v}
    assert not missing, f"not as locked: {missing}"
    assert installed["catalog"]
    for absent in (
        "opt/uv",
        "src",
        "root/.cache",
        "usr/bin/gcc",
        "usr/bin/cc",
        "opt/catalog/bin/pip",
    ):
        assert not (rootfs / absent).exists(), absent
    assert (rootfs / "var/lib/catalog").stat().st_uid == 10001


def test_the_image_carries_its_bill_of_materials(rootfs: Path) -> None:
    """/opt/catalog/sbom.cdx.json (README "Deployment") names every distribution installed,
    at its installed version, as a package URL a scanner can match."""
    sbom = json.loads((rootfs / "opt/catalog/sbom.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    assert sbom["specVersion"] == "1.6"
    installed = installed_distributions(rootfs)
    root = sbom["metadata"]["component"]  # the service itself; the rest are its components
    assert (root["name"], root["version"]) == ("catalog", installed.pop("catalog"))
    listed = {
        normalized(c["name"]): c["version"] for c in sbom["components"] if c["type"] == "library"
    }
    assert listed == installed
    purls = {c["purl"] for c in sbom["components"] if c["type"] == "library"}
    assert f"pkg:pypi/fastapi@{listed['fastapi']}" in purls


def _run_as_the_image(rootfs: Path, image: dict[str, Any], script: str) -> list[str]:
    """A command line running `script` in the image's filesystem as its user, in its working
    directory, with its environment; writable tmpfs on the working directory and /tmp."""
    config = image["Config"]
    user = config["User"]
    workdir = config["WorkingDir"]
    environment = [*config["Env"], f"HOME={workdir}"]
    inside = f"cd {shlex.quote(workdir)} && {script}"
    setup = " && ".join(
        [
            f"mount -t proc proc {rootfs}/proc",
            f"mount --rbind /dev {rootfs}/dev",
            f"mount -t tmpfs -o size=256m,uid=10001,gid=10001 tmpfs {rootfs}{workdir}",
            f"mount -t tmpfs tmpfs {rootfs}/tmp",
            "exec chroot --userspec="
            + shlex.quote(user)
            + f" {rootfs} /usr/bin/env -i "
            + " ".join(shlex.quote(e) for e in environment)
            + " /bin/sh -c "
            + shlex.quote(inside),
        ]
    )
    return ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", setup]


def test_the_entrypoint_serves_as_the_image_user(
    image: dict[str, Any], rootfs: Path, tmp_path: Path
) -> None:
    config = image["Config"]
    port = free_port()
    entrypoint = " ".join(shlex.quote(a) for a in [*config["Entrypoint"], *config["Cmd"]])
    health = shlex.join(image["Healthcheck"]["Test"][1:])  # docker format: top level
    # Migrations first (the compose stack's one-shot service, the chart's hook), then exactly
    # the image's ENTRYPOINT + CMD; PORT moved to a free one.
    script = f"export PORT={port} && catalog migrate && exec {entrypoint}"
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            _run_as_the_image(rootfs, image, script), stdout=output, stderr=subprocess.STDOUT
        )
        try:
            base = f"http://127.0.0.1:{port}"

            def answers() -> bool:
                assert server.poll() is None, log.read_text()[-3000:]
                try:
                    return httpx.get(f"{base}/livez", timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            until_sync(answers, "the image's entrypoint answering /livez", timeout_s=60)
            assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
            # The HEALTHCHECK command, run as the image would run it (its PORT).
            check = subprocess.run(
                _run_as_the_image(rootfs, image, f"export PORT={port} && {health}"),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert check.returncode == 0, check.stderr
            # The server itself (the command line's last exec) runs as the image's user.
            status = Path(f"/proc/{server.pid}/status").read_text()
            uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
            assert uid == config["User"].split(":")[0]
        finally:
            server.send_signal(signal.SIGTERM)
            exited = server.wait(60)
    lines = log.read_text()
    assert exited == 0, lines[-3000:]
    assert "worker-2" in lines  # CATALOG_WORKERS=2 from the image's environment
    assert '"event":"shutdown"' in lines.replace(" ", "")
