"""No command waits for a host that stopped answering: one lab host is frozen (every process
of it, through its cgroup; its network stack still accepts connections, as a hung machine's
does), and `pdic audit` and `pdic cert list` report the other hosts, name the frozen one and
end within their deadline. A connection made before the freeze meets the per-command deadline.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import LAB_WAIVERS, Run, pdic

from pdic.connect import ConnectionFailed
from pdic.connect import testinfra_host as reach
from pdic.inventory import Inventory
from pdic.lab import freeze_host

FROZEN = "hcc-1"
OTHER = "portal-1"
DEADLINE = 15


@contextlib.contextmanager
def frozen(name: str) -> Iterator[None]:
    freeze_host(name, True)
    try:
        yield
    finally:
        freeze_host(name, False)


@pytest.fixture
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PDIC_COMMAND_TIMEOUT", str(DEADLINE))


def _timed(*args: str) -> tuple[Run, float]:
    started = time.monotonic()
    run = pdic(*args, timeout=300)
    return run, time.monotonic() - started


def test_audit_reports_the_others_and_names_the_frozen_host(
    redeployed: Run, short_deadline: None, tmp_path: Path
) -> None:
    with frozen(FROZEN):
        run, took = _timed(
            "audit", "--limit", f"{FROZEN},{OTHER}", "--controls", "PDIC-SSH", "-f", "json",
            "-o", str(tmp_path), "-w", str(LAB_WAIVERS),
        )  # fmt: skip
    assert run.returncode in (0, 1), run
    assert took < 3 * DEADLINE, f"audit took {took:.0f} s with {FROZEN} frozen"
    results = json.loads((tmp_path / "audit.json").read_text())["results"]
    mine = [r for r in results if r["host"] == FROZEN]
    others = [r for r in results if r["host"] == OTHER]
    assert mine and all(r["status"] == "error" for r in mine), mine
    assert all(FROZEN in r["message"] for r in mine), mine[0]["message"]
    assert others and all(r["status"] != "error" for r in others), others


def test_cert_list_reports_the_others_and_names_the_frozen_host(
    redeployed: Run, short_deadline: None
) -> None:
    with frozen(FROZEN):
        run, took = _timed("cert", "list", "--format", "json", "--limit", f"{FROZEN},{OTHER}")
    assert run.returncode == 1, run
    assert took < 3 * DEADLINE, f"cert list took {took:.0f} s with {FROZEN} frozen"
    errors = [line for line in run.stderr.splitlines() if line.startswith("pdic: error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"pdic: error: {FROZEN}: "), run.stderr
    hosts = {entry["host"] for entry in json.loads(run.stdout)}
    assert hosts == {OTHER}, run.stdout


def test_a_command_on_a_host_that_freezes_meets_its_deadline(
    redeployed: Run, inventory: Inventory
) -> None:
    host = reach(inventory.host(FROZEN), deadline=5)
    assert host.run("true").rc == 0  # connected before the freeze
    with frozen(FROZEN):
        started = time.monotonic()
        with pytest.raises(ConnectionFailed, match=f"^{FROZEN}: no answer within 5 s"):
            host.run("true")
        assert time.monotonic() - started < 10
    assert reach(inventory.host(FROZEN)).run("true").rc == 0  # thawed, it answers
