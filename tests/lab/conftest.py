"""Lab tests: one lab, one bootstrap, one deploy for the whole session.

The session rebuilds the lab from the cached base image (`pdic lab destroy` then `lab up`), so
bootstrap starts from bare hosts with no python3, then runs the real CLI as an operator would.
Every test reads hosts from the same inventory through pdic's loader. They need root; without
it they are skipped, except under CI, where a skipped lab would hide a broken foundation.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import testinfra

from pdic.connect import testinfra_host
from pdic.errors import LabError
from pdic.inventory import Inventory, load_inventory
from pdic.lab import LabPaths, lab_lock

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventory" / "lab"
PDIC = str(Path(sys.executable).parent / "pdic")


@dataclass
class Run:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"$ {' '.join(self.argv)}\n[rc={self.returncode}]\n{self.stdout}\n{self.stderr}"


def pdic(*args: str, timeout: float = 1200) -> Run:
    """Run the pdic CLI as an operator would, from the project root."""
    argv = [PDIC, *args]
    proc = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    print(proc.stdout)
    print(proc.stderr, file=sys.stderr)
    return Run(argv, proc.returncode, proc.stdout, proc.stderr)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.lab)
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            raise pytest.UsageError("lab tests need root under CI (CI=true)")
        skip = pytest.mark.skip(reason="lab tests need root")
        for item in items:
            if "lab" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def inventory() -> Inventory:
    return load_inventory(INVENTORY)


@pytest.fixture(scope="session")
def lab_paths() -> LabPaths:
    return LabPaths.default()


@pytest.fixture(scope="session")
def lab(inventory: Inventory) -> Iterator[Run]:
    """A fresh lab: destroyed, then brought up from the cached base image; stopped at the end.

    PDIC_LAB_REUSE=1 (for working on one test file, never in CI) keeps the running lab as it
    is and leaves it running: bootstrap and deploy still run, on converged hosts.
    """
    reuse = os.environ.get("PDIC_LAB_REUSE") in ("1", "deployed") and not os.environ.get("CI")
    # The whole session holds the machine's lab lock: another checkout's lab tests or
    # `pdic lab destroy` are refused with this session named, instead of rebuilding the lab
    # under it. The pdic commands run below are its children and pass through.
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(lab_lock("lab tests (pytest)"))
        except LabError as exc:
            pytest.fail(str(exc), pytrace=False)
        if not reuse:
            pdic("lab", "destroy", "--yes")
            shutil.rmtree(ROOT / ".ansible" / "facts", ignore_errors=True)  # no stale facts
        up = pdic("lab", "up", timeout=900)
        assert up.returncode == 0, up
        yield up
        if not reuse:
            pdic("lab", "down")


@pytest.fixture(scope="session")
def bootstrapped(lab: Run) -> Run:
    run = pdic("bootstrap")
    assert run.returncode == 0, run
    return run


@pytest.fixture(scope="session")
def deployed(bootstrapped: Run) -> Run:
    # The reference applications the lab inventory deploys (and `pdic app upgrade` sends).
    built = pdic("app", "build")
    assert built.returncode == 0, built
    # PDIC_LAB_REUSE=deployed (working on one test file, never in CI): the running lab is
    # taken as converged: no deploy runs (bootstrap still does, it is quick).
    if os.environ.get("PDIC_LAB_REUSE") == "deployed" and not os.environ.get("CI"):
        return Run(["pdic", "deploy"], 0, "(reused)", "")
    run = pdic("deploy")
    assert run.returncode == 0, run
    return run


@pytest.fixture(scope="session")
def redeployed(deployed: Run) -> Run:
    """The second deploy, right after the first: it must change nothing."""
    return pdic("deploy")


@pytest.fixture(scope="session")
def connect(inventory: Inventory, deployed: Run):  # type: ignore[no-untyped-def]
    """testinfra hosts over the same inventory, as the operations account with sudo."""
    cache: dict[tuple[str, bool], testinfra.host.Host] = {}

    def get(name: str, sudo: bool = True) -> testinfra.host.Host:
        if (name, sudo) not in cache:
            cache[name, sudo] = testinfra_host(inventory.host(name), sudo=sudo)
        return cache[name, sudo]

    return get


@pytest.fixture(autouse=True, scope="module")
def _open_files_per_module(request: pytest.FixtureRequest) -> Iterator[None]:
    """Reports a module after which this process holds many more open files than before: a
    leak here once ended a whole lab session with "Too many open files"."""
    before = len(os.listdir("/proc/self/fd"))
    yield
    after = len(os.listdir("/proc/self/fd"))
    if after - before > 50:
        kinds: dict[str, int] = {}
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                kind = os.readlink(f"/proc/self/fd/{fd}").split(":")[0].split("/")[1:3]
                kinds["/".join(kind)] = kinds.get("/".join(kind), 0) + 1
        print(
            f"\n{request.module.__name__}: open files {before} -> {after} {kinds}", file=sys.stderr
        )
