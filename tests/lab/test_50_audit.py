"""`pdic audit` on the converged (not yet hardened) lab: every host seen, evidence recorded."""

from __future__ import annotations

import json
import time
from pathlib import Path

from conftest import Run, pdic

from pdic.inventory import Inventory


def test_audit_reaches_every_host_within_a_minute(
    redeployed: Run, inventory: Inventory, tmp_path: Path
) -> None:
    start = time.monotonic()
    run = pdic("audit", "-o", str(tmp_path), "--fail-on", "critical")
    elapsed = time.monotonic() - start
    assert run.returncode in (0, 1), run
    assert elapsed < 60, f"audit of the lab took {elapsed:.0f} s"
    document = json.loads((tmp_path / "audit.json").read_text())
    results = document["results"]
    assert {r["host"] for r in results} == set(inventory.hosts)
    unreachable = [r for r in results if "host unreachable" in r["message"]]
    assert unreachable == []
    for name in ("audit.html", "audit.xml", "audit.prom"):
        assert (tmp_path / name).stat().st_size > 0


def test_root_ssh_login_is_reported_with_its_evidence(
    redeployed: Run, inventory: Inventory, tmp_path: Path
) -> None:
    # Bootstrap reaches bare hosts as root by key, and no hardening role has run yet: the
    # control fails on every host, and the report shows the command that proved it.
    run = pdic("audit", "-c", "PDIC-SSH-001", "-f", "json", "-o", str(tmp_path))
    assert run.returncode == 1, run
    results = json.loads((tmp_path / "audit.json").read_text())["results"]
    assert {r["host"]: r["status"] for r in results} == dict.fromkeys(inventory.hosts, "fail")
    for r in results:
        assert any("sshd -T" in e["command"] for e in r["evidence"]), r
        assert any("permitrootlogin" in e["output"].lower() for e in r["evidence"]), r
