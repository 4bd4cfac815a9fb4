"""Lab tests: one lab, one bootstrap, one deploy for the whole session.

The session rebuilds the lab from the cached base image (`pdic lab destroy` then `lab up`), so
bootstrap starts from bare hosts with no python3, then runs the real CLI as an operator would.
Between bootstrap and the first deploy the unhardened lab is audited once (with Lynis), so the
audit tests can compare it with the deployed lab. Every test reads hosts from the same
inventory through pdic's loader. They need root; without it they are skipped, except under CI,
where a skipped lab would hide a broken foundation.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import testinfra
from audit_json import format_before_after

from pdic.connect import testinfra_host
from pdic.errors import LabError
from pdic.inventory import Inventory, load_inventory
from pdic.lab import LabPaths, lab_lock

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = ROOT / "inventory" / "lab"
LAB_WAIVERS = ROOT / "compliance" / "waivers.lab.yml"
PDIC = str(Path(sys.executable).parent / "pdic")
LYNIS_REPORT = pytest.StashKey[dict[str, Any]]()
"""Lynis before/after the deploy, shown at the end of the session (test_50_audit)."""
JOURNAL = Path(tempfile.mkdtemp(prefix="pdic-lab-journal-")) / "journal.jsonl"
"""The session's change journal: every pdic command the tests run appends to it."""
os.environ["PDIC_JOURNAL"] = str(JOURNAL)


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


def lab_audit(out: Path, *args: str) -> dict[str, Any]:
    """`pdic audit -f json` of the whole lab with its waivers (and ``args``), the report parsed;
    exit code 1 (a control failed) is an audit's normal answer."""
    run = pdic("audit", *args, "-f", "json", "-o", str(out), "-w", str(LAB_WAIVERS))
    assert run.returncode in (0, 1), run
    document: dict[str, Any] = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    return document


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


def lab_reuse() -> str | None:
    """PDIC_LAB_REUSE ("1": the running lab as it is; "deployed": taken as converged, no
    deploy), for working on one test file; never under CI, where the lab is always fresh."""
    mode = os.environ.get("PDIC_LAB_REUSE")
    return mode if mode in ("1", "deployed") and not os.environ.get("CI") else None


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    report = config.stash.get(LYNIS_REPORT, None)
    if report is not None:
        terminalreporter.section("Lynis hardening index before and after pdic deploy")
        for line in format_before_after(report):
            terminalreporter.write_line(line)


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
    reuse = lab_reuse() is not None
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


@contextlib.contextmanager
def ops_host(inventory: Inventory, name: str) -> Iterator[Any]:
    """A testinfra host as the operations account with sudo, its connection closed after."""
    host = testinfra_host(inventory.host(name))
    try:
        yield host
    finally:
        client = host.backend.__dict__.get("client")  # made on first use (cached_property)
        if client is not None:
            client.close()


LYNIS_INSTALL = (
    "timeout 600 env DEBIAN_FRONTEND=noninteractive "
    "apt-get install -y --no-install-recommends -o Dpkg::Use-Pty=0 lynis"
)


def install_lynis(inventory: Inventory) -> None:
    """Lynis on every host, from Debian through the lab's apt proxy (bootstrap configured it
    and refreshed the package lists); lists are refreshed one host at a time, only where the
    install failed (apt-cacher-ng was seen to fail on simultaneous refreshes of one index)."""

    def install(name: str) -> tuple[str, int]:
        with ops_host(inventory, name) as host:
            return name, host.run(LYNIS_INSTALL).rc

    with ThreadPoolExecutor(max_workers=len(inventory.hosts)) as pool:
        failed = [name for name, rc in pool.map(install, inventory.hosts) if rc != 0]
    for name in failed:
        with ops_host(inventory, name) as host:
            update = host.run("timeout 300 apt-get update")
            retry = host.run(LYNIS_INSTALL)
        assert retry.rc == 0, f"{name}: lynis not installed:\n{update.stderr}\n{retry.stderr}"


@pytest.fixture(scope="session")
def unhardened(
    bootstrapped: Run, inventory: Inventory, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any] | None:
    """The audit of the lab as bootstrap leaves it, before the first deploy: Lynis installed
    on every host, then one `pdic audit --lynis` (JSON, the lab's waivers), parsed.

    None when the lab was reused (PDIC_LAB_REUSE): its hosts may be hardened already, so there
    is no unhardened state to see; the tests that need it skip. Never None under CI.
    """
    if lab_reuse() is not None:
        return None
    install_lynis(inventory)
    return lab_audit(tmp_path_factory.mktemp("audit-unhardened"), "--lynis")


@pytest.fixture(scope="session")
def deployed(bootstrapped: Run, unhardened: dict[str, Any] | None) -> Run:
    # The unhardened lab is audited first: this fixture's dependency forces the order.
    # The reference applications the lab inventory deploys (and `pdic app upgrade` sends).
    built = pdic("app", "build")
    assert built.returncode == 0, built
    # PDIC_LAB_REUSE=deployed (working on one test file, never in CI): the running lab is
    # taken as converged: no deploy runs (bootstrap still does, it is quick).
    if lab_reuse() == "deployed":
        return Run(["pdic", "deploy"], 0, "(reused)", "")
    run = pdic("deploy")
    assert run.returncode == 0, run
    return run


@pytest.fixture(scope="session")
def redeployed(deployed: Run) -> Run:
    """The second deploy, right after the first: it must change nothing."""
    return pdic("deploy")


@pytest.fixture(scope="session")
def unhardened_audit(unhardened: dict[str, Any] | None) -> dict[str, Any]:
    """The unhardened lab's audit, or a skip saying why there is none."""
    if unhardened is None:
        pytest.skip(
            f"PDIC_LAB_REUSE={os.environ.get('PDIC_LAB_REUSE')}: the lab was reused, so it was "
            "not audited unhardened before the deploy (a fresh lab, as in CI, is)"
        )
    return unhardened


@pytest.fixture(scope="session")
def hardened_audit(redeployed: Run, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One `pdic audit --lynis` (JSON, the lab's waivers) of the deployed lab, parsed."""
    return lab_audit(tmp_path_factory.mktemp("audit-hardened"), "--lynis")


@pytest.fixture(scope="session")
def connect(inventory: Inventory, deployed: Run):  # type: ignore[no-untyped-def]
    """testinfra hosts over the same inventory, as the operations account with sudo."""
    cache: dict[tuple[str, bool], testinfra.host.Host] = {}

    def get(name: str, sudo: bool = True) -> testinfra.host.Host:
        known = cache.get((name, sudo))
        if known is None or not _alive(known):  # a host rebooted since (test_88_patch)
            cache[name, sudo] = testinfra_host(inventory.host(name), sudo=sudo)
        return cache[name, sudo]

    return get


def _alive(host: testinfra.host.Host) -> bool:
    """A connection that was opened is still up (never opened: alive, it opens on first use)."""
    client = vars(host.backend).get("client")  # testinfra opens it on first use
    if client is None:
        return True
    transport = client.get_transport()
    return transport is not None and transport.is_active()


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
