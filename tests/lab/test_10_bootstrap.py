"""`pdic bootstrap`: bare hosts become reachable by Ansible; a second run changes nothing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from conftest import INVENTORY, Run, pdic
from recap import recap

from pdic.inventory import Inventory

CHANGED = re.compile(r"^\[(?P<host>[^\]]+)\] changed: (?P<op>.+)$", re.M)


def test_first_bootstrap_changed_every_host(bootstrapped: Run, inventory: Inventory) -> None:
    changed = {m["host"] for m in CHANGED.finditer(bootstrapped.stdout)}
    assert changed == set(inventory.hosts)
    assert "python3 and the packages Ansible needs are installed" in bootstrapped.stdout


def test_second_bootstrap_changes_nothing(deployed: Run) -> None:
    # After deploy too: bootstrap and the common role must not undo each other.
    again = pdic("bootstrap")
    assert again.returncode == 0, again
    assert CHANGED.findall(again.stdout) == [], again.stdout


def test_unreachable_host_does_not_stop_the_others(bootstrapped: Run, tmp_path: Path) -> None:
    # A copy of the inventory where hcc-1's ssh port is closed; portal-1 is untouched, so the
    # run is the real bootstrap for it (and changes nothing).
    inv = tmp_path / "inv"
    shutil.copytree(INVENTORY, inv)
    (inv / "host_vars").mkdir(exist_ok=True)
    (inv / "host_vars" / "hcc-1.yml").write_text("---\nansible_port: 2\n")
    run = pdic("bootstrap", "-i", str(inv), "--limit", "hcc-1,portal-1")
    assert run.returncode == 1, run
    result = recap(run.stdout)
    assert result["hcc-1"]["unreachable"] == 1, run
    assert result["portal-1"]["failed"] == 0 and result["portal-1"]["unreachable"] == 0, run
    assert result["portal-1"]["ok"] > 0 and result["portal-1"]["changed"] == 0, run
